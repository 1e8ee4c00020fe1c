import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseChunkSize, chunkCount, Transfer } from '../../../src/manager/jobs/transfer.js';
import { MAX_CHUNKS, MAX_CHUNK_SIZE } from '../../../src/protocol/ota/update-messages.js';

/** A bitmap (bit i LSB-first in byte i>>3) with the given chunks set. */
function bitmap(chunks: number, held: number[]): Uint8Array {
  const b = new Uint8Array(Math.ceil(chunks / 8));
  for (const i of held) b[i >> 3] = (b[i >> 3] as number) | (1 << (i & 7));
  return b;
}

/** Take every chunk the transfer offers now. */
function drain(t: Transfer): number[] {
  const out: number[] = [];
  let i: number | undefined;
  while ((i = t.next()) !== undefined) {
    t.sent(i);
    out.push(i);
  }
  return out;
}

describe('chooseChunkSize', () => {
  const table: Array<[number, number]> = [
    [1, 512], // tiny image: the 512-byte floor
    [56 * 1024, 512], // the STM32F103C8 application region: 112 chunks of 512 bytes
    [120 * 1024, 1024], // 128 KiB part: 120 chunks of 1 KiB
    [1024 * 1024, 8 * 1024], // 1 MiB: 128 chunks of 8 KiB
    [2 * 1024 * 1024, 16 * 1024], // 2 MiB: 128 chunks of 16 KiB
    [16 * 1024 * 1024, 16 * 1024], // 16 MiB: capped at 16 KiB, 1024 chunks
  ];
  for (const [length, size] of table) {
    it(`picks ${size} bytes for a ${length}-byte image`, () => assert.equal(chooseChunkSize(length), size));
  }
  it('raises a fixed size that would need more than MAX_CHUNKS chunks, and caps at MAX_CHUNK_SIZE', () => {
    assert.equal(chooseChunkSize(16 * 1024 * 1024, 512), 1024); // 16384 chunks at most
    assert.equal(chooseChunkSize(1000, 100_000), MAX_CHUNK_SIZE);
  });
  it('always gives 1..MAX_CHUNKS chunks of at most MAX_CHUNK_SIZE', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 * 1024 * 1024 }), fc.option(fc.integer({ min: 1, max: 70_000 }), { nil: undefined }), (length, fixed) => {
        const size = chooseChunkSize(length, fixed);
        const n = chunkCount(length, size);
        return size >= 1 && size <= MAX_CHUNK_SIZE && n >= 1 && n <= MAX_CHUNKS;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Transfer', () => {
  it('sends at most `window` unacknowledged chunks', () => {
    const t = new Transfer(10);
    t.resync(bitmap(10, []), 3);
    assert.deepEqual(drain(t), [0, 1, 2]);
    assert.equal(t.next(), undefined, 'the window is full');
    t.ack(2, 3); // chunks 0 and 1 held
    assert.deepEqual(drain(t), [3, 4]);
    assert.equal(t.inFlight, 3);
  });

  it('skips the chunks the gateway already holds (update.accept bitmap)', () => {
    const t = new Transfer(12);
    t.resync(bitmap(12, [0, 1, 2, 5, 8, 9, 10, 11]), 16);
    assert.deepEqual(drain(t), [3, 4, 6, 7]);
    assert.equal(t.heldChunks, 8);
    t.ack(12, 16);
    assert.equal(t.complete, true);
    assert.deepEqual(drain(t), []);
  });

  it('re-sends a chunk the bitmap shows lost when a later chunk arrived', () => {
    const t = new Transfer(8);
    t.resync(bitmap(8, []), 8);
    assert.deepEqual(drain(t), [0, 1, 2, 3, 4, 5, 6, 7]);
    // 2 never arrived, 3 and 4 did: in-order delivery means 2 is lost; 5..7 may still be on their way.
    const r = t.ack(2, 8, bitmap(8, [0, 1, 3, 4]));
    assert.deepEqual(r.lost, [2]);
    assert.equal(r.newlyHeld, 4);
    assert.deepEqual(drain(t), [2]);
    assert.equal(t.inFlight, 4); // 5, 6, 7 and the re-sent 2
  });

  it('declares nothing lost from an ack without a bitmap', () => {
    const t = new Transfer(8);
    t.resync(bitmap(8, []), 4);
    drain(t);
    assert.deepEqual(t.ack(1, 4).lost, []);
    assert.equal(t.inFlight, 3);
  });

  it('resync forgets what was in flight and takes the new bitmap as the truth', () => {
    const t = new Transfer(6);
    t.resync(bitmap(6, []), 6);
    drain(t);
    t.resync(bitmap(6, [0, 1, 2]), 2);
    assert.equal(t.inFlight, 0);
    assert.deepEqual(drain(t), [3, 4]);
  });

  it('merge keeps chunks in flight that the bitmap does not mention', () => {
    const t = new Transfer(6);
    t.resync(bitmap(6, []), 6);
    drain(t);
    t.merge(bitmap(6, [0]), 6);
    assert.equal(t.inFlight, 5);
  });

  it('dropInflight makes the dropped chunks sendable again, lowest first', () => {
    const t = new Transfer(6);
    t.resync(bitmap(6, [0]), 3);
    assert.deepEqual(drain(t), [1, 2, 3]);
    t.dropInflight();
    assert.deepEqual(drain(t), [1, 2, 3]);
  });

  it('ignores bits past the last chunk and never counts a chunk twice', () => {
    const t = new Transfer(3);
    t.resync(Uint8Array.of(0xff, 0xff), 1);
    assert.equal(t.heldChunks, 3);
    t.ack(3, 1, Uint8Array.of(0xff));
    assert.equal(t.heldChunks, 3);
  });

  it('ends complete, never with more than the window in flight, whatever acks arrive', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 32 }), fc.array(fc.nat(), { maxLength: 400 }), (chunks, window, choices) => {
        const t = new Transfer(chunks);
        t.resync(bitmap(chunks, []), window);
        const gateway = new Set<number>();
        const wire: number[] = [];
        let steps = 0;
        let deliveries = 0;
        while (!t.complete && steps++ < 10_000) {
          for (const i of drain(t)) wire.push(i);
          if (t.inFlight > window) return false;
          // The gateway receives some chunks in order, loses some, and acks with its bitmap.
          const take = 1 + ((choices[steps % Math.max(1, choices.length)] ?? 0) % Math.max(1, wire.length));
          // Every 7th delivery (shifted by the random choices) is lost.
          for (const i of wire.splice(0, take)) if ((deliveries++ + (choices[i % Math.max(1, choices.length)] ?? 0)) % 7 !== 6) gateway.add(i);
          let next = 0;
          while (gateway.has(next)) next++;
          t.ack(next, window, bitmap(chunks, [...gateway]));
          if (wire.length === 0 && t.next() === undefined && !t.complete) t.resync(bitmap(chunks, [...gateway]), window); // a stall: re-offer
        }
        return t.complete;
      }),
      { numRuns: 500 },
    );
  });
});
