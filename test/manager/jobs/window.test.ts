import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HORIZON_MS, INITIAL_BUDGET_BYTES, MIN_CHUNKS, SendWindow } from '../../../src/manager/jobs/window.js';

/** A SendWindow on a hand-driven clock. */
function windowAt(chunkSize: number, grant: number): { w: SendWindow; tick: (ms: number) => void } {
  let t = 0;
  const w = new SendWindow(chunkSize, () => t);
  w.setGrant(grant);
  w.restart();
  return { w, tick: (ms) => (t += ms) };
}

/** Streams `chunks` chunks, each acknowledged `everyMs` after the previous one, while keeping the window full. */
function stream(w: SendWindow, tick: (ms: number) => void, chunkSize: number, chunks: number, everyMs: number): void {
  let next = 0;
  let acked = 0;
  const inflight: number[] = [];
  while (acked < chunks) {
    while (inflight.length < w.chunks && next < chunks) {
      w.sent(next);
      inflight.push(next++);
    }
    tick(everyMs);
    const done = inflight.shift() as number;
    w.acked([done], chunkSize);
    acked++;
  }
}

describe('SendWindow', () => {
  it('starts at INITIAL_BUDGET_BYTES, capped by the gateway window', () => {
    assert.equal(windowAt(512, 32).w.chunks, INITIAL_BUDGET_BYTES / 512);
    assert.equal(windowAt(512, 4).w.chunks, 4);
    assert.equal(windowAt(8192, 32).w.chunks, MIN_CHUNKS, 'never below MIN_CHUNKS while the gateway allows it');
    assert.equal(windowAt(8192, 1).w.chunks, 1, 'a gateway window of 1 is obeyed');
  });

  it('on a 32 kbit/s link keeps about HORIZON_MS of the link in flight, not the gateway window', () => {
    const { w, tick } = windowAt(512, 32);
    stream(w, tick, 512, 60, 128); // 512 B every 128 ms = 4000 B/s
    const expected = (4000 * HORIZON_MS) / 1000;
    assert.ok(Math.abs(w.budgetBytes - expected) < expected * 0.2, `budget ${w.budgetBytes} ≈ ${expected}`);
    assert.equal(w.chunks, Math.max(MIN_CHUNKS, Math.floor(w.budgetBytes / 512)));
    assert.ok(w.chunks < 32 / 4);
  });

  it('opens to the gateway window on a fast link within a few acknowledgements', () => {
    const { w, tick } = windowAt(8192, 32);
    stream(w, tick, 8192, 8, 1); // 8 KiB per ms
    assert.equal(w.chunks, 32);
  });

  it('follows a link that slows down', () => {
    const { w, tick } = windowAt(512, 64);
    stream(w, tick, 512, 100, 5);
    assert.equal(w.chunks, 64);
    stream(w, tick, 512, 60, 256); // now 2000 B/s
    assert.ok(w.budgetBytes < 2000, `budget ${w.budgetBytes}`);
    assert.equal(w.chunks, MIN_CHUNKS);
  });

  it('covers twice the smallest round trip when that is longer than HORIZON_MS (a long but fast link still fills)', () => {
    const { w, tick } = windowAt(1024, 64);
    // 16 chunks sent at once, all acknowledged 2 s later: 16 KiB per 2 s.
    for (let i = 0; i < 16; i++) w.sent(i);
    tick(2000);
    w.acked(Array.from({ length: 16 }, (_, i) => i), 16 * 1024);
    assert.ok(w.budgetBytes >= 2 * 2000 * (16 * 1024 / 2000) - 1, `budget ${w.budgetBytes} covers 2 × RTT at the rate seen`);
  });

  it('keeps what it learnt across a restart (a reconnect on the same link)', () => {
    const { w, tick } = windowAt(512, 32);
    stream(w, tick, 512, 60, 128);
    const learnt = w.chunks;
    w.restart();
    assert.equal(w.chunks, learnt);
  });
});
