/**
 * The gateway's link to the broker (ARCHITECTURE §2.1, connected-system.md §Link): MQTT 3.1.1 over TLS
 * with the vehicle certificate (client id = vehicle id), a retained last will, subscriptions to the
 * vehicle's downlink, and reconnects with exponential backoff. Each connection attempt gets a fresh
 * MQTT.js client (its own reconnect is off), so no state of a dead connection leaks into the next.
 */
import type { Socket } from 'node:net';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../protocol/clock.js';
import { OtaError } from '../protocol/errors.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { GW_CODES } from './constants.js';

export interface MqttLinkOptions {
  /** `mqtts://host:port`. */
  url: string;
  clientId: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  /** CRL of the fleet CA: a revoked broker certificate is refused. */
  crlPem?: string;
  will: { topic: string; payload: string };
  /** Topic filters subscribed with QoS 1 after every CONNACK. */
  subscriptions: readonly string[];
  keepaliveSec: number;
  connectTimeoutMs: number;
  backoff: BackoffPolicy;
  clock: Clock;
  random?: () => number;
}

export interface MqttLinkHooks {
  /** CONNACK received and the subscriptions granted. */
  connected(): void;
  /** A connection that had been up is gone (not called for failed attempts). */
  disconnected(reason: string): void;
  message(topic: string, payload: Uint8Array): void;
  note(message: string): void;
  /**
   * `CANNOT_CONNECT_AFTER` attempts in a row failed for the same reason (a refused certificate, no broker):
   * called once per such streak, so the operator learns why instead of a silent retry loop.
   */
  cannotConnect?(reason: string, attempts: number): void;
}

/** Failed attempts in a row, for one reason, before `cannotConnect` is called. */
export const CANNOT_CONNECT_AFTER = 3;

export interface MqttLinkStats {
  connectAttempts: number;
  connects: number;
  disconnects: number;
}

export class MqttLink {
  private client: MqttClient | undefined;
  private up = false;
  private failures = 0;
  /** The current streak of failed attempts with one reason. */
  private streak = { reason: '', count: 0 };
  private timer: TimerHandle | undefined;
  private closing = false;
  readonly stats: MqttLinkStats = { connectAttempts: 0, connects: 0, disconnects: 0 };

  constructor(
    private readonly opts: MqttLinkOptions,
    private readonly hooks: MqttLinkHooks,
  ) {
    if (!/^mqtts:\/\//i.test(opts.url)) throw new OtaError(GW_CODES.insecureBroker, `the broker URL must be mqtts:// (TLS), got ${opts.url}`);
  }

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting (and keeps reconnecting until `close`). */
  start(): void {
    if (this.client === undefined && this.timer === undefined && !this.closing) this.attempt();
  }

  private attempt(): void {
    this.timer = undefined;
    if (this.closing) return;
    this.stats.connectAttempts++;
    const o = this.opts;
    const options: IClientOptions & { crl?: string } = {
      clientId: o.clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      keepalive: o.keepaliveSec,
      key: o.keyPem,
      cert: o.certPem,
      ca: o.caPem,
      rejectUnauthorized: true,
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload, 'utf8'), qos: 1, retain: true },
    };
    if (o.crlPem !== undefined) options.crl = o.crlPem;
    const client = connect(o.url, options);
    this.client = client;
    let lastError = 'connection closed';
    client.on('error', (e: Error) => {
      lastError = e.message;
    });
    client.on('connect', () => {
      // No Nagle delay: a record written right behind a PUBACK (a diag.response) would otherwise wait for
      // the broker's delayed TCP ACK (~40 ms on Linux).
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      client.subscribe([...o.subscriptions], { qos: 1 }, (err, granted) => {
        if (this.client !== client) return;
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err) this.hooks.note(`subscribe failed: ${err.message}`);
        else if (refused.length > 0) this.hooks.note(`the broker refused the subscription to ${refused.join(', ')}`);
        this.failures = 0;
        this.streak = { reason: '', count: 0 };
        this.up = true;
        this.stats.connects++;
        this.hooks.connected();
      });
    });
    client.on('message', (topic, payload) => {
      if (this.client === client && this.up) this.hooks.message(topic, new Uint8Array(payload));
    });
    client.on('close', () => this.onClose(client, lastError));
  }

  private onClose(client: MqttClient, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end(true);
    const wasUp = this.up;
    this.up = false;
    if (wasUp) {
      this.stats.disconnects++;
      this.hooks.disconnected(reason);
    }
    if (this.closing) return;
    if (!wasUp) {
      this.streak = this.streak.reason === reason ? { reason, count: this.streak.count + 1 } : { reason, count: 1 };
      if (this.streak.count === CANNOT_CONNECT_AFTER) this.hooks.cannotConnect?.(reason, this.streak.count);
    }
    const delay = backoffDelay(this.opts.backoff, this.failures++, this.opts.random);
    this.hooks.note(`${wasUp ? 'connection lost' : 'connect failed'} (${reason}); retrying in ${delay} ms`);
    this.timer = this.opts.clock.setTimeout(() => this.attempt(), delay);
  }

  /** Publishes with QoS 1; rejects with GW_NOT_CONNECTED when the link is down. */
  publish(topic: string, payload: Uint8Array | string, retain = false): Promise<void> {
    const client = this.client;
    if (client === undefined || !this.up) return Promise.reject(new OtaError(GW_CODES.notConnected, 'not connected to the broker'));
    const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return new Promise((resolve, reject) => {
      client.publish(topic, body, { qos: 1, retain }, (err) => {
        if (err) reject(new OtaError(GW_CODES.publish, `publish to ${topic} failed: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  /**
   * Stops for good. Graceful: MQTT DISCONNECT (the broker drops the will; publish `offline` first).
   * Abrupt: the socket is destroyed without DISCONNECT, as in a power loss — the broker publishes the will.
   */
  async close(abrupt = false): Promise<void> {
    this.closing = true;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    if (client === undefined) return;
    const force = abrupt || !this.up;
    await new Promise<void>((resolve) => {
      // A graceful DISCONNECT that never completes (broker gone mid-close) falls back to a forced close.
      const fallback = setTimeout(() => client.end(true), 2000);
      const done = (): void => {
        clearTimeout(fallback);
        resolve();
      };
      client.once('close', done);
      client.once('end', done);
      client.end(force);
    });
    this.onClose(client, abrupt ? 'closed abruptly' : 'closed');
  }
}
