/**
 * Test fixtures for the manager: a data directory with a fleet PKI made at test time, the embedded TLS
 * broker (src/broker), and a minimal scripted vehicle built only from the secure channel and the control
 * messages — the initiator side of the wire contract, answering diag.request the way a test says.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { connect, type MqttClient } from 'mqtt';
import { startBroker, ensureBrokerCertificate, type Broker } from '../../src/broker/index.js';
import { createChannel, isHelloRequest, type SecureChannel } from '../../src/security/channel/index.js';
import { initPki, issueToDir, loadIssued, loadTrustStore, type TrustStore } from '../../src/security/pki/index.js';
import { vehicleTopic } from '../../src/security/topics.js';
import { decodeControl, encodeControl, type ControlMessage, type DiagRequestMessage, type DiagResponseMessage, type EcuInventory } from '../../src/protocol/ota/messages.js';
import type { LogLevel, ManagerLog } from '../../src/manager/index.js';

export const VEHICLE_A = 'VIN-MGR-000A';
export const VEHICLE_B = 'VIN-MGR-000B';

export interface TestData {
  dataDir: string;
  pkiDir: string;
  cleanup(): Promise<void>;
}

/** A data directory with `pki/`: CA, broker, manager, two vehicles and a rogue manager-certified client. */
export async function makeDataDir(): Promise<TestData> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ota-manager-'));
  const pkiDir = join(dataDir, 'pki');
  await initPki(pkiDir, { name: 'Manager Test Fleet CA' });
  await ensureBrokerCertificate(pkiDir);
  await issueToDir(pkiDir, { role: 'manager', name: 'manager' });
  await issueToDir(pkiDir, { role: 'manager', name: 'rogue' });
  await issueToDir(pkiDir, { role: 'vehicle', name: VEHICLE_A });
  await issueToDir(pkiDir, { role: 'vehicle', name: VEHICLE_B });
  return { dataDir, pkiDir, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
}

/** The embedded broker on an ephemeral loopback port. */
export function startTestBroker(pkiDir: string): Promise<Broker> {
  return startBroker({ pkiDir, host: '127.0.0.1', port: 0 });
}

/** A log that remembers every event (and prints nothing). */
export function memoryLog(): ManagerLog & { events: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }> } {
  const events: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }> = [];
  const log = ((level: LogLevel, event: string, fields: Record<string, unknown> = {}) => void events.push({ level, event, fields })) as ManagerLog & {
    events: typeof events;
  };
  log.events = events;
  return log;
}

/** Poll `check` every 20 ms until it returns a truthy value; fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An MQTT client with the named certificate from the PKI directory. */
export async function mqttClient(url: string, pkiDir: string, name: string, opts: { clientId?: string; will?: { topic: string; payload: string } } = {}): Promise<MqttClient> {
  const { certPem, keyPem } = await loadIssued(pkiDir, name);
  const trust = await loadTrustStore(pkiDir);
  const client = connect(url, {
    ca: trust.caPem,
    cert: certPem,
    key: keyPem,
    clientId: opts.clientId ?? `${name}-test`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    ...(opts.will ? { will: { topic: opts.will.topic, payload: Buffer.from(opts.will.payload), qos: 1, retain: true } } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  // As a real gateway should: no Nagle delay for small records written behind PUBACKs.
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  return client;
}

export const DEFAULT_ECUS: EcuInventory[] = [
  { name: 'engine', link: 'can', address: '0x7E0', appVersion: '1.0.0', bootVersion: '1.0.0', mode: 'application', serial: 'ENG-1', hardwareId: 'stm32f103c8' },
  { name: 'body', link: 'can', address: '0x7E1', appVersion: '2.1.0', bootVersion: '1.0.0', mode: 'application', serial: 'BDY-1', hardwareId: 'stm32f103c8' },
];

/** How the scripted vehicle answers one diag.request: a response body, or undefined to stay silent. */
export type DiagResponder = (req: DiagRequestMessage) => Omit<DiagResponseMessage, 'type' | 'id' | 'ecu'> | undefined;

/** The default ECU: `22 F1 89` → `62 F1 89 "1.0.0"`, `10 xx` → `50 xx 00 32 01 F4`, anything else → 7F SID 11. */
export const defaultResponder: DiagResponder = (req) => {
  const r = Buffer.from(req.request, 'hex');
  if (r.equals(Buffer.from('22F189', 'hex'))) return { response: '62F189' + Buffer.from('1.0.0').toString('hex').toUpperCase(), pending: 0, elapsedMs: 3 };
  if (r[0] === 0x10 && r.length === 2) return { response: `50${req.request.slice(2)}003201F4`, pending: 0, elapsedMs: 2 };
  return { response: `7F${req.request.slice(0, 2)}11`, pending: 0, elapsedMs: 1 };
};

/**
 * A vehicle gateway reduced to the wire contract: connects with its certificate and last will, publishes
 * `online`, runs the handshake as initiator, announces its ECUs, answers diag.request, and starts a new
 * handshake on HelloRequest (at most once per `helloIntervalMs`).
 */
export class ScriptedVehicle {
  channel: SecureChannel | undefined;
  private next: SecureChannel | undefined;
  responder: DiagResponder = defaultResponder;
  ecus: EcuInventory[] = DEFAULT_ECUS;
  readonly received: DiagRequestMessage[] = [];
  /** Sees every down/rec plaintext first; returning true means it was handled (update flow fixtures). */
  onPlaintext: ((plaintext: Uint8Array) => boolean | Promise<boolean>) | undefined;
  helloRequests = 0;
  handshakes = 0;
  private lastHello = -Infinity;
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    readonly id: string,
    readonly client: MqttClient,
    private readonly identity: { certPem: string; keyPem: string; trust: TrustStore },
    private readonly helloIntervalMs: number,
  ) {
    client.on('message', (topic, payload) => {
      this.queue = this.queue.then(() => this.onMessage(topic, Uint8Array.from(payload))).catch(() => undefined);
    });
  }

  static async connect(url: string, pkiDir: string, id: string, opts: { helloIntervalMs?: number } = {}): Promise<ScriptedVehicle> {
    const client = await mqttClient(url, pkiDir, id, { clientId: id, will: { topic: vehicleTopic(id, 'status'), payload: 'offline' } });
    const { certPem, keyPem } = await loadIssued(pkiDir, id);
    const v = new ScriptedVehicle(id, client, { certPem, keyPem, trust: await loadTrustStore(pkiDir) }, opts.helloIntervalMs ?? 200);
    await client.subscribeAsync({ [vehicleTopic(id, 'down/hs')]: { qos: 1 }, [vehicleTopic(id, 'down/rec')]: { qos: 1 } });
    await client.publishAsync(vehicleTopic(id, 'status'), 'online', { qos: 1, retain: true });
    return v;
  }

  /** Send a ClientHello; the session is established when the ServerHello arrives. */
  async handshake(): Promise<void> {
    this.next = createChannel({ role: 'vehicle', ...this.identity, expectPeer: { role: 'manager' } });
    const ch = await this.next.start();
    await this.client.publishAsync(vehicleTopic(this.id, 'up/hs'), Buffer.from(ch), { qos: 1 });
  }

  /** Handshake and wait until established (our side). */
  async connectSession(timeoutMs = 5000): Promise<void> {
    const before = this.handshakes;
    await this.handshake();
    await waitFor('vehicle handshake', () => this.handshakes > before, timeoutMs);
  }

  /** Seal and publish a control message on up/rec; returns the record bytes. */
  async send(msg: ControlMessage): Promise<Uint8Array> {
    if (!this.channel) throw new Error('no session');
    const record = this.channel.seal(encodeControl(msg));
    await this.client.publishAsync(vehicleTopic(this.id, 'up/rec'), Buffer.from(record), { qos: 1 });
    return record;
  }

  announce(): Promise<Uint8Array> {
    return this.send({ type: 'announce', vehicleId: this.id, gateway: { version: 'gw-test 0.1', suites: ['aes-256-gcm', '3des-cbc-hmac-sha256'], capabilities: ['diag'] }, ecus: this.ecus });
  }

  private async onMessage(topic: string, payload: Uint8Array): Promise<void> {
    if (topic === vehicleTopic(this.id, 'down/hs')) {
      if (isHelloRequest(payload)) {
        this.helloRequests++;
        if (Date.now() - this.lastHello < this.helloIntervalMs) return;
        this.lastHello = Date.now();
        await this.handshake();
        return;
      }
      if (!this.next) return;
      const r = await this.next.handle(payload);
      if (r.reply && r.established) {
        await this.client.publishAsync(vehicleTopic(this.id, 'up/hs'), Buffer.from(r.reply), { qos: 1 });
        this.channel = this.next;
        this.next = undefined;
        this.handshakes++;
        await this.announce();
      }
      return;
    }
    if (topic === vehicleTopic(this.id, 'down/rec') && this.channel) {
      const plaintext = this.channel.open(payload);
      if (this.onPlaintext && (await this.onPlaintext(plaintext))) return;
      const msg = decodeControl(plaintext);
      if (msg.type !== 'diag.request') return;
      this.received.push(msg);
      const answer = this.responder(msg);
      if (answer) await this.send({ type: 'diag.response', id: msg.id, ecu: msg.ecu, ...answer });
    }
  }

  /** Publish `offline` as the gateway would on a clean shutdown. */
  async goOffline(): Promise<void> {
    await this.client.publishAsync(vehicleTopic(this.id, 'status'), 'offline', { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
    this.channel?.close();
  }
}
