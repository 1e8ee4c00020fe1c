/**
 * A firmware update over a slow, flaky vehicle link (issue 10 §5), every part its own process: `ota broker`,
 * `ota manager`, `ota vehicle` — the vehicle reaching the broker only through a TCP proxy on loopback
 * (test/helpers/slow-link.ts) that carries 32 kbit/s each way and cuts the connection every 5 s.
 *
 *   56 KiB update with the cuts → done; image bytes the manager sent ≤ 1.5 × the image (each reconnect
 *     resumes from the gateway's chunk map; at most what the adaptive window had in flight is lost per cut)
 *   on the same link without cuts, 6 diagnostic requests (2 s apart, 5 s deadline) during a transfer
 *     → all 6 answered, each within 2.5 s (the manager keeps ~0.5 s of the link in flight, not the gateway's
 *     16 KiB window: 4 s of this link)
 *
 * Before the fix the first case sent 14 × the image and had not finished after 240 s (bench --only lossy).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/api-client.js';
import type { Job } from '../../src/manager/index.js';
import { simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, tempDataDir } from '../e2e/harness.js';
import { freePort, killUpdateChildren, otaAsync, startDaemon, until, type Daemon } from '../e2e/update-harness.js';
import { SlowLink } from '../helpers/slow-link.js';

const IMAGE = 56 * 1024;
const RATE = 4000; // bytes/s: 32 kbit/s
const CUT_EVERY_MS = 5000;
/** The cut transfer needs ~40–70 s on this link (≈ 2.5 s of every 5 s go to reconnecting); beyond this it failed. */
const CUT_TRANSFER_LIMIT_MS = 110_000;

describe('firmware update over a 32 kbit/s link cut every 5 s (separate broker, manager and vehicle processes)', { timeout: 180_000 }, () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let link: SlowLink;
  const daemons: Daemon[] = [];
  const vin = simulatorVin(1);
  const firmware = new Map<string, string>();
  const d = (): string[] => ['--data', data.dir];
  const api = (): Promise<ApiClient> => ApiClient.open(data.dir, {});
  const job = async (id: string): Promise<Job> => (await api()).request<Job>('GET', `/jobs/${id}`);
  const create = async (version: string): Promise<Job> => (await api()).request<Job>('POST', '/jobs', { vehicle: vin, ecu: 'engine', firmware: firmware.get(version) });

  before(async () => {
    data = await tempDataDir('ota-slow-link-');
    const init = ota(['up', '--init-only', '--vehicles', '1', ...d()]);
    assert.equal(init.status, 0, init.stderr);
    const port = await freePort();
    daemons.push(await startDaemon(['broker', '--pki', join(data.dir, 'pki'), '--port', String(port)], /broker listening/));
    daemons.push(await startDaemon(['manager', ...d(), '--broker', `mqtts://127.0.0.1:${port}`, '--port', '0'], /^manager: API /m));
    link = await SlowLink.start({ target: { host: '127.0.0.1', port }, bytesPerSecond: RATE });
    // The vehicle comes up through the slow link while the releases are made (in parallel: each CLI run is a process start).
    const vehicle = startDaemon(['vehicle', '--id', vin, ...d(), '--broker', `mqtts://127.0.0.1:${link.port}`], /secure session .* with the manager/, 60_000);
    await Promise.all(
      ['1.1.0', '1.2.0'].map(async (v) => {
        const s = await otaAsync(['firmware', 'sample', '--version', v, '--out', join(data.dir, `app-${v}.hex`), ...d()]);
        assert.equal(s.status, 0, s.stderr);
        const added = await otaAsync(['firmware', 'add', join(data.dir, `app-${v}.hex`), ...d(), '--json']);
        assert.equal(added.status, 0, added.stderr);
        firmware.set(v, (JSON.parse(added.stdout) as { firmware: { id: string } }).firmware.id);
      }),
    );
    daemons.push(await vehicle);
    await until('the vehicle announced', async () => (await (await api()).vehicle(vin)).ecus.length === 2, 60_000, 100);
  });
  after(async () => {
    await link?.close();
    killUpdateChildren();
    killAll();
    await data?.cleanup();
  });

  it('completes, sending at most 1.5 × the image bytes (resume from the chunk map after every cut)', async () => {
    const created = await create('1.1.0');
    const started = Date.now();
    link.startCuts(CUT_EVERY_MS);
    let last = created;
    try {
      await until('the download to complete', async () => {
        last = await job(created.id).catch(() => last);
        if (last.state !== 'active' && last.state !== 'done') throw new Error(`job ${last.state} ${last.reason?.code ?? ''}`);
        return last.state === 'done' || (last.phase !== 'queued' && last.phase !== 'downloading');
      }, CUT_TRANSFER_LIMIT_MS, 250);
    } catch (e) {
      assert.fail(`not downloaded within ${CUT_TRANSFER_LIMIT_MS} ms: ${last.bytesSent} image bytes sent (${(last.bytesSent / IMAGE).toFixed(1)} × the image), ${last.percent}% held, ${link.stats.cuts} cuts (${String(e)})`);
    }
    const downloadMs = Date.now() - started;
    link.stopCuts();
    const done = await until('the job to end', async () => ((last = await job(created.id).catch(() => last)).state === 'active' ? undefined : last), 60_000, 250);
    assert.equal(done.state, 'done', JSON.stringify(done.reason));
    assert.ok(link.stats.cuts >= 3, `the link was cut ${link.stats.cuts} times during the download`);
    assert.ok(done.bytesSent <= 1.5 * IMAGE, `image bytes sent ${done.bytesSent} ≤ 1.5 × ${IMAGE} (${(done.bytesSent / IMAGE).toFixed(2)} ×; ${done.offers} offers, ${link.stats.cuts} cuts, downloaded in ${downloadMs} ms)`);
    assert.equal((await (await api()).vehicle(vin)).ecus.find((e) => e.name === 'engine')?.appVersion, '1.1.0');
  });

  it('answers 6 of 6 diagnostic requests (5 s deadline), each within 2.5 s, sent during a transfer on the same link', async () => {
    link.stopCuts();
    // Independent of the first test: a job it left behind is cancelled.
    for (const j of (await (await api()).request<{ jobs: Job[] }>('GET', '/jobs?state=active')).jobs) {
      await (await api()).request('POST', `/jobs/${j.id}/cancel`, { force: true });
    }
    await until('the vehicle reachable again', async () => (await (await api()).vehicle(vin)).reachable, 30_000, 100);
    const created = await create('1.2.0');
    await until('the download under way', async () => (await job(created.id)).percent >= 5, 30_000, 100);
    // One request every 2 s whatever the previous one does (as an engineer's tool would), each checked to
    // start while the download is under way.
    const asks: Array<Promise<{ ok: boolean; ms: number; code?: string }>> = [];
    for (let i = 0; i < 6; i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 2000));
      assert.equal((await job(created.id)).phase, 'downloading', `request ${i + 1} overlaps the transfer`);
      const t0 = Date.now();
      const client = await api();
      asks.push(
        client.request<{ response: string | null }>('POST', `/vehicles/${vin}/diag`, { ecu: 'body', request: '22F190', timeoutMs: 5000 }, 10_000).then(
          (x) => ({ ok: x.response !== null && x.response.startsWith('62F190'), ms: Date.now() - t0 }),
          (e: unknown) => ({ ok: false, ms: Date.now() - t0, code: (e as { code?: string }).code ?? String(e) }),
        ),
      );
    }
    const results = await Promise.all(asks);
    assert.equal(results.filter((r) => r.ok).length, 6, JSON.stringify(results));
    // The link itself needs ≈ 0.1 s for a request and its response; the old whole window (16 KiB) was 4 s of it.
    assert.ok(Math.max(...results.map((r) => r.ms)) <= 2500, `round trips ${results.map((r) => r.ms).join(', ')} ms`);
    const done = await until('the job to end', async () => {
      const j = await job(created.id);
      return j.state === 'active' ? undefined : j;
    }, 60_000, 250);
    assert.equal(done.state, 'done', JSON.stringify(done.reason));
  });
});
