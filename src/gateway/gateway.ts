/**
 * The vehicle gateway (telematics unit): connects to the broker over mutually authenticated TLS, keeps
 * a secure channel with the manager (the vehicle initiates), reports its ECU inventory (`announce`) and
 * answers diagnostic requests by forwarding them over UDS (connected-system.md is the wire contract).
 *
 *   connect → subscribe down/hs, down/rec → publish `online` (retained) → ClientHello on up/hs
 *   ServerHello → Finished → established → read inventory over UDS → `announce` (first record)
 *   diag.request → the ECU's queue → diag.response;  HelloRequest → new handshake (≤ 1 per 2 s)
 *   update.offer / chunks / update.cancel → the update agent (update/agent.ts, docs/update-flow.md)
 *   connection lost → backoff → reconnect → new handshake
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../protocol/clock.js';
import { OtaError } from '../protocol/errors.js';
import {
  decodeControl,
  encodeControl,
  messageClass,
  type AnnounceMessage,
  type ControlMessage,
  type CrlUpdateMessage,
  type DiagRequestMessage,
  type DiagResponseMessage,
  type EcuInventory,
} from '../protocol/ota/messages.js';
import { DEFAULT_SUITES, type SecureChannel, type SuiteName } from '../security/channel/index.js';
import { crlPem, newerTrust, trustStoreFromPem, type TrustStore } from '../security/pki/index.js';
import { isTopicSafeId, vehicleTopic } from '../security/topics.js';
import { checkBackoff, type BackoffPolicy } from './backoff.js';
import { CRL_FILE, DEFAULT_MANAGER_IDENTITY, GATEWAY_CAPABILITIES, GATEWAY_DEFAULTS, GATEWAY_VERSION, GW_CODES } from './constants.js';
import { EcuPort, type DiagOutcome, type GatewayEcu } from './ecu-port.js';
import { MqttLink } from './mqtt-link.js';
import { RefusalCounter, codeOf, silentLog, type GatewayLog } from './refusals.js';
import { GatewaySession } from './session.js';
import type { UdsClientOptions } from './uds/client.js';
import { UpdateAgent, type UpdateAgentOptions, type UpdateStats } from './update/agent.js';
import { writeAtomic } from './update/store.js';
import type { UpdateStatusMessage } from '../protocol/ota/update-messages.js';

export interface GatewayOptions {
  /** The vehicle id: MQTT client id, topic level, and the CN of `certPem`. */
  vehicleId: string;
  /** The vehicle certificate and its PKCS#8 key (ECDSA P-256), the fleet CA and its CRL (required: no CRL, no start). */
  certPem: string;
  keyPem: string;
  caPem: string;
  crlPem: string;
  /**
   * The manager identities (certificate CNs) this vehicle accepts, from its provisioning: a second
   * manager-role certificate under another name cannot speak for the fleet. Default `manager`.
   */
  managerIdentity?: string | readonly string[];
  /** `mqtts://host:port`. */
  brokerUrl: string;
  /** The ECUs behind this gateway (with their SecurityAccess secrets, to flash them); the gateway owns (and closes) their links. */
  ecus: GatewayEcu[];
  /** The gateway's own data directory: update jobs, images and last-good images live in `<dataDir>/updates/`. Without it updates are refused. */
  dataDir?: string;
  /** Update agent settings (window, status rate, flash attempts, durability). */
  update?: Omit<UpdateAgentOptions, 'dataDir'>;
  /** Suites offered, most preferred first (default aes-256-gcm, 3des-cbc-hmac-sha256). */
  suites?: readonly SuiteName[];
  log?: GatewayLog;
  /** Timers (backoff, handshake retry, HelloRequest rate limit, UDS timing). Default `systemClock`. */
  clock?: Clock;
  /** UDS tester settings per ECU (P2/P2* defaults, margin, keep-alive interval). */
  uds?: Omit<UdsClientOptions, 'clock'>;
  reconnect?: Partial<BackoffPolicy>;
  helloRequestIntervalMs?: number;
  handshakeTimeoutMs?: number;
  handshakeRetryMaxMs?: number;
  diagTimeoutMs?: number;
  maxQueuedPerEcu?: number;
  inventoryAfterResetMs?: number;
  mqttKeepaliveSec?: number;
  connectTimeoutMs?: number;
  /** Wall time for certificate validity (default the system clock). */
  now?: () => Date;
  replayWindow?: number;
}

/** Events a gateway emits (it never emits `error`). */
export interface GatewayEvents {
  connected: [];
  disconnected: [reason: string];
  established: [info: { sessionId: string; suite: SuiteName }];
  announce: [message: AnnounceMessage];
  diag: [request: DiagRequestMessage, response: DiagResponseMessage];
  refused: [info: { code: string; where: string }];
  /** Every update.status the update agent reports (also those it could not send for want of a session). */
  update: [status: UpdateStatusMessage];
  /** A newer CRL from the manager is in force (and persisted, with a data directory). */
  crl: [info: { number: number; revoked: number }];
}

export interface GatewayStats {
  connectAttempts: number;
  connects: number;
  disconnects: number;
  handshakesStarted: number;
  handshakesEstablished: number;
  helloRequests: { received: number; honored: number; ignored: number };
  recordsSent: number;
  recordsReceived: number;
  announcesSent: number;
  diagRequests: number;
  /** diag.response errors by code (GW_UNKNOWN_ECU, UDS_TIMEOUT, …). */
  diagErrors: Record<string, number>;
  /** Records that could not be sent because no session was established. */
  undeliverable: number;
  /** Refused handshake messages, records and control messages by code. */
  refused: Record<string, number>;
  /** TesterPresent keep-alives sent per ECU. */
  keepAlives: Record<string, number>;
  updates: UpdateStats;
}

/**
 * The vehicle's own certificate and key, checked before connecting: without this an empty or foreign key
 * makes TLS go out without a client certificate and the broker refuses every retry, silently (GW_CONFIG).
 */
function checkIdentity(vehicleId: string, certPem: string, keyPem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new OtaError(GW_CODES.config, 'the vehicle certificate is not a PEM X.509 certificate', { cause: e });
  }
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3);
  if (cn !== vehicleId) throw new OtaError(GW_CODES.config, `the certificate is for '${cn ?? '?'}', not vehicle '${vehicleId}'`);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new OtaError(GW_CODES.config, `the vehicle key is ${keyPem.trim().length === 0 ? 'empty' : 'not a PEM private key'}`, { cause: e });
  }
  const spki = (k: KeyObject): Buffer => (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' });
  if (!spki(key).equals(spki(cert.publicKey))) throw new OtaError(GW_CODES.config, 'the vehicle key does not belong to its certificate');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

export class Gateway extends EventEmitter<GatewayEvents> {
  readonly vehicleId: string;
  /** This vehicle's topics, built once (they are matched and published per record). */
  private readonly topics: Readonly<Record<'down/hs' | 'down/rec' | 'up/hs' | 'up/rec' | 'status', string>>;
  private readonly opts: GatewayOptions;
  private readonly clock: Clock;
  private readonly log: GatewayLog;
  private readonly ports = new Map<string, EcuPort>();
  private readonly refusals: RefusalCounter;
  private readonly mqtt: MqttLink;
  private session: GatewaySession | undefined;
  /** CA + the newest CRL held: from the options, the data directory, or the manager's crl.update. */
  private trust: TrustStore | undefined;
  /** crl.update messages are applied one at a time, in arrival order. */
  private crlQueue: Promise<void> = Promise.resolve();
  private readonly updates: UpdateAgent;
  private currentInventory: EcuInventory[] = [];
  private readonly timers = new Set<TimerHandle>();
  private readonly counters = { recordsSent: 0, recordsReceived: 0, announcesSent: 0, diagRequests: 0, undeliverable: 0 };
  private readonly diagErrors: Record<string, number> = {};
  private started = false;
  private closed = false;

  constructor(options: GatewayOptions) {
    super();
    if (!isTopicSafeId(options.vehicleId)) throw new OtaError(GW_CODES.config, `vehicle id '${options.vehicleId}' cannot be a topic level`);
    this.opts = options;
    this.vehicleId = options.vehicleId;
    const v = options.vehicleId;
    this.topics = {
      'down/hs': vehicleTopic(v, 'down/hs'),
      'down/rec': vehicleTopic(v, 'down/rec'),
      'up/hs': vehicleTopic(v, 'up/hs'),
      'up/rec': vehicleTopic(v, 'up/rec'),
      status: vehicleTopic(v, 'status'),
    };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.refusals = new RefusalCounter(this.log);
    const maxQueued = options.maxQueuedPerEcu ?? GATEWAY_DEFAULTS.maxQueuedPerEcu;
    for (const ecu of options.ecus) {
      if (this.ports.has(ecu.name) || ecu.name.length === 0 || ecu.name.length > 32) {
        throw new OtaError(GW_CODES.config, `ECU name '${ecu.name}' is empty, too long or used twice`);
      }
      this.ports.set(ecu.name, new EcuPort(ecu, this.clock, maxQueued, options.uds ?? {}));
    }
    this.updates = new UpdateAgent(
      {
        vehicleId: this.vehicleId,
        clock: this.clock,
        log: this.log,
        now: () => (options.now ?? (() => new Date()))(),
        port: (name) => this.ports.get(name),
        send: (msg) => this.sendControl(msg),
        refuse: (e, where) => this.refuse(e, where),
        noteInventory: (entry) => void this.mergeInventory([entry]),
        refreshInventory: (names) => this.refreshInventory(names),
        status: (msg) => this.emit('update', msg),
      },
      { ...options.update, ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) },
    );
    const topic = (leaf: Parameters<typeof vehicleTopic>[1]): string => vehicleTopic(this.vehicleId, leaf);
    this.mqtt = new MqttLink(
      {
        url: options.brokerUrl,
        clientId: this.vehicleId,
        certPem: options.certPem,
        keyPem: options.keyPem,
        caPem: options.caPem,
        crlPem: options.crlPem,
        will: { topic: topic('status'), payload: 'offline' },
        subscriptions: [topic('down/hs'), topic('down/rec')],
        keepaliveSec: options.mqttKeepaliveSec ?? GATEWAY_DEFAULTS.mqttKeepaliveSec,
        connectTimeoutMs: options.connectTimeoutMs ?? GATEWAY_DEFAULTS.connectTimeoutMs,
        backoff: checkBackoff({ ...GATEWAY_DEFAULTS.reconnect, ...options.reconnect }),
        clock: this.clock,
      },
      {
        connected: () => this.onConnected(),
        disconnected: (reason) => this.onDisconnected(reason),
        message: (t, payload) => this.onMessage(t, payload),
        note: (m) => this.log.info(`${this.vehicleId}: ${m}`),
        cannotConnect: (reason, attempts) =>
          this.log.warn(`${this.vehicleId}: cannot connect to the broker ${options.brokerUrl}: ${reason} (${attempts} attempts in a row; still retrying)`),
      },
    );
  }

  /** Checks the certificate, loads the trust store and starts connecting; resolves before the broker answers. */
  async start(): Promise<void> {
    if (this.started || this.closed) throw new OtaError(GW_CODES.config, 'start() may be called once, before close()');
    this.started = true;
    checkIdentity(this.vehicleId, this.opts.certPem, this.opts.keyPem);
    // Fail closed: without the CRL a revoked manager or broker certificate would be accepted.
    if (typeof this.opts.crlPem !== 'string') throw new OtaError(GW_CODES.config, 'no CRL of the fleet CA (crlPem): the gateway does not start without one');
    const trust = await this.loadTrust();
    this.trust = trust;
    const pinned = this.opts.managerIdentity ?? DEFAULT_MANAGER_IDENTITY;
    const managers = typeof pinned === 'string' ? [pinned] : [...pinned];
    if (managers.length === 0 || managers.some((m) => m.length === 0)) throw new OtaError(GW_CODES.config, 'managerIdentity must name at least one manager');
    this.session = new GatewaySession(
      {
        certPem: this.opts.certPem,
        keyPem: this.opts.keyPem,
        trust: () => this.trust ?? trust,
        managers,
        suites: this.opts.suites ?? DEFAULT_SUITES,
        clock: this.clock,
        helloRequestIntervalMs: this.opts.helloRequestIntervalMs ?? GATEWAY_DEFAULTS.helloRequestIntervalMs,
        handshakeTimeoutMs: this.opts.handshakeTimeoutMs ?? GATEWAY_DEFAULTS.handshakeTimeoutMs,
        handshakeRetryMaxMs: this.opts.handshakeRetryMaxMs ?? GATEWAY_DEFAULTS.handshakeRetryMaxMs,
        ...(this.opts.now === undefined ? {} : { now: this.opts.now }),
        ...(this.opts.replayWindow === undefined ? {} : { replayWindow: this.opts.replayWindow }),
      },
      {
        sendHandshake: (bytes) => this.publish('up/hs', bytes),
        established: (channel) => this.onEstablished(channel).catch((e: unknown) => this.unexpected('announce after the handshake', e)),
        refused: (e, where) => this.refuse(e, where),
        note: (m) => this.log.info(`${this.vehicleId}: ${m}`),
      },
    );
    if (this.closed) return;
    this.updates.start(trust);
    this.mqtt.start();
  }

  /**
   * The provisioned CA and CRL, replaced by the CRL persisted in the data directory when that one is
   * newer (a CRL the manager sent before a restart). A persisted file that does not verify is ignored.
   */
  private async loadTrust(): Promise<TrustStore> {
    const provisioned = await trustStoreFromPem(this.opts.caPem, this.opts.crlPem);
    if (this.opts.dataDir === undefined) return provisioned;
    let persisted: string;
    try {
      persisted = await readFile(join(this.opts.dataDir, CRL_FILE), 'utf8');
    } catch {
      return provisioned;
    }
    try {
      return (await newerTrust(provisioned, persisted)) ?? provisioned;
    } catch (e) {
      this.log.warn(`${this.vehicleId}: persisted CRL not used (${codeOf(e)})`);
      return provisioned;
    }
  }

  /** The number of the CRL in force (undefined without one). */
  get crlNumber(): number | undefined {
    return this.trust?.crl?.number;
  }

  get connected(): boolean {
    return this.mqtt.connected;
  }

  /** True while a secure session with the manager is established. */
  get established(): boolean {
    return this.session?.current !== undefined;
  }

  /** The inventory last read (and announced). */
  get inventory(): EcuInventory[] {
    return structuredClone(this.currentInventory);
  }

  get stats(): GatewayStats {
    const s = this.session?.stats;
    return {
      ...this.mqtt.stats,
      handshakesStarted: s?.handshakesStarted ?? 0,
      handshakesEstablished: s?.handshakesEstablished ?? 0,
      helloRequests: { ...(s?.helloRequests ?? { received: 0, honored: 0, ignored: 0 }) },
      ...this.counters,
      diagErrors: { ...this.diagErrors },
      refused: this.refusals.snapshot(),
      keepAlives: Object.fromEntries([...this.ports].map(([name, port]) => [name, port.client.keepAliveCount])),
      updates: structuredClone(this.updates.stats),
    };
  }

  // ── link and session ────────────────────────────────────────────────────────────────────────

  private onConnected(): void {
    this.log.info(`${this.vehicleId}: connected to ${this.opts.brokerUrl}`);
    this.publishText('status', 'online', true);
    this.emit('connected');
    this.session?.connected();
  }

  private onDisconnected(reason: string): void {
    this.session?.disconnected();
    this.log.info(`${this.vehicleId}: disconnected (${reason})`);
    this.emit('disconnected', reason);
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    if (topic === this.topics['down/rec']) this.onRecord(payload);
    else if (topic === this.topics['down/hs']) this.session?.onHandshakeMessage(payload).catch((e: unknown) => this.unexpected('handshake message', e));
  }

  private async onEstablished(channel: SecureChannel): Promise<void> {
    const sessionId = hex(channel.sessionId ?? new Uint8Array());
    const suite = channel.suite as SuiteName;
    this.log.info(`${this.vehicleId}: secure session ${sessionId} established (${suite})`);
    this.emit('established', { sessionId, suite });
    const inventory = await Promise.all([...this.ports.values()].map((p) => p.readInventory().catch(() => undefined)));
    if (this.session?.current !== channel) return; // replaced meanwhile: the newer session announces
    this.mergeInventory(inventory.filter((e): e is EcuInventory => e !== undefined));
    this.sendAnnounce();
    this.updates.onEstablished();
  }

  /** A handler failed where it should not: logged, never an unhandled rejection that ends the process. */
  private unexpected(what: string, e: unknown): void {
    this.log.warn(`${this.vehicleId}: ${what} failed: ${codeOf(e)}`);
  }

  private refuse(error: unknown, where: string): void {
    const code = this.refusals.refuse(error, `${this.vehicleId} ${where}`);
    this.emit('refused', { code, where });
  }

  // ── records and control messages ────────────────────────────────────────────────────────────

  private onRecord(record: Uint8Array): void {
    const plaintext = this.session?.open(record);
    if (plaintext === undefined) return;
    this.counters.recordsReceived++;
    let msg: ControlMessage;
    try {
      if (messageClass(plaintext) === 'bulk') {
        this.updates.onChunk(plaintext);
        return;
      }
      msg = decodeControl(plaintext);
    } catch (e) {
      this.refuse(e, 'down/rec');
      return;
    }
    if (msg.type === 'diag.request') {
      this.onDiagRequest(msg).catch((e: unknown) => this.unexpected(`diag.request ${msg.id}`, e));
      return;
    }
    if (msg.type === 'crl.update') {
      this.crlQueue = this.crlQueue.then(() => this.onCrlUpdate(msg));
      return;
    }
    if (msg.type === 'update.offer') return this.updates.onOffer(msg);
    if (msg.type === 'update.cancel') return this.updates.onCancel(msg);
    this.refuse(new OtaError(GW_CODES.unexpectedMessage, `a manager does not send ${msg.type}`), 'down/rec');
  }

  /**
   * crl.update (docs/connected-system.md): accepted only when signed by the fleet CA and numbered above
   * the CRL held; persisted before it is used, so a restart keeps it. Offers and flashes from now on are
   * judged by it; a session with a manager it revokes ends.
   */
  private async onCrlUpdate(msg: CrlUpdateMessage): Promise<void> {
    const current = this.trust;
    if (current === undefined || this.closed) return;
    let next: TrustStore | undefined;
    try {
      next = await newerTrust(current, Buffer.from(msg.crl, 'base64'));
      const number = next?.crl?.number ?? current.crl?.number;
      if (number !== msg.number) throw new OtaError(GW_CODES.badCrl, `crl.update says number ${msg.number}, the CRL is number ${number ?? '-'}`);
    } catch (e) {
      this.refuse(e, 'crl.update');
      return;
    }
    if (next === undefined || next.crl === undefined || this.closed) return; // the CRL held already
    if (this.opts.dataDir !== undefined) {
      try {
        mkdirSync(this.opts.dataDir, { recursive: true });
        writeAtomic(join(this.opts.dataDir, CRL_FILE), crlPem(next.crl.der), true);
      } catch (e) {
        this.log.warn(`${this.vehicleId}: could not persist CRL ${next.crl.number} (${codeOf(e)}); using it until restart`);
      }
    }
    this.trust = next;
    this.updates.setTrust(next);
    this.log.info(`${this.vehicleId}: CRL ${next.crl.number} in force (${next.revoked.size} revoked)`);
    this.emit('crl', { number: next.crl.number, revoked: next.revoked.size });
    const manager = this.session?.current?.peer;
    if (manager !== undefined && next.revoked.has(manager.serial)) {
      this.refuse(new OtaError('PKI_REVOKED', `the manager certificate ${manager.serial} is revoked`), 'session');
      this.session?.disconnected();
      this.session?.connected(); // a new handshake, which the revoked manager cannot complete
    }
  }

  private async onDiagRequest(req: DiagRequestMessage): Promise<void> {
    this.counters.diagRequests++;
    const port = this.ports.get(req.ecu);
    const outcome: DiagOutcome =
      port === undefined
        ? { error: { code: GW_CODES.unknownEcu, message: `this vehicle has no ECU '${req.ecu}'` }, pending: 0, elapsedMs: 0 }
        : await port.diagnose(Buffer.from(req.request, 'hex'), req.timeoutMs ?? this.opts.diagTimeoutMs ?? GATEWAY_DEFAULTS.diagTimeoutMs);
    const res: DiagResponseMessage = { type: 'diag.response', id: req.id, ecu: req.ecu, pending: outcome.pending, elapsedMs: outcome.elapsedMs };
    if ('error' in outcome) {
      res.error = outcome.error;
      this.diagErrors[outcome.error.code] = (this.diagErrors[outcome.error.code] ?? 0) + 1;
    } else {
      res.response = outcome.response === null ? null : hex(outcome.response);
      // ISO 14229-1 §10.3: after a positive ECUReset other software may run: re-read what it reports.
      if (outcome.response?.[0] === 0x51 && port !== undefined) this.later(this.opts.inventoryAfterResetMs ?? GATEWAY_DEFAULTS.inventoryAfterResetMs, () => void this.refreshInventory([port.name]));
    }
    this.sendControl(res);
    this.emit('diag', req, res);
  }

  /** Seals and publishes one control message; false (counted as undeliverable) without a session. */
  private sendControl(msg: ControlMessage): boolean {
    const channel = this.session?.current;
    if (channel === undefined || !this.mqtt.connected) {
      this.counters.undeliverable++;
      this.log.info(`${this.vehicleId}: no session; ${msg.type} not sent`);
      return false;
    }
    let record: Uint8Array;
    try {
      record = channel.seal(encodeControl(msg));
    } catch (e) {
      this.counters.undeliverable++;
      this.log.warn(`${this.vehicleId}: could not seal ${msg.type}: ${codeOf(e)}`);
      return false;
    }
    this.counters.recordsSent++;
    this.publish('up/rec', record);
    return true;
  }

  private sendAnnounce(): void {
    const message: AnnounceMessage = {
      type: 'announce',
      vehicleId: this.vehicleId,
      gateway: { version: GATEWAY_VERSION, suites: [...(this.opts.suites ?? DEFAULT_SUITES)], capabilities: [...GATEWAY_CAPABILITIES, ...(this.updates.available ? ['update'] : [])] },
      ecus: this.inventory,
    };
    if (this.sendControl(message)) {
      this.counters.announcesSent++;
      this.emit('announce', message);
    }
  }

  private mergeInventory(entries: EcuInventory[]): boolean {
    const byName = new Map(this.currentInventory.map((e) => [e.name, e]));
    for (const e of entries) byName.set(e.name, e);
    // Keep the configured ECU order.
    const next = [...this.ports.keys()].map((n) => byName.get(n)).filter((e): e is EcuInventory => e !== undefined);
    const changed = JSON.stringify(next) !== JSON.stringify(this.currentInventory);
    this.currentInventory = next;
    return changed;
  }

  /**
   * Re-reads the inventory of `names` (default: every ECU) and, if anything changed and a session is
   * established, announces it again (connected-system.md §Session life 3). Resolves whether it changed.
   */
  async refreshInventory(names?: readonly string[]): Promise<boolean> {
    const ports = [...this.ports.values()].filter((p) => names === undefined || names.includes(p.name));
    const entries = await Promise.all(ports.map((p) => p.readInventory().catch(() => undefined)));
    if (this.closed) return false;
    const changed = this.mergeInventory(entries.filter((e): e is EcuInventory => e !== undefined));
    if (changed && this.established) this.sendAnnounce();
    return changed;
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────────

  private publish(leaf: 'up/hs' | 'up/rec', bytes: Uint8Array): void {
    this.mqtt.publish(this.topics[leaf], bytes).catch((e: unknown) => this.log.info(`${this.vehicleId}: ${codeOf(e)} publishing on ${leaf}`));
  }

  private publishText(leaf: 'status', text: string, retain: boolean): Promise<void> {
    return this.mqtt.publish(this.topics[leaf], text, retain).catch((e: unknown) => this.log.info(`${this.vehicleId}: ${codeOf(e)} publishing ${leaf}`));
  }

  private later(ms: number, fn: () => void): void {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(handle);
  }

  /**
   * Stops the gateway: publishes `offline` (retained) and disconnects, or with `abrupt` drops the
   * connection without DISCONNECT as a power loss would (the broker then publishes the last will).
   * Closes the UDS links.
   */
  async close(options: { abrupt?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.updates.close();
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    if (options.abrupt !== true && this.mqtt.connected) await this.publishText('status', 'offline', true);
    this.session?.close();
    await this.mqtt.close(options.abrupt === true);
    await Promise.all([...this.ports.values()].map((p) => p.close().catch(() => undefined)));
  }
}

/** Creates a gateway (not yet started: call `start()`). Throws GW_CONFIG / GW_INSECURE_BROKER for bad options. */
export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}
