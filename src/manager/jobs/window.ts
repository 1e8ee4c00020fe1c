/**
 * How many chunks the manager keeps in flight on one vehicle's link (docs/update-flow.md, "Flow control"):
 * a bytes-in-flight budget sized from the delivery rate the gateway's acknowledgements show, without I/O.
 *
 * The gateway's window is only a ceiling. On a slow link (32 kbit/s telematics) a full window of 32 × 512 B
 * is 4 s of data queued in front of the vehicle: the broker coalesces it into 16 KiB TLS records the
 * gateway cannot open until each arrived whole, a link cut loses all of it, and a diagnostic request waits
 * behind it. So the manager keeps in flight only what the link carries in `horizonMs` (1 s, and never less
 * than twice the smallest round trip seen, so a long but fast link still fills):
 *
 *   budget = delivery rate (bytes newly held / time, over the last second of acks) × horizon
 *   window = clamp(floor(budget / chunkSize), MIN_CHUNKS, the gateway's window)
 *
 * Before the first acknowledgement the budget is INITIAL_BUDGET_BYTES. On a fast link the first ack shows a
 * rate far above the budget's, so the window opens to the gateway's within one round trip. The rate learnt
 * survives a resync (a reconnect on the same link carries the same); only its samples start again.
 */

/** Bytes in flight before any acknowledgement measured the link (1 s at 32 kbit/s). */
export const INITIAL_BUDGET_BYTES = 4096;
/** The link time the budget covers. */
export const HORIZON_MS = 500;
/** Never fewer chunks in flight than this (one travelling while the previous one's ack returns). */
export const MIN_CHUNKS = 2;
/** Acknowledgements older than this leave the rate estimate. */
const RATE_SPAN_MS = 1000;

interface Sample {
  at: number;
  /** Bytes held by the gateway in this stream up to `at`. */
  delivered: number;
}

/** The bytes-in-flight budget of one transfer (see the file comment). */
export class SendWindow {
  private budget = INITIAL_BUDGET_BYTES;
  private samples: Sample[] = [];
  private delivered = 0;
  private grant = 1;
  private minRttMs = Infinity;
  /** Chunk index → when it was handed to the link (for round-trip samples). */
  private readonly sentAt = new Map<number, number>();

  constructor(
    private readonly chunkSize: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Chunks that may be in flight now. */
  get chunks(): number {
    return Math.max(1, Math.min(this.grant, Math.max(MIN_CHUNKS, Math.floor(this.budget / this.chunkSize))));
  }

  /** The current budget in bytes (stats, tests). */
  get budgetBytes(): number {
    return this.budget;
  }

  /** The gateway's window (update.accept / update.ack): the ceiling. */
  setGrant(window: number): void {
    this.grant = Number.isInteger(window) && window >= 1 ? window : 1;
  }

  /** A new stream on a (re)established session: rate samples start again from now; the budget learnt stays. */
  restart(): void {
    this.samples = [{ at: this.now(), delivered: 0 }];
    this.delivered = 0;
    this.sentAt.clear();
  }

  /** Chunk `index` was handed to the link. */
  sent(index: number): void {
    this.sentAt.set(index, this.now());
  }

  /** Chunk `index` will not be acknowledged by this stream (lost, or dropped with its session). */
  forget(index: number): void {
    this.sentAt.delete(index);
  }

  /**
   * An acknowledgement made `indices` held (`bytes` of them): one rate sample, a round-trip sample from
   * the newest of them that this stream sent, and the budget they give.
   */
  acked(indices: readonly number[], bytes: number): void {
    const at = this.now();
    let newestSent = -Infinity;
    for (const i of indices) {
      const t = this.sentAt.get(i);
      if (t !== undefined) {
        newestSent = Math.max(newestSent, t);
        this.sentAt.delete(i);
      }
    }
    if (newestSent > -Infinity) this.minRttMs = Math.min(this.minRttMs, at - newestSent);
    if (bytes <= 0) return;
    if (this.samples.length === 0) this.samples.push({ at, delivered: 0 });
    this.delivered += bytes;
    this.samples.push({ at, delivered: this.delivered });
    // Keep one sample at or before the span's start, so the rate covers a whole span once there is one.
    while (this.samples.length > 2 && at - (this.samples[1] as Sample).at >= RATE_SPAN_MS) this.samples.shift();
    const first = this.samples[0] as Sample;
    const elapsed = at - first.at;
    if (elapsed <= 0) return;
    const rate = (this.delivered - first.delivered) / elapsed; // bytes per ms
    const horizon = Math.max(HORIZON_MS, Number.isFinite(this.minRttMs) ? 2 * this.minRttMs : 0);
    this.budget = Math.max(MIN_CHUNKS * this.chunkSize, rate * horizon);
  }
}
