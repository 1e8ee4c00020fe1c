import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openSqliteStore, type Store } from '../../../src/manager/store/index.js';
import type { AnnounceMessage } from '../../../src/protocol/ota/messages.js';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-01-01T10:05:00.000Z';
const T2 = '2026-01-01T10:10:00.000Z';

function announce(ecus: AnnounceMessage['ecus'], version = 'gw 1.0'): AnnounceMessage {
  return { type: 'announce', vehicleId: 'VIN1', gateway: { version, suites: ['aes-256-gcm'], capabilities: [] }, ecus };
}
const engine = (appVersion: string): AnnounceMessage['ecus'][number] => ({
  name: 'engine',
  link: 'can',
  address: '0x7E0',
  appVersion,
  bootVersion: '1.0.0',
  mode: 'application',
  serial: 'E1',
  hardwareId: 'stm32f103c8',
});
const body: AnnounceMessage['ecus'][number] = { name: 'body', link: 'doip', address: '0x0011', appVersion: null, bootVersion: '1.0.0', mode: 'bootloader', serial: null, hardwareId: null };

describe('Store (SQLite file)', () => {
  let dir: string;
  let file: string;
  let store: Store;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-store-'));
    file = join(dir, 'manager', 'ota.db');
    store = await openSqliteStore(file);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('migrations', () => {
    it('creates the four tables in WAL mode and applies nothing twice', async () => {
      const raw = new BetterSqlite3(file, { readonly: true });
      try {
        const tables = (raw.prepare("select name from sqlite_master where type = 'table' order by name").all() as Array<{ name: string }>).map((r) => r.name);
        for (const t of ['audit_log', 'diag_log', 'ecus', 'vehicles']) assert.ok(tables.includes(t), t);
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        raw.close();
      }
      assert.deepEqual(await store.migrate(), []);
    });
  });

  describe('registry', () => {
    it('a status for a new vehicle creates it with its presence', async () => {
      await store.setPresence('VIN1', true, T0);
      const v = await store.getVehicle('VIN1');
      assert.ok(v);
      assert.equal(v.online, true);
      assert.equal(v.firstSeen, T0);
      assert.equal(v.statusAt, T0);
      assert.deepEqual(v.ecus, []);
    });

    it('an announce upserts the gateway facts and the ECUs', async () => {
      await store.setChannel('VIN1', 'aes-256-gcm', T1);
      await store.applyAnnounce('VIN1', announce([engine('1.0.0'), body]), T1);
      const v = await store.getVehicle('VIN1');
      assert.ok(v);
      assert.equal(v.firstSeen, T0, 'first_seen is kept');
      assert.equal(v.lastSeen, T1);
      assert.equal(v.online, true, 'presence is not touched by an announce');
      assert.equal(v.gatewayVersion, 'gw 1.0');
      assert.deepEqual(v.suites, ['aes-256-gcm']);
      assert.equal(v.channelSuite, 'aes-256-gcm');
      assert.deepEqual(
        v.ecus.map((e) => [e.name, e.link, e.address, e.appVersion, e.mode, e.serial, e.hardwareId]),
        [
          ['body', 'doip', '0x0011', null, 'bootloader', null, null],
          ['engine', 'can', '0x7E0', '1.0.0', 'application', 'E1', 'stm32f103c8'],
        ],
      );
    });

    it('a later announce updates versions and drops ECUs it no longer lists', async () => {
      await store.applyAnnounce('VIN1', announce([engine('1.1.0')], 'gw 1.1'), T2);
      const v = await store.getVehicle('VIN1');
      assert.ok(v);
      assert.equal(v.gatewayVersion, 'gw 1.1');
      assert.deepEqual(
        v.ecus.map((e) => [e.name, e.appVersion, e.updatedAt]),
        [['engine', '1.1.0', T2]],
      );
    });

    it('an announce with no ECUs clears the inventory', async () => {
      await store.applyAnnounce('VIN2', announce([engine('1.0.0')]), T0);
      await store.applyAnnounce('VIN2', announce([]), T1);
      assert.deepEqual((await store.getVehicle('VIN2'))?.ecus, []);
    });

    it('lists every vehicle with its own ECUs, by id', async () => {
      await store.setPresence('VIN0', false, T2);
      const all = await store.listVehicles();
      assert.deepEqual(
        all.map((v) => [v.id, v.online, v.ecus.map((e) => e.name)]),
        [
          ['VIN0', false, []],
          ['VIN1', true, ['engine']],
          ['VIN2', false, []],
        ],
      );
      assert.equal(await store.getVehicle('nope'), undefined);
    });
  });

  describe('diag_log', () => {
    it('records each request with its outcome and lists newest first, per vehicle and limited', async () => {
      const base = { actor: 'api:alice', ecu: 'engine', request: '22F189', nrc: null, errorCode: null };
      const a = await store.recordDiag({ ...base, at: T0, vehicleId: 'VIN1', response: '62F18931', outcome: 'positive', elapsedMs: 12 });
      const b = await store.recordDiag({ ...base, at: T1, vehicleId: 'VIN1', response: '7F2231', outcome: 'negative', nrc: 0x31, elapsedMs: 5 });
      const c = await store.recordDiag({ ...base, at: T2, vehicleId: 'VIN2', response: null, outcome: 'timeout', errorCode: 'DIAG_TIMEOUT', elapsedMs: 10000 });
      assert.ok(a < b && b < c);
      const vin1 = await store.listDiag({ vehicleId: 'VIN1' });
      assert.deepEqual(
        vin1.map((e) => [e.id, e.outcome, e.response, e.nrc, e.actor]),
        [
          [b, 'negative', '7F2231', 0x31, 'api:alice'],
          [a, 'positive', '62F18931', null, 'api:alice'],
        ],
      );
      const one = await store.listDiag({ limit: 1 });
      assert.deepEqual(one.map((e) => [e.id, e.vehicleId, e.errorCode, e.elapsedMs]), [[c, 'VIN2', 'DIAG_TIMEOUT', 10000]]);
    });

    it('refuses an outcome outside positive|negative|timeout|error (MGR_BAD_INPUT), and the log goes on', async () => {
      await assert.rejects(
        store.recordDiag({ at: T0, actor: 'x', vehicleId: 'VIN1', ecu: 'e', request: '10', response: null, outcome: 'maybe' as 'error', nrc: null, errorCode: null, elapsedMs: 0 }),
        { code: 'MGR_BAD_INPUT' },
      );
      assert.deepEqual([store.diagBacklog, store.diagLogFailing], [0, false]);
    });
  });

  describe('audit_log', () => {
    it('keeps detail as JSON', async () => {
      await store.audit({ at: T0, actor: 'manager', action: 'manager.start', target: 'http://x', detail: { pid: 7 } });
      const [e] = await store.listAudit({ limit: 1 });
      assert.deepEqual(e && { action: e.action, detail: e.detail }, { action: 'manager.start', detail: { pid: 7 } });
    });
  });

  describe('reopen', () => {
    it('keeps every row after close and reopen', async () => {
      const before = { vehicles: await store.listVehicles(), diag: await store.listDiag(), audit: await store.listAudit() };
      await store.close();
      store = await openSqliteStore(file);
      assert.deepEqual(await store.listVehicles(), before.vehicles);
      assert.deepEqual(await store.listDiag(), before.diag);
      assert.deepEqual(await store.listAudit(), before.audit);
    });
  });
});
