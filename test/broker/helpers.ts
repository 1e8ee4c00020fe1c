// Test fixtures for the broker tests: a PKI made at test time in a temp dir, MQTT.js clients, bounded waits.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ensureBrokerCertificate } from '../../src/broker/index.js';
import { createCa, initPki, issueCertificate, issueToDir, revoke } from '../../src/security/pki/index.js';

export const WAIT_MS = 5_000;
const DAY = 86_400_000;

/** A fleet PKI directory: CA, broker, manager `manager`, vehicles VIN0001 and VIN0002. */
export interface TestPki {
  dir: string;
  caPem: string;
  cleanup(): Promise<void>;
}

export async function makePki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-broker-'));
  const pki = join(dir, 'pki');
  await initPki(pki);
  await ensureBrokerCertificate(pki);
  await issueToDir(pki, { role: 'manager', name: 'manager' });
  await issueToDir(pki, { role: 'vehicle', name: 'VIN0001' });
  await issueToDir(pki, { role: 'vehicle', name: 'VIN0002' });
  return { dir: pki, caPem: await readFile(join(pki, 'ca.pem'), 'utf8'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Certificate material for a client: a name in the PKI dir, or explicit PEMs, or none. */
export type Creds = { name: string } | { certPem: string; keyPem: string } | null;

export async function credsOf(pki: TestPki, creds: Creds): Promise<{ cert?: string; key?: string }> {
  if (creds === null) return {};
  if ('name' in creds) {
    return {
      cert: await readFile(join(pki.dir, `${creds.name}.pem`), 'utf8'),
      key: await readFile(join(pki.dir, `${creds.name}.key`), 'utf8'),
    };
  }
  return { cert: creds.certPem, key: creds.keyPem };
}

/** Connect an MQTT 3.1.1 client over TLS (no reconnects); the client id defaults to the certificate name. */
export async function connect(url: string, pki: TestPki, creds: Creds, opts: Partial<IClientOptions> = {}): Promise<MqttClient> {
  const clientId = opts.clientId ?? (creds && 'name' in creds ? creds.name : `c-${Math.random().toString(16).slice(2)}`);
  return mqtt.connectAsync(url, {
    ...(await credsOf(pki, creds)),
    ca: pki.caPem,
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    ...opts,
  }, false); // false: a connection closed before CONNACK rejects instead of waiting for a reconnect
}

/** Resolves with the error of a connect that must fail; rejects if it succeeds. */
export async function connectFails(url: string, pki: TestPki, creds: Creds, opts: Partial<IClientOptions> = {}): Promise<Error & { code?: unknown }> {
  let client: MqttClient | undefined;
  try {
    client = await connect(url, pki, creds, opts);
  } catch (err) {
    return err as Error & { code?: unknown };
  }
  await client.endAsync(true);
  throw new Error('connect succeeded but must be refused');
}

/** The next message on `topic` (exact), or a timeout error after `ms`. */
export function nextMessage(client: MqttClient, topic: string, ms = WAIT_MS): Promise<{ payload: string; retain: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', on);
      reject(new Error(`no message on ${topic} within ${ms} ms`));
    }, ms);
    function on(t: string, payload: Buffer, packet: { retain?: boolean }): void {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', on);
      resolve({ payload: payload.toString('utf8'), retain: packet.retain === true });
    }
    client.on('message', on);
  });
}

/** Collects every message a client receives, to assert that something never arrived. */
export function collect(client: MqttClient): { topic: string; payload: string }[] {
  const seen: { topic: string; payload: string }[] = [];
  client.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString('utf8') }));
  return seen;
}

/** Resolves when the client's connection closes (or after `ms`, with false). */
export function closed(client: MqttClient, ms = WAIT_MS): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A certificate from a different CA with the same names (role vehicle, CN VIN0001). */
export async function foreignVehicle(): Promise<{ certPem: string; keyPem: string }> {
  const other = await createCa({ name: 'Other CA' });
  return issueCertificate(other, { role: 'vehicle', name: 'VIN0001' });
}

/**
 * The granted QoS per filter of one SUBSCRIBE (0x80 = refused). MQTT.js rejects a SUBACK holding a
 * failure code; its error carries the SUBACK packet.
 */
export async function granted(client: MqttClient, filters: string | string[]): Promise<number[]> {
  try {
    const subs = await client.subscribeAsync(filters, { qos: 1 });
    return subs.map((s) => s.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: unknown } }).packet;
    if (Array.isArray(packet?.granted)) return packet.granted.map((g) => (typeof g === 'number' ? g : Number(g)));
    throw err;
  }
}

/** PKI extras for refusal tests: an expired vehicle, a revoked vehicle, a release key. */
export async function addAdversarialCerts(pki: TestPki): Promise<void> {
  const now = Date.now();
  await issueToDir(pki.dir, { role: 'vehicle', name: 'VINEXPIRED', notBefore: new Date(now - 3 * DAY), notAfter: new Date(now - DAY) });
  await issueToDir(pki.dir, { role: 'vehicle', name: 'VINREVOKED' });
  await revoke(pki.dir, 'VINREVOKED');
  await issueToDir(pki.dir, { role: 'release', name: 'release-1' });
}

/** Polls `check` until it returns true or `ms` pass; returns its last answer. */
export async function eventually(check: () => boolean, ms = WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
