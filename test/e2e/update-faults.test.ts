/**
 * Firmware updates through faults, with every part its own process so each can fail alone: `ota broker`,
 * `ota manager --chunk-size 64` and `ota vehicle --physical-timing --update-window 2` (CAN 500 kbit/s and
 * datasheet flash timing: erasing ≈ 1.2 s, programming ≈ 2 s), and `ota flash` waiting in the background.
 * The two tuning knobs make the 56 KiB download take about a second (896 chunks, one acknowledged at a
 * time), so "half way" can be hit by polling GET /jobs/:id.
 *
 *   broker restarted at half of the download   → resumes; bytes sent < 1.2 × image
 *   gateway SIGKILLed mid-download              → resumes after restart; only the missing chunks are sent
 *   gateway SIGKILLed mid-programming           → the ECU stays in its bootloader (DID 0xFD00 of the powered-
 *                                                 down ECU, and the inventory after restart); the job completes
 *   manager SIGKILLed mid-download              → restarted, it re-offers; the job completes; ota flash follows it
 *   assignments (ttl 60 s, the shortest the API takes) that expire while a second vehicle is offline:
 *     accepted and half downloaded before it went → its re-offer is refused by the gateway, FW_EXPIRED
 *     never accepted (queued while it was offline) → the manager fails it, JOB_EXPIRED, never offered
 *   both ECUs untouched. The expiry jobs are created first and checked last, so the wait overlaps the rest.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/api-client.js';
import { createVirtualEcu } from '../../src/ecu/server/index.js';
import type { Job } from '../../src/manager/index.js';
import { simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, otaJson, tempDataDir } from './harness.js';
import { freePort, killUpdateChildren, otaAsync, startDaemon, until, type CliResult, type Daemon } from './update-harness.js';

const IMAGE = 56 * 1024;
const CHUNK = 64;
const WINDOW = 2;
const EXPIRY_TTL_S = 60;

describe('firmware update through faults (separate broker, manager and vehicle processes)', { timeout: 240_000 }, () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let brokerUrl: string;
  let port: number;
  let broker: Daemon;
  let manager: Daemon;
  let vehicle: Daemon;
  const [v1, v2] = [simulatorVin(1), simulatorVin(2)];
  const firmware = new Map<string, string>();
  let expiring: { accepted: Job; queued: Job } | undefined;
  const d = (): string[] => ['--data', data.dir];

  const startBroker = (): Promise<Daemon> => startDaemon(['broker', '--pki', join(data.dir, 'pki'), '--port', String(port)], /broker listening/);
  const startManager = (): Promise<Daemon> => startDaemon(['manager', ...d(), '--broker', brokerUrl, '--port', '0', '--chunk-size', String(CHUNK)], /^manager: API /m);
  const startVehicle = (id: string, extra: string[] = ['--physical-timing', '--update-window', String(WINDOW)]): Promise<Daemon> =>
    startDaemon(['vehicle', '--id', id, ...d(), '--broker', brokerUrl, ...extra], /secure session .* with the manager/);
  /** The manager of the data directory now (its API port changes when it restarts). */
  const api = (): Promise<ApiClient> => ApiClient.open(data.dir, {});
  const job = async (id: string): Promise<Job> => (await api()).request<Job>('GET', `/jobs/${id}`);
  const engineOf = async (id: string): Promise<{ appVersion: string | null; mode: string } | undefined> => (await (await api()).vehicle(id)).ecus.find((e) => e.name === 'engine');

  /** Starts `ota flash` in the background and returns it with the id of the job it created. */
  async function flashInBackground(version: string): Promise<{ done: Promise<CliResult>; jobId: string }> {
    const client = await api();
    const before = new Set((await client.request<{ jobs: Job[] }>('GET', '/jobs')).jobs.map((j) => j.id));
    const done = otaAsync(['flash', '000001', '--ecu', 'engine', firmware.get(version) as string, ...d()], 90_000);
    const jobId = await until('the job of ota flash', async () => (await client.request<{ jobs: Job[] }>('GET', '/jobs')).jobs.find((j) => !before.has(j.id))?.id);
    return { done, jobId };
  }

  /** Polls the job until `when` holds (every 20 ms), returning the job as last seen. */
  const jobWhen = (jobId: string, what: string, when: (j: Job) => boolean): Promise<Job> =>
    until(what, async () => {
      const j = await job(jobId).catch(() => undefined);
      if (j !== undefined && j.state !== 'active') throw new Error(`job ended (${j.state} ${j.reason?.code ?? ''}) before ${what}`);
      return j !== undefined && when(j) ? j : undefined;
    }, 30_000, 20);
  const halfDownloaded = (j: Job): boolean => j.phase === 'downloading' && j.percent >= 35 && j.percent <= 65;

  function assertDone(r: CliResult, from: string, to: string): void {
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^done: engine of ${v1}: ${from.replace(/\./g, '\\.')} → ${to.replace(/\./g, '\\.')} `, 'm'));
  }

  before(async () => {
    data = await tempDataDir('ota-faults-');
    const init = ota(['up', '--init-only', '--vehicles', '2', ...d()]);
    assert.equal(init.status, 0, init.stderr);
    port = await freePort();
    brokerUrl = `mqtts://127.0.0.1:${port}`;
    broker = await startBroker();
    manager = await startManager();
    vehicle = await startVehicle(v1);
    const other = await startVehicle(v2);
    const samples = await Promise.all(
      ['1.1.0', '1.2.0', '1.3.0', '1.4.0'].map((v) => otaAsync(['firmware', 'sample', '--version', v, '--out', join(data.dir, `app-${v}.hex`), ...d()])),
    );
    for (const s of samples) assert.equal(s.status, 0, s.stderr);
    for (const v of ['1.1.0', '1.2.0', '1.3.0', '1.4.0']) {
      const added = otaJson<{ firmware: { id: string } }>(['firmware', 'add', join(data.dir, `app-${v}.hex`), ...d()]);
      assert.equal(added.status, 0, added.stderr);
      firmware.set(v, added.json.firmware.id);
    }
    await until('both vehicles announced', async () => (await (await api()).vehicles()).filter((v) => v.reachable && v.ecus.length === 2).length === 2);
    // Vehicle 2 accepts a short-lived job and dies half way through the download; a second short-lived job
    // (its body ECU) is created while it is offline. Both are checked in the last test.
    const accepted = otaJson<Job>(['flash', '000002', '--ecu', 'engine', firmware.get('1.1.0') as string, '--ttl', String(EXPIRY_TTL_S), '--no-wait', ...d()]);
    assert.equal(accepted.status, 0, accepted.stderr);
    await jobWhen(accepted.json.id, 'half of the download (vehicle 2)', halfDownloaded);
    await other.stop('SIGKILL');
    await until('vehicle 2 offline', async () => (await (await api()).vehicle(v2)).online === false);
    const queued = otaJson<Job>(['flash', '000002', '--ecu', 'body', firmware.get('1.1.0') as string, '--ttl', String(EXPIRY_TTL_S), '--no-wait', ...d()]);
    assert.equal(queued.status, 0, queued.stderr);
    expiring = { accepted: accepted.json, queued: queued.json };
  });
  after(async () => {
    killUpdateChildren();
    killAll();
    await data?.cleanup();
  });

  it('broker restarted at about half of the download: the download resumes, bytes sent < 1.2 × image', async () => {
    const { done, jobId } = await flashInBackground('1.1.0');
    const at = await jobWhen(jobId, 'half of the download', halfDownloaded);
    await broker.stop('SIGTERM');
    broker = await startBroker();
    assertDone(await done, '1.0.0-factory', '1.1.0');
    const j = await job(jobId);
    assert.ok(at.percent < 70, `restarted at ${at.percent}%`);
    assert.ok(j.offers >= 2, `re-offered after the restart (offers ${j.offers})`);
    assert.ok(j.bytesSent < 1.2 * IMAGE, `bytes sent ${j.bytesSent} < 1.2 × ${IMAGE}`);
    assert.equal((await engineOf(v1))?.appVersion, '1.1.0');
  });

  it('gateway killed (SIGKILL) mid-download: after its restart only the missing chunks are sent', async () => {
    const { done, jobId } = await flashInBackground('1.2.0');
    await jobWhen(jobId, 'half of the download', halfDownloaded);
    await vehicle.stop('SIGKILL');
    const bitmap = readFileSync(join(data.dir, 'vehicles', v1, 'gateway', 'updates', jobId, 'chunks.bitmap'));
    const held = [...bitmap].reduce((n, b) => n + b.toString(2).replace(/0/g, '').length, 0);
    const chunks = IMAGE / CHUNK;
    assert.ok(held > chunks * 0.25 && held < chunks * 0.85, `killed with ${held}/${chunks} chunks held`);
    vehicle = await startVehicle(v1);
    assertDone(await done, '1.1.0', '1.2.0');
    const j = await job(jobId);
    // Sent before the kill: what the gateway held plus at most the window in flight; after: the rest.
    assert.ok(j.chunksSent <= chunks + 2 * WINDOW, `chunks sent ${j.chunksSent} for ${chunks} (held ${held} at the kill)`);
    assert.ok(j.bytesSent < 1.2 * IMAGE);
  });

  it('gateway killed mid-programming: the ECU stays in its bootloader, and the job completes after the restart', async () => {
    const { done, jobId } = await flashInBackground('1.3.0');
    await jobWhen(jobId, 'programming under way', (j) => j.phase === 'programming' && j.percent >= 10 && j.percent <= 80);
    await vehicle.stop('SIGKILL');
    const gatewayJob = JSON.parse(readFileSync(join(data.dir, 'vehicles', v1, 'gateway', 'updates', jobId, 'job.json'), 'utf8')) as { phase: string };
    assert.equal(gatewayJob.phase, 'flashing');
    // Power the ECU up from its flash and state files as the kill left them: its bootloader keeps control.
    const ecu = createVirtualEcu({ stateDir: join(data.dir, 'vehicles', v1, 'ecus', 'engine') });
    try {
      assert.equal(ecu.bootState().mode, 'bootloader');
      const responses: Uint8Array[] = [];
      await ecu.handler.handle(Uint8Array.of(0x22, 0xfd, 0x00), (r) => responses.push(r), { functional: false });
      assert.deepEqual([...(responses[0] ?? [])].slice(0, 4), [0x62, 0xfd, 0x00, 0x01], 'DID 0xFD00: 01 = bootloader');
    } finally {
      ecu.close();
    }
    vehicle = await startVehicle(v1);
    // While the restarted gateway flashes again, the inventory it announced says so.
    const seen = await until('the engine ECU reported in its bootloader', async () => ((await engineOf(v1))?.mode === 'bootloader' ? true : undefined), 15_000, 50);
    assert.equal(seen, true);
    assertDone(await done, '1.2.0', '1.3.0');
    assert.deepEqual(await engineOf(v1).then((e) => [e?.appVersion, e?.mode]), ['1.3.0', 'application']);
    const did = ota(['diag', '000001', 'read-did', 'F189', ...d()]);
    assert.match(did.stdout, /0xF189 applicationSoftwareVersion\s+"1\.3\.0"/);
  });

  it('manager killed (SIGKILL) mid-download and restarted: the job completes, and ota flash follows it across the restart', async () => {
    const { done, jobId } = await flashInBackground('1.4.0');
    await jobWhen(jobId, 'half of the download', halfDownloaded);
    await manager.stop('SIGKILL');
    manager = await startManager();
    const r = await done;
    assertDone(r, '1.3.0', '1.4.0');
    assert.match(r.stdout, /manager unreachable \(MANAGER_[A-Z_]+\); the job goes on/);
    const j = await job(jobId);
    // The restarted manager went on from the gateway's bitmap (re-offered, or resumed by the gateway's own
    // update.accept on its new session): only the missing chunks followed, not the image again.
    assert.ok(j.chunksSent <= IMAGE / CHUNK + 2 * WINDOW, `chunks sent ${j.chunksSent} for ${IMAGE / CHUNK} (offers ${j.offers})`);
    assert.equal((await engineOf(v1))?.appVersion, '1.4.0');
  });

  it('assignments that expired while the vehicle was offline: FW_EXPIRED from the gateway (accepted), JOB_EXPIRED from the manager (never accepted); ECUs untouched', async () => {
    const { accepted, queued } = expiring as NonNullable<typeof expiring>;
    const wait = Math.max(Date.parse(accepted.expiresAt), Date.parse(queued.expiresAt)) + 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const other = await startVehicle(v2);
    try {
      const ended = async (id: string): Promise<Job> =>
        until(`job ${id} to end`, async () => {
          const j = await job(id);
          return j.state === 'active' ? undefined : j;
        }, 20_000, 100);
      const a = await ended(accepted.id);
      assert.deepEqual([a.state, a.reason?.code], ['failed', 'FW_EXPIRED'], 'the gateway refused the re-offer of the expired assignment');
      assert.ok(a.bytesSent > 0 && a.bytesSent < IMAGE, `half downloaded before (${a.bytesSent} bytes)`);
      const q = await ended(queued.id);
      assert.deepEqual([q.state, q.reason?.code, q.offers, q.bytesSent], ['failed', 'JOB_EXPIRED', 0, 0]);
      for (const ecu of ['engine', 'body']) {
        const did = ota(['diag', '000002', '--ecu', ecu, 'read-did', 'F189', ...d()]);
        assert.match(did.stdout, /0xF189 applicationSoftwareVersion\s+"1\.0\.0-factory"/, ecu);
      }
    } finally {
      await other.stop();
    }
  });
});
