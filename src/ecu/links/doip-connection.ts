/**
 * One TCP_DATA socket of the DoIP server (ISO 13400-2): the stream reader with the generic header
 * handler in front, the inactivity timers, the alive check and the registered tester address. It knows
 * nothing about routing or UDS: it hands every decoded message to the server and sends what it is told.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../protocol/clock.js';
import {
  DoipStreamReader,
  doipNackFor,
  encodeDoipMessage,
  type DoipMessage,
  type DoipStreamEvent,
} from '../../protocol/doip/index.js';

/** Timers of one socket: the T_TCP_* timing parameters of ISO 13400-2. */
export interface DoipConnectionTimers {
  /** T_TCP_Initial_Inactivity: no routing activation this long after connect → close (default 2 s). */
  initialInactivityMs: number;
  /** T_TCP_General_Inactivity: no traffic this long on an activated socket → close (default 5 min). */
  generalInactivityMs: number;
  /** T_TCP_Alive_Check: wait for an alive check response this long (default 500 ms). */
  aliveCheckMs: number;
}

export const DEFAULT_DOIP_TIMERS: DoipConnectionTimers = {
  initialInactivityMs: 2_000,
  generalInactivityMs: 300_000,
  aliveCheckMs: 500,
};

/** What a connection needs from its server. */
export interface DoipConnectionHost {
  readonly clock: Clock;
  readonly timers: DoipConnectionTimers;
  readonly protocolVersion: number;
  /**
   * A decoded message from the tester (header already accepted by the generic header handler). When it returns
   * a promise (routing activation), the socket's next messages wait for it, so they keep their order.
   */
  onMessage(connection: DoipConnection, message: DoipMessage): void | Promise<void>;
  /** A generic header NACK was sent (`code`), before the close it may entail. */
  onHeaderNack(connection: DoipConnection, code: number, closing: boolean): void;
  onClosed(connection: DoipConnection, reason: string): void;
}

/** Grace period for the peer to read our last bytes after `end()` before the socket is destroyed. */
const LINGER_MS = 250;
/** Messages held while an earlier one is being handled; above this the socket is paused (TCP backpressure). */
const BACKLOG_PAUSE = 64;

/** One tester's TCP_DATA socket. */
export class DoipConnection {
  readonly remote: string;
  /** The tester's logical address once routing is activated on this socket. */
  sourceAddress: number | undefined;
  readonly #socket: Socket;
  readonly #host: DoipConnectionHost;
  readonly #reader: DoipStreamReader;
  #inactivity: TimerHandle | undefined;
  #alive: { promise: Promise<boolean>; settle: (answered: boolean) => void } | undefined;
  #closed = false;
  /** Decoded events not yet handled, in stream order, and whether a handler is still running. */
  readonly #backlog: DoipStreamEvent[] = [];
  #busy = false;

  constructor(socket: Socket, host: DoipConnectionHost, maxPayloadLength: number) {
    this.#socket = socket;
    this.#host = host;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.#reader = new DoipStreamReader({ maxPayloadLength, protocolVersions: [host.protocolVersion] });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.close('peer closed the connection'));
    socket.on('error', (e: Error) => this.close(`socket error: ${e.message}`));
    socket.on('close', () => this.close('socket closed'));
    // ISO 13400-2: T_TCP_Initial_Inactivity runs from the connect until routing is activated.
    this.#armInactivity(host.timers.initialInactivityMs, 'no routing activation within T_TCP_Initial_Inactivity');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Registers the tester address (routing activated) and switches to T_TCP_General_Inactivity. */
  register(sourceAddress: number): void {
    this.sourceAddress = sourceAddress;
    this.#touch();
  }

  /** Encodes and writes one message (header version = the server's); false when the socket is gone. */
  send(message: DoipMessage): boolean {
    if (this.#closed || !this.#socket.writable) return false;
    this.#socket.write(encodeDoipMessage({ ...message, protocolVersion: this.#host.protocolVersion }));
    this.#touch();
    return true;
  }

  /**
   * ISO 13400-2 alive check: sends an alive check request and resolves true when the tester answers
   * within T_TCP_Alive_Check, false when it does not (or the socket closes). Concurrent checks share one request.
   */
  aliveCheck(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#alive !== undefined) return this.#alive.promise;
    let settle: (answered: boolean) => void = () => undefined;
    const promise = new Promise<boolean>((resolve) => {
      const timer = this.#host.clock.setTimeout(() => settle(false), this.#host.timers.aliveCheckMs);
      settle = (answered) => {
        this.#host.clock.clearTimeout(timer);
        this.#alive = undefined;
        resolve(answered);
      };
    });
    this.#alive = { promise, settle };
    this.send({ type: 'aliveCheckRequest' });
    return promise;
  }

  /**
   * Ends the socket (our queued bytes still go out), then destroys it after a short linger; with
   * `linger: false` destroys it at once (nothing of ours to deliver). Idempotent.
   */
  close(reason: string, options: { linger?: boolean } = {}): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inactivity !== undefined) this.#host.clock.clearTimeout(this.#inactivity);
    this.#alive?.settle(false);
    if (options.linger === false) {
      this.#socket.destroy();
      this.#host.onClosed(this, reason);
      return;
    }
    this.#socket.end();
    const linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    linger.unref();
    this.#socket.once('close', () => clearTimeout(linger));
    this.#host.onClosed(this, reason);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    if (this.sourceAddress !== undefined) this.#touch();
    let events;
    try {
      events = this.#reader.push(chunk);
    } catch (e) {
      this.close(`undecodable stream: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    for (const event of events) {
      // An alive check response settles at once, even while earlier messages wait: another socket's
      // routing activation may be waiting for exactly this answer.
      if (event.kind === 'message' && event.message.type === 'aliveCheckResponse') this.#alive?.settle(true);
      this.#backlog.push(event);
    }
    if (this.#backlog.length > BACKLOG_PAUSE) this.#socket.pause();
    this.#drain();
  }

  /** Handles queued events in order; an async handler holds the rest until it settles. */
  #drain(): void {
    while (!this.#busy && !this.#closed) {
      const event = this.#backlog.shift();
      if (event === undefined) break;
      if (event.kind === 'error') {
        // ISO 13400-2 [DoIP-041]–[DoIP-045]: generic header NACK; patterns and invalid lengths also close.
        const nack = doipNackFor(event.error);
        if (nack === undefined) continue;
        this.send(nack.reply);
        this.#host.onHeaderNack(this, nack.reply.nackCode, nack.closeConnection);
        if (nack.closeConnection) this.close(`generic header NACK ${event.error.code}`);
        continue;
      }
      const pending = this.#host.onMessage(this, event.message);
      if (pending !== undefined) {
        this.#busy = true;
        const done = (): void => {
          this.#busy = false;
          this.#drain();
        };
        pending.then(done, done);
      }
    }
    if (this.#backlog.length <= BACKLOG_PAUSE && this.#socket.isPaused() && !this.#closed) this.#socket.resume();
  }

  /** Restarts T_TCP_General_Inactivity (only once routing is active; before, the initial timer runs on). */
  #touch(): void {
    if (this.sourceAddress === undefined || this.#closed) return;
    this.#armInactivity(this.#host.timers.generalInactivityMs, 'no traffic within T_TCP_General_Inactivity');
  }

  #armInactivity(ms: number, reason: string): void {
    if (this.#inactivity !== undefined) this.#host.clock.clearTimeout(this.#inactivity);
    this.#inactivity = this.#host.clock.setTimeout(() => this.close(reason), ms);
  }
}
