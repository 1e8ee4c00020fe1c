/**
 * The manager against the real embedded TLS broker and scripted vehicles (initiator side of the secure
 * channel): handshake → announce → registry, diagnostics (positive, negative, timeout, gateway error,
 * concurrency, offline), refusal of a rogue manager-certified client's forged and replayed messages,
 * re-establishment after a manager restart, and resubscription after a broker restart.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type Broker } from '../../src/broker/index.js';
import { createManager, type Manager } from '../../src/manager/index.js';
import { vehicleTopic } from '../../src/security/topics.js';
import { defaultResponder, makeDataDir, memoryLog, mqttClient, ScriptedVehicle, startTestBroker, VEHICLE_A, VEHICLE_B, waitFor, type TestData } from './fixtures.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('manager over a real TLS broker', () => {
  let data: TestData;
  let broker: Broker;
  let manager: Manager;
  let log: ReturnType<typeof memoryLog>;
  let a: ScriptedVehicle;
  let b: ScriptedVehicle | undefined;

  const start = async (): Promise<Manager> => {
    log = memoryLog();
    const m = await createManager({
      dataDir: data.dataDir,
      brokerUrl: broker.url,
      http: { host: '127.0.0.1', port: 0 },
      log,
      helloRequestIntervalMs: 200,
      reconnect: { initialMs: 100, maxMs: 400 },
    });
    await m.waitForBroker(5000);
    return m;
  };

  before(async () => {
    data = await makeDataDir();
    broker = await startTestBroker(data.pkiDir);
    manager = await start();
    a = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
    await a.connectSession();
  });
  after(async () => {
    await a.close().catch(() => undefined);
    await b?.close().catch(() => undefined);
    await manager.close();
    await broker.close();
    await data.cleanup();
  });

  describe('session and registry', () => {
    it('handshake → announce → the registry shows the vehicle online with its ECUs and versions', async () => {
      const v = await waitFor('announced ECUs', async () => {
        const x = await manager.vehicle(VEHICLE_A);
        return x && x.ecus.length === 2 ? x : undefined;
      });
      assert.equal(v.online, true);
      assert.equal(v.session, 'established');
      assert.equal(v.reachable, true);
      assert.equal(v.channelSuite, 'aes-256-gcm');
      assert.equal(v.gateway.version, 'gw-test 0.1');
      assert.deepEqual(
        v.ecus.map((e) => [e.name, e.address, e.appVersion, e.bootVersion, e.mode]),
        [
          ['body', '0x7E1', '2.1.0', '1.0.0', 'application'],
          ['engine', '0x7E0', '1.0.0', '1.0.0', 'application'],
        ],
      );
      const s = await manager.stats();
      assert.equal(s.handshakes.established, 1);
      assert.equal(s.vehicles.connected, 1);
      assert.equal(s.refusedTotal, 0);
    });
  });

  describe('diagnose', () => {
    it('returns a positive response decoded, and logs who asked', async () => {
      const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test:alice' });
      assert.equal(r.positive, true);
      assert.equal(r.response, '62F189312E302E30');
      assert.equal(r.nrc, undefined);
      assert.equal(r.pending, 0);
      assert.equal(r.elapsedMs, 3);
      assert.equal((r.decoded as { service?: string }).service, 'ReadDataByIdentifier');
      const sent = a.received.at(-1);
      assert.ok(sent);
      assert.deepEqual([sent.id, sent.ecu, sent.request], [r.id, 'engine', '22F189']);
      assert.ok(sent.timeoutMs !== undefined && sent.timeoutMs < 10_000, 'the gateway gets less time than the manager waits');
      const [row] = await manager.store.listDiag({ vehicleId: VEHICLE_A, limit: 1 });
      assert.deepEqual(row && [row.id, row.actor, row.ecu, row.request, row.response, row.outcome], [r.logId, 'test:alice', 'engine', '22F189', '62F189312E302E30', 'positive']);
    });

    it('a negative response is a result: positive=false with the NRC name, logged as negative', async () => {
      const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'body', request: hex('31 01 FF 00'), actor: 'test' });
      assert.equal(r.positive, false);
      assert.equal(r.response, '7F3111');
      assert.deepEqual(r.nrc, { code: 0x11, hex: '0x11', name: 'serviceNotSupported' });
      assert.equal((r.decoded as { nrcName?: string }).nrcName, 'serviceNotSupported');
      const [row] = await manager.store.listDiag({ limit: 1 });
      assert.deepEqual(row && [row.outcome, row.nrc], ['negative', 0x11]);
    });

    it('a suppressed positive response (null) is positive with no bytes', async () => {
      a.responder = () => ({ response: null, pending: 0, elapsedMs: 1 });
      try {
        const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('3E 80'), actor: 'test' });
        assert.deepEqual([r.positive, r.response, r.decoded], [true, null, null]);
      } finally {
        a.responder = defaultResponder;
      }
    });

    it('returns a response that does not decode with its bytes and the decoder\'s code', async () => {
      const saved = a.responder;
      a.responder = () => ({ response: '62F1', pending: 2, elapsedMs: 9 });
      try {
        const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
        assert.deepEqual([r.positive, r.response, r.decoded, r.decodeError?.code, r.pending], [true, '62F1', null, 'UDS_LENGTH', 2]);
      } finally {
        a.responder = saved;
      }
    });

    it('times out with DIAG_TIMEOUT when the vehicle does not answer, and logs the timeout', async () => {
      const saved = a.responder;
      a.responder = () => undefined;
      try {
        const t0 = Date.now();
        await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 90'), timeoutMs: 300, actor: 'test' }), { code: 'DIAG_TIMEOUT' });
        assert.ok(Date.now() - t0 < 2000);
      } finally {
        a.responder = saved;
      }
      const [row] = await manager.store.listDiag({ limit: 1 });
      assert.deepEqual(row && [row.outcome, row.errorCode, row.response], ['timeout', 'DIAG_TIMEOUT', null]);
    });

    it("passes the gateway's error code through (UDS_TIMEOUT is a timeout outcome)", async () => {
      const saved = a.responder;
      a.responder = () => ({ error: { code: 'UDS_TIMEOUT', message: 'no response from engine within P2*' } });
      try {
        await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 90'), actor: 'test' }), { code: 'UDS_TIMEOUT' });
      } finally {
        a.responder = saved;
      }
      const [row] = await manager.store.listDiag({ limit: 1 });
      assert.deepEqual(row && [row.outcome, row.errorCode], ['timeout', 'UDS_TIMEOUT']);
    });

    it('refuses an unknown vehicle, an unknown ECU and bad input with typed errors', async () => {
      await assert.rejects(manager.diagnose({ vehicleId: 'VIN-NOBODY', ecu: 'engine', request: hex('10 01'), actor: 'test' }), { code: 'VEHICLE_UNKNOWN' });
      await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'gearbox', request: hex('10 01'), actor: 'test' }), { code: 'ECU_UNKNOWN' });
      await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: new Uint8Array(0), actor: 'test' }), { code: 'MGR_BAD_INPUT' });
      await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('10 01'), timeoutMs: 0, actor: 'test' }), { code: 'MGR_BAD_INPUT' });
      const [row] = await manager.store.listDiag({ limit: 1 });
      assert.deepEqual(row && [row.vehicleId, row.ecu, row.outcome, row.errorCode], [VEHICLE_A, 'gearbox', 'error', 'ECU_UNKNOWN']);
    });

    it('serves many requests to two vehicles concurrently, each answered by its own id', async () => {
      b = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_B);
      await b.connectSession();
      await waitFor('B announced', async () => ((await manager.vehicle(VEHICLE_B))?.ecus.length ?? 0) > 0);
      // B answers with its own session number so a mixed-up answer would show.
      b.responder = (req) => ({ response: `50${req.request.slice(2)}00B200BB`, pending: 1, elapsedMs: 7 });
      const jobs = [];
      for (let i = 0; i < 6; i++) {
        const v = i % 2 === 0 ? VEHICLE_A : VEHICLE_B;
        jobs.push(manager.diagnose({ vehicleId: v, ecu: 'engine', request: hex(`10 0${(i % 3) + 1}`), actor: 'test' }).then((r) => ({ v, i, r })));
      }
      for (const { v, i, r } of await Promise.all(jobs)) {
        const sub = `0${(i % 3) + 1}`;
        assert.equal(r.vehicleId, v);
        assert.equal(r.response, v === VEHICLE_A ? `50${sub}003201F4` : `50${sub}00B200BB`);
        assert.equal(r.pending, v === VEHICLE_A ? 0 : 1);
      }
      assert.equal((await manager.stats()).diag.inFlight, 0);
    });

    it('refuses an offline vehicle with VEHICLE_OFFLINE, and fails its pending request when it goes offline', async () => {
      assert.ok(b);
      const vb = b;
      vb.responder = () => undefined;
      const pending = manager.diagnose({ vehicleId: VEHICLE_B, ecu: 'engine', request: hex('10 01'), timeoutMs: 5000, actor: 'test' });
      await waitFor('request reached B', () => vb.received.length > 3);
      const t0 = Date.now();
      // The broker publishes B's last will when its connection drops.
      vb.client.stream.destroy();
      await assert.rejects(pending, { code: 'VEHICLE_OFFLINE' });
      assert.ok(Date.now() - t0 < 3000);
      const v = await manager.vehicle(VEHICLE_B);
      assert.equal(v?.online, false);
      assert.equal(v?.reachable, false);
      await assert.rejects(manager.diagnose({ vehicleId: VEHICLE_B, ecu: 'engine', request: hex('10 01'), actor: 'test' }), { code: 'VEHICLE_OFFLINE' });
      assert.equal((await manager.stats()).vehicles.connected, 1);
    });
  });

  describe('a rogue manager-certified client', () => {
    it('has a replayed and a tampered record refused, counted and logged once, changing nothing', async () => {
      const rogue = await mqttClient(broker.url, data.pkiDir, 'rogue');
      try {
        const captured: Buffer[] = [];
        rogue.on('message', (_t, p) => captured.push(p));
        await rogue.subscribeAsync(vehicleTopic(VEHICLE_A, 'up/rec'), { qos: 1 });
        await a.announce();
        const record = await waitFor('captured record', () => captured[0]);
        await waitFor('genuine announce applied', async () => (await manager.stats()).records.opened >= 1);
        const before = { vehicle: await manager.vehicle(VEHICLE_A), diag: await manager.store.listDiag({ limit: 1000 }), stats: await manager.stats() };

        await rogue.publishAsync(vehicleTopic(VEHICLE_A, 'up/rec'), record, { qos: 1 });
        await rogue.publishAsync(vehicleTopic(VEHICLE_A, 'up/rec'), record, { qos: 1 });
        // A fresh sequence number (header bytes 12..19, authenticated) and one flipped ciphertext bit: not a
        // replay, so it reaches the tag check and fails there.
        const tampered = Buffer.from(record);
        tampered.writeUInt32BE(tampered.readUInt32BE(16) + 5, 16);
        tampered[24] = (tampered[24] as number) ^ 0x01;
        await rogue.publishAsync(vehicleTopic(VEHICLE_A, 'up/rec'), tampered, { qos: 1 });
        await waitFor('refusals counted', async () => (await manager.stats()).refusedTotal >= before.stats.refusedTotal + 3);

        const after = await manager.stats();
        assert.equal(after.refused['SC_REPLAY'], 2);
        assert.equal(after.refused['SC_BAD_TAG'], 1);
        assert.equal(after.records.opened, before.stats.records.opened);
        assert.equal(after.helloRequests, before.stats.helloRequests, 'no HelloRequest for a refused record of a live session');
        assert.deepEqual(await manager.vehicle(VEHICLE_A), before.vehicle);
        assert.deepEqual(await manager.store.listDiag({ limit: 1000 }), before.diag);
        const logged = log.events.filter((e) => e.event === 'refused' && e.fields['vehicleId'] === VEHICLE_A);
        assert.deepEqual(logged.map((e) => e.fields['code']).sort(), ['SC_BAD_TAG', 'SC_REPLAY'], 'each code logged once');
        assert.ok(!JSON.stringify(logged).includes(record.toString('hex').slice(0, 32)), 'no record bytes in the log');
        // The genuine session is untouched.
        const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
        assert.equal(r.positive, true);
      } finally {
        await rogue.endAsync(true);
      }
    });

    it('cannot tear down a session by replaying a ClientHello and its Finished', async () => {
      const rogue = await mqttClient(broker.url, data.pkiDir, 'rogue');
      try {
        const captured: Buffer[] = [];
        rogue.on('message', (_t, p) => captured.push(p));
        await rogue.subscribeAsync(vehicleTopic(VEHICLE_A, 'up/hs'), { qos: 1 });
        await a.connectSession();
        const [clientHello, finished] = await waitFor('captured handshake', () => (captured.length >= 2 ? captured : undefined));
        assert.ok(clientHello && finished);
        await waitFor('manager established the new session', async () => (await manager.stats()).handshakes.established >= 3);
        const before = await manager.stats();
        await rogue.publishAsync(vehicleTopic(VEHICLE_A, 'up/hs'), clientHello, { qos: 1 });
        await rogue.publishAsync(vehicleTopic(VEHICLE_A, 'up/hs'), finished, { qos: 1 });
        await waitFor('replayed Finished refused', async () => (await manager.stats()).refusedTotal > before.refusedTotal);
        const after = await manager.stats();
        assert.equal(after.handshakes.established, before.handshakes.established);
        assert.equal((await manager.vehicle(VEHICLE_A))?.session, 'established');
        const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
        assert.equal(r.positive, true, 'the established session still carries diagnostics');
      } finally {
        await rogue.endAsync(true);
      }
    });
  });

  describe("a vehicle's own bad messages", () => {
    it('are refused by code and change nothing: foreign announce, unsolicited response, bulk, bad JSON, bad status', async () => {
      assert.ok(a.channel);
      const before = { vehicle: await manager.vehicle(VEHICLE_A), stats: await manager.stats() };
      await a.send({ type: 'announce', vehicleId: VEHICLE_B, gateway: { version: 'evil', suites: [], capabilities: [] }, ecus: [] });
      await a.send({ type: 'diag.response', id: 'f'.repeat(24), ecu: 'engine', response: '5001' });
      for (const plain of [Uint8Array.of(0x02, 1, 2, 3), Uint8Array.from(Buffer.from('\x01{not json'))]) {
        await a.client.publishAsync(vehicleTopic(VEHICLE_A, 'up/rec'), Buffer.from(a.channel.seal(plain)), { qos: 1 });
      }
      await a.client.publishAsync(vehicleTopic(VEHICLE_A, 'status'), 'maybe', { qos: 1 });
      await waitFor('five refusals', async () => (await manager.stats()).refusedTotal >= before.stats.refusedTotal + 5);
      const after = await manager.stats();
      const delta = (code: string): number => (after.refused[code] ?? 0) - (before.stats.refused[code] ?? 0);
      assert.deepEqual(
        ['MGR_ANNOUNCE_MISMATCH', 'MGR_DIAG_UNSOLICITED', 'MGR_UNEXPECTED_MESSAGE', 'OTA_MSG_JSON', 'MGR_BAD_STATUS'].map(delta),
        [1, 1, 1, 1, 1],
      );
      assert.deepEqual(await manager.vehicle(VEHICLE_A), before.vehicle);
      assert.equal((await manager.store.getVehicle(VEHICLE_B))?.gatewayVersion, 'gw-test 0.1');
    });
  });

  describe('restarts', () => {
    it('after a manager restart, a record without a session gets a HelloRequest and the session comes back', async () => {
      await manager.close();
      let ignoring = true;
      const handshakesBefore = a.handshakes;
      const hello0 = a.helloRequests;
      // The vehicle ignores the first HelloRequest (the one the retained `online` triggers) …
      const realHandshake = a.handshake.bind(a);
      a.handshake = () => (ignoring ? Promise.resolve() : realHandshake());
      try {
        manager = await start();
        await waitFor('HelloRequest for the retained online status', () => a.helloRequests > hello0);
        assert.equal(a.handshakes, handshakesBefore);
        assert.equal((await manager.vehicle(VEHICLE_A))?.session, 'none');
        ignoring = false;
        await new Promise((r) => setTimeout(r, 250)); // past the manager's HelloRequest interval
        // … then sends a record under its old session: the manager has none, asks again, and this time the vehicle answers.
        await a.announce();
        await waitFor('new session', () => a.handshakes > handshakesBefore);
      } finally {
        a.handshake = realHandshake;
      }
      const s = await manager.stats();
      assert.equal(s.refused['MGR_NO_SESSION'], 1);
      assert.equal(s.helloRequests, 2);
      await waitFor('session established', async () => (await manager.vehicle(VEHICLE_A))?.session === 'established');
      const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
      assert.equal(r.positive, true);
      assert.ok((await manager.store.listDiag({ limit: 1000 })).length > 8, 'the diag log survived the restart');
    });

    it('asks an online vehicle without a session for a handshake when a diagnostic request comes', async () => {
      await manager.close();
      let ignoring = true;
      const hello0 = a.helloRequests;
      const realHandshake = a.handshake.bind(a);
      a.handshake = () => (ignoring ? Promise.resolve() : realHandshake());
      try {
        manager = await start();
        await waitFor('HelloRequest for the retained online status', () => a.helloRequests > hello0);
        ignoring = false;
        await new Promise((r) => setTimeout(r, 250)); // past the manager's HelloRequest interval
        const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
        assert.equal(r.positive, true);
        assert.equal((await manager.stats()).helloRequests, 2);
      } finally {
        a.handshake = realHandshake;
      }
    });

    it('reconnects to a restarted broker and subscribes again', async () => {
      const port = broker.port;
      await broker.close();
      await waitFor('disconnect noticed', async () => !(await manager.stats()).broker.connected);
      broker = await startBroker({ pkiDir: data.pkiDir, host: '127.0.0.1', port });
      await manager.waitForBroker(5000);
      const s = await manager.stats();
      assert.ok(s.broker.connects >= 2 && s.broker.disconnects >= 1);
      await a.close();
      a = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
      await a.connectSession();
      const r = await manager.diagnose({ vehicleId: VEHICLE_A, ecu: 'engine', request: hex('22 F1 89'), actor: 'test' });
      assert.equal(r.positive, true);
    });

    it('drops a vehicle\'s session when it goes offline (its gateway erased the keys): nothing is sealed for the dead session', async () => {
      await b?.close().catch(() => undefined);
      const vb = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_B);
      b = vb;
      await vb.connectSession();
      await waitFor('B reachable', async () => (await manager.vehicle(VEHICLE_B))?.session === 'established');
      vb.client.stream.destroy(); // the link drops: the broker publishes B's will
      await waitFor('B offline', async () => (await manager.vehicle(VEHICLE_B))?.online === false);
      assert.equal((await manager.vehicle(VEHICLE_B))?.session, 'none');
    });
  });
});
