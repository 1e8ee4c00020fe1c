/**
 * A slow, flaky TCP link on loopback for fault tests and the lossy-link benchmark: a proxy that forwards
 * each accepted connection to `target`, paced in each direction to `bytesPerSecond` (a token bucket
 * refilled every `tickMs`, as a serial modem link would carry it), and that cuts every connection it
 * carries every `cutEveryMs` (both sockets destroyed at once: a radio link drop as the endpoints see it).
 *
 * Bounded: it buffers at most `bufferBytes` per direction and per connection (then stops reading, so TCP
 * back-pressure reaches the sender, as a modem's buffer would), and `close()` ends every connection and
 * timer. Counters say what it carried, so a test can compare bytes on the wire with the bytes of an image.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface SlowLinkOptions {
  /** Where connections go (the broker). */
  target: { host: string; port: number };
  /** Per direction, per connection (32 kbit/s = 4000). */
  bytesPerSecond: number;
  /** Cut every connection this often from the start (0 or absent: only when `startCuts` is called). */
  cutEveryMs?: number;
  /** Pacing granularity (default 20 ms). */
  tickMs?: number;
  /** Bytes queued per direction before reading stops (default 16 KiB). */
  bufferBytes?: number;
}

export interface SlowLinkStats {
  connections: number;
  cuts: number;
  /** Bytes delivered towards the target (up) and towards the client (down). */
  up: number;
  down: number;
}

/** One direction of one connection: paced forwarding with a bounded queue. */
class Pipe {
  private readonly queue: Buffer[] = [];
  private queued = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly maxQueued: number,
    private readonly delivered: (n: number) => void,
  ) {
    from.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.queued += d.length;
      if (this.queued >= this.maxQueued) from.pause();
    });
  }

  /** Forward up to `budget` bytes now; returns the bytes forwarded. */
  drain(budget: number): number {
    let sent = 0;
    while (budget - sent > 0 && this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      const n = Math.min(head.length, budget - sent);
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
      if (!this.to.destroyed) this.to.write(head.subarray(0, n));
      sent += n;
    }
    this.queued -= sent;
    if (this.queued < this.maxQueued && this.from.isPaused()) this.from.resume();
    if (sent > 0) this.delivered(sent);
    return sent;
  }
}

/** A running slow link (see the file comment). */
export class SlowLink {
  readonly stats: SlowLinkStats = { connections: 0, cuts: 0, up: 0, down: 0 };
  private readonly pairs = new Set<{ client: Socket; server: Socket; up: Pipe; down: Pipe; credit: { up: number; down: number } }>();
  private readonly tick: NodeJS.Timeout;
  private cutTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly server: Server,
    private readonly opts: SlowLinkOptions,
  ) {
    const tickMs = opts.tickMs ?? 20;
    const perTick = (opts.bytesPerSecond * tickMs) / 1000;
    this.tick = setInterval(() => {
      for (const p of this.pairs) {
        // Unused credit does not pile up beyond one tick: an idle link does not send a burst later.
        p.credit.up = Math.min(perTick, p.credit.up) + perTick;
        p.credit.down = Math.min(perTick, p.credit.down) + perTick;
        p.credit.up -= p.up.drain(Math.floor(p.credit.up));
        p.credit.down -= p.down.drain(Math.floor(p.credit.down));
      }
    }, tickMs);
    if (opts.cutEveryMs !== undefined && opts.cutEveryMs > 0) this.startCuts(opts.cutEveryMs);
    server.on('connection', (client) => this.onConnection(client));
  }

  /** Listens on 127.0.0.1 (a free port). */
  static async start(opts: SlowLinkOptions): Promise<SlowLink> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new SlowLink(server, opts);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Cut every connection every `everyMs` from now on (the first cut `everyMs` from now). */
  startCuts(everyMs: number): void {
    this.stopCuts();
    this.cutTimer = setInterval(() => this.cut(), everyMs);
  }

  /** No more periodic cuts (e.g. once what the test measures is over). */
  stopCuts(): void {
    if (this.cutTimer) clearInterval(this.cutTimer);
    this.cutTimer = undefined;
  }

  /** Cut every connection now. */
  cut(): void {
    if (this.pairs.size > 0) this.stats.cuts++;
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.server.destroy();
      this.pairs.delete(p);
    }
  }

  private onConnection(client: Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const server = connect({ host: this.opts.target.host, port: this.opts.target.port });
    server.setNoDelay(true);
    const max = this.opts.bufferBytes ?? 16 * 1024;
    const pair = {
      client,
      server,
      up: new Pipe(client, server, max, (n) => (this.stats.up += n)),
      down: new Pipe(server, client, max, (n) => (this.stats.down += n)),
      credit: { up: 0, down: 0 },
    };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const s of [client, server]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** Stop listening and end every connection. */
  async close(): Promise<void> {
    clearInterval(this.tick);
    this.stopCuts();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
