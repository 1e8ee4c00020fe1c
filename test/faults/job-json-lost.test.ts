/**
 * A gateway whose job.json is lost or unreadable after a power loss mid-programming (update-flow.md,
 * "What each failure leaves behind"), with every part its own process: `ota broker`, `ota manager
 * --chunk-size 64` and `ota vehicle --physical-timing --update-window 2`, `ota flash` waiting.
 *
 *   vehicle SIGKILLed mid-programming, job.json deleted   → after the restart the manager re-offers, the
 *                                                           gateway rebuilds the job from the offer and the
 *                                                           chunk store (no chunk downloaded again), the ECU
 *                                                           leaves its bootloader, the job ends done
 *   the same with job.json overwritten by garbage          → the same
 *
 * Before the fix the rebuilt job accepted with a full bitmap and never verified: the job stayed at
 * "checking" forever with the ECU in its bootloader.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/api-client.js';
import type { Job } from '../../src/manager/index.js';
import { simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, otaJson, tempDataDir } from '../e2e/harness.js';
import { freePort, killUpdateChildren, otaAsync, startDaemon, until, type CliResult, type Daemon } from '../e2e/update-harness.js';

const CHUNK = 64;
const IMAGE = 56 * 1024;

describe('gateway job.json lost mid-programming (separate broker, manager and vehicle processes)', { timeout: 420_000 }, () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let brokerUrl: string;
  let vehicle: Daemon;
  const v1 = simulatorVin(1);
  const firmware = new Map<string, string>();
  const d = (): string[] => ['--data', data.dir];
  const startVehicle = (): Promise<Daemon> =>
    startDaemon(['vehicle', '--id', v1, ...d(), '--broker', brokerUrl, '--physical-timing', '--update-window', '2'], /secure session .* with the manager/);
  const api = (): Promise<ApiClient> => ApiClient.open(data.dir, {});
  const job = async (id: string): Promise<Job> => (await api()).request<Job>('GET', `/jobs/${id}`);
  const engineOf = async (): Promise<{ appVersion: string | null; mode: string } | undefined> => (await (await api()).vehicle(v1)).ecus.find((e) => e.name === 'engine');

  async function flashInBackground(version: string): Promise<{ done: Promise<CliResult>; jobId: string }> {
    const client = await api();
    const before = new Set((await client.request<{ jobs: Job[] }>('GET', '/jobs')).jobs.map((j) => j.id));
    const done = otaAsync(['flash', '000001', '--ecu', 'engine', firmware.get(version) as string, ...d()], 100_000);
    const jobId = await until('the job of ota flash', async () => (await client.request<{ jobs: Job[] }>('GET', '/jobs')).jobs.find((j) => !before.has(j.id))?.id, 60_000);
    return { done, jobId };
  }

  before(async () => {
    data = await tempDataDir('ota-jobjson-');
    const init = ota(['up', '--init-only', '--vehicles', '1', ...d()]);
    assert.equal(init.status, 0, init.stderr);
    const port = await freePort();
    brokerUrl = `mqtts://127.0.0.1:${port}`;
    await startDaemon(['broker', '--pki', join(data.dir, 'pki'), '--port', String(port)], /broker listening/);
    await startDaemon(['manager', ...d(), '--broker', brokerUrl, '--port', '0', '--chunk-size', String(CHUNK)], /^manager: API /m);
    vehicle = await startVehicle();
    for (const v of ['1.1.0', '1.2.0']) {
      const sample = await otaAsync(['firmware', 'sample', '--version', v, '--out', join(data.dir, `app-${v}.hex`), ...d()]);
      assert.equal(sample.status, 0, sample.stderr);
      const added = otaJson<{ firmware: { id: string } }>(['firmware', 'add', join(data.dir, `app-${v}.hex`), ...d()]);
      assert.equal(added.status, 0, added.stderr);
      firmware.set(v, added.json.firmware.id);
    }
    await until('the vehicle announced', async () => ((await (await api()).vehicle(v1)).ecus.length === 2 ? true : undefined));
  });
  after(async () => {
    killUpdateChildren();
    killAll();
    await data?.cleanup();
  });

  // Each case installs a higher release than the one before (they also run alone: the from-version is not asserted).
  const cases: Array<[string, string, (file: string) => void]> = [
    ['deleted', '1.1.0', (file) => rmSync(file)],
    ['overwritten with garbage', '1.2.0', (file) => writeFileSync(file, '{"jobId": 7, "phase": "flash')],
  ];
  for (const [what, to, damage] of cases) {
    it(`job.json ${what} while the ECU is in its bootloader: the job is rebuilt and ends done, nothing downloaded again`, { timeout: 120_000 }, async () => {
      const { done, jobId } = await flashInBackground(to);
      await until('programming under way', async () => {
        const j = await job(jobId).catch(() => undefined);
        if (j !== undefined && j.state !== 'active') throw new Error(`job ended (${j.state} ${j.reason?.code ?? ''}) before programming`);
        return j?.phase === 'programming' && j.percent >= 10 && j.percent <= 80 ? true : undefined;
      }, 60_000, 20);
      await vehicle.stop('SIGKILL');
      const file = join(data.dir, 'vehicles', v1, 'gateway', 'updates', jobId, 'job.json');
      assert.equal(existsSync(file), true);
      damage(file);
      const sentBefore = (await job(jobId)).chunksSent;
      vehicle = await startVehicle();
      const r = await done;
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^done: engine of ${v1}: \\S+ → ${to.replace(/\./g, '\\.')} `, 'm'));
      const j = await job(jobId);
      assert.deepEqual([j.state, j.installedVersion], ['done', to]);
      assert.equal(j.chunksSent, sentBefore, 'the image came from the chunk store, not a new download');
      assert.ok(j.chunksSent >= IMAGE / CHUNK);
      assert.deepEqual(await engineOf().then((e) => [e?.appVersion, e?.mode]), [to, 'application']);
      assert.match(vehicle.stdout() + vehicle.stderr(), /no readable job\.json; rebuilt from the offer and the chunk store/);
    });
  }
});
