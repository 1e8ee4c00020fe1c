/**
 * The receiving side of bench/update.ts on its own thread, as a vehicle is its own machine: a simulated
 * vehicle (gateway + virtual ECUs) and, for the raw MQTT baseline, a plain MQTT.js subscriber. It reports
 * times as `performance.timeOrigin + performance.now()` so the main thread can compare them with its own.
 *
 *   main → worker  { type: 'vehicle', pkiDir, brokerUrl, dataDir, vin, suite?, physicalTiming? }
 *                  { type: 'raw', topic, count }   subscribe, then count `count` messages on `topic`
 *                  { type: 'close' }
 *   worker → main  { type: 'ready' } | { type: 'status', jobId, phase, at } | { type: 'subscribed' }
 *                  { type: 'raw-done', at } | { type: 'closed' } | { type: 'error', message }
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';
import { startSimulatedVehicle, type SimulatedVehicle } from '../src/cli/sim/vehicle.js';
import type { SuiteName } from '../src/security/channel/index.js';
import { loadIssued } from '../src/security/pki/index.js';

export type WorkerCommand =
  | { type: 'vehicle'; pkiDir: string; brokerUrl: string; dataDir: string; vin: string; suite?: SuiteName; physicalTiming?: boolean }
  | { type: 'raw'; pkiDir: string; brokerUrl: string; name: string; topic: string; count: number }
  | { type: 'close' };

export type WorkerEvent =
  | { type: 'ready' }
  | { type: 'status'; jobId: string; phase: string; at: number }
  | { type: 'subscribed' }
  | { type: 'raw-done'; at: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const port = parentPort;
const now = (): number => performance.timeOrigin + performance.now();
let vehicle: SimulatedVehicle | undefined;
let raw: MqttClient | undefined;

function post(e: WorkerEvent): void {
  port?.postMessage(e);
}

async function rawSubscriber(c: Extract<WorkerCommand, { type: 'raw' }>): Promise<void> {
  if (raw === undefined) {
    const { certPem, keyPem } = await loadIssued(c.pkiDir, c.name);
    raw = await mqtt.connectAsync(c.brokerUrl, { ca: await readFile(join(c.pkiDir, 'ca.pem'), 'utf8'), cert: certPem, key: keyPem, clientId: c.name, protocolVersion: 4, reconnectPeriod: 0 });
    (raw.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await raw.subscribeAsync(c.topic, { qos: 1 });
  }
  const client = raw;
  let received = 0;
  const on = (topic: string): void => {
    if (topic === c.topic && ++received === c.count) {
      client.off('message', on);
      post({ type: 'raw-done', at: now() });
    }
  };
  client.on('message', on);
  post({ type: 'subscribed' });
}

async function handle(c: WorkerCommand): Promise<void> {
  switch (c.type) {
    case 'vehicle':
      vehicle = await startSimulatedVehicle({
        vehicleId: c.vin,
        pkiDir: c.pkiDir,
        brokerUrl: c.brokerUrl,
        dataDir: c.dataDir,
        physicalTiming: c.physicalTiming === true,
        gateway: c.suite === undefined ? {} : { suites: [c.suite] },
      });
      vehicle.gateway.on('update', (st) => post({ type: 'status', jobId: st.jobId, phase: st.phase, at: now() }));
      post({ type: 'ready' });
      return;
    case 'raw':
      return rawSubscriber(c);
    case 'close':
      await vehicle?.close();
      await raw?.endAsync(true);
      post({ type: 'closed' });
      port?.close();
      return;
  }
}

port?.on('message', (c: WorkerCommand) => {
  handle(c).catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
});
