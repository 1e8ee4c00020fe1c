/**
 * A running system for the dashboard tests: fleet PKI in a temp directory, the embedded TLS broker, the
 * manager with its API (and so the dashboard) on an ephemeral loopback port, and one simulated vehicle
 * (gateway + virtual engine and body ECUs on a virtual CAN bus), plus a release signer for firmware.
 * Also helpers to find the repository and build web/dist when it is missing or older than web/src.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Broker } from '../../src/broker/index.js';
import { startSimulatedVehicle, type SimulatedVehicle } from '../../src/cli/sim/vehicle.js';
import { createManager, type Manager } from '../../src/manager/index.js';
import { simulatorVin } from '../../src/protocol/vin.js';
import { issueToDir } from '../../src/security/pki/index.js';
import { imageBytes, issueRelease, signRelease, type Signer } from '../manager/firmware/release.js';
import { makeDataDir, memoryLog, startTestBroker, waitFor, type TestData } from '../manager/fixtures.js';

/** The repository root (the directory with package.json), from source or from dist/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test');
    dir = up;
  }
  return dir;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Build web/dist with Vite's JS API if it is missing or older than its sources (src, public, index.html, config). */
export async function ensureDashboardBuilt(): Promise<string> {
  const web = join(repoRoot(), 'web');
  const index = join(web, 'dist', 'index.html');
  const sources = Math.max(newestMtime(join(web, 'src')), newestMtime(join(web, 'public')), ...['index.html', 'vite.config.ts'].map((f) => statSync(join(web, f)).mtimeMs));
  if (!existsSync(index) || statSync(index).mtimeMs < sources) {
    const { build } = await import('vite');
    await build({ root: web, logLevel: 'silent' });
  }
  return join(web, 'dist');
}

export interface RunningSystem {
  data: TestData;
  broker: Broker;
  manager: Manager;
  vehicle: SimulatedVehicle;
  vin: string;
  token: string;
  release: Signer;
  /** Sign `image` and add it to the repository over the API; returns the firmware id. */
  addRelease(version: string, counter: number, image: Uint8Array): Promise<string>;
  close(): Promise<void>;
}

/**
 * A demo application image for the virtual STM32F103: a vector table (initial SP at the top of 20 KiB of
 * SRAM, reset handler inside the image, Thumb bit) and pseudo-random filler, so the bootloader accepts it.
 */
export function applicationImage(length: number, seed: number): Uint8Array {
  const image = imageBytes(length, seed);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  view.setUint32(0, 0x2000_5000, true);
  view.setUint32(4, (0x0800_2000 + 0x100) | 1, true);
  return image;
}

/** Start everything; resolves once the vehicle has announced both ECUs. */
export async function startSystem(opts: { vehicleIndex?: number } = {}): Promise<RunningSystem> {
  const data = await makeDataDir();
  const vin = simulatorVin(opts.vehicleIndex ?? 1);
  await issueToDir(data.pkiDir, { role: 'vehicle', name: vin });
  const release = await issueRelease(data.pkiDir);
  const broker = await startTestBroker(data.pkiDir);
  const manager = await createManager({ dataDir: data.dataDir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: memoryLog() });
  await manager.waitForBroker(5000);
  const token = (await readFile(manager.paths.apiToken, 'utf8')).trim();
  const vehicle = await startSimulatedVehicle({ vehicleId: vin, pkiDir: data.pkiDir, brokerUrl: broker.url, dataDir: data.dataDir });
  await waitFor('the vehicle announce', async () => ((await manager.vehicle(vin))?.ecus.length ?? 0) === 2, 15_000);
  return {
    data,
    broker,
    manager,
    vehicle,
    vin,
    token,
    release,
    async addRelease(version, counter, image) {
      const manifest = signRelease(release, image, { version, counter });
      const res = await fetch(`${manager.apiUrl}/api/v1/firmware`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: Buffer.from(image).toString('base64'), manifest: Buffer.from(manifest).toString('base64'), format: 'bin' }),
      });
      const body = (await res.json()) as { id?: string; error?: unknown };
      if (res.status !== 201 || body.id === undefined) throw new Error(`POST /firmware: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    async close() {
      await vehicle.close().catch(() => undefined);
      await manager.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await data.cleanup();
    },
  };
}
