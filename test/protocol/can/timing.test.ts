import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToBits, canCrc15, canFrameBitCount, canFrameBits, canFrameTimeMs } from '../../../src/protocol/can/timing.js';
import { DLC_TO_LENGTH, type CanFrame } from '../../../src/protocol/can/frame.js';
import { OtaError } from '../../../src/protocol/errors.js';

/** CRC as the remainder of M(x)·x^15 divided by G(x) = x^15+x^14+x^10+x^8+x^7+x^4+x^3+1 — long division, independent of the shift register. */
function crc15ByDivision(bits: number[]): number {
  let m = 0n;
  for (const b of bits) m = (m << 1n) | BigInt(b);
  m <<= 15n;
  const g = 0xc599n;
  for (let i = bits.length + 14; i >= 15; i--) if ((m >> BigInt(i)) & 1n) m ^= g << BigInt(i - 15);
  return Number(m);
}

/** SOF..CRC of a classic base data frame, built field by field, then stuffed (ISO 11898-1 §10.5). */
function stuffClassic(frame: CanFrame): { raw: number[]; stuffed: number[] } {
  const field = (v: number, w: number) => Array.from({ length: w }, (_, i) => (v >> (w - 1 - i)) & 1);
  const head = [0, ...field(frame.id, 11), 0, 0, 0, ...field(frame.data.length, 4), ...bytesToBits(frame.data)];
  const raw = [...head, ...field(crc15ByDivision(head), 15)];
  const stuffed: number[] = [];
  for (const bit of raw) {
    stuffed.push(bit);
    const tail = stuffed.slice(-5);
    if (tail.length === 5 && tail.every((b) => b === bit)) stuffed.push(1 - bit);
  }
  return { raw, stuffed };
}

/** Removes the bit after every five equal bits. */
function destuff(bits: number[]): number[] {
  const out: number[] = [];
  let run = 0;
  let last = -1;
  for (let i = 0; i < bits.length; i++) {
    const bit = bits[i] as number;
    out.push(bit);
    run = bit === last ? run + 1 : 1;
    last = bit;
    if (run === 5) {
      i++; // skip the stuff bit, which starts the next run
      last = bits[i] as number;
      run = 1;
    }
  }
  return out;
}

const classicFrame = fc.record({
  id: fc.integer({ min: 0, max: 0x7ff }),
  data: fc.uint8Array({ minLength: 0, maxLength: 8 }),
});

describe('canCrc15', () => {
  it('gives the catalogued check value 0x059E for "123456789" (CRC-15/CAN, RevEng CRC catalogue)', () => {
    assert.equal(canCrc15(bytesToBits(new TextEncoder().encode('123456789'))), 0x059e);
  });

  it('equals polynomial long division for any bit string', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 120 }), (bits) => {
        assert.equal(canCrc15(bits), crc15ByDivision(bits));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('canFrameBits', () => {
  // Classic base frame (Bosch CAN 2.0 part A §3.1.1, ISO 11898-1:2015 §10.4.2): SOF 1, identifier 11,
  // RTR 1, IDE 1, r0 1, DLC 4, data 8n, CRC 15 | CRC delimiter 1, ACK slot 1, ACK delimiter 1, EOF 7,
  // intermission 3. Bit stuffing (§10.5) covers SOF through the CRC sequence.
  it('counts a hand-computed all-dominant frame: id 0x000, no data → 53 bits', () => {
    // SOF..DLC are 19 dominant bits; the CRC of all zeros is 0, so the stuffable region is 34 zeros.
    // A stuff bit (recessive) follows every fifth zero: after zeros 5, 10, 15, 20, 25, 30 → 6 stuff bits.
    // 34 + 6 + 13 (CRC delimiter, ACK, ACK delimiter, EOF, IFS) = 53.
    assert.equal(canFrameBits({ id: 0, data: new Uint8Array(0) }), 53);
  });

  it('counts a hand-stuffed UDS request: id 0x7E0, data 02 10 03 → 77 bits', () => {
    // SOF 0 | ID 111 1110 0000 | RTR 0 IDE 0 r0 0 | DLC 0011 | 00000010 00010000 00000011 | CRC 0x2244
    // CRC-15 = 010 0010 0100 0100 (long division, see crc15ByDivision).
    // Stuffing walk: 11111→s0 (#1); 1 then 00000→s1 (#2); RTR IDE r0 + DLC 00 = 00000→s1 (#3);
    // DLC 11; data 00000→s1 (#4); 010, 0000 1 0000 + first 0 of 0x03 → s1 (#5); 00000→s1 (#6); 11;
    // the CRC has no run of five. 43 + 15 = 58 bits, + 6 stuff + 13 trailer = 77.
    const frame: CanFrame = { id: 0x7e0, data: Uint8Array.of(0x02, 0x10, 0x03) };
    assert.deepEqual(canFrameBitCount(frame), { nominalBits: 77, dataPhaseBits: 0, stuffBits: 6, total: 77 });
  });

  // Maximum frame lengths incl. intermission, from Linux include/linux/can/length.h (can_frame_bits(),
  // commit "can: length: refactor frame lengths definition to add size in bits", ISO 11898-1:2015 field names).
  const linuxTable: Array<[string, CanFrame, 'none' | 'worst', number]> = [
    ['classic SFF, no stuffing', { id: 0x123, data: new Uint8Array(8) }, 'none', 111],
    ['classic EFF, no stuffing', { id: 0x123, extended: true, data: new Uint8Array(8) }, 'none', 131],
    ['classic SFF, worst stuffing', { id: 0x123, data: new Uint8Array(8) }, 'worst', 135],
    ['classic EFF, worst stuffing', { id: 0x123, extended: true, data: new Uint8Array(8) }, 'worst', 160],
    ['CAN FD SFF 64 bytes, no dynamic stuffing', { id: 0x123, fd: true, data: new Uint8Array(64) }, 'none', 579],
    ['CAN FD EFF 64 bytes, no dynamic stuffing', { id: 0x123, fd: true, extended: true, data: new Uint8Array(64) }, 'none', 598],
    ['CAN FD SFF 64 bytes, worst stuffing', { id: 0x123, fd: true, data: new Uint8Array(64) }, 'worst', 712],
    ['CAN FD EFF 64 bytes, worst stuffing', { id: 0x123, fd: true, extended: true, data: new Uint8Array(64) }, 'worst', 736],
  ];
  for (const [name, frame, stuffing, bits] of linuxTable) {
    it(`matches the Linux can_frame_bits() table: ${name} = ${bits}`, () => {
      assert.equal(canFrameBits(frame, { stuffing }), bits);
    });
  }

  it('uses CRC-17 up to 16 data bytes and CRC-21 above (ISO 11898-1:2015 §10.4.2.6)', () => {
    const bits = (n: number) => canFrameBits({ id: 1, fd: true, data: new Uint8Array(n) }, { stuffing: 'none' });
    // 22 header bits + 8n data + (4 stuff count + 17 CRC + 6 fixed stuff bits) + 13
    assert.equal(bits(16), 22 + 128 + 27 + 13);
    // 20 bytes: CRC-21 with 7 fixed stuff bits
    assert.equal(bits(20), 22 + 160 + 32 + 13);
  });

  it('lies between no stuffing and worst-case stuffing for any classic or FD frame', () => {
    const anyFrame = fc
      .record({
        id: fc.integer({ min: 0, max: 0x1fffffff }),
        extended: fc.boolean(),
        fd: fc.boolean(),
        dlc: fc.integer({ min: 0, max: 15 }),
        seed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      })
      .map(({ id, extended, fd, dlc, seed }): CanFrame => {
        const len = fd ? (DLC_TO_LENGTH[dlc] as number) : Math.min(dlc, 8);
        return { id: extended ? id : id & 0x7ff, extended, fd, data: seed.subarray(0, len) };
      });
    fc.assert(
      fc.property(anyFrame, fc.boolean(), (frame, brs) => {
        const none = canFrameBits(frame, { stuffing: 'none', brs });
        const exact = canFrameBits(frame, { brs });
        const worst = canFrameBits(frame, { stuffing: 'worst', brs });
        assert.ok(none <= exact && exact <= worst, `${none} ≤ ${exact} ≤ ${worst}`);
      }),
      { numRuns: 3_000 },
    );
  });

  it('counts as many stuff bits as stuffing the classic bit stream inserts (no run of six left)', () => {
    fc.assert(
      fc.property(classicFrame, (frame) => {
        const stuffed = stuffClassic(frame);
        for (let i = 5; i < stuffed.stuffed.length; i++) {
          const window = stuffed.stuffed.slice(i - 5, i + 1);
          assert.ok(window.some((b) => b !== window[0]), 'six equal bits after stuffing');
        }
        assert.deepEqual(destuff(stuffed.stuffed), stuffed.raw);
        const count = canFrameBitCount(frame);
        assert.equal(count.stuffBits, stuffed.stuffed.length - stuffed.raw.length);
        assert.equal(count.total, stuffed.stuffed.length + 13);
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects frames no controller can send', () => {
    const bad: Array<[CanFrame, string]> = [
      [{ id: 0x800, data: new Uint8Array(1) }, 'CAN_ID_RANGE'],
      [{ id: 0x2000_0000, extended: true, data: new Uint8Array(1) }, 'CAN_ID_RANGE'],
      [{ id: 1, data: new Uint8Array(9) }, 'CAN_DATA_LENGTH'],
      [{ id: 1, fd: true, data: new Uint8Array(9) }, 'CAN_DATA_LENGTH'],
    ];
    for (const [frame, code] of bad) {
      assert.throws(() => canFrameBits(frame), (e: unknown) => e instanceof OtaError && e.code === code);
    }
  });
});

describe('canFrameTimeMs', () => {
  it('puts 8-byte classic frames at 500 kbit/s in the ≈ 4,300 frames/s ballpark (ARCHITECTURE.md)', () => {
    // An ISO-TP CF of a UDS TransferData stream and a 0xCC-padded frame: 122 and 113 bits.
    const cf = { id: 0x7e0, data: Uint8Array.of(0x21, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07) };
    const padded = { id: 0x7e8, data: new Uint8Array(8).fill(0xcc) };
    const fps = (f: CanFrame) => 1000 / canFrameTimeMs(f);
    assert.equal(canFrameBits(cf), 122);
    assert.equal(canFrameBits(padded), 113);
    assert.ok(Math.abs(fps(cf) - 4_300) / 4_300 < 0.06, `CF: ${fps(cf)} frames/s`);
    assert.ok(Math.abs(fps(padded) - 4_300) / 4_300 < 0.06, `padded: ${fps(padded)} frames/s`);
    // Bounds for any 8-byte base frame: 111 bits (no stuffing) to 135 bits (worst case).
    assert.ok(1000 / canFrameTimeMs(padded, { stuffing: 'worst' }) > 3_700);
  });

  it('is bits / bit rate, with the data phase at the data bit rate for CAN FD with BRS', () => {
    const frame: CanFrame = { id: 0x7e0, fd: true, data: new Uint8Array(64).fill(0xcc) };
    const slow = canFrameTimeMs(frame, { bitRate: 500_000 });
    assert.equal(slow, (canFrameBits(frame) / 500_000) * 1000);
    const fast = canFrameTimeMs(frame, { bitRate: 500_000, dataBitRate: 2_000_000 });
    const { nominalBits, dataPhaseBits } = canFrameBitCount(frame, { brs: true });
    assert.equal(fast, (nominalBits / 500_000 + dataPhaseBits / 2_000_000) * 1000);
    assert.ok(fast < slow / 2);
  });
});
