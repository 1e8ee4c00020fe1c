import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../src/protocol/errors.js';
import { hexNum, parseHex, toHex } from '../../src/protocol/hex.js';

describe('parseHex', () => {
  it('accepts the ways engineers paste bytes from a trace', () => {
    for (const text of ['22 F1 90', '22F190', '0x22 0xF1 0x90', '22-F1-90', '22:f1:90', ' 22,F1,90 ']) {
      assert.deepEqual([...parseHex(text)], [0x22, 0xf1, 0x90], text);
    }
  });

  it('refuses an odd number of digits and non-hex characters with HEX_INVALID', () => {
    for (const text of ['22 F', '2G', '22 F1 9Z']) {
      assert.throws(() => parseHex(text), (e: unknown) => e instanceof OtaError && e.code === 'HEX_INVALID', text);
    }
  });

  it('round-trips with toHex', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => assert.deepEqual(parseHex(toHex(bytes)), bytes)), { numRuns: 1_000 });
  });
});

describe('toHex / hexNum', () => {
  it('formats spaced upper-case bytes and padded numbers', () => {
    assert.equal(toHex(Uint8Array.of(0x62, 0xf1, 0x0a)), '62 F1 0A');
    assert.equal(toHex(Uint8Array.of(1, 2), ''), '0102');
    assert.equal(hexNum(0x7e0, 3), '0x7E0');
  });
});
