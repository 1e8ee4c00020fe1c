/**
 * The in-memory registry of the Store: loaded by migrate(), refreshed by every registry write, always
 * equal to what the database holds (checked against a second store reading the same file).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type Store } from '../../../src/manager/store/index.js';
import type { AnnounceMessage } from '../../../src/protocol/ota/messages.js';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-01-01T10:05:00.000Z';
const T2 = '2026-01-01T10:10:00.000Z';

type Ecu = AnnounceMessage['ecus'][number];
const ecu = (name: string, appVersion: string | null): Ecu => ({ name, link: 'can', address: '0x7E0', appVersion, bootVersion: '1.0.0', mode: 'application', serial: null, hardwareId: 'stm32f103c8' });
const announce = (id: string, ecus: Ecu[]): AnnounceMessage => ({ type: 'announce', vehicleId: id, gateway: { version: 'gw 1.0', suites: ['aes-256-gcm'], capabilities: [] }, ecus });

describe('Store in-memory registry', () => {
  let dir: string;
  let file: string;
  let store: Store;

  /** What a store freshly loaded from the file says (the database's truth). */
  const fromDisk = async (): Promise<Awaited<ReturnType<Store['listVehicles']>>> => {
    const other = await openSqliteStore(file);
    try {
      return await other.listVehicles();
    } finally {
      await other.close();
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-registry-'));
    file = join(dir, 'ota.db');
    store = await openSqliteStore(file);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows presence, channel and announce writes exactly as the database stores them', async () => {
    await store.setPresence('V-B', true, T0);
    await store.setChannel('V-B', 'aes-256-gcm', T1);
    await store.applyAnnounce('V-B', announce('V-B', [ecu('engine', '1.0.0'), ecu('body', null), ecu('engine', '1.0.1')]), T1);
    await store.setChannel('V-A', '3des-cbc-hmac-sha256', T0);
    await store.setPresence('V-A', false, T2);
    const mem = await store.listVehicles();
    assert.deepEqual(mem, await fromDisk());
    assert.deepEqual(mem.map((v) => v.id), ['V-A', 'V-B']);
    const b = store.peekVehicle('V-B');
    // Duplicate ECU names in one announce: the last entry wins, as the upsert does; ECUs by name.
    assert.deepEqual(b?.ecus.map((e) => [e.name, e.appVersion]), [['body', null], ['engine', '1.0.1']]);
    assert.deepEqual([b?.online, b?.channelSuite, b?.gatewayVersion, b?.firstSeen, b?.lastSeen], [true, 'aes-256-gcm', 'gw 1.0', T0, T1]);
  });

  it('drops ECUs a later announce no longer lists, and sees presence changes at once', async () => {
    await store.applyAnnounce('V-B', announce('V-B', [ecu('engine', '2.0.0')]), T2);
    await store.setPresence('V-B', false, T2);
    assert.deepEqual(store.peekVehicle('V-B')?.ecus.map((e) => [e.name, e.appVersion]), [['engine', '2.0.0']]);
    assert.equal(store.peekVehicle('V-B')?.online, false);
    assert.deepEqual(await store.listVehicles(), await fromDisk());
  });

  it('orders ids by code point, as SQLite does', async () => {
    for (const id of ['V-\u{1F697}', 'V-\uFF21', 'V-a', 'V-Z']) await store.setPresence(id, true, T0);
    assert.deepEqual(
      (await store.listVehicles()).map((v) => v.id),
      (await fromDisk()).map((v) => v.id),
    );
  });

  it('hands out copies: changing a returned record changes nothing stored', async () => {
    const v = await store.getVehicle('V-B');
    assert.ok(v);
    v.online = true;
    v.ecus.length = 0;
    const [listed] = (await store.listVehicles()).filter((x) => x.id === 'V-B');
    listed?.suites.push('none');
    assert.deepEqual(await store.getVehicle('V-B'), (await fromDisk()).find((x) => x.id === 'V-B'));
    assert.equal(await store.getVehicle('nope'), undefined);
    assert.equal(store.peekVehicle('nope'), undefined);
  });

  it('a failed write leaves memory as it was', async () => {
    const before = await store.listVehicles();
    const bad = { ...ecu('engine', '3.0.0'), mode: null } as unknown as Ecu; // NOT NULL column
    await assert.rejects(store.applyAnnounce('V-B', announce('V-B', [bad]), T2));
    assert.deepEqual(await store.listVehicles(), before);
    assert.deepEqual(await fromDisk(), before);
  });
});
