/**
 * The manager's connection to the broker: MQTT over TLS with the manager certificate (ARCHITECTURE §2.1).
 * Subscribes on every (re)connect (clean sessions, so the broker keeps nothing for us), and reconnects
 * with exponential backoff and jitter. Publishing while disconnected fails at once with
 * BROKER_DISCONNECTED instead of queueing: a diagnostic request must not fire minutes later.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { ManagerError } from './errors.js';
import { errorFields, type ManagerLog } from './log.js';
import type { ManagerCounters } from './stats.js';

export interface BrokerLinkOptions {
  url: string;
  /** PEM: fleet CA, manager certificate, its key. */
  ca: string;
  cert: string;
  key: string;
  /** Client id prefix; a random suffix keeps two instances with one certificate from evicting each other. */
  clientIdPrefix: string;
  /** Topic filters subscribed (QoS 1) after every connect. */
  subscriptions: readonly string[];
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void;
  log: ManagerLog;
  counters: ManagerCounters;
  /** Reconnect backoff: first delay and cap (default 500 ms, 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Connected and subscribed (after every connect). */
  onUp?: () => void;
  /** A connection that was up is lost. */
  onDown?: () => void;
}

/** One MQTT client with subscribe-on-connect and backoff reconnect. */
export class BrokerLink {
  private readonly client: MqttClient;
  private ready = false;
  private closing = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: BrokerLinkOptions) {
    const options: IClientOptions = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: true,
      clientId: `${opts.clientIdPrefix}-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      // We schedule reconnects ourselves (backoff) and resubscribe ourselves on every connect.
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
    };
    this.client = connect(opts.url, options);
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => this.onClose());
    this.client.on('error', (e) => opts.log('warn', 'broker.error', { url: opts.url, ...errorFields(e) }));
    this.client.on('message', (topic, payload, packet) => opts.onMessage(topic, payload, packet.retain));
  }

  /** Connected and subscribed. */
  get connected(): boolean {
    return this.ready;
  }

  private onConnect(): void {
    this.attempt = 0;
    // No Nagle delay: a small record (an offer, a cancel) written behind a PUBACK would otherwise wait for
    // the broker's delayed TCP ACK (~40 ms), and a pipelined chunk stream would stall on it.
    (this.client.stream as Partial<Socket>).setNoDelay?.(true);
    this.opts.counters.broker.connects++;
    const filters = Object.fromEntries(this.opts.subscriptions.map((t) => [t, { qos: 1 as const }]));
    this.client.subscribe(filters, (err, granted) => {
      const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
      if (err || refused.length > 0) {
        this.opts.log('error', 'broker.subscribe_failed', { url: this.opts.url, topics: refused, ...(err ? errorFields(err) : {}) });
        this.client.stream.destroy(); // try again after a backoff
        return;
      }
      this.ready = true;
      this.opts.counters.broker.connected = true;
      this.opts.log('info', 'broker.connected', { url: this.opts.url, subscriptions: this.opts.subscriptions });
      for (const w of this.waiters.splice(0)) w();
      this.notify(this.opts.onUp, 'up');
    });
  }

  private onClose(): void {
    const wasReady = this.ready;
    if (wasReady) {
      this.opts.counters.broker.disconnects++;
      // Our own close() is not news; a lost connection is.
      if (!this.closing) this.opts.log('warn', 'broker.disconnected', { url: this.opts.url });
    }
    this.ready = false;
    if (wasReady) this.notify(this.opts.onDown, 'down');
    this.opts.counters.broker.connected = false;
    if (this.closing || this.timer) return;
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const delay = Math.round(Math.min(max, initial * 2 ** Math.min(this.attempt, 20)) * (0.5 + Math.random() / 2));
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closing) this.client.reconnect();
    }, delay);
  }

  private notify(hook: (() => void) | undefined, what: string): void {
    try {
      hook?.();
    } catch (e) {
      this.opts.log('error', 'broker.hook_failed', { hook: what, ...errorFields(e) });
    }
  }

  /** Resolves once connected and subscribed; rejects with BROKER_DISCONNECTED after `timeoutMs`. */
  whenConnected(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new ManagerError('BROKER_DISCONNECTED', `not connected to ${this.opts.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  /** Publish with QoS 1; BROKER_DISCONNECTED when not connected or the broker does not acknowledge. */
  publish(topic: string, payload: Uint8Array, opts: { retain?: boolean } = {}): Promise<void> {
    if (!this.ready) return Promise.reject(new ManagerError('BROKER_DISCONNECTED', `not connected to ${this.opts.url}`));
    return new Promise((resolve, reject) => {
      this.client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1, retain: opts.retain ?? false }, (err) => {
        if (err) reject(new ManagerError('BROKER_DISCONNECTED', `publish to ${topic} failed: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  /** Disconnect (DISCONNECT, then force after 2 s) and stop reconnecting. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const forced = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([this.client.endAsync(false).catch(() => undefined), forced]);
    if (!this.client.disconnected) await this.client.endAsync(true).catch(() => undefined);
    this.ready = false;
    this.opts.counters.broker.connected = false;
  }
}
