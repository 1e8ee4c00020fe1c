/**
 * The manager's end of every vehicle's secure channel (docs/connected-system.md, "Session life"):
 *
 *   up/hs  ClientHello → a new responder channel expecting vehicle V's certificate → ServerHello on down/hs
 *          Finished    → that channel is established and replaces V's previous session
 *   up/rec record      → open with V's session → control message → announce / diag.response /
 *          update.accept|ack|status (to the job engine)
 *          (no session for it: HelloRequest on down/hs, rate-limited per vehicle with a growing interval;
 *           a record of an unknown session while V's session is established is refused and nothing
 *           more: unauthenticated bytes never make us renegotiate a working session)
 *   status online|offline (retained) → presence
 *
 * Messages of one vehicle are handled one at a time in arrival order (a record may follow its Finished
 * before the Finished's verification is done). Every refusal is counted by code, logged once, and
 * changes nothing: the previous session stays until a new one completes, so a replayed ClientHello
 * cannot tear down a working session.
 */
import { createChannel, decodeRecordHeader, encodeHelloRequest, MessageType, type SecureChannel, type SuiteName } from '../security/channel/index.js';
import { PkiError, type TrustStore, type VerifiedIdentity } from '../security/pki/index.js';
import { parseVehicleTopic, vehicleTopic } from '../security/topics.js';
import { decodeControl, encodeControl, messageClass, type ControlMessage, type CrlUpdateMessage, type DiagResponseMessage } from '../protocol/ota/messages.js';
import type { UpdateMessage } from '../protocol/ota/update-messages.js';
import { ManagerError } from './errors.js';
import { errorFields, type ManagerLog } from './log.js';
import type { Refusals, ManagerCounters } from './stats.js';
import type { Store } from './store/index.js';

export type SessionState = 'established' | 'handshaking' | 'none';

export interface SessionsOptions {
  identity: { certPem: string; keyPem: string };
  /** The fleet trust now (CA + the live CRL), asked at every handshake; rejects while it is unusable. */
  trust: () => Promise<TrustStore>;
  suites?: readonly SuiteName[];
  publish: (topic: string, payload: Uint8Array) => Promise<void>;
  store: Store;
  refusals: Refusals;
  counters: ManagerCounters;
  log: ManagerLog;
  /** A diag.response arrived; return false if nobody was waiting for it (then it is refused). */
  onDiagResponse: (vehicleId: string, msg: DiagResponseMessage) => boolean;
  /** Vehicle V reported `offline`. */
  onOffline: (vehicleId: string) => void;
  /** A new secure session with V is established (first one, or one replacing the previous). */
  onSession?: (vehicleId: string) => void;
  /** An update.accept/ack/status from V; false (or a promise of false) if it names no job of V (then refused). */
  onUpdate?: (vehicleId: string, msg: UpdateMessage) => boolean | Promise<boolean>;
  /**
   * Minimum time between two HelloRequests to one vehicle (default 2000 ms). It doubles with every
   * HelloRequest after the second that brings no new session, up to `helloRequestMaxIntervalMs`.
   */
  helloRequestIntervalMs?: number;
  /** Ceiling of the growing HelloRequest interval (default 60 000 ms). */
  helloRequestMaxIntervalMs?: number;
  /**
   * The registry's admission rule, asked when a handshake completes: true admits V (registering it if
   * new), false holds it pending (the session is refused MGR_VEHICLE_PENDING). Default: everyone.
   */
  admit?: (vehicleId: string, peer: VerifiedIdentity) => Promise<boolean>;
  /**
   * A status message from a vehicle the registry does not hold (the broker authenticated its name, no
   * certificate is seen here): register it if the registry's rule admits it by name; true when it did.
   */
  registerByName?: (vehicleId: string) => Promise<boolean>;
  now?: () => Date;
}

/** Per vehicle: the current session, handshakes in progress, presence and the inbound queue. */
interface VehicleLink {
  current?: SecureChannel;
  /** Responder channels awaiting Finished, newest first (at most MAX_PENDING). */
  pending: SecureChannel[];
  online?: boolean;
  lastHelloRequest: number;
  /** HelloRequests sent since V's last new session or `online`: the interval grows with them. */
  unanswered: number;
  queue: Promise<void>;
  queued: number;
  waiters: Array<() => void>;
}

const MAX_PENDING = 2;
const MAX_QUEUED = 256;
const MAX_PAYLOAD = 256 * 1024;

/** Every vehicle's secure channel, presence and inbound dispatch. */
export class VehicleSessions {
  private readonly links = new Map<string, VehicleLink>();
  private closed = false;

  constructor(private readonly opts: SessionsOptions) {}

  private link(vehicleId: string): VehicleLink {
    let l = this.links.get(vehicleId);
    if (!l) {
      l = { pending: [], lastHelloRequest: -Infinity, unanswered: 0, queue: Promise.resolve(), queued: 0, waiters: [] };
      this.links.set(vehicleId, l);
    }
    return l;
  }

  private nowIso(): string {
    return (this.opts.now?.() ?? new Date()).toISOString();
  }

  /** The broker delivered `payload` on `topic`: queue it behind the vehicle's earlier messages. */
  handle(topic: string, payload: Uint8Array, retained: boolean): void {
    if (this.closed) return;
    const parsed = parseVehicleTopic(topic);
    if (!parsed || (parsed.leaf !== 'status' && parsed.leaf !== 'up/hs' && parsed.leaf !== 'up/rec')) {
      this.opts.refusals.refuse('MGR_BAD_TOPIC', {});
      return;
    }
    const { vehicleId, leaf } = parsed;
    if (payload.length > MAX_PAYLOAD) {
      this.opts.refusals.refuse('MGR_TOO_LARGE', { vehicleId, leaf });
      return;
    }
    const l = this.link(vehicleId);
    if (l.queued >= MAX_QUEUED) {
      this.opts.refusals.refuse('MGR_QUEUE_FULL', { vehicleId, leaf });
      return;
    }
    l.queued++;
    const bytes = new Uint8Array(payload); // our own copy (as before; the typed-array copy, not an iterator)
    l.queue = l.queue
      .then(() => {
        if (this.closed) return;
        if (leaf === 'status') return this.onStatus(vehicleId, l, bytes, retained);
        if (leaf === 'up/hs') return this.onHandshake(vehicleId, l, bytes);
        return this.onRecord(vehicleId, l, bytes);
      })
      .catch((e: unknown) => this.opts.log('error', 'vehicle.handler_failed', { vehicleId, leaf, ...errorFields(e) }))
      .finally(() => {
        l.queued--;
      });
  }

  private async onStatus(vehicleId: string, l: VehicleLink, payload: Uint8Array, retained: boolean): Promise<void> {
    const word = Buffer.from(payload).toString('utf8');
    if (word !== 'online' && word !== 'offline') {
      this.opts.refusals.refuse('MGR_BAD_STATUS', { vehicleId, leaf: 'status' });
      return;
    }
    const online = word === 'online';
    const changed = l.online !== online;
    l.online = online;
    if (online && changed) l.unanswered = 0; // back online (broker-authenticated presence): ask promptly again
    // Only a registered vehicle's presence is written: the registry gains a vehicle through admission
    // (establish), never through a status message; until then presence is kept here.
    let row = this.opts.store.peekVehicle(vehicleId);
    if (row === undefined && this.opts.registerByName !== undefined && (await this.opts.registerByName(vehicleId))) row = this.opts.store.peekVehicle(vehicleId);
    if (row !== undefined || this.opts.registerByName === undefined) await this.opts.store.setPresence(vehicleId, online, this.nowIso());
    if (changed) this.opts.log('info', 'vehicle.presence', { vehicleId, online, retained });
    if (!online) {
      // Its gateway erased the session's keys with the connection (connected-system.md §Session life):
      // a record sealed for it now would reach the next connection as SC_WRONG_SESSION, lost. Without a
      // session, senders wait for the next one (diagnostics) or are refused at once (VEHICLE_OFFLINE).
      l.current?.close();
      l.current = undefined;
      this.opts.onOffline(vehicleId);
    }
    // A retained `online` reaches us when we (re)subscribe: the gateway will not start a handshake for
    // our sake, so ask for one. A live `online` is followed by the gateway's own ClientHello.
    else if (retained && !l.current && row?.approval !== 'pending') await this.requestHello(vehicleId, l);
  }

  private async onHandshake(vehicleId: string, l: VehicleLink, msg: Uint8Array): Promise<void> {
    if (msg[1] === MessageType.clientHello) {
      let trust: TrustStore;
      try {
        trust = await this.opts.trust(); // the CRL of this moment: a certificate revoked a second ago is refused
      } catch (e) {
        this.opts.refusals.refuse(e, { vehicleId, leaf: 'up/hs' });
        return;
      }
      const channel = createChannel({
        role: 'manager',
        certPem: this.opts.identity.certPem,
        keyPem: this.opts.identity.keyPem,
        trust,
        expectPeer: { role: 'vehicle', cn: vehicleId },
        ...(this.opts.suites ? { suites: this.opts.suites } : {}),
      });
      let reply: Uint8Array | undefined;
      try {
        reply = (await channel.handle(msg)).reply;
      } catch (e) {
        this.opts.refusals.refuse(e, { vehicleId, leaf: 'up/hs' });
        return;
      }
      if (!reply) return;
      this.opts.counters.handshakes.started++;
      for (const old of l.pending.splice(MAX_PENDING - 1)) old.close();
      l.pending.unshift(channel);
      await this.publishQuietly(vehicleTopic(vehicleId, 'down/hs'), reply, vehicleId);
      return;
    }
    if (l.pending.length === 0) {
      this.opts.refusals.refuse(msg[1] === MessageType.finished ? 'SC_UNEXPECTED_MESSAGE' : 'SC_MALFORMED', { vehicleId, leaf: 'up/hs' });
      return;
    }
    let lastError: unknown;
    for (const channel of l.pending) {
      try {
        const r = await channel.handle(msg);
        if (r.established) return await this.establish(vehicleId, l, channel);
      } catch (e) {
        lastError = e; // a refused Finished leaves that channel waiting for the genuine one
      }
    }
    this.opts.refusals.refuse(lastError ?? 'SC_UNEXPECTED_MESSAGE', { vehicleId, leaf: 'up/hs' });
  }

  private async establish(vehicleId: string, l: VehicleLink, channel: SecureChannel): Promise<void> {
    // The CRL may have changed between ClientHello and Finished: judge the certificate by the current one.
    let trust: TrustStore;
    try {
      trust = await this.opts.trust();
      if (channel.peer !== undefined && trust.revoked.has(channel.peer.serial)) throw new PkiError('PKI_REVOKED', `certificate ${channel.peer.serial} is revoked`);
    } catch (e) {
      l.pending = l.pending.filter((p) => p !== channel);
      channel.close();
      this.opts.refusals.refuse(e, { vehicleId, leaf: 'up/hs' });
      return;
    }
    // A valid certificate is not yet a member of the fleet: the registry decides (operations.md).
    if (this.opts.admit !== undefined && channel.peer !== undefined && !(await this.opts.admit(vehicleId, channel.peer))) {
      l.pending = l.pending.filter((p) => p !== channel);
      channel.close();
      this.opts.refusals.refuse('MGR_VEHICLE_PENDING', { vehicleId, leaf: 'up/hs' });
      return;
    }
    // Presence that arrived before the vehicle was registered.
    const row = this.opts.store.peekVehicle(vehicleId);
    if (l.online !== undefined && row !== undefined && row.online !== l.online) await this.opts.store.setPresence(vehicleId, l.online, this.nowIso());
    for (const p of l.pending) if (p !== channel) p.close();
    l.pending = [];
    l.current?.close();
    l.current = channel;
    l.unanswered = 0;
    this.opts.counters.handshakes.established++;
    const suite = channel.suite ?? 'unknown';
    await this.opts.store.setChannel(vehicleId, suite, this.nowIso());
    this.opts.log('info', 'vehicle.session', { vehicleId, suite, sessionId: Buffer.from(channel.sessionId ?? []).toString('hex') });
    for (const w of l.waiters.splice(0)) w();
    // Before anything else on this session (an offer follows from onSession): the CRL the gateway must use.
    this.sendCrl(vehicleId, trust);
    try {
      this.opts.onSession?.(vehicleId);
    } catch (e) {
      this.opts.log('error', 'vehicle.session_hook_failed', { vehicleId, ...errorFields(e) });
    }
  }

  private async onRecord(vehicleId: string, l: VehicleLink, record: Uint8Array): Promise<void> {
    if (!l.current) {
      this.opts.refusals.refuse('MGR_NO_SESSION', { vehicleId, leaf: 'up/rec' });
      if (this.opts.store.peekVehicle(vehicleId)?.approval !== 'pending') await this.requestHello(vehicleId, l);
      return;
    }
    let plaintext: Uint8Array;
    try {
      plaintext = l.current.open(record);
    } catch (e) {
      const code = this.opts.refusals.refuse(e, { vehicleId, leaf: 'up/rec' });
      // A record of a session we do not hold: only if it names the handshake we answered last (we lost
      // its Finished, so the gateway has moved on) is a new handshake needed. Any other session id is
      // unauthenticated noise and must not cost the established session (issue 9 §2).
      if (code === 'SC_WRONG_SESSION' && this.namesPendingSession(l, record)) await this.requestHello(vehicleId, l);
      return;
    }
    this.opts.counters.records.opened++;
    let msg: ControlMessage;
    try {
      // Bulk data (firmware chunks) only ever flows to the vehicle.
      if (messageClass(plaintext) === 'bulk') {
        this.opts.refusals.refuse('MGR_UNEXPECTED_MESSAGE', { vehicleId, leaf: 'up/rec' });
        return;
      }
      msg = decodeControl(plaintext);
    } catch (e) {
      this.opts.refusals.refuse(e, { vehicleId, leaf: 'up/rec' });
      return;
    }
    await this.onControl(vehicleId, msg);
  }

  private async onControl(vehicleId: string, msg: ControlMessage): Promise<void> {
    if (msg.type === 'announce') {
      if (msg.vehicleId !== vehicleId) {
        this.opts.refusals.refuse('MGR_ANNOUNCE_MISMATCH', { vehicleId, leaf: 'up/rec' });
        return;
      }
      await this.opts.store.applyAnnounce(vehicleId, msg, this.nowIso());
      this.opts.log('info', 'vehicle.announce', { vehicleId, gateway: msg.gateway.version, ecus: msg.ecus.map((e) => `${e.name}@${e.appVersion ?? '-'}`) });
      return;
    }
    if (msg.type === 'diag.response') {
      if (!this.opts.onDiagResponse(vehicleId, msg)) this.opts.refusals.refuse('MGR_DIAG_UNSOLICITED', { vehicleId, leaf: 'up/rec' });
      return;
    }
    if ((msg.type === 'update.accept' || msg.type === 'update.ack' || msg.type === 'update.status') && this.opts.onUpdate) {
      if (!(await this.opts.onUpdate(vehicleId, msg))) this.opts.refusals.refuse('MGR_UPDATE_UNSOLICITED', { vehicleId, leaf: 'up/rec' });
      return;
    }
    this.opts.refusals.refuse('MGR_UNEXPECTED_MESSAGE', { vehicleId, leaf: 'up/rec' });
  }

  /**
   * The fleet CRL changed (docs/operations.md, "Revocation"): end at once the session of every vehicle
   * whose certificate it revokes (keys erased, in-flight work told the vehicle is gone), and send the new
   * CRL to every other vehicle with a session.
   */
  onTrust(trust: TrustStore): void {
    if (this.closed) return;
    for (const [vehicleId, l] of this.links) {
      const serial = l.current?.peer?.serial;
      if (l.current === undefined || serial === undefined) continue;
      if (trust.revoked.has(serial)) {
        l.current.close();
        l.current = undefined;
        this.opts.counters.revocation.sessionsEnded++;
        this.opts.refusals.refuse('PKI_REVOKED', { vehicleId, leaf: 'session' });
        this.opts.log('warn', 'vehicle.session_revoked', { vehicleId, serial });
        this.opts.onOffline(vehicleId);
      } else {
        this.sendCrl(vehicleId, trust);
      }
    }
  }

  /** crl.update with the CRL of `trust` (none without one); a failure is logged, the next change or session retries. */
  private sendCrl(vehicleId: string, trust: TrustStore): void {
    if (trust.crl === undefined) return;
    const msg: CrlUpdateMessage = { type: 'crl.update', number: trust.crl.number, crl: Buffer.from(trust.crl.der).toString('base64') };
    this.sendControl(vehicleId, msg).then(
      () => void this.opts.counters.revocation.crlSent++,
      (e: unknown) => this.opts.log('warn', 'vehicle.crl_send_failed', { vehicleId, ...errorFields(e) }),
    );
  }

  /** Does `record`'s (unauthenticated) session id name one of V's handshakes awaiting Finished? */
  private namesPendingSession(l: VehicleLink, record: Uint8Array): boolean {
    let sid: Uint8Array;
    try {
      sid = decodeRecordHeader(record).sessionId;
    } catch {
      return false;
    }
    return l.pending.some((p) => {
      const expected = p.expectedSessionId;
      return expected !== undefined && Buffer.compare(expected, sid) === 0;
    });
  }

  /**
   * Send a HelloRequest to V unless one went out within the interval: the base interval for the first
   * two, then doubling with each unanswered one up to the ceiling, so a stream of records nobody can
   * open costs V a handshake now and then, not one per interval.
   */
  private async requestHello(vehicleId: string, l: VehicleLink): Promise<void> {
    const t = (this.opts.now?.() ?? new Date()).getTime();
    const base = this.opts.helloRequestIntervalMs ?? 2000;
    const interval = Math.min(this.opts.helloRequestMaxIntervalMs ?? 60_000, base * 2 ** Math.min(Math.max(0, l.unanswered - 1), 30));
    if (t - l.lastHelloRequest < interval) return;
    l.lastHelloRequest = t;
    l.unanswered++;
    this.opts.counters.helloRequests++;
    this.opts.log('info', 'vehicle.hello_request', { vehicleId });
    await this.publishQuietly(vehicleTopic(vehicleId, 'down/hs'), encodeHelloRequest(), vehicleId);
  }

  private async publishQuietly(topic: string, payload: Uint8Array, vehicleId: string): Promise<void> {
    try {
      await this.opts.publish(topic, payload);
    } catch (e) {
      this.opts.log('warn', 'vehicle.publish_failed', { vehicleId, topic, ...errorFields(e) });
    }
  }

  /** Seal `msg` for V and publish it on down/rec; VEHICLE_OFFLINE without an established session. */
  sendControl(vehicleId: string, msg: ControlMessage): Promise<void> {
    return this.sendPlaintext(vehicleId, encodeControl(msg));
  }

  /** Seal one bulk message (a firmware chunk, class 0x02) for V and publish it on down/rec. */
  sendBulk(vehicleId: string, plaintext: Uint8Array): Promise<void> {
    return this.sendPlaintext(vehicleId, plaintext);
  }

  /**
   * Seal now, publish (QoS 1) and resolve on PUBACK. Sealing happens before this returns, so records
   * go out in call order and callers may pipeline without awaiting each publish.
   */
  private sendPlaintext(vehicleId: string, plaintext: Uint8Array): Promise<void> {
    const channel = this.links.get(vehicleId)?.current;
    if (!channel || channel.state !== 'established') return Promise.reject(new ManagerError('VEHICLE_OFFLINE', `no secure channel with ${vehicleId}`));
    let record: Uint8Array;
    try {
      record = channel.seal(plaintext);
    } catch (e) {
      return Promise.reject(e);
    }
    this.opts.counters.records.sealed++;
    return this.opts.publish(vehicleTopic(vehicleId, 'down/rec'), record);
  }

  /** Ask V for a new handshake (rate-limited like every HelloRequest); for a job waiting on a session. */
  async requestSession(vehicleId: string): Promise<void> {
    const l = this.link(vehicleId);
    // A handshake under way is the session asked for: a HelloRequest reaching the gateway just after it
    // completed would make it start another one and drop the session it just made.
    if (l.current || l.online === false || l.pending.length > 0) return;
    await this.requestHello(vehicleId, l);
  }

  state(vehicleId: string): SessionState {
    const l = this.links.get(vehicleId);
    if (l?.current) return 'established';
    return l && l.pending.length > 0 ? 'handshaking' : 'none';
  }

  /** V's presence as last reported (undefined before its first status message reached this manager). */
  online(vehicleId: string): boolean | undefined {
    return this.links.get(vehicleId)?.online;
  }

  /** The negotiated suite of V's current session. */
  suite(vehicleId: string): SuiteName | undefined {
    return this.links.get(vehicleId)?.current?.suite;
  }

  /** Vehicles with an established session. */
  established(): string[] {
    return [...this.links.entries()].filter(([, l]) => l.current).map(([id]) => id);
  }

  /**
   * Ask V for a handshake (rate-limited) and wait up to `timeoutMs` for its session; true once
   * established. For a vehicle that is online while this manager holds no session for it.
   */
  async awaitSession(vehicleId: string, timeoutMs: number): Promise<boolean> {
    const l = this.link(vehicleId);
    if (l.current) return true;
    const ok = new Promise<boolean>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        l.waiters = l.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      l.waiters.push(done);
    });
    if (l.pending.length === 0) await this.requestHello(vehicleId, l); // see requestSession
    return ok;
  }

  /** Erase every session's keys and ignore further messages. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.links.values()].map((l) => l.queue));
    for (const l of this.links.values()) {
      l.current?.close();
      for (const p of l.pending) p.close();
      l.current = undefined;
      l.pending = [];
    }
  }
}
