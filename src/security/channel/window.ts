/**
 * Sliding anti-replay window (RFC 4303 §3.4.3 style) over 64-bit sequence numbers: the highest accepted
 * number and a bitmap of the `size` numbers at and below it, kept as a ring indexed by `seq mod size`.
 * `check` never changes state; only `accept` (called after the record authenticated) does.
 */
import { refuse } from './errors.js';

export class ReplayWindow {
  private highest = -1;
  private readonly seen: Uint8Array;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('replay window size must be a positive integer');
    this.seen = new Uint8Array(size);
  }

  /** Highest sequence number accepted so far, −1 before the first. */
  get top(): number {
    return this.highest;
  }

  /** Throws SC_TOO_OLD (left of the window) or SC_REPLAY (already accepted); changes nothing. */
  check(seq: number): void {
    if (seq > this.highest) return;
    if (this.highest - seq >= this.size) {
      throw refuse('SC_TOO_OLD', `sequence number ${seq} is older than the window (highest ${this.highest})`);
    }
    if (this.seen[seq % this.size] === 1) throw refuse('SC_REPLAY', `sequence number ${seq} was already accepted`);
  }

  /** Marks `seq` accepted; the caller has run `check` and authenticated the record. */
  accept(seq: number): void {
    if (seq > this.highest) {
      // Slots between the old top and the new one leave the window unseen.
      const steps = Math.min(seq - this.highest, this.size);
      for (let i = 0; i < steps; i++) this.seen[(seq - i) % this.size] = 0;
      this.highest = seq;
    }
    this.seen[seq % this.size] = 1;
  }
}
