import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayWindow } from '../../../src/security/channel/index.js';

function verdict(w: ReplayWindow, seq: number): string {
  try {
    w.check(seq);
    return 'ok';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe('ReplayWindow', () => {
  it('accepts any first sequence number and then refuses it again with SC_REPLAY', () => {
    const w = new ReplayWindow(64);
    assert.equal(verdict(w, 0), 'ok');
    w.accept(0);
    assert.equal(verdict(w, 0), 'SC_REPLAY');
  });

  it('accepts reordering inside the window and refuses numbers left of it with SC_TOO_OLD', () => {
    const w = new ReplayWindow(64);
    w.accept(100);
    assert.equal(verdict(w, 37), 'ok'); // 100 - 37 = 63 < 64: still inside
    assert.equal(verdict(w, 36), 'SC_TOO_OLD'); // 64 behind the top: outside
    w.accept(37);
    assert.equal(verdict(w, 37), 'SC_REPLAY');
  });

  it('check changes nothing', () => {
    const w = new ReplayWindow(8);
    w.accept(5);
    for (const s of [0, 5, 6, 1000]) verdict(w, s);
    assert.equal(w.top, 5);
    assert.equal(verdict(w, 6), 'ok');
    assert.equal(verdict(w, 5), 'SC_REPLAY');
  });

  it('matches a reference set model for random accept sequences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.array(fc.nat({ max: 300 }), { maxLength: 200 }), (size, seqs) => {
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let top = -1;
        for (const s of seqs) {
          const expected = s > top ? 'ok' : top - s >= size ? 'SC_TOO_OLD' : seen.has(s) ? 'SC_REPLAY' : 'ok';
          assert.equal(verdict(w, s), expected);
          if (expected === 'ok') {
            w.accept(s);
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
