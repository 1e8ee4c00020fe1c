/**
 * The HTTP API through a real listening socket (fetch), with the manager connected to the embedded TLS
 * broker and a scripted vehicle: bearer-token protection, every route, and the status code of each
 * outcome (a negative UDS response is a 200 result; timeouts 504, unknown 404, offline 409, bad input 400).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import type { Broker } from '../../../src/broker/index.js';
import { createManager, type Manager } from '../../../src/manager/index.js';
import { makeDataDir, memoryLog, ScriptedVehicle, startTestBroker, VEHICLE_A, VEHICLE_B, waitFor, type TestData } from '../fixtures.js';

describe('HTTP API /api/v1', () => {
  let data: TestData;
  let broker: Broker;
  let manager: Manager;
  let vehicle: ScriptedVehicle;
  let token: string;

  const call = async (method: string, path: string, opts: { body?: unknown; auth?: string | null; headers?: Record<string, string> } = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> => {
    const headers: Record<string, string> = { ...opts.headers };
    const auth = opts.auth === undefined ? token : opts.auth;
    if (auth !== null) headers['authorization'] = `Bearer ${auth}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(manager.apiUrl + '/api/v1' + path, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };
  const errorCode = (j: Record<string, unknown>): unknown => (j['error'] as { code?: unknown } | undefined)?.code;

  before(async () => {
    data = await makeDataDir();
    broker = await startTestBroker(data.pkiDir);
    manager = await createManager({ dataDir: data.dataDir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: memoryLog() });
    await manager.waitForBroker(5000);
    token = (await readFile(manager.paths.apiToken, 'utf8')).trim();
    vehicle = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
    await vehicle.connectSession();
    await waitFor('announce', async () => ((await manager.vehicle(VEHICLE_A))?.ecus.length ?? 0) === 2);
  });
  after(async () => {
    await vehicle.close();
    await manager.close();
    await broker.close();
    await data.cleanup();
  });

  describe('start-up files', () => {
    it('writes the API token (64 hex digits, mode 0600) and manager.json with the bound address', async () => {
      assert.match(token, /^[0-9a-f]{64}$/);
      assert.equal((await stat(manager.paths.apiToken)).mode & 0o777, 0o600);
      const info = JSON.parse(await readFile(manager.paths.managerJson, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(info, { api: manager.apiUrl, broker: broker.url, pid: process.pid });
      assert.match(manager.apiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(manager.apiAddress.port, 0);
    });
  });

  describe('authentication', () => {
    it('GET /health needs no token, and then answers only { status }', async () => {
      for (const auth of [null, 'f'.repeat(64)]) {
        const r = await call('GET', '/health', { auth });
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, { status: 'ok' });
      }
      const r = await call('GET', '/health');
      assert.equal(r.json['status'], 'ok');
      assert.deepEqual(r.json['broker'], { url: broker.url, connected: true });
    });

    it('401 UNAUTHORIZED without a token, with a wrong token, and for unknown routes', async () => {
      for (const auth of [null, 'f'.repeat(64), token.slice(0, 63), `${token}x`]) {
        const r = await call('GET', '/vehicles', { auth });
        assert.equal(r.status, 401, String(auth));
        assert.equal(errorCode(r.json), 'UNAUTHORIZED');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
      const post = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { auth: null, body: { ecu: 'engine', request: '1001' } });
      assert.equal(post.status, 401);
      assert.equal(vehicle.received.length, 0, 'nothing reached the vehicle');
      assert.equal((await call('GET', '/no-such-route', { auth: null })).status, 401);
      const r = await call('GET', '/no-such-route');
      assert.equal(r.status, 404);
      assert.equal(errorCode(r.json), 'NOT_FOUND');
    });
  });

  describe('vehicles', () => {
    it('GET /vehicles lists vehicles with presence, session and ECU versions', async () => {
      const r = await call('GET', '/vehicles');
      assert.equal(r.status, 200);
      const list = r.json['vehicles'] as Array<Record<string, unknown>>;
      assert.equal(list.length, 1);
      const v = list[0] as Record<string, unknown>;
      assert.deepEqual([v['id'], v['online'], v['session'], v['reachable'], v['channelSuite']], [VEHICLE_A, true, 'established', true, 'aes-256-gcm']);
      assert.deepEqual(v['gateway'], { version: 'gw-test 0.1', suites: ['aes-256-gcm', '3des-cbc-hmac-sha256'] });
      const ecus = v['ecus'] as Array<Record<string, unknown>>;
      assert.deepEqual(
        ecus.map((e) => [e['name'], e['link'], e['address'], e['appVersion'], e['bootVersion'], e['mode'], e['serial'], e['hardwareId']]),
        [
          ['body', 'can', '0x7E1', '2.1.0', '1.0.0', 'application', 'BDY-1', 'stm32f103c8'],
          ['engine', 'can', '0x7E0', '1.0.0', '1.0.0', 'application', 'ENG-1', 'stm32f103c8'],
        ],
      );
    });

    it('GET /vehicles/:id returns one vehicle, 404 VEHICLE_UNKNOWN for another id, 400 for a malformed one', async () => {
      const r = await call('GET', `/vehicles/${VEHICLE_A}`);
      assert.equal(r.status, 200);
      assert.equal(r.json['id'], VEHICLE_A);
      const u = await call('GET', '/vehicles/VIN-NOBODY');
      assert.deepEqual([u.status, errorCode(u.json)], [404, 'VEHICLE_UNKNOWN']);
      const bad = await call('GET', `/vehicles/${'x'.repeat(65)}`);
      assert.deepEqual([bad.status, errorCode(bad.json)], [400, 'BAD_REQUEST']);
    });
  });

  describe('POST /vehicles/:id/diag', () => {
    it('200 with the decoded positive response', async () => {
      const r = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { body: { ecu: 'engine', request: '22 F1 89' }, headers: { 'x-ota-actor': 'alice' } });
      assert.equal(r.status, 200);
      assert.deepEqual([r.json['response'], r.json['positive'], r.json['pending'], r.json['elapsedMs'], r.json['nrc']], ['62F189312E302E30', true, 0, 3, undefined]);
      assert.equal((r.json['decoded'] as Record<string, unknown>)['service'], 'ReadDataByIdentifier');
      assert.equal(typeof r.json['roundTripMs'], 'number');
    });

    it('200 with positive=false and the NRC for a negative response', async () => {
      const r = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { body: { ecu: 'engine', request: '3101FF00', timeoutMs: 5000 } });
      assert.equal(r.status, 200);
      assert.deepEqual([r.json['response'], r.json['positive'], r.json['nrc']], ['7F3111', false, { code: 0x11, hex: '0x11', name: 'serviceNotSupported' }]);
    });

    it('504 DIAG_TIMEOUT when the vehicle stays silent', async () => {
      const saved = vehicle.responder;
      vehicle.responder = () => undefined;
      try {
        const r = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { body: { ecu: 'engine', request: '22F190', timeoutMs: 300 } });
        assert.deepEqual([r.status, errorCode(r.json)], [504, 'DIAG_TIMEOUT']);
      } finally {
        vehicle.responder = saved;
      }
    });

    it('404 for an unknown vehicle or ECU, 409 for an offline vehicle', async () => {
      const u = await call('POST', '/vehicles/VIN-NOBODY/diag', { body: { ecu: 'engine', request: '1001' } });
      assert.deepEqual([u.status, errorCode(u.json)], [404, 'VEHICLE_UNKNOWN']);
      const e = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { body: { ecu: 'gearbox', request: '1001' } });
      assert.deepEqual([e.status, errorCode(e.json)], [404, 'ECU_UNKNOWN']);
      const b = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_B);
      try {
        await b.goOffline();
        await waitFor('B offline', async () => (await manager.vehicle(VEHICLE_B))?.online === false);
        const o = await call('POST', `/vehicles/${VEHICLE_B}/diag`, { body: { ecu: 'engine', request: '1001' } });
        assert.deepEqual([o.status, errorCode(o.json)], [409, 'VEHICLE_OFFLINE']);
      } finally {
        await b.close();
      }
    });

    it('400 for bad input, before anything is sent', async () => {
      const sent = vehicle.received.length;
      const cases: Array<[unknown, string]> = [
        [{ ecu: 'engine', request: 'zz' }, 'HEX_INVALID'],
        [{ ecu: 'engine', request: '123' }, 'HEX_INVALID'],
        [{ ecu: 'engine', request: ' ' }, 'MGR_BAD_INPUT'],
        [{ request: '1001' }, 'BAD_REQUEST'],
        [{ ecu: 'engine', request: '1001', extra: 1 }, 'BAD_REQUEST'],
        [{ ecu: 'engine', request: '1001', timeoutMs: 0 }, 'BAD_REQUEST'],
        [{ ecu: 'engine', request: '1001', timeoutMs: '100' }, 'BAD_REQUEST'],
        [{ ecu: 'engine', request: 1001 }, 'BAD_REQUEST'],
        [[1, 2], 'BAD_REQUEST'],
      ];
      for (const [body, code] of cases) {
        const r = await call('POST', `/vehicles/${VEHICLE_A}/diag`, { body });
        assert.deepEqual([r.status, errorCode(r.json)], [400, code], JSON.stringify(body));
      }
      assert.equal(vehicle.received.length, sent);
    });
  });

  describe('logs and stats', () => {
    it('GET /diag-log lists requests newest first, per vehicle, limited; 400 for a bad limit', async () => {
      const r = await call('GET', `/diag-log?vehicle=${VEHICLE_A}&limit=2`);
      assert.equal(r.status, 200);
      const entries = r.json['entries'] as Array<Record<string, unknown>>;
      assert.equal(entries.length, 2);
      assert.ok((entries[0]?.['id'] as number) > (entries[1]?.['id'] as number));
      assert.deepEqual([entries[0]?.['outcome'], entries[0]?.['errorCode']], ['error', 'ECU_UNKNOWN']);
      const all = await call('GET', '/diag-log');
      const alice = (all.json['entries'] as Array<Record<string, unknown>>).find((e) => e['actor'] === 'api:alice');
      assert.deepEqual(alice && [alice['request'], alice['outcome']], ['22F189', 'positive']);
      for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'other=1']) assert.equal((await call('GET', `/diag-log?${q}`)).status, 400, q);
    });

    it('GET /audit-log lists administrative events, not each diagnostic request (those are in /diag-log)', async () => {
      const r = await call('GET', '/audit-log?limit=1000');
      const actions = (r.json['entries'] as Array<Record<string, unknown>>).map((e) => e['action']);
      assert.ok(actions.includes('manager.start'));
      assert.ok(!actions.includes('diag'));
    });

    it('GET /stats shows refusal counters and connected vehicles', async () => {
      const r = await call('GET', '/stats');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json['vehicles'], { known: 2, online: 1, connected: 1 });
      assert.equal(typeof r.json['refused'], 'object');
      assert.equal((r.json['broker'] as Record<string, unknown>)['connected'], true);
      assert.ok(((r.json['diag'] as Record<string, number>)['sent'] ?? 0) >= 3);
    });
  });

  describe('shutdown', () => {
    it('close() stops listening and removes manager.json', async () => {
      const url = manager.apiUrl;
      await manager.close();
      await assert.rejects(stat(manager.paths.managerJson), { code: 'ENOENT' });
      await assert.rejects(fetch(url + '/api/v1/health'));
    });
  });
});
