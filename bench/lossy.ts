/**
 * The lossy-link benchmark (`--only lossy`, docs/benchmarks.md): one 56 KiB update to one vehicle whose
 * link to the broker is a slow, flaky TCP proxy on loopback (test/helpers/slow-link.ts): 32 kbit/s each
 * way, every connection cut every 5 s. Broker and manager in this process on an embedded TLS broker, the
 * simulated vehicle too (the link, not the CPU, is the bottleneck here).
 *
 * Figures, each beside its same-run reference:
 *   image bytes the manager sent / image bytes (target ≤ 1.5);
 *   job created → download complete (the gateway's phase past `downloading`), beside the link-time bound:
 *     image bytes / link rate, the time the bare image needs on that link without any overhead or cut;
 *   diagnostic requests (22 F190, 5 s deadline) issued every 2 s during a transfer on the same link
 *     without cuts: how many answered, and their p50 / max round trip beside the link's time for one
 *     request + response of that size (so a diag queued behind a window of chunks shows).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../src/broker/index.js';
import { ensureFleet, ensurePki } from '../src/cli/up/setup.js';
import { startSimulatedVehicle, type SimulatedVehicle } from '../src/cli/sim/vehicle.js';
import { sampleApplication } from '../src/cli/update/sample.js';
import { createManager, silentLog, type Job, type Manager } from '../src/manager/index.js';
import { signManifest } from '../src/security/firmware/index.js';
import { loadIssued } from '../src/security/pki/index.js';
import { SlowLink } from '../test/helpers/slow-link.js';
import { percentile, type BenchSection, type Figure } from './harness.js';

const APP_START = 0x0800_2000;
const IMAGE = 56 * 1024;
/** 32 kbit/s. */
const RATE = 4000;
const CUT_EVERY_MS = 5000;
const DIAG_EVERY_MS = 2000;
const DIAG_TIMEOUT_MS = 5000;
/** Give up on a run after this (the report says so). */
const RUN_LIMIT_MS = 240_000;

export interface LossyResult {
  imageBytes: number;
  bytesSent: number;
  downloadMs: number;
  finished: boolean;
  offers: number;
  cuts: number;
  linkBoundMs: number;
  diag: { sent: number; answered: number; roundTripsMs: number[] };
}

interface Rig {
  dir: string;
  broker: Broker;
  manager: Manager;
  link: SlowLink;
  vehicle: SimulatedVehicle;
  vin: string;
  release: { keyPem: string; certPem: string };
  counter: number;
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>, ms: number, everyMs = 50): Promise<T | undefined> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined || performance.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `LOSSY_LOG=1` prints the manager's and the gateway's log lines with a time stamp (to see what a run did). */
const trace = process.env['LOSSY_LOG'] === '1';
const t0 = performance.now();
const stamp = (): string => ((performance.now() - t0) / 1000).toFixed(2).padStart(8);

async function setup(): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-lossy-'));
  const pkiDir = join(dir, 'pki');
  const { vehicles } = await ensureFleet(dir, 1);
  await ensurePki(pkiDir, vehicles);
  const vin = vehicles[0] as string;
  const broker = await startBroker({ pkiDir, host: '127.0.0.1', port: 0 });
  const manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: trace ? (level, event, fields) => console.log(stamp(), 'M', level, event, JSON.stringify(fields ?? {})) : silentLog, announceFile: false });
  await manager.waitForBroker(10_000);
  const link = await SlowLink.start({ target: { host: '127.0.0.1', port: Number(new URL(broker.url).port) }, bytesPerSecond: RATE });
  const vehicle = await startSimulatedVehicle({ vehicleId: vin, pkiDir, brokerUrl: `mqtts://127.0.0.1:${link.port}`, dataDir: dir, log: trace ? { info: (m) => console.log(stamp(), 'G', m), warn: (m) => console.log(stamp(), 'G!', m) } : { info: () => undefined, warn: () => undefined } });
  const ready = await until(async () => ((await manager.vehicle(vin))?.reachable === true && (await manager.vehicle(vin))?.ecus.length === 2 ? true : undefined), 60_000);
  if (!ready) throw new Error('bench: the vehicle behind the slow link did not come up');
  return { dir, broker, manager, link, vehicle, vin, release: await loadIssued(pkiDir, 'release'), counter: 1 };
}

async function addRelease(rig: Rig, version: string): Promise<string> {
  const { data } = sampleApplication({ version, hardware: 'stm32f103c8', size: IMAGE });
  const manifest = { hardwareId: 'stm32f103c8', version, counter: rig.counter++, length: data.length, sha256: createHash('sha256').update(data).digest('hex'), loadAddress: APP_START, format: 'bin' as const };
  const { firmware } = await rig.manager.firmware.add({ image: data, signedManifest: signManifest(manifest, rig.release), actor: 'bench', format: 'bin', base: APP_START });
  return firmware.id;
}

/** One update over the slow link (with cuts every `cutEveryMs` when > 0), diag requests every 2 s while it downloads. */
export async function lossyRun(rig: Rig, version: string, cutEveryMs: number): Promise<LossyResult> {
  const firmwareId = await addRelease(rig, version);
  const cutsBefore = rig.link.stats.cuts;
  const start = performance.now();
  const job = await rig.manager.jobs.create({ vehicleId: rig.vin, ecu: 'engine', firmwareId, actor: 'bench' });
  if (cutEveryMs > 0) rig.link.startCuts(cutEveryMs);
  if (trace) console.log(stamp(), `job ${job.id} created, cuts every ${cutEveryMs} ms`);
  const traceTimer = trace ? setInterval(() => console.log(stamp(), 'stats', JSON.stringify({ link: rig.link.stats, refused: rig.vehicle.gateway.stats.refused, updates: rig.vehicle.gateway.stats.updates })), 500) : undefined;
  const diag: LossyResult['diag'] = { sent: 0, answered: 0, roundTripsMs: [] };
  const asks: Array<Promise<void>> = [];
  let downloading = true;
  const diagTimer = setInterval(() => {
    if (!downloading) return;
    diag.sent++;
    const t0 = performance.now();
    asks.push(
      rig.manager.diagnose({ vehicleId: rig.vin, ecu: 'body', request: Uint8Array.of(0x22, 0xf1, 0x90), timeoutMs: DIAG_TIMEOUT_MS, actor: 'bench' }).then(
        (r) => {
          if (r.response !== null) {
            diag.answered++;
            diag.roundTripsMs.push(performance.now() - t0);
          }
        },
        () => undefined,
      ),
    );
  }, DIAG_EVERY_MS);
  const view = async (): Promise<Job> => (await rig.manager.jobs.get(job.id)) as Job;
  const downloaded = await until(async () => {
    const j = await view();
    return j.state !== 'active' || (j.phase !== 'queued' && j.phase !== 'downloading') ? j : undefined;
  }, RUN_LIMIT_MS);
  const downloadMs = performance.now() - start;
  downloading = false;
  clearInterval(diagTimer);
  if (traceTimer) clearInterval(traceTimer);
  rig.link.stopCuts();
  await Promise.all(asks);
  const final = (await until(async () => {
    const j = await view();
    return j.state === 'active' ? undefined : j;
  }, 60_000)) ?? (await view());
  if (final.state === 'active') await rig.manager.jobs.cancel(job.id, 'bench', { force: true }).catch(() => undefined);
  return {
    imageBytes: IMAGE,
    bytesSent: final.bytesSent,
    downloadMs,
    finished: downloaded !== undefined && final.state === 'done',
    offers: final.offers,
    cuts: rig.link.stats.cuts - cutsBefore,
    linkBoundMs: (IMAGE / RATE) * 1000,
    diag,
  };
}

export const section: BenchSection = {
  title: `Lossy link: a 56 KiB update over ${(RATE * 8) / 1000} kbit/s cut every ${CUT_EVERY_MS / 1000} s (bytes sent / image, time / link-time bound); diagnostics during a transfer on that link`,
  async run(): Promise<Figure[]> {
    const rig = await setup();
    try {
      const cut = await lossyRun(rig, '3.0.0', CUT_EVERY_MS);
      const clean = await lossyRun(rig, '3.0.1', 0);
      const rtts = clean.diag.roundTripsMs;
      // One diag request and its response on this link: two sealed records of ~150 bytes with MQTT and TLS framing.
      const diagBoundMs = ((2 * 150) / RATE) * 1000;
      return [
        {
          name: `update 56 KiB, ${RATE * 8} bit/s, cut every ${CUT_EVERY_MS} ms: image bytes sent (${cut.cuts} cuts, ${cut.offers} offers${cut.finished ? '' : ', NOT FINISHED'})`,
          value: cut.bytesSent,
          unit: 'bytes',
          baseline: { name: 'image bytes', value: cut.imageBytes, unit: 'bytes' },
          ratio: cut.bytesSent / cut.imageBytes,
          target: '<= 1.5',
        },
        { name: '  (same) job created → downloaded', value: cut.downloadMs, unit: 'ms', baseline: { name: 'link-time bound: image bytes / link rate', value: cut.linkBoundMs, unit: 'ms' }, ratio: cut.downloadMs / cut.linkBoundMs },
        { name: `update 56 KiB, same link without cuts: image bytes sent${clean.finished ? '' : ' (NOT FINISHED)'}`, value: clean.bytesSent, unit: 'bytes', baseline: { name: 'image bytes', value: clean.imageBytes, unit: 'bytes' }, ratio: clean.bytesSent / clean.imageBytes },
        { name: '  (same) job created → downloaded', value: clean.downloadMs, unit: 'ms', baseline: { name: 'link-time bound', value: clean.linkBoundMs, unit: 'ms' }, ratio: clean.downloadMs / clean.linkBoundMs },
        { name: `  diag 22 F190 every ${DIAG_EVERY_MS} ms during that transfer (${DIAG_TIMEOUT_MS} ms deadline): answered`, value: clean.diag.answered, unit: `of ${clean.diag.sent}` },
        { name: '  diag round trip p50', value: percentile(rtts, 50), unit: 'ms', baseline: { name: 'link time of request + response', value: diagBoundMs, unit: 'ms' }, ratio: percentile(rtts, 50) / diagBoundMs },
        { name: '  diag round trip max', value: rtts.length > 0 ? Math.max(...rtts) : NaN, unit: 'ms' },
        { name: `  diag during the cut transfer: answered`, value: cut.diag.answered, unit: `of ${cut.diag.sent}` },
      ];
    } finally {
      await rig.vehicle.close().catch(() => undefined);
      await rig.link.close();
      await rig.manager.close();
      await rig.broker.close();
      await rm(rig.dir, { recursive: true, force: true });
    }
  },
};
