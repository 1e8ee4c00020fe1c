/**
 * Test harness for the gateway: a fleet PKI made at test time, a real MQTT broker over mutual TLS on
 * 127.0.0.1 (aedes, with the vehicle confinement of `authorize()`), a minimal scripted manager built from
 * the channel and message modules (responder), and a small UDS server to put behind a link.
 */
import { once } from 'node:events';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { Aedes } from 'aedes';
import { connect, type MqttClient } from 'mqtt';
import { createChannel, encodeHelloRequest, type SecureChannel } from '../../src/security/channel/index.js';
import { createCa, createCrl, issueCertificate, trustStoreFromPem, verifyCertificate, type Issued, type TrustStore } from '../../src/security/pki/index.js';
import { authorize, parseVehicleTopic, vehicleTopic, type TopicPrincipal } from '../../src/security/topics.js';
import { decodeControl, encodeControl, type ControlMessage } from '../../src/protocol/ota/messages.js';
import type { UdsLink, UdsRequestHandler } from '../../src/protocol/uds/ports.js';

export interface Fleet {
  ca: Issued;
  crlPem: string;
  trust: TrustStore;
  broker: Issued;
  manager: Issued;
  vehicle: Issued;
  vehicleId: string;
  /** A manager certificate from another CA (the gateway must refuse its ServerHello). */
  rogueManager: Issued;
}

let fleet: Promise<Fleet> | undefined;

/** One fleet per test process (key generation is the slow part). */
export function fleetFixture(): Promise<Fleet> {
  fleet ??= (async () => {
    const ca = await createCa({ name: 'Gateway Test Fleet CA' });
    const vehicleId = 'VIN-GW-TEST-1';
    const [broker, manager, vehicle] = await Promise.all([
      issueCertificate(ca, { role: 'broker', name: 'broker', san: ['IP:127.0.0.1', 'DNS:localhost'] }),
      issueCertificate(ca, { role: 'manager', name: 'manager' }),
      issueCertificate(ca, { role: 'vehicle', name: vehicleId }),
    ]);
    const otherCa = await createCa({ name: 'Some Other CA' });
    const rogueManager = await issueCertificate(otherCa, { role: 'manager', name: 'manager' });
    const crlPem = await createCrl(ca, [], { crlNumber: 1 });
    return { ca, crlPem, trust: await trustStoreFromPem(ca.certPem, crlPem), broker, manager, vehicle, vehicleId, rogueManager };
  })();
  return fleet;
}

/** An MQTT broker on mutual TLS: client certificates of the fleet CA only, vehicles confined by `authorize()`. */
export class TestBroker {
  port = 0;
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Every publish the broker accepted from a client, in order. */
  readonly published: Array<{ topic: string; payload: Buffer; retain: boolean; clientId: string | null; will: boolean }> = [];

  constructor(private readonly f: Fleet) {}

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<void> {
    const principals = new WeakMap<object, TopicPrincipal>();
    const aedes = await Aedes.createBroker({
      authenticate: (client, _u, _p, done) => {
        const raw = (client.conn as TLSSocket).getPeerCertificate?.().raw;
        if (raw === undefined) return done(Object.assign(new Error('no certificate'), { returnCode: 5 }), false);
        void identify(raw, this.f.trust).then((who) => {
          // connected-system.md §Link: a vehicle's client id must equal its certificate CN.
          if (who === undefined || (who.role === 'vehicle' && client.id !== who.cn)) {
            done(Object.assign(new Error('not authorized'), { returnCode: 5 }), false);
            return;
          }
          principals.set(client, who);
          done(null, true);
        });
      },
      authorizePublish: (client, packet, cb) => {
        const who = client === null ? undefined : principals.get(client);
        cb(who !== undefined && authorize(who, 'publish', packet.topic) ? null : new Error('publish not authorized'));
      },
      authorizeSubscribe: (client, sub, cb) => {
        const who = principals.get(client);
        cb(null, who !== undefined && authorize(who, 'subscribe', sub.topic) ? sub : null);
      },
    });
    aedes.on('publish', (packet, client) => {
      // aedes publishes a client's will after it marked the client closed; its own packets arrive while open.
      if (client) this.published.push({ topic: packet.topic, payload: Buffer.from(packet.payload), retain: packet.retain, clientId: client.id, will: client.closed });
    });
    const server = createServer(
      { key: this.f.broker.keyPem, cert: this.f.broker.certPem, ca: this.f.ca.certPem, requestCert: true, rejectUnauthorized: true },
      (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
        aedes.handle(socket);
      },
    );
    server.on('tlsClientError', () => undefined);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.aedes = aedes;
    this.server = server;
  }

  /** Stops the broker abruptly: every connection is cut (clients see a lost connection). */
  async stop(): Promise<void> {
    const { aedes, server } = this;
    this.aedes = undefined;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }
}

async function identify(raw: Buffer, trust: TrustStore): Promise<TopicPrincipal | undefined> {
  for (const role of ['vehicle', 'manager'] as const) {
    try {
      const id = await verifyCertificate(Uint8Array.from(raw), trust, { role });
      return { role, cn: id.cn };
    } catch {
      // not this role
    }
  }
  return undefined;
}

/** Connects an MQTT client over TLS with `who`'s certificate. */
export async function mqttClient(url: string, f: Fleet, who: Issued, clientId: string): Promise<MqttClient> {
  const client = connect(url, { clientId, key: who.keyPem, cert: who.certPem, ca: f.ca.certPem, reconnectPeriod: 0, protocolVersion: 4 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  return client;
}

/** Waits until `check()` holds (polling), or fails after `ms`. */
export async function until(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A minimal manager: answers ClientHello with ServerHello, completes on Finished, opens records into
 * `received`, and sends control messages or raw bytes on the vehicle's downlink.
 */
export class ScriptedManager {
  client!: MqttClient;
  channel: SecureChannel | undefined;
  readonly received: ControlMessage[] = [];
  /** Raw downlink records this manager sent (for replay tests). */
  readonly sentRecords: Buffer[] = [];
  readonly status: string[] = [];
  clientHellos = 0;
  established = 0;
  /** Certificate used for the next ServerHello (the rogue one to test a wrong certificate). */
  serverCert: Issued;

  constructor(
    private readonly f: Fleet,
    private readonly url: string,
  ) {
    this.serverCert = f.manager;
  }

  async start(): Promise<this> {
    this.client = await mqttClient(this.url, this.f, this.f.manager, `manager-${process.pid}-${Math.random().toString(16).slice(2)}`);
    this.client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    await this.client.subscribeAsync(['ota/v1/+/up/#', 'ota/v1/+/status'], { qos: 1 });
    return this;
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    const t = parseVehicleTopic(topic);
    if (t === undefined || t.vehicleId !== this.f.vehicleId) return;
    if (t.leaf === 'status') this.status.push(payload.toString('utf8'));
    if (t.leaf === 'up/hs') {
      if (payload[1] === 0x01) {
        this.clientHellos++;
        this.channel?.close();
        this.channel = createChannel({
          role: 'manager',
          certPem: this.serverCert.certPem,
          keyPem: this.serverCert.keyPem,
          trust: this.f.trust,
          expectPeer: { role: 'vehicle', cn: this.f.vehicleId },
        });
      }
      const channel = this.channel;
      if (channel === undefined) return;
      const result = await channel.handle(Uint8Array.from(payload)).catch(() => undefined);
      if (result?.reply) await this.client.publishAsync(vehicleTopic(this.f.vehicleId, 'down/hs'), Buffer.from(result.reply), { qos: 1 });
      if (result?.established && channel === this.channel && payload[1] === 0x03) this.established++;
    }
    if (t.leaf === 'up/rec' && this.channel?.state === 'established') {
      try {
        this.received.push(decodeControl(this.channel.open(Uint8Array.from(payload))));
      } catch {
        // not for this session
      }
    }
  }

  /** Seals and sends one control message on down/rec. */
  async send(msg: ControlMessage): Promise<Buffer> {
    if (this.channel?.state !== 'established') throw new Error('no session');
    const record = Buffer.from(this.channel.seal(encodeControl(msg)));
    this.sentRecords.push(record);
    await this.sendRaw('down/rec', record);
    return record;
  }

  async sendRaw(leaf: 'down/hs' | 'down/rec', bytes: Uint8Array): Promise<void> {
    await this.client.publishAsync(vehicleTopic(this.f.vehicleId, leaf), Buffer.from(bytes), { qos: 1 });
  }

  helloRequest(): Promise<void> {
    return this.sendRaw('down/hs', encodeHelloRequest());
  }

  /** The next received message matching `pred` (already received ones count). */
  async next<T extends ControlMessage>(pred: (m: ControlMessage) => m is T, ms = 5000): Promise<T> {
    let found: T | undefined;
    await until(() => (found = this.received.find(pred)) !== undefined, ms, 'a control message');
    this.received.splice(this.received.indexOf(found as T), 1);
    return found as T;
  }

  async stop(): Promise<void> {
    this.channel?.close();
    await this.client.endAsync(true);
  }
}

/** A link to an in-process UDS handler: requests are handled asynchronously, every response is delivered. */
export class HandlerLink implements UdsLink {
  readonly requests: string[] = [];
  closed = false;
  private readonly listeners = new Set<(r: Uint8Array) => void>();

  constructor(private readonly handler: UdsRequestHandler) {}

  send(request: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('closed'));
    this.requests.push(Buffer.from(request).toString('hex').toUpperCase());
    const copy = Uint8Array.from(request);
    setImmediate(() => {
      void this.handler.handle(copy, (r) => {
        for (const l of [...this.listeners]) l(Uint8Array.from(r));
      }, { functional: false });
    });
    return Promise.resolve();
  }

  onResponse(listener: (r: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/**
 * A small UDS server with fixed answers: identification DIDs, sessions 01/03 with timing 50/5000 ms,
 * TesterPresent, ECUReset (then reporting `versionAfterReset`, if given), a routine 0x1234 that needs 120 ms (answers 0x78 at once), DID 0x1234 out of range.
 */
export function fakeEcu(opts: { appVersion?: string | null; silent?: boolean; versionAfterReset?: string } = {}): UdsRequestHandler {
  const app = opts.appVersion === undefined ? '2.4.1' : opts.appVersion;
  const dids: Record<string, string> = {
    F180: ascii('BOOT-1.0.0'),
    F18C: ascii('SN-0042'),
    F191: ascii('stm32f103c8'),
    FD00: app === null ? '0101' : '0200',
    ...(app === null ? {} : { F189: ascii(app) }),
  };
  return {
    async handle(request, respond) {
      if (opts.silent) return;
      const hex = Buffer.from(request).toString('hex').toUpperCase();
      const out = (h: string): void => respond(Uint8Array.from(Buffer.from(h, 'hex')));
      if (hex.startsWith('22') && hex.length === 6) {
        const value = dids[hex.slice(2)];
        out(value === undefined ? '7F2231' : `62${hex.slice(2)}${value}`);
      } else if (hex === '1001' || hex === '1003') out(`50${hex.slice(2)}003201F4`);
      else if (hex === '3E00') out('7E00');
      else if (hex === '3E80') return;
      else if (hex === '1101') {
        out('5101');
        if (opts.versionAfterReset !== undefined) dids['F189'] = ascii(opts.versionAfterReset);
      }
      else if (hex === '31011234') {
        out('7F3178');
        await new Promise((r) => setTimeout(r, 120));
        out('71011234AA');
      } else out(`7F${hex.slice(0, 2)}11`);
    },
  };
}
