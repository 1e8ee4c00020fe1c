/**
 * The gateway's end of the secure channel (connected-system.md §Session life): one `SecureChannel` per
 * handshake, the vehicle as initiator. Starts a handshake when told (after every broker connect), retries
 * it when no ServerHello comes, answers HelloRequest with a new handshake at most once per interval,
 * and opens / seals records of the established session. A HelloRequest is unauthenticated: the
 * established session stays in use until the new handshake completes (issue 9 §2). A refused handshake message or record is
 * reported to the caller's refusal counter and changes nothing: the channel stays in its state, so the
 * genuine message can still follow.
 */
import type { Clock, TimerHandle } from '../protocol/clock.js';
import { OtaError } from '../protocol/errors.js';
import { createChannel, isHelloRequest, type SecureChannel, type SuiteName } from '../security/channel/index.js';
import type { TrustStore } from '../security/pki/index.js';
import { GW_CODES } from './constants.js';

export interface SessionOptions {
  certPem: string;
  keyPem: string;
  /** The trust in force when a handshake starts (CA + the newest CRL the gateway holds). */
  trust: () => TrustStore;
  /** The manager identities (certificate CNs) this vehicle accepts: its provisioning pins them. */
  managers: readonly string[];
  suites: readonly SuiteName[];
  clock: Clock;
  helloRequestIntervalMs: number;
  handshakeTimeoutMs: number;
  handshakeRetryMaxMs: number;
  /** Wall time for certificate validity (default: the system clock). */
  now?: () => Date;
  /** Replay window of received records (default of the channel: 64). */
  replayWindow?: number;
}

export interface SessionHooks {
  /** Publish a handshake message on `up/hs`. */
  sendHandshake(bytes: Uint8Array): void;
  /** The channel of handshake number `epoch` is established. */
  established(channel: SecureChannel, epoch: number): void;
  /** A refused message (counted and logged once by the caller). */
  refused(error: unknown, where: 'down/hs' | 'down/rec'): void;
  /** Something worth a log line that is not a refusal. */
  note(message: string): void;
}

export interface SessionStats {
  handshakesStarted: number;
  handshakesEstablished: number;
  helloRequests: { received: number; honored: number; ignored: number };
}

export class GatewaySession {
  private channel: SecureChannel | undefined;
  /** The established session a running handshake will replace; in use until then. */
  private previous: SecureChannel | undefined;
  private epoch = 0;
  private active = false;
  private lastStart = -Infinity;
  private retries = 0;
  private retryTimer: TimerHandle | undefined;
  private helloTimer: TimerHandle | undefined;
  readonly stats: SessionStats = { handshakesStarted: 0, handshakesEstablished: 0, helloRequests: { received: 0, honored: 0, ignored: 0 } };

  constructor(
    private readonly opts: SessionOptions,
    private readonly hooks: SessionHooks,
  ) {}

  /** The established channel, if any. */
  get current(): SecureChannel | undefined {
    return this.channel?.state === 'established' ? this.channel : this.previous;
  }

  get state(): SecureChannel['state'] | 'none' {
    return this.channel?.state ?? 'none';
  }

  /** The link is up: start a fresh handshake (connected-system.md §Session life 1 and 5). */
  connected(): void {
    this.active = true;
    this.retries = 0;
    this.startHandshake().catch((e: unknown) => this.hooks.note(`handshake start failed: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** The link went down: the session ends with it (keys erased); a reconnect starts a new one. */
  disconnected(): void {
    this.active = false;
    this.epoch++;
    this.clearTimers();
    this.channel?.close();
    this.previous?.close();
    this.channel = undefined;
    this.previous = undefined;
  }

  /** Starts a new handshake, replacing any session; resolves when the ClientHello is handed to the link. */
  async startHandshake(): Promise<void> {
    if (!this.active) return;
    this.clearTimers();
    if (this.channel?.state === 'established') {
      this.previous?.close();
      this.previous = this.channel;
    } else {
      this.channel?.close();
    }
    const epoch = ++this.epoch;
    const channel = createChannel({
      role: 'vehicle',
      certPem: this.opts.certPem,
      keyPem: this.opts.keyPem,
      trust: this.opts.trust(),
      expectPeer: { role: 'manager', cn: this.opts.managers },
      suites: this.opts.suites,
      ...(this.opts.now === undefined ? {} : { now: this.opts.now }),
      ...(this.opts.replayWindow === undefined ? {} : { replayWindow: this.opts.replayWindow }),
    });
    this.channel = channel;
    this.lastStart = this.opts.clock.now();
    this.stats.handshakesStarted++;
    const hello = await channel.start();
    if (epoch !== this.epoch || !this.active) return;
    this.hooks.sendHandshake(hello);
    this.armRetry(epoch);
  }

  /** No ServerHello in time (manager offline?): try again, waiting twice as long each time up to the ceiling. */
  private armRetry(epoch: number): void {
    const wait = Math.min(this.opts.handshakeRetryMaxMs, this.opts.handshakeTimeoutMs * 2 ** Math.min(this.retries, 30));
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (epoch !== this.epoch || this.channel?.state !== 'awaitServerHello') return;
      this.retries++;
      this.hooks.note(`no ServerHello within ${wait} ms; starting a new handshake`);
      this.startHandshake().catch((e: unknown) => this.hooks.note(`handshake start failed: ${e instanceof Error ? e.message : String(e)}`));
    }, wait);
  }

  /** A message on `down/hs`: HelloRequest or ServerHello. */
  async onHandshakeMessage(bytes: Uint8Array): Promise<void> {
    if (isHelloRequest(bytes)) {
      this.onHelloRequest();
      return;
    }
    const channel = this.channel;
    const epoch = this.epoch;
    if (channel === undefined) {
      this.hooks.refused(new OtaError('SC_UNEXPECTED_MESSAGE', 'handshake message without a handshake in progress'), 'down/hs');
      return;
    }
    let result;
    try {
      result = await channel.handle(bytes);
    } catch (e) {
      this.hooks.refused(e, 'down/hs');
      return;
    }
    if (epoch !== this.epoch) return;
    if (result.reply !== undefined) this.hooks.sendHandshake(result.reply);
    if (result.established) {
      this.previous?.close();
      this.previous = undefined;
      this.clearTimers();
      this.retries = 0;
      this.stats.handshakesEstablished++;
      this.hooks.established(channel, epoch);
    }
  }

  /**
   * HelloRequest (hello-request.ts): unauthenticated, so it may cost at most one handshake per interval.
   * While our own handshake is in progress that handshake is the answer; otherwise a new one starts now,
   * or at the end of the interval if the last one started less than an interval ago (several coalesce).
   */
  private onHelloRequest(): void {
    this.stats.helloRequests.received++;
    if (!this.active || this.channel?.state === 'awaitServerHello' || this.helloTimer !== undefined) {
      this.stats.helloRequests.ignored++;
      return;
    }
    const wait = this.lastStart + this.opts.helloRequestIntervalMs - this.opts.clock.now();
    const go = (): void => {
      this.stats.helloRequests.honored++;
      this.hooks.note('HelloRequest from the manager: starting a new handshake');
      this.startHandshake().catch((e: unknown) => this.hooks.note(`handshake start failed: ${e instanceof Error ? e.message : String(e)}`));
    };
    if (wait <= 0) {
      go();
      return;
    }
    this.helloTimer = this.opts.clock.setTimeout(() => {
      this.helloTimer = undefined;
      if (this.active) go();
    }, wait);
  }

  /** Opens a record of the established session; undefined (and reported) when refused. */
  open(record: Uint8Array): Uint8Array | undefined {
    const channel = this.current;
    try {
      if (channel === undefined) {
        throw new OtaError(GW_CODES.noSession, `record while the session is ${this.state}`);
      }
      return channel.open(record);
    } catch (e) {
      this.hooks.refused(e, 'down/rec');
      return undefined;
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== undefined) this.opts.clock.clearTimeout(this.retryTimer);
    if (this.helloTimer !== undefined) this.opts.clock.clearTimeout(this.helloTimer);
    this.retryTimer = undefined;
    this.helloTimer = undefined;
  }

  /** Ends the session for good. */
  close(): void {
    this.disconnected();
  }
}
