/** The manager's ECU secret key store (src/manager/ecu-secrets.ts): get/put by vehicle and ECU, encrypted at rest, 0600. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECU_SECRETS_FILE, ECU_SECRETS_KEY_FILE, openEcuSecretStore } from '../../src/manager/index.js';

describe('EcuSecretStore', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-keystore-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers undefined and creates nothing before the first put', async () => {
    const store = openEcuSecretStore(join(dir, 'empty'));
    assert.equal(await store.get('V1', 'engine'), undefined);
    assert.throws(() => statSync(join(dir, 'empty', ECU_SECRETS_KEY_FILE)), { code: 'ENOENT' });
  });

  it('puts and gets secrets by vehicle and ECU, across instances, with both files 0600', async () => {
    const m = join(dir, 'a');
    const engine = new Uint8Array(32).fill(0x11);
    const body = new Uint8Array(16).fill(0x22);
    await openEcuSecretStore(m).put('V1', 'engine', engine);
    await openEcuSecretStore(m).put('V1', 'body', body);
    await openEcuSecretStore(m).put('V2', 'engine', body);
    const store = openEcuSecretStore(m);
    assert.deepEqual(await store.get('V1', 'engine'), engine);
    assert.deepEqual(await store.get('V1', 'body'), body);
    assert.deepEqual(await store.get('V2', 'engine'), body);
    assert.equal(await store.get('V2', 'body'), undefined);
    for (const f of [ECU_SECRETS_FILE, ECU_SECRETS_KEY_FILE]) assert.equal(statSync(join(m, f)).mode & 0o777, 0o600, f);
    // Replacing keeps one entry.
    await store.put('V1', 'engine', body);
    assert.deepEqual(await store.get('V1', 'engine'), body);
  });

  it('tightens a store file others can read', async () => {
    const m = join(dir, 'loose');
    await openEcuSecretStore(m).put('V1', 'engine', new Uint8Array(32).fill(3));
    chmodSync(join(m, ECU_SECRETS_FILE), 0o644);
    await openEcuSecretStore(m).get('V1', 'engine');
    assert.equal(statSync(join(m, ECU_SECRETS_FILE)).mode & 0o777, 0o600);
  });

  it('refuses a store that is not JSON, or holds secrets without its key, with MGR_SECRET_STORE', async () => {
    const m = join(dir, 'bad');
    await openEcuSecretStore(m).put('V1', 'engine', new Uint8Array(32).fill(4));
    await rm(join(m, ECU_SECRETS_KEY_FILE));
    await assert.rejects(openEcuSecretStore(m).get('V1', 'engine'), { code: 'MGR_SECRET_STORE' });
    writeFileSync(join(m, ECU_SECRETS_FILE), '{nope', { mode: 0o600 });
    await assert.rejects(openEcuSecretStore(m).get('V1', 'engine'), { code: 'MGR_SECRET_STORE' });
    assert.ok(readFileSync(join(m, ECU_SECRETS_FILE), 'utf8').startsWith('{nope'), 'a failed read changes nothing');
  });
});
