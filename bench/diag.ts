/**
 * Connected system: the diagnostic round trip ReadDataByIdentifier 0xF190 (VIN) through
 * manager → broker → gateway → virtual ECU (ISO-TP on a VirtualCanBus, timing off) and back, measured
 * at the manager's `diagnose()` call (the HTTP API adds Fastify + fetch on top: one extra figure at N=1),
 * beside a raw MQTT request/response round trip on the same TLS broker in the same run: two plain
 * MQTT.js clients, QoS 1 both ways, with the request and response payloads the size of the sealed
 * diag.request / diag.response records (sniffed on the wire). Target: p50 ≤ 2 × raw.
 *
 * Phases (one process, embedded broker on 127.0.0.1, ephemeral ports, PKI and data in a temp dir):
 *   N=1 full   one `startSimulatedVehicle` (gateway + two file-backed virtual ECUs, factory app)
 *   N=1 light  one light vehicle: gateway + ONE virtual ECU with in-memory NVM on its own bus
 *   N=1000     light vehicles ramped in batches; only vehicles the manager reports reachable count;
 *              requests go to random vehicles (sequential for p50/p99, then concurrent throughput)
 * Ours and raw are measured in interleaved slices within each phase, so load drift hits both.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../src/broker/index.js';
import { createManager, silentLog, type Manager } from '../src/manager/index.js';
import { startSimulatedVehicle, type SimulatedVehicle } from '../src/cli/sim/vehicle.js';
import { issueVehicles, makePki, sniffRecordSizes, startLightVehicle, startRawPair, type BenchPki, type LightVehicle, type RawPair, type VehicleCreds } from './diag-fleet.js';
import { percentile, type BenchSection, type Figure } from './harness.js';

const FLEET = Number(process.env['OTA_BENCH_DIAG_FLEET'] ?? 1000);
const BATCH = 50;
const RAMP_BUDGET_MS = 100_000;
const SAMPLES = 400; // sequential round trips per measured configuration (ours and raw each)
const SLICES = 4;
const CONCURRENCY = 32;
const THROUGHPUT_MS = 2500;
const VIN_REQUEST = Uint8Array.of(0x22, 0xf1, 0x90);

/** Deterministic PRNG (mulberry32) for picking vehicles. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function diagOnce(manager: Manager, vehicleId: string, ecu: string): Promise<number> {
  const start = performance.now();
  const r = await manager.diagnose({ vehicleId, ecu, request: VIN_REQUEST, actor: 'bench', timeoutMs: 5000 });
  const ms = performance.now() - start;
  if (!r.positive || r.response === null || !r.response.startsWith('62F190')) throw new Error(`unexpected diag answer ${r.response ?? 'null'}`);
  return ms;
}

/** `SAMPLES` sequential round trips of ours and of raw, in interleaved slices (after a warm-up). */
async function interleaved(ours: () => Promise<number>, raw: () => Promise<number>): Promise<{ ours: number[]; raw: number[] }> {
  for (let i = 0; i < 30; i++) {
    await ours();
    await raw();
  }
  const out = { ours: [] as number[], raw: [] as number[] };
  const per = Math.ceil(SAMPLES / SLICES);
  for (let s = 0; s < SLICES; s++) {
    for (let i = 0; i < per; i++) out.ours.push(await ours());
    for (let i = 0; i < per; i++) out.raw.push(await raw());
  }
  return out;
}

/** Completed operations per second with `CONCURRENCY` workers for `THROUGHPUT_MS`. */
async function throughput(op: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const start = performance.now();
  const end = start + THROUGHPUT_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}

function latencyFigures(label: string, s: { ours: number[]; raw: number[] }): Figure[] {
  return (['p50', 'p99'] as const).map((p) => {
    const q = p === 'p50' ? 50 : 99;
    const ours = percentile(s.ours, q);
    const raw = percentile(s.raw, q);
    return {
      name: `diag 22 F190 round trip ${p}, ${label}`,
      value: ours,
      unit: 'ms',
      baseline: { name: `raw MQTT QoS1 request/response ${p}, same broker`, value: raw, unit: 'ms' },
      ratio: ours / raw,
      ...(p === 'p50' ? { target: '<= 2 (ours/raw)' } : {}),
    };
  });
}

async function waitReachable(manager: Manager, ids: readonly string[], timeoutMs: number): Promise<string[]> {
  const wanted = new Set(ids);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = (await manager.vehicles()).filter((v) => wanted.has(v.id) && v.reachable && v.ecus.length > 0).map((v) => v.id);
    if (ok.length === wanted.size || Date.now() > end) return ok;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The bench issues vehicle certificates in memory (outside the PKI index), so the manager would hold
 * each vehicle pending approval (docs/operations.md, "Revocation and the fleet registry"): register them
 * approved first, as an OEM's provisioning does.
 */
async function provision(manager: Manager, ids: readonly string[]): Promise<void> {
  const at = new Date().toISOString();
  for (const id of ids) await manager.store.registerVehicle(id, 'approved', at);
}

interface Ctx {
  dir: string;
  pki: BenchPki;
  broker: Broker;
  manager: Manager;
  figures: Figure[];
}

async function phaseFull(c: Ctx): Promise<{ down: number; up: number }> {
  const id = 'BENCH-FULL-0001';
  const [creds] = (await issueVehicles(c.pki, [id])).values();
  await provision(c.manager, [id]);
  if (!creds) throw new Error('no credentials');
  const sim: SimulatedVehicle = await startSimulatedVehicle({ vehicleId: id, credentials: creds, brokerUrl: c.broker.url, dataDir: c.dir });
  try {
    if ((await waitReachable(c.manager, [id], 20_000)).length !== 1) throw new Error('the full simulated vehicle did not become reachable');
    const sizes = await sniffRecordSizes(c.broker.url, c.pki, id, () => diagOnce(c.manager, id, 'engine'));
    const raw = await startRawPair(c.broker.url, c.pki, sizes.down, sizes.up);
    try {
      const s = await interleaved(() => diagOnce(c.manager, id, 'engine'), () => raw.roundTrip());
      c.figures.push(...latencyFigures('N=1 full simulated vehicle (2 file-backed ECUs)', s));
    } finally {
      await raw.close();
    }
    return sizes;
  } finally {
    await sim.close();
  }
}

async function phaseHttp(c: Ctx, id: string, raw: RawPair): Promise<void> {
  const token = (await readFile(c.manager.paths.apiToken, 'utf8')).trim();
  const url = `${c.manager.apiUrl}/api/v1/vehicles/${id}/diag`;
  const body = JSON.stringify({ ecu: 'engine', request: '22F190', timeoutMs: 5000 });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const viaHttp = async (): Promise<number> => {
    const start = performance.now();
    const res = await fetch(url, { method: 'POST', headers, body });
    const json = (await res.json()) as { response?: string };
    const ms = performance.now() - start;
    if (res.status !== 200 || !json.response?.startsWith('62F190')) throw new Error(`HTTP diag answered ${res.status}`);
    return ms;
  };
  const s = await interleaved(viaHttp, () => raw.roundTrip());
  const [p50] = latencyFigures('N=1 light vehicle, via HTTP API (fetch → Fastify → diagnose)', s);
  if (p50) c.figures.push(p50);
}

async function phaseFleet(c: Ctx, sizes: { down: number; up: number }): Promise<void> {
  const ids = Array.from({ length: FLEET }, (_, i) => `BENCH-${String(i + 1).padStart(5, '0')}`);
  let t = performance.now();
  const issued = await issueVehicles(c.pki, ids);
  await provision(c.manager, ids);
  const creds = (id: string): VehicleCreds => {
    const v = issued.get(id);
    if (v === undefined) throw new Error(`no certificate for ${id}`);
    return v;
  };
  c.figures.push({ name: `setup: issue ${FLEET} vehicle certificates (32 concurrent)`, value: (performance.now() - t) / 1000, unit: 's' });

  const vehicles: LightVehicle[] = [];
  const raw = await startRawPair(c.broker.url, c.pki, sizes.down, sizes.up);
  try {
    // N=1 light: the first vehicle alone.
    const first = await startLightVehicle(ids[0] as string, creds(ids[0] as string), c.broker.url);
    vehicles.push(first);
    if ((await waitReachable(c.manager, [first.id], 20_000)).length !== 1) throw new Error('the first light vehicle did not become reachable');
    c.figures.push(...latencyFigures('N=1 light vehicle (1 in-memory ECU)', await interleaved(() => diagOnce(c.manager, first.id, 'engine'), () => raw.roundTrip())));
    await phaseHttp(c, first.id, raw);

    // Ramp to FLEET in batches; each batch waits for its announces before the next connects.
    t = performance.now();
    for (let i = 1; i < ids.length && performance.now() - t < RAMP_BUDGET_MS; i += BATCH) {
      const batch = await Promise.all(ids.slice(i, i + BATCH).map((id) => startLightVehicle(id, creds(id), c.broker.url)));
      vehicles.push(...batch);
      await Promise.all(batch.map((v) => v.announced(30_000)));
    }
    const reachable = await waitReachable(c.manager, vehicles.map((v) => v.id), 10_000);
    const rampS = (performance.now() - t) / 1000;
    c.figures.push({ name: `setup: ramp ${vehicles.length} light vehicles (batches of ${BATCH}) to announced sessions`, value: rampS, unit: 's' });
    c.figures.push({ name: `vehicles reachable (established session, announced) of ${FLEET}`, value: reachable.length, unit: 'vehicles' });
    if (reachable.length === 0) return;

    const pick = prng(0x5eed);
    const randomVehicle = (): string => reachable[Math.floor(pick() * reachable.length)] as string;
    const label = `N=${reachable.length} light vehicles (1 in-memory ECU each), random vehicle per request`;
    c.figures.push(...latencyFigures(label, await interleaved(() => diagOnce(c.manager, randomVehicle(), 'engine'), () => raw.roundTrip())));
    const ours = await throughput(() => diagOnce(c.manager, randomVehicle(), 'engine'));
    const base = await throughput(() => raw.roundTrip());
    c.figures.push({
      name: `diag 22 F190 throughput, ${CONCURRENCY} concurrent, ${label}`,
      value: ours,
      unit: 'req/s',
      baseline: { name: `raw MQTT QoS1 request/response, ${CONCURRENCY} in flight`, value: base, unit: 'req/s' },
      ratio: ours / base,
    });
  } finally {
    t = performance.now();
    for (let i = 0; i < vehicles.length; i += 100) await Promise.all(vehicles.slice(i, i + 100).map((v) => v.close().catch(() => undefined)));
    await raw.close();
    c.figures.push({ name: `teardown: close ${vehicles.length} vehicles`, value: (performance.now() - t) / 1000, unit: 's' });
  }
}

export const section: BenchSection = {
  title: 'Connected system: diagnostic round trip (22 F190 via manager.diagnose) vs raw MQTT request/response on the same TLS broker',
  async run(): Promise<Figure[]> {
    const began = performance.now();
    const dir = await mkdtemp(join(tmpdir(), 'ota-bench-diag-'));
    const figures: Figure[] = [];
    let broker: Broker | undefined;
    let manager: Manager | undefined;
    try {
      const pki = await makePki(dir);
      broker = await startBroker({ pkiDir: pki.pkiDir, host: '127.0.0.1', port: 0 });
      manager = await createManager({ dataDir: dir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: silentLog, announceFile: false });
      await manager.waitForBroker(10_000);
      figures.push({ name: 'setup: PKI (CA, broker, manager) + broker + manager', value: (performance.now() - began) / 1000, unit: 's' });
      const c: Ctx = { dir, pki, broker, manager, figures };
      const sizes = await phaseFull(c);
      figures.push({ name: 'record sizes on the wire: diag.request / diag.response (raw baseline uses the same)', value: sizes.down, unit: `B / ${sizes.up} B` });
      await phaseFleet(c, sizes);
    } finally {
      await manager?.close();
      await broker?.close();
      await rm(dir, { recursive: true, force: true });
    }
    figures.push({ name: 'section wall time', value: (performance.now() - began) / 1000, unit: 's' });
    return figures;
  },
};
