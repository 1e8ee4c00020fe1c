/** `ota manager` as a real process: starts, serves, finds the broker, stops cleanly on SIGTERM. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Broker } from '../../src/broker/index.js';
import { parseBrokerUrl, parsePort } from '../../src/cli/manager.js';
import { makeDataDir, startTestBroker, waitFor, type TestData } from './fixtures.js';
import { spawnOta } from '../helpers/ota-cli.js';


describe('ota manager', () => {
  let data: TestData;
  let broker: Broker;
  before(async () => {
    data = await makeDataDir();
    broker = await startTestBroker(data.pkiDir);
  });
  after(async () => {
    await broker.close();
    await data.cleanup();
  });

  it('runs standalone: writes manager.json, serves /health connected to the broker, removes it on SIGTERM', async () => {
    const child = spawnOta(['manager', '--data', data.dataDir, '--broker', broker.url, '--port', '0']);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('manager.json', () => stat(join(data.dataDir, 'manager.json')).then(() => true, () => false), 20_000);
      const info = JSON.parse(await readFile(join(data.dataDir, 'manager.json'), 'utf8')) as { api: string; broker: string; pid: number };
      assert.equal(info.broker, broker.url);
      assert.equal(info.pid, child.pid);
      const health = await waitFor(
        'broker connected',
        async () => {
          const token = (await readFile(join(data.dataDir, 'manager', 'api-token'), 'utf8')).trim();
          const h = (await (await fetch(info.api + '/api/v1/health', { headers: { authorization: `Bearer ${token}` } })).json()) as { broker?: { connected: boolean } };
          return h.broker?.connected === true ? h : undefined;
        },
        10_000,
      );
      assert.equal(health.broker?.connected, true);
      await waitFor('banner', () => out.includes('/api/v1'));
      assert.ok(out.includes(info.api));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
      await assert.rejects(stat(join(data.dataDir, 'manager.json')), { code: 'ENOENT' });
      assert.ok(!err.includes((await readFile(join(data.dataDir, 'manager', 'api-token'), 'utf8')).trim()), 'the token is never logged');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('fails with MGR_CONFIG when the data directory has no manager certificate', async () => {
    const empty = await makeDataDir();
    await empty.cleanup();
    const child = spawnOta(['manager', '--data', empty.dataDir, '--port', '0']);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(err, /MGR_CONFIG/);
  });

  it('fails closed with MGR_CONFIG naming crl.pem when the CRL is missing (never an empty revocation list)', async () => {
    const bare = await makeDataDir();
    try {
      const crl = join(bare.pkiDir, 'crl.pem');
      await rm(crl);
      const child = spawnOta(['manager', '--data', bare.dataDir, '--broker', broker.url, '--port', '0']);
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      assert.equal(code, 1, err);
      assert.ok(err.startsWith('error MGR_CONFIG: ') && err.includes(`${crl} is missing`), err);
    } finally {
      await bare.cleanup();
    }
  });

  it('validates --port and --broker', () => {
    assert.equal(parsePort('0'), 0);
    assert.equal(parsePort('8080'), 8080);
    for (const p of ['65536', '-1', 'x', '']) assert.throws(() => parsePort(p), p);
    assert.equal(parseBrokerUrl('mqtts://127.0.0.1:8883'), 'mqtts://127.0.0.1:8883');
    for (const u of ['http://x', 'not a url']) assert.throws(() => parseBrokerUrl(u), u);
  });
});
