/**
 * Issue 9 §3 "No secret where it does not belong": each case names the attack it stops. Real files,
 * real SQLite databases, real sockets on loopback and real `ota` processes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { renameSync } from 'node:fs';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { openSqliteStore, type NewDiagEntry } from '../../src/manager/store/index.js';
import { migrations } from '../../src/manager/store/migrations.js';
import { describeUds } from '../../src/protocol/uds/index.js';
import { keyStoreSecret, reportJson, runDiag, shownHex, type DiagReport } from '../../src/cli/diag/run.js';
import { parseDiagWords } from '../../src/cli/diag/actions.js';
import { ApiClient } from '../../src/cli/api-client.js';
import { startSimulatedVehicle, type SimulatedVehicle } from '../../src/cli/sim/vehicle.js';
import { ensureFleet, ensurePki } from '../../src/cli/up/setup.js';
import { startBroker, type Broker } from '../../src/broker/index.js';
import { createManager, silentLog, type Manager } from '../../src/manager/index.js';
import { formatUdsForLog } from '../../src/cli/ecu.js';
import { ECU_SECRETS_FILE, ECU_SECRETS_KEY_FILE, openEcuSecretStore, type DiagLogEntry, type DiagResult } from '../../src/manager/index.js';
import { openNvm } from '../../src/ecu/nvm.js';
import { SECRET_FILE } from '../../src/ecu/secret.js';
import { computeKey, SA_LEVEL } from '../../src/ecu/security-access.js';
import { IDENT_DID } from '../../src/ecu/state.js';
import { killAll, startUp } from '../e2e/harness.js';

const KEY = '5A'.repeat(16);
const SEED = 'C3'.repeat(16);
const T0 = '2026-12-07T10:00:00.000Z';

const row = (request: string, response: string | null): NewDiagEntry => ({
  at: T0,
  actor: 'api:attack',
  vehicleId: 'VIN1',
  ecu: 'engine',
  request,
  response,
  outcome: 'positive',
  nrc: null,
  errorCode: null,
  elapsedMs: 3,
});

/** The diag_log rows exactly as stored, read by plain SQL (no store code in between). */
function rawRows(file: string): string {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return JSON.stringify(db.prepare('select request, response from diag_log order by id').all());
  } finally {
    db.close();
  }
}

describe('attack: reading diag_log (GET /diag-log, ota.db, a backup) to learn SecurityAccess seeds and keys', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-diaglog-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a new diag_log row keeps 27 02 and 67 11 but neither the key nor the seed', async () => {
    const file = join(dir, 'new.db');
    const store = await openSqliteStore(file);
    try {
      await store.recordDiag(row('2711', '6711' + SEED));
      await store.recordDiag(row('2712' + KEY, '6712'));
      await store.recordDiag(row('2903' + 'AB'.repeat(40), '690312' + 'CD'.repeat(8)));
      const listed = await store.listDiag({});
      const shown = JSON.stringify(listed);
      assert.ok(!shown.includes(KEY) && !shown.includes(SEED) && !shown.includes('ABABAB') && !shown.includes('CDCDCD'), shown);
      const byRequest = new Map(listed.map((e) => [e.request, e.response]));
      assert.equal(byRequest.get('2711'), '6711' + 'XX'.repeat(16));
      assert.ok(byRequest.has('2712' + 'XX'.repeat(16)));
      assert.equal(byRequest.get('2903' + 'XX'.repeat(40)), '690312' + 'XX'.repeat(8));
    } finally {
      await store.close();
    }
    const raw = rawRows(file);
    assert.ok(!raw.includes(KEY) && !raw.includes(SEED), raw);
  });

  it('migration 0004_redact_diag_log redacts the seeds and keys rows stored before it, and nothing else', async () => {
    const file = join(dir, 'old.db');
    // A database as the manager left it before the redaction rule: migrations 0001 and 0002 only.
    const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
    try {
      const all = migrations('sqlite');
      const before = Object.fromEntries(Object.entries(all).filter(([name]) => name < '0003'));
      const { error } = await new Migrator({ db: old, provider: { getMigrations: () => Promise.resolve(before) } }).migrateToLatest();
      assert.equal(error, undefined);
      const rows: Array<[string, string | null]> = [
        ['2711', '6711' + SEED],
        ['2712' + KEY, '6712'],
        ['2712' + KEY, '7F2735'],
        ['22F190', '62F190' + '41'.repeat(17)],
      ];
      for (const [request, response] of rows) {
        await (old as Kysely<{ diag_log: Record<string, unknown> }>)
          .insertInto('diag_log')
          .values({ at: T0, actor: 'cli', vehicle_id: 'VIN1', ecu: 'engine', request, response, outcome: 'positive', nrc: null, error_code: null, elapsed_ms: 1 })
          .execute();
      }
    } finally {
      await old.destroy();
    }
    assert.ok(rawRows(file).includes(KEY), 'the old database holds the key before the migration');

    const store = await openSqliteStore(file);
    try {
      const entries = (await store.listDiag({})).reverse();
      assert.deepEqual(
        entries.map((e) => [e.request, e.response]),
        [
          ['2711', '6711' + 'XX'.repeat(16)],
          ['2712' + 'XX'.repeat(16), '6712'],
          ['2712' + 'XX'.repeat(16), '7F2735'],
          ['22F190', '62F190' + '41'.repeat(17)],
        ],
      );
    } finally {
      await store.close();
    }
    const raw = rawRows(file);
    assert.ok(!raw.includes(KEY) && !raw.includes(SEED), raw);
  });
});

describe('attack: copying seeds and keys from what the CLI prints (terminal scrollback, `ota diag --json` in a ticket, an ECU log)', () => {
  const exchange = (request: string, response: string): DiagResult => ({
    id: 'x',
    logId: 1,
    vehicleId: 'VIN1',
    ecu: 'engine',
    request,
    response,
    positive: true,
    decoded: describeUds(Uint8Array.from(Buffer.from(response, 'hex'))),
    pending: 0,
    elapsedMs: 1,
    roundTripMs: 2,
  });
  const spaced = (hex: string): string => hex.replace(/(..)(?!$)/g, '$1 ');

  it('`ota diag … unlock` lines and --json show 27 11 / 67 11 / 27 12 but no seed and no key', () => {
    const report: DiagReport = {
      ok: true,
      command: 'unlock',
      vehicleId: 'VIN1',
      ecu: 'engine',
      exchanges: [exchange('2711', '6711' + SEED), exchange('2712' + KEY, '6712')],
      lines: [],
    };
    const json = JSON.stringify(reportJson(report));
    assert.ok(!json.includes(SEED) && !json.includes(KEY) && !json.includes(spaced(SEED)) && !json.includes(spaced(KEY)), json);
    const [seedExchange] = (reportJson(report) as { exchanges: DiagResult[] }).exchanges;
    assert.equal(seedExchange?.response, '6711' + 'XX'.repeat(16));
    assert.equal((seedExchange?.decoded as Record<string, unknown>).service, 'SecurityAccess');
    assert.equal((seedExchange?.decoded as Record<string, unknown>).redactedBytes, 16);
    assert.equal(shownHex('6711' + SEED), '67 11 <16 bytes redacted>');
    assert.equal(shownHex('2712' + KEY), '27 12 <16 bytes redacted>');
  });

  it('the `ota ecu` log line of a requestSeed answer keeps 67 01 and drops the seed', () => {
    const line = formatUdsForLog(Uint8Array.from(Buffer.from('6701' + SEED, 'hex')), 'response');
    assert.ok(line.startsWith('67 01 <16 bytes redacted>'), line);
    assert.ok(!line.includes(spaced(SEED)));
  });
});

describe('attack: unlocking programming with a secret derived from what any tester reads (serial number, DID F18C)', () => {
  /** The old simulator default: HMAC-SHA256(key = the published label, data = the serial number). */
  const derived = (serial: string): Uint8Array => Uint8Array.from(createHmac('sha256', 'ota-service-manager/simulator/ecu-secret/v1').update(serial, 'utf8').digest());
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-derived-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a new simulated ECU refuses the key of the serial-derived secret with NRC 0x35, and takes the key of its own random secret', () => {
    const nvm = openNvm(join(dir, 'engine'), { identity: { serialNumber: 'WVW00000000000001-engine' } });
    try {
      const serial = Buffer.from(nvm.state.readDid(IDENT_DID.serialNumber) ?? []).toString('latin1');
      assert.equal(serial, 'WVW00000000000001-engine');
      const seed = nvm.security.requestSeed(SA_LEVEL.programming.requestSeed);
      assert.throws(() => nvm.security.sendKey(SA_LEVEL.programming.sendKey, computeKey(derived(serial), seed)), { code: 'UDS_NRC_INVALID_KEY', wireCode: 0x35 });
      assert.equal(nvm.security.unlockedLevel, null);
      const own = Uint8Array.from(Buffer.from(readFileSync(join(dir, 'engine', SECRET_FILE), 'utf8').trim(), 'hex'));
      const seed2 = nvm.security.requestSeed(SA_LEVEL.programming.requestSeed);
      nvm.security.sendKey(SA_LEVEL.programming.sendKey, computeKey(own, seed2));
      assert.equal(nvm.security.unlockedLevel, SA_LEVEL.programming.requestSeed);
    } finally {
      nvm.close();
    }
    assert.equal(statSync(join(dir, 'engine', SECRET_FILE)).mode & 0o777, 0o600);
  });
});

describe("attack: reading ECU secrets from a copy of the manager's key store (a backup, a support bundle)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-keystore-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the store file holds no secret in the clear, both files are 0600, and an entry moved to another ECU does not decrypt', async () => {
    const secret = Uint8Array.from(Buffer.from('D00DFEED'.repeat(8), 'hex'));
    const store = openEcuSecretStore(dir);
    await store.put('VIN1', 'engine', secret);
    await store.put('VIN1', 'body', new Uint8Array(32).fill(1));
    const text = readFileSync(join(dir, ECU_SECRETS_FILE), 'utf8');
    assert.ok(!text.toLowerCase().includes('d00dfeed'), text);
    for (const f of [ECU_SECRETS_FILE, ECU_SECRETS_KEY_FILE]) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    // Swap the engine's sealed secret into the body's slot: the additional data binds it to vehicle and ECU.
    const json = JSON.parse(text) as { secrets: Record<string, Record<string, string>> };
    const v = json.secrets['VIN1'] as Record<string, string>;
    v['body'] = v['engine'] as string;
    writeFileSync(join(dir, ECU_SECRETS_FILE), JSON.stringify(json), { mode: 0o600 });
    await assert.rejects(store.get('VIN1', 'body'), { code: 'MGR_SECRET_STORE' });
    assert.deepEqual(await store.get('VIN1', 'engine'), secret);
  });
});

describe('attack: learning seeds and keys from GET /diag-log after a real unlock (manager, broker, simulated vehicle)', { timeout: 120_000 }, () => {
  let dir: string;
  let broker: Broker;
  let manager: Manager;
  let vehicle: SimulatedVehicle;
  let vin: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-unlock-'));
    const pkiDir = join(dir, 'pki');
    [vin] = (await ensureFleet(dir, 1)).vehicles as [string];
    await ensurePki(pkiDir, [vin]);
    broker = await startBroker({ pkiDir, host: '127.0.0.1', port: 0 });
    manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: silentLog });
    await manager.waitForBroker(20_000);
    vehicle = await startSimulatedVehicle({ vehicleId: vin, pkiDir, brokerUrl: broker.url, dataDir: dir });
    for (const [ecu, secret] of vehicle.ecuSecrets) await manager.ecuSecrets.put(vin, ecu, secret);
    const deadline = Date.now() + 60_000;
    while (!((await manager.vehicle(vin))?.reachable === true && (await manager.vehicle(vin))?.ecus.length === 2)) {
      if (Date.now() > deadline) throw new Error('the vehicle did not come online');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    await vehicle?.close().catch(() => undefined);
    await manager?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('without a secret anywhere (no file, no $OTA_ECU_SECRET, no key store entry, no terminal) unlock refuses with CLI_SECRET_MISSING and sends nothing', async () => {
    const client = await ApiClient.open(dir, {});
    const target = { client, vehicleId: vin, ecu: 'engine', storedSecret: keyStoreSecret(join(dir, 'no-such-store')), env: {}, warn: () => undefined };
    await assert.rejects(runDiag(target, parseDiagWords(['unlock', '--level', '0x01'])), { code: 'CLI_SECRET_MISSING' });
    assert.deepEqual(await manager.store.listDiag({ vehicleId: vin }), []);
  });

  it('ota diag unlock takes the secret from the key store; the log keeps 27 01 / 67 01 / 27 02 without seed or key', async () => {
    const client = await ApiClient.open(dir, {});
    const target = { client, vehicleId: vin, ecu: 'engine', storedSecret: keyStoreSecret(manager.paths.managerDir), env: {}, warn: () => undefined };
    assert.equal((await runDiag(target, parseDiagWords(['session', 'extended']))).ok, true);
    const unlock = await runDiag(target, parseDiagWords(['unlock']));
    assert.equal(unlock.ok, true, unlock.lines.join('\n'));
    assert.match(unlock.lines.join('\n'), /key computed from the key store .*ecu-secrets\.json/);
    const seedExchange = unlock.exchanges.find((e) => e.request === '2701');
    const keyExchange = unlock.exchanges.find((e) => e.request.startsWith('2702'));
    const seed = (seedExchange?.response ?? '').slice(4);
    const key = (keyExchange?.request ?? '').slice(4);
    assert.equal(seed.length, 32);
    assert.equal(key.length, 32);
    assert.ok(!unlock.lines.join('\n').includes(seed.replace(/(..)(?!$)/g, '$1 ')), 'the seed was printed');

    const log = await fetch(`${manager.apiUrl}/api/v1/diag-log?vehicle=${vin}`, { headers: { authorization: `Bearer ${client.location.token}` } });
    const entries = ((await log.json()) as { entries: DiagLogEntry[] }).entries;
    const text = JSON.stringify(entries);
    assert.ok(!text.includes(seed) && !text.includes(key), text);
    assert.ok(entries.some((e) => e.request === '2701' && e.response === '6701' + 'XX'.repeat(16)), text);
    assert.ok(entries.some((e) => e.request === '2702' + 'XX'.repeat(16) && e.response === '6702'), text);
  });
});

describe('attack: fingerprinting the manager (version, broker address, uptime) through GET /health without a token', { timeout: 120_000 }, () => {
  let dir: string;
  let broker: Broker;
  let manager: Manager;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-health-'));
    const pkiDir = join(dir, 'pki');
    await ensurePki(pkiDir, []);
    broker = await startBroker({ pkiDir, host: '127.0.0.1', port: 0 });
    manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: silentLog });
  });
  after(async () => {
    await manager?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('answers only { status } without a token or with a wrong one, everything with the token', async () => {
    const anonymous: Array<Record<string, string>> = [{}, { authorization: `Bearer ${'0'.repeat(64)}` }];
    for (const headers of anonymous) {
      const r = await fetch(`${manager.apiUrl}/api/v1/health`, { headers });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ok' });
    }
    const token = readFileSync(manager.paths.apiToken, 'utf8').trim();
    const full = (await (await fetch(`${manager.apiUrl}/api/v1/health`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
    assert.equal(full['status'], 'ok');
    assert.equal(typeof full['version'], 'string');
    assert.equal((full['broker'] as { url: string }).url, broker.url);
  });
});

describe('attack: reading the API token from `ota up` output kept in a log file (`ota up > up.log`, a CI log)', { timeout: 180_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-token-'));
  });
  after(async () => {
    killAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('neither the first start nor a later one prints the token when output is not a terminal; both name its file', async () => {
    for (const start of ['first', 'second']) {
      const up = await startUp(dir, ['--vehicles', '0']);
      try {
        const token = readFileSync(join(dir, 'manager', 'api-token'), 'utf8').trim();
        assert.match(token, /^[0-9a-f]{64}$/);
        const printed = up.stdout() + up.stderr();
        assert.ok(!printed.includes(token), `${start} start printed the token:\n${printed}`);
        assert.ok(printed.includes(join(dir, 'manager', 'api-token')), printed);
        assert.equal(statSync(join(dir, 'manager', 'api-token')).mode & 0o777, 0o600);
      } finally {
        assert.equal(await up.stop(), 0);
      }
    }
  });
});

describe('attack: reading the bearer token off the network from an API bound to a non-loopback address', { timeout: 120_000 }, () => {
  let dir: string;
  let broker: Broker;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-attack-https-'));
    await ensurePki(join(dir, 'pki'), []);
    broker = await startBroker({ pkiDir: join(dir, 'pki'), host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await broker?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** GET /api/v1/health over HTTPS, trusting only the fleet CA. */
  const httpsHealth = (url: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(`${url}/api/v1/health`, { ca: readFileSync(join(dir, 'pki', 'ca.pem'), 'utf8'), headers: { authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });

  it('on 0.0.0.0 the API serves HTTPS with a certificate of the fleet PKI (checked against the CA), and no plain HTTP', async () => {
    const manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '0.0.0.0', port: 0 }, log: silentLog, announceFile: false });
    try {
      assert.match(manager.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
      const token = readFileSync(manager.paths.apiToken, 'utf8').trim();
      const r = await httpsHealth(manager.apiUrl, token);
      assert.equal(r.status, 200);
      assert.equal(r.body['status'], 'ok');
      await assert.rejects(fetch(manager.apiUrl.replace('https:', 'http:') + '/api/v1/health', { signal: AbortSignal.timeout(10_000) }));
      // The CLI finds the fleet CA in the data directory and talks HTTPS to it.
      const client = await ApiClient.open(dir, { OTA_API_URL: manager.apiUrl });
      assert.equal((await client.health()).status, 'ok');
      assert.deepEqual(await client.vehicles(), []);
    } finally {
      await manager.close();
    }
  });

  it('without a certificate and without a CA key to issue one it refuses to start with MGR_API_TLS, and starts on plain HTTP only with insecureHttp', async () => {
    const pki = join(dir, 'pki');
    renameSync(join(pki, 'api.pem'), join(pki, 'api.pem.bak'));
    renameSync(join(pki, 'ca.key'), join(pki, 'ca.key.bak'));
    try {
      await assert.rejects(createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '0.0.0.0', port: 0 }, log: silentLog, announceFile: false }), { code: 'MGR_API_TLS' });
      const manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '0.0.0.0', port: 0, insecureHttp: true }, log: silentLog, announceFile: false });
      try {
        assert.match(manager.apiUrl, /^http:\/\//);
      } finally {
        await manager.close();
      }
      // Loopback stays plain HTTP: the dashboard and the CLI on this machine need no certificate.
      const local = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: silentLog, announceFile: false });
      try {
        assert.match(local.apiUrl, /^http:\/\/127\.0\.0\.1:/);
      } finally {
        await local.close();
      }
    } finally {
      renameSync(join(pki, 'ca.key.bak'), join(pki, 'ca.key'));
      renameSync(join(pki, 'api.pem.bak'), join(pki, 'api.pem'));
    }
  });
});
