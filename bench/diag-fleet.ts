/**
 * The connected-system fixture of bench/diag.ts: a fleet PKI in a temp dir, the embedded TLS broker,
 * a manager, simulated vehicles (full: `startSimulatedVehicle`, two file-backed ECUs; light: a gateway
 * with one in-memory virtual ECU on its own VirtualCanBus), and a raw MQTT request/responder pair on
 * the same broker as the baseline.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { ensureBrokerCertificate } from '../src/broker/index.js';
import { VirtualCanBus } from '../src/protocol/can/index.js';
import { bindCanNode } from '../src/ecu/links/can-node.js';
import { createVirtualEcu } from '../src/ecu/server/index.js';
import { createGateway, type Gateway } from '../src/gateway/index.js';
import { createIsoTpLink } from '../src/gateway/links/isotp-link.js';
import { simulatedVin } from '../src/cli/sim/ecu-node.js';
import { initPki, issueCertificate, issueToDir, loadIssued, type Issued } from '../src/security/pki/index.js';

/** PEM material a vehicle needs. */
export interface VehicleCreds {
  certPem: string;
  keyPem: string;
  caPem: string;
  crlPem: string;
}

export interface BenchPki {
  pkiDir: string;
  ca: Issued;
  caPem: string;
  crlPem: string;
}

/** CA, CRL, broker, manager and a manager-role certificate for the raw MQTT baseline clients. */
export async function makePki(dir: string): Promise<BenchPki> {
  const pkiDir = join(dir, 'pki');
  await initPki(pkiDir, { name: 'Bench Fleet CA' });
  await ensureBrokerCertificate(pkiDir);
  await issueToDir(pkiDir, { role: 'manager', name: 'manager' });
  await issueToDir(pkiDir, { role: 'manager', name: 'bench-raw' });
  const ca = await loadIssued(pkiDir, 'ca');
  return { pkiDir, ca, caPem: ca.certPem, crlPem: await readFile(join(pkiDir, 'crl.pem'), 'utf8') };
}

/** Vehicle certificates issued in memory, `concurrency` at a time. */
export async function issueVehicles(pki: BenchPki, ids: readonly string[], concurrency = 32): Promise<Map<string, VehicleCreds>> {
  const out = new Map<string, VehicleCreds>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      const issued = await issueCertificate(pki.ca, { role: 'vehicle', name: id });
      out.set(id, { ...issued, caPem: pki.caPem, crlPem: pki.crlPem });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** A light simulated vehicle: gateway + ONE virtual ECU (`engine`, 0x7E0/0x7E8) with in-memory NVM on its own bus. */
export interface LightVehicle {
  readonly id: string;
  readonly gateway: Gateway;
  /** Resolves true once the gateway has announced over an established session, false after `timeoutMs`. */
  announced(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function startLightVehicle(id: string, creds: VehicleCreds, brokerUrl: string): Promise<LightVehicle> {
  const bus = new VirtualCanBus();
  const ecu = createVirtualEcu({ identity: { vin: simulatedVin(id), serialNumber: `${id}-engine`.slice(0, 32) } });
  const can = bindCanNode(bus.attach('engine'), ecu.handler, { requestId: 0x7e0, responseId: 0x7e8, functionalId: 0x7df });
  const uds = createIsoTpLink(bus.attach('gateway:engine'), { requestId: 0x7e0, responseId: 0x7e8 });
  const gateway = createGateway({
    vehicleId: id,
    ...creds,
    brokerUrl,
    ecus: [{ name: 'engine', link: 'can', address: '0x7E0', uds }],
    // Many clients connect at once: give their handshakes room rather than piling up retries.
    connectTimeoutMs: 30_000,
    handshakeTimeoutMs: 30_000,
  });
  let isAnnounced = false;
  const announcedOnce = once(gateway, 'announce').then(() => (isAnnounced = true));
  announcedOnce.catch(() => undefined);
  await gateway.start();
  return {
    id,
    gateway,
    announced: (timeoutMs) =>
      isAnnounced
        ? Promise.resolve(true)
        : Promise.race([announcedOnce.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]),
    async close() {
      await gateway.close();
      can.close();
      ecu.close();
    },
  };
}

/**
 * The baseline: two plain MQTT.js clients (manager-role certificate) on the same TLS broker. The
 * requester publishes `reqSize` bytes (QoS 1) on a request topic; the responder answers `resSize`
 * bytes (QoS 1) on a reply topic, echoing a 4-byte correlation id. Same QoS and sizes as the records.
 */
export interface RawPair {
  roundTrip(): Promise<number>;
  close(): Promise<void>;
}

async function mqttConnect(url: string, creds: Issued, caPem: string, clientId: string): Promise<MqttClient> {
  const client = connect(url, { ca: caPem, cert: creds.certPem, key: creds.keyPem, clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 60 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  // A fair baseline: without TCP_NODELAY a PUBACK followed by a PUBLISH stalls on Nagle + delayed ACK (~40 ms).
  (client.stream as Socket).setNoDelay(true);
  return client;
}

export async function startRawPair(url: string, pki: BenchPki, reqSize: number, resSize: number): Promise<RawPair> {
  const creds = await loadIssued(pki.pkiDir, 'bench-raw');
  const reqTopic = 'ota/v1/bench-raw/down/rec';
  const resTopic = 'ota/v1/bench-raw/up/rec';
  const requester = await mqttConnect(url, creds, pki.caPem, 'bench-raw-requester');
  const responder = await mqttConnect(url, creds, pki.caPem, 'bench-raw-responder');
  await responder.subscribeAsync(reqTopic, { qos: 1 });
  await requester.subscribeAsync(resTopic, { qos: 1 });
  const reply = Buffer.alloc(Math.max(4, resSize), 0x5a);
  responder.on('message', (_t, payload) => {
    const out = Buffer.from(reply);
    payload.copy(out, 0, 0, 4);
    responder.publish(resTopic, out, { qos: 1 });
  });
  const waiting = new Map<number, (t: number) => void>();
  requester.on('message', (_t, payload) => {
    const id = payload.readUInt32BE(0);
    waiting.get(id)?.(performance.now());
    waiting.delete(id);
  });
  const template = Buffer.alloc(Math.max(4, reqSize), 0xa5);
  let seq = 0;
  return {
    roundTrip() {
      const id = seq++ >>> 0;
      const msg = Buffer.from(template);
      msg.writeUInt32BE(id, 0);
      const start = performance.now();
      const done = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('raw MQTT round trip timed out'));
        }, 10_000);
        waiting.set(id, (t) => {
          clearTimeout(timer);
          resolve(t - start);
        });
      });
      requester.publish(reqTopic, msg, { qos: 1 });
      return done;
    },
    async close() {
      await Promise.all([requester.endAsync(), responder.endAsync()]);
    },
  };
}

/** Sizes of the records a diag request and its response put on the wire, sniffed by a manager-role client. */
export async function sniffRecordSizes(url: string, pki: BenchPki, vehicleId: string, act: () => Promise<unknown>): Promise<{ down: number; up: number }> {
  const client = await mqttConnect(url, await loadIssued(pki.pkiDir, 'bench-raw'), pki.caPem, 'bench-raw-sniffer');
  const sizes = { down: 0, up: 0 };
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/down/rec')) sizes.down = payload.length;
    else sizes.up = payload.length;
  });
  await client.subscribeAsync([`ota/v1/${vehicleId}/down/rec`, `ota/v1/${vehicleId}/up/rec`], { qos: 1 });
  await act();
  await new Promise((r) => setTimeout(r, 100));
  await client.endAsync();
  return sizes;
}
