/**
 * The CLI's API client against a real manager (no broker needed for these answers): locating it through
 * the data directory, and every failure as a code a person can act on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, locateManager } from '../../src/cli/api-client.js';
import { ensurePki } from '../../src/cli/up/setup.js';
import { createManager, silentLog, type Manager } from '../../src/manager/index.js';

/** A pid that certainly belongs to no process: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid as number;
}

describe('locateManager', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-api-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('says MANAGER_NOT_RUNNING when there is no manager.json', async () => {
    await assert.rejects(locateManager(dir, {}), { code: 'MANAGER_NOT_RUNNING' });
  });
  it('says MANAGER_NOT_RUNNING for an unreadable manager.json and for a dead pid', async () => {
    await writeFile(join(dir, 'manager.json'), '{not json');
    await assert.rejects(locateManager(dir, {}), { code: 'MANAGER_NOT_RUNNING' });
    await writeFile(join(dir, 'manager.json'), JSON.stringify({ api: 'http://127.0.0.1:1', broker: 'mqtts://127.0.0.1:2', pid: deadPid() }));
    await assert.rejects(locateManager(dir, {}), { code: 'MANAGER_NOT_RUNNING' });
  });
  it('says UNAUTHORIZED when a live manager is named but there is no token file', async () => {
    await writeFile(join(dir, 'manager.json'), JSON.stringify({ api: 'http://127.0.0.1:1', pid: process.pid }));
    await assert.rejects(locateManager(dir, {}), { code: 'UNAUTHORIZED' });
  });
  it('takes OTA_API_URL and OTA_API_TOKEN instead of the files', async () => {
    const loc = await locateManager(join(dir, 'none'), { OTA_API_URL: 'http://10.0.0.5:8080/', OTA_API_TOKEN: 'abc' });
    assert.deepEqual({ api: loc.api, token: loc.token }, { api: 'http://10.0.0.5:8080', token: 'abc' });
  });
});

describe('ApiClient against a real manager', () => {
  let dataDir: string;
  let manager: Manager;
  let client: ApiClient;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ota-api-'));
    await ensurePki(join(dataDir, 'pki'), []);
    // No broker listens on port 1: the manager serves its API and retries the broker in the background.
    manager = await createManager({ dataDir, brokerUrl: 'mqtts://127.0.0.1:1', http: { host: '127.0.0.1', port: 0 }, log: silentLog, reconnect: { initialMs: 2000, maxMs: 5000 } });
    client = await ApiClient.open(dataDir, {});
  });
  after(async () => {
    await manager?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finds the manager through manager.json and reads health and the (empty) fleet', async () => {
    assert.equal(client.location.api, manager.apiUrl);
    assert.equal((await client.health()).status, 'ok');
    assert.deepEqual(await client.vehicles(), []);
  });

  it('maps API error bodies to codes with a next step: VEHICLE_UNKNOWN, HEX_INVALID', async () => {
    await assert.rejects(client.vehicle('VIN0001'), (e: Error & { code?: string; status?: number }) => {
      assert.equal(e.code, 'VEHICLE_UNKNOWN');
      assert.equal(e.status, 404);
      assert.match(e.message, /ota fleet/);
      return true;
    });
    await assert.rejects(client.diag('VIN0001', 'engine', '22F190'), { code: 'VEHICLE_UNKNOWN' });
    await assert.rejects(client.diag('VIN0001', 'engine', 'zz'), { code: 'HEX_INVALID' });
    await assert.rejects(client.resolveVehicle('0001'), { code: 'VEHICLE_UNKNOWN' });
  });

  it('says UNAUTHORIZED for a wrong token', async () => {
    const wrong = new ApiClient({ ...client.location, token: '0'.repeat(64) });
    await assert.rejects(wrong.vehicles(), { code: 'UNAUTHORIZED', status: 401 });
  });

  it('says MANAGER_TIMEOUT when the manager does not answer in time', async () => {
    const held = new Set<Socket>();
    const silent: Server = createServer((socket) => void held.add(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const c = new ApiClient({ ...client.location, api: `http://127.0.0.1:${port}` });
      await assert.rejects(c.request('GET', '/health', undefined, 300), { code: 'MANAGER_TIMEOUT' });
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('says MANAGER_NOT_RUNNING once the manager has stopped (file removed, port closed)', async () => {
    const stale = client.location;
    await manager.close();
    await assert.rejects(ApiClient.open(dataDir, {}), { code: 'MANAGER_NOT_RUNNING' });
    await assert.rejects(new ApiClient(stale).vehicles(), { code: 'MANAGER_NOT_RUNNING' });
  });
});
