/**
 * Flow control of one image download (docs/update-flow.md, "Flow control"), without I/O: which chunks
 * the gateway holds (its bitmap), which are in flight (sent, not yet acknowledged), and which to send
 * next. The job engine asks `next()` while it may send and reports what it sent and what came back.
 *
 * - At most `window` chunks are unacknowledged; the window is the gateway's (update.accept / update.ack).
 * - `resync` (an update.accept answering our offer) replaces what we know with the gateway's bitmap and
 *   forgets everything in flight: chunks sent on an earlier session are gone for good.
 * - `ack` marks [0, next) and the optional bitmap as held. Chunks travel in order (one MQTT connection,
 *   QoS 1, records in sequence), so an in-flight chunk that the bitmap still lacks although a chunk sent
 *   after it is held was lost: it becomes sendable again. Without a bitmap nothing is declared lost (the
 *   gateway sends one whenever it holds chunks out of order); a stall is the engine's timer's business.
 */
import { MAX_CHUNKS, MAX_CHUNK_SIZE } from '../../protocol/ota/update-messages.js';

/** Smallest and largest chunk the engine picks by itself (see chooseChunkSize). */
export const MIN_AUTO_CHUNK = 512;
export const MAX_AUTO_CHUNK = 16 * 1024;
/**
 * The engine aims at this many chunks per image: what a lost window costs to re-send (window/chunks of
 * the image) stays small, while large images still travel in 16 KiB records (per-record cost dominates).
 */
export const TARGET_CHUNKS = 128;

/**
 * The chunk size for an image of `length` bytes: the power of two giving at most about TARGET_CHUNKS
 * chunks, clamped to MIN_AUTO_CHUNK..MAX_AUTO_CHUNK (a 56 KiB application → 112 chunks of 512 bytes,
 * 1 MiB → 128 of 8 KiB, 2 MiB and above → 16 KiB), then raised if the image would need more than
 * MAX_CHUNKS. `fixed` overrides the choice (still raised to fit MAX_CHUNKS, capped at MAX_CHUNK_SIZE).
 */
export function chooseChunkSize(length: number, fixed?: number): number {
  let size = fixed ?? Math.min(MAX_AUTO_CHUNK, Math.max(MIN_AUTO_CHUNK, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(length / TARGET_CHUNKS))))));
  if (!Number.isInteger(size) || size < 1) size = MIN_AUTO_CHUNK;
  size = Math.max(size, Math.ceil(length / MAX_CHUNKS));
  return Math.min(size, MAX_CHUNK_SIZE);
}

/** The number of chunks of `chunkSize` covering `length` bytes. */
export function chunkCount(length: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(length / chunkSize));
}

/** What an ack changed. */
export interface AckResult {
  /** Chunks newly known to be held. */
  newlyHeld: number;
  /** In-flight chunks found lost (sendable again). */
  lost: number[];
  /** In-flight chunks now known held. */
  acked: number[];
}

/** Which chunks are held, in flight and next, for one image. */
export class Transfer {
  private readonly held: Uint8Array;
  private heldCount = 0;
  /** In-flight chunk index → the send sequence number it went out with. */
  private readonly inflight = new Map<number, number>();
  private sendSeq = 0;
  private cursor = 0;
  /** Every chunk below this is held (so an ack's `next` costs only what it adds). */
  private low = 0;
  private currentWindow = 1;

  constructor(readonly chunks: number) {
    if (!Number.isInteger(chunks) || chunks < 1 || chunks > MAX_CHUNKS) throw new RangeError(`chunk count ${chunks} out of range`);
    this.held = new Uint8Array(Math.ceil(chunks / 8));
  }

  get window(): number {
    return this.currentWindow;
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  get heldChunks(): number {
    return this.heldCount;
  }

  /** Every chunk is held by the gateway. */
  get complete(): boolean {
    return this.heldCount === this.chunks;
  }

  isHeld(index: number): boolean {
    return ((this.held[index >> 3] as number) & (1 << (index & 7))) !== 0;
  }

  /** The gateway's answer to an offer: its bitmap is the truth, nothing is in flight any more. */
  resync(bitmap: Uint8Array, window: number): void {
    this.held.fill(0);
    this.heldCount = 0;
    this.low = 0;
    this.mergeBitmap(bitmap);
    this.inflight.clear();
    this.cursor = 0;
    this.setWindow(window);
  }

  /** A bitmap learnt outside an offer/accept pair: add what it says is held, keep what is in flight. */
  merge(bitmap: Uint8Array, window: number): void {
    this.mergeBitmap(bitmap);
    for (const index of [...this.inflight.keys()]) if (this.isHeld(index)) this.inflight.delete(index);
    this.setWindow(window);
  }

  /** Forget what is in flight (the session or the broker connection it was sent on is gone). */
  dropInflight(): void {
    for (const index of this.inflight.keys()) this.cursor = Math.min(this.cursor, index);
    this.inflight.clear();
  }

  /**
   * The next chunk to send, or undefined when the window is full or nothing is left to send. `limit`
   * (the sender's own budget, window.ts) may keep fewer than the gateway's window in flight.
   */
  next(limit = this.currentWindow): number | undefined {
    if (this.inflight.size >= Math.min(limit, this.currentWindow)) return undefined;
    while (this.cursor < this.chunks && (this.isHeld(this.cursor) || this.inflight.has(this.cursor))) this.cursor++;
    return this.cursor < this.chunks ? this.cursor : undefined;
  }

  /** Chunk `index` was handed to the link. */
  sent(index: number): void {
    this.inflight.set(index, this.sendSeq++);
    if (index === this.cursor) this.cursor++;
  }

  /** An update.ack: `next` is the lowest chunk the gateway lacks; `bitmap` (optional) what it holds. */
  ack(next: number, window: number, bitmap?: Uint8Array): AckResult {
    const before = this.heldCount;
    for (let i = this.low; i < Math.min(next, this.chunks); i++) this.mark(i);
    if (bitmap) this.mergeBitmap(bitmap);
    let newestAcked = -1;
    const acked: number[] = [];
    for (const [index, seq] of [...this.inflight]) {
      if (!this.isHeld(index)) continue;
      this.inflight.delete(index);
      acked.push(index);
      newestAcked = Math.max(newestAcked, seq);
    }
    const lost: number[] = [];
    if (bitmap) {
      // In-order delivery: anything sent before a chunk that arrived, and still missing, was lost.
      for (const [index, seq] of [...this.inflight]) {
        if (seq < newestAcked) {
          this.inflight.delete(index);
          lost.push(index);
          this.cursor = Math.min(this.cursor, index);
        }
      }
    }
    this.setWindow(window);
    return { newlyHeld: this.heldCount - before, lost, acked };
  }

  private setWindow(window: number): void {
    this.currentWindow = Number.isInteger(window) && window >= 1 ? window : 1;
  }

  private mergeBitmap(bitmap: Uint8Array): void {
    const bytes = Math.min(bitmap.length, this.held.length);
    for (let b = 0; b < bytes; b++) {
      const add = (bitmap[b] as number) & ~(this.held[b] as number);
      if (add === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        const index = b * 8 + bit;
        if (index < this.chunks && (add & (1 << bit)) !== 0) this.mark(index);
      }
    }
  }

  private mark(index: number): void {
    const byte = index >> 3;
    const bit = 1 << (index & 7);
    if (((this.held[byte] as number) & bit) !== 0) return;
    this.held[byte] = (this.held[byte] as number) | bit;
    this.heldCount++;
    while (this.low < this.chunks && this.isHeld(this.low)) this.low++;
  }
}
