/**
 * End-to-end refusals on both brokers: the real manager (HTTP API), a real simulated vehicle (gateway +
 * virtual ECU on CAN) and a rogue client holding a valid manager-role certificate — which the broker's
 * ACL lets publish on any vehicle's `down/rec` and `up/rec`. It captures genuine records and injects
 * them again (replay) and altered (tamper). The gateway and the manager refuse each one, count it by
 * code (gateway stats, `GET /stats`), and nothing changes: the ECU keeps the value written last, the
 * diagnostic log and the registry stay as they were, and the genuine session keeps working.
 *
 * test/broker covers what the brokers themselves enforce, test/gateway and test/manager each side
 * against a scripted peer; this is the whole chain with real parts on both ends.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from '../../src/broker/index.js';
import { ApiClient } from '../../src/cli/api-client.js';
import { parseDiagWords } from '../../src/cli/diag/actions.js';
import { keyStoreSecret, runDiag, type DiagTarget } from '../../src/cli/diag/run.js';
import { startSimulatedVehicle, type SimulatedVehicle } from '../../src/cli/sim/vehicle.js';
import { ensureFleet, ensurePki } from '../../src/cli/up/setup.js';
import { createManager, silentLog, type Manager, type ManagerStats } from '../../src/manager/index.js';
import type { SuiteName } from '../../src/security/channel/index.js';
import { issueToDir } from '../../src/security/pki/index.js';
import { vehicleTopic } from '../../src/security/topics.js';
import { MOSQUITTO_SKIP, startMosquitto } from '../broker/mosquitto-process.js';
import { tempDataDir } from './harness.js';

interface Target {
  name: string;
  skip?: string;
  suite: SuiteName;
  start(pkiDir: string, dataDir: string): Promise<{ url: string; stop(): Promise<void> }>;
}

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The record with a fresh sequence number (header bytes 16..19, authenticated) and one flipped body bit: it reaches the tag check. */
function tampered(record: Buffer): Buffer {
  const t = Buffer.from(record);
  t.writeUInt32BE(t.readUInt32BE(16) + 7, 16);
  t[24] = (t[24] as number) ^ 0x01;
  return t;
}

function securitySuite(target: Target): void {
  describe(`injected records are refused end to end (${target.name})`, { skip: target.skip, timeout: 90_000 }, () => {
    let data: Awaited<ReturnType<typeof tempDataDir>>;
    let broker: { url: string; stop(): Promise<void> };
    let manager: Manager;
    let vehicle: SimulatedVehicle;
    let client: ApiClient;
    let rogue: MqttClient;
    let vin: string;
    let diag: (words: string[]) => ReturnType<typeof runDiag>;

    before(async () => {
      data = await tempDataDir('ota-sec-');
      const pkiDir = join(data.dir, 'pki');
      [vin] = (await ensureFleet(data.dir, 1)).vehicles as [string];
      await ensurePki(pkiDir, [vin]);
      await issueToDir(pkiDir, { role: 'manager', name: 'rogue' });
      broker = await target.start(pkiDir, data.dir);
      manager = await createManager({ dataDir: data.dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: silentLog, suites: [target.suite] });
      await manager.waitForBroker(10_000);
      vehicle = await startSimulatedVehicle({ vehicleId: vin, pkiDir, brokerUrl: broker.url, dataDir: data.dir, gateway: { suites: [target.suite] } });
      await until('the vehicle announced over a secure session', async () => {
        const v = await manager.vehicle(vin);
        return v?.reachable === true && v.ecus.length === 2;
      });
      // As `ota up` does: the manager's key store learns the ECUs' own secrets, `unlock` reads it.
      for (const [ecu, secret] of vehicle.ecuSecrets) await manager.ecuSecrets.put(vin, ecu, secret);
      client = await ApiClient.open(data.dir, {});
      const target0: DiagTarget = { client, vehicleId: vin, ecu: 'engine', storedSecret: keyStoreSecret(manager.paths.managerDir) };
      diag = (words) => runDiag(target0, parseDiagWords(words));
      rogue = await mqtt.connectAsync(broker.url, {
        ca: await readFile(join(pkiDir, 'ca.pem'), 'utf8'),
        cert: await readFile(join(pkiDir, 'rogue.pem'), 'utf8'),
        key: await readFile(join(pkiDir, 'rogue.key'), 'utf8'),
        clientId: 'rogue-e2e',
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      });
    });
    after(async () => {
      await rogue?.endAsync(true).catch(() => undefined);
      await vehicle?.close().catch(() => undefined);
      await manager?.close().catch(() => undefined);
      await broker?.stop().catch(() => undefined);
      await data?.cleanup();
    });

    it("the gateway refuses a replayed and a tampered downlink write, counts them, and the ECU keeps the last genuine value", async () => {
      const captured: Buffer[] = [];
      rogue.on('message', (topic, payload) => {
        if (topic === vehicleTopic(vin, 'down/rec')) captured.push(Buffer.from(payload));
      });
      await rogue.subscribeAsync(vehicleTopic(vin, 'down/rec'), { qos: 1 });
      assert.equal((await diag(['session', 'extended'])).ok, true);
      assert.equal((await diag(['unlock'])).ok, true);
      const before = captured.length;
      assert.equal((await diag(['write-did', 'repair-shop', 'REPLAYED-A'])).ok, true);
      const writeA = await until('the captured write record', () => captured[before]);
      assert.equal((await diag(['write-did', 'repair-shop', 'GENUINE--B'])).ok, true);

      const g = vehicle.gateway.stats;
      await rogue.publishAsync(vehicleTopic(vin, 'down/rec'), writeA, { qos: 1 });
      await rogue.publishAsync(vehicleTopic(vin, 'down/rec'), writeA, { qos: 1 });
      await rogue.publishAsync(vehicleTopic(vin, 'down/rec'), tampered(writeA), { qos: 1 });
      const after = await until('three refusals at the gateway', () => {
        const s = vehicle.gateway.stats;
        return (s.refused['SC_REPLAY'] ?? 0) >= (g.refused['SC_REPLAY'] ?? 0) + 2 && (s.refused['SC_BAD_TAG'] ?? 0) >= (g.refused['SC_BAD_TAG'] ?? 0) + 1 ? s : undefined;
      });
      assert.equal(after.refused['SC_REPLAY'], (g.refused['SC_REPLAY'] ?? 0) + 2);
      assert.equal(after.refused['SC_BAD_TAG'], (g.refused['SC_BAD_TAG'] ?? 0) + 1);
      assert.equal(after.diagRequests, g.diagRequests, 'no injected request reached the ECU');
      assert.equal(after.recordsReceived, g.recordsReceived);
      const read = await diag(['read-did', 'repair-shop']);
      assert.deepEqual((read.result as Array<{ value: string }>)[0]?.value, '"GENUINE--B"');
      assert.equal(vehicle.gateway.stats.handshakesEstablished, g.handshakesEstablished, 'the genuine session was never torn down');
    });

    it('the manager refuses a replayed and a tampered uplink response, counts them in GET /stats, and records nothing', async () => {
      const captured: Buffer[] = [];
      rogue.on('message', (topic, payload) => {
        if (topic === vehicleTopic(vin, 'up/rec')) captured.push(Buffer.from(payload));
      });
      await rogue.subscribeAsync(vehicleTopic(vin, 'up/rec'), { qos: 1 });
      const n = captured.length;
      assert.equal((await diag(['read-did', 'vin'])).ok, true);
      const response = await until('the captured response record', () => captured[n]);

      const before = { stats: await client.stats(), vehicle: await client.vehicle(vin), log: await client.request<{ entries: unknown[] }>('GET', '/diag-log?limit=1000') };
      for (const record of [response, response, tampered(response)]) await rogue.publishAsync(vehicleTopic(vin, 'up/rec'), record, { qos: 1 });
      const after: ManagerStats = await until('three refusals at the manager', async () => {
        const s = await client.stats();
        return s.refusedTotal >= before.stats.refusedTotal + 3 ? s : undefined;
      });
      assert.equal((after.refused['SC_REPLAY'] ?? 0) - (before.stats.refused['SC_REPLAY'] ?? 0), 2);
      assert.equal((after.refused['SC_BAD_TAG'] ?? 0) - (before.stats.refused['SC_BAD_TAG'] ?? 0), 1);
      assert.equal(after.records.opened, before.stats.records.opened);
      assert.equal(after.diag.sent, before.stats.diag.sent);
      assert.deepEqual(await client.vehicle(vin), before.vehicle);
      assert.deepEqual(await client.request('GET', '/diag-log?limit=1000'), before.log);
      assert.equal((await diag(['read-did', 'app-version'])).ok, true, 'the genuine session still carries diagnostics');
    });

    it('a vehicle that went offline is VEHICLE_OFFLINE to the CLI', async () => {
      await vehicle.close();
      await until('the manager saw it go offline', async () => (await client.vehicle(vin)).online === false);
      await assert.rejects(diag(['read-dtc']), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'VEHICLE_OFFLINE');
        assert.match(e.message, /ota fleet/);
        return true;
      });
    });
  });
}

securitySuite({
  name: 'embedded broker, aes-256-gcm',
  suite: 'aes-256-gcm',
  start: async (pkiDir) => {
    const b = await startBroker({ pkiDir, host: '127.0.0.1', port: 0 });
    return { url: b.url, stop: () => b.close() };
  },
});

securitySuite({
  name: 'Mosquitto, 3des-cbc-hmac-sha256',
  skip: MOSQUITTO_SKIP,
  suite: '3des-cbc-hmac-sha256',
  start: async (pkiDir, dataDir) => {
    const m = await startMosquitto(pkiDir, join(dataDir, 'mosquitto'));
    return { url: m.url, stop: () => m.stop() };
  },
});
