import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import {
  decodeFrame,
  encodeFrame,
  isValidStMin,
  msToStMin,
  stMinToMs,
  type IsoTpCodecOptions,
  type IsoTpFrame,
} from '../../../src/protocol/isotp/frame.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const range = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const hasCode = (code: string) => (e: unknown) => e instanceof OtaError && e.code === code;

interface Vector {
  name: string;
  /** CAN frame data as on the wire. */
  hex: string;
  frame: IsoTpFrame;
  options?: IsoTpCodecOptions;
  /** The decoded frame differs from `frame` (padding, not interpreted, appears in CF data). */
  decoded?: IsoTpFrame;
}

// Layouts per ISO 15765-2:2016 §9.6 (normal addressing). Vectors marked [pcis] are the decoder test
// vectors of python-can-isotp (github.com/pylessard/python-can-isotp, test/test_protocol.py).
const vectors: Vector[] = [
  {
    name: 'SF, UDS ReadDataByIdentifier VIN request, padded with 0xCC',
    // 03 = N_PCI SF (0x0_) with SF_DL 3 | 22 F1 90 = service 0x22, DID 0xF190 | CC… padding to 8
    hex: '03 22 F1 90 CC CC CC CC',
    frame: { type: 'SF', data: bytes(0x22, 0xf1, 0x90) },
  },
  {
    name: 'SF, unpadded (CAN frame data optimisation) [pcis]',
    // 05 = SF, SF_DL 5 | five data bytes; DLC 6
    hex: '05 11 22 33 44 55',
    frame: { type: 'SF', data: bytes(0x11, 0x22, 0x33, 0x44, 0x55) },
    options: { padding: null },
  },
  {
    name: 'SF, 7 bytes fills a classic frame [pcis]',
    hex: '07 11 22 33 44 55 66 77',
    frame: { type: 'SF', data: bytes(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77) },
  },
  {
    name: 'SF, CAN FD escape: 00 + SF_DL in byte 2, padded to DLC 12 with 0xCC',
    // 00 = SF with SF_DL nibble 0 (escape) | 0A = SF_DL 10 | 10 data bytes → 12 bytes exactly
    hex: '00 0A 00 01 02 03 04 05 06 07 08 09',
    frame: { type: 'SF', data: range(10) },
    options: { txDl: 64 },
  },
  {
    name: 'SF, CAN FD escape: 8 bytes → CAN_DL 10 rounded up to 12 with the pad byte 0xAA',
    hex: '00 08 00 01 02 03 04 05 06 07 AA AA',
    frame: { type: 'SF', data: range(8) },
    options: { txDl: 16, padding: 0xaa },
  },
  {
    name: 'SF, CAN FD with SF_DL ≤ 7 keeps the classic layout',
    hex: '02 10 03 CC CC CC CC CC',
    frame: { type: 'SF', data: bytes(0x10, 0x03) },
    options: { txDl: 64 },
  },
  {
    name: 'FF, 20-byte VIN response: FF_DL = 0x014',
    // 1 = N_PCI FF | 0 14 = FF_DL 20 (12 bits) | 62 F1 90 57 30 4C = first 6 payload bytes ("b\xF1\x90W0L")
    hex: '10 14 62 F1 90 57 30 4C',
    frame: { type: 'FF', length: 20, data: bytes(0x62, 0xf1, 0x90, 0x57, 0x30, 0x4c) },
  },
  {
    name: 'FF, FF_DL 0xABC in the 12-bit field [pcis]',
    hex: '1A BC 11 22 33 44 55 66',
    frame: { type: 'FF', length: 0xabc, data: bytes(0x11, 0x22, 0x33, 0x44, 0x55, 0x66) },
  },
  {
    name: 'FF, FF_DL 4095 is the largest without the escape',
    hex: '1F FF 00 01 02 03 04 05',
    frame: { type: 'FF', length: 4095, data: range(6) },
  },
  {
    name: 'FF, escape for FF_DL > 4095: 10 00 then 32-bit FF_DL 4096',
    // 10 00 = FF with FF_DL 0 (escape) | 00 00 10 00 = FF_DL 4096 | 2 data bytes
    hex: '10 00 00 00 10 00 AB CD',
    frame: { type: 'FF', length: 4096, data: bytes(0xab, 0xcd) },
  },
  {
    name: 'FF, CAN FD TX_DL 64, escape with FF_DL 100 000 (58 data bytes)',
    hex: '10 00 00 01 86 A0 ' + toHex(range(58)),
    frame: { type: 'FF', length: 100_000, data: range(58) },
    options: { txDl: 64 },
  },
  {
    name: 'FF, CAN FD TX_DL 12, FF_DL 11 = FF_DLmin (TX_DL − 1)',
    hex: '10 0B 00 01 02 03 04 05 06 07 08 09',
    frame: { type: 'FF', length: 11, data: range(10) },
    options: { txDl: 12 },
  },
  {
    name: 'CF, SN 1 — the first CF after a FF',
    // 2 = N_PCI CF | 1 = SN | 7 data bytes "000051T"
    hex: '21 30 30 30 30 35 31 54',
    frame: { type: 'CF', sn: 1, data: bytes(0x30, 0x30, 0x30, 0x30, 0x35, 0x31, 0x54) },
  },
  {
    name: 'CF, SN 0xA [pcis]',
    hex: '2A 11 22 33 44 55 66 77',
    frame: { type: 'CF', sn: 0xa, data: bytes(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77) },
  },
  {
    name: 'CF, last one padded: the decoded data keeps the padding (only the receiver knows the length)',
    hex: '2F 01 02 CC CC CC CC CC',
    frame: { type: 'CF', sn: 0xf, data: bytes(1, 2) },
    decoded: { type: 'CF', sn: 0xf, data: bytes(1, 2, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc) },
  },
  {
    name: 'CF, CAN FD last CF of 20 bytes → CAN_DL 24 (padding mandatory above 8 even with padding: null)',
    hex: '20 ' + toHex(range(20)) + ' CC CC CC',
    frame: { type: 'CF', sn: 0, data: range(20) },
    options: { txDl: 64, padding: null },
    decoded: { type: 'CF', sn: 0, data: Uint8Array.of(...range(20), 0xcc, 0xcc, 0xcc) },
  },
  {
    name: 'FC CTS, BS 0, STmin 0 [pcis]',
    // 3 = N_PCI FC | 0 = FS ContinueToSend | 00 = BS | 00 = STmin
    hex: '30 00 00',
    frame: { type: 'FC', status: 'CTS', blockSize: 0, stMin: 0 },
    options: { padding: null },
  },
  {
    name: 'FC WAIT [pcis]',
    hex: '31 00 00 CC CC CC CC CC',
    frame: { type: 'FC', status: 'WAIT', blockSize: 0, stMin: 0 },
  },
  {
    name: 'FC OVFLW [pcis]',
    hex: '32 00 00 CC CC CC CC CC',
    frame: { type: 'FC', status: 'OVFLW', blockSize: 0, stMin: 0 },
  },
  {
    name: 'FC CTS, BS 255 [pcis]',
    hex: '30 FF 00',
    frame: { type: 'FC', status: 'CTS', blockSize: 255, stMin: 0 },
    options: { padding: null },
  },
  {
    name: 'FC CTS, BS 8, STmin 0x7F = 127 ms',
    hex: '30 08 7F 55 55 55 55 55',
    frame: { type: 'FC', status: 'CTS', blockSize: 8, stMin: 0x7f },
    options: { padding: 0x55 },
  },
  {
    name: 'FC CTS, STmin 0xF1 = 100 µs',
    hex: '30 00 F1',
    frame: { type: 'FC', status: 'CTS', blockSize: 0, stMin: 0xf1 },
    options: { padding: null },
  },
  {
    name: 'FC CTS, STmin 0xF9 = 900 µs',
    hex: '30 02 F9',
    frame: { type: 'FC', status: 'CTS', blockSize: 2, stMin: 0xf9 },
    options: { padding: null },
  },
];

describe('encodeFrame / decodeFrame', () => {
  for (const v of vectors) {
    it(`${v.name}: encodes to ${v.hex.slice(0, 23)}${v.hex.length > 23 ? '…' : ''} and decodes back`, () => {
      const wire = parseHex(v.hex);
      assert.equal(toHex(encodeFrame(v.frame, v.options)), toHex(wire));
      assert.deepEqual(decodeFrame(wire), v.decoded ?? v.frame);
    });
  }

  it('decodes a SF that is longer than SF_DL, ignoring the padding [pcis]', () => {
    assert.deepEqual(decodeFrame(parseHex('02 11 22 33 44')), { type: 'SF', data: bytes(0x11, 0x22) });
  });

  it('decodes a FC with a reserved STmin, which the sender then treats as 127 ms (§9.6.5.4)', () => {
    const fcFrame = decodeFrame(parseHex('30 00 80'));
    assert.deepEqual(fcFrame, { type: 'FC', status: 'CTS', blockSize: 0, stMin: 0x80 });
    assert.equal(stMinToMs(0x80), 127);
  });
});

describe('decodeFrame › malformed', () => {
  const malformed: Array<[string, string, string]> = [
    ['empty frame', '', 'ISOTP_FRAME_LENGTH'],
    ['9 bytes is no CAN FD data length', '01 00 00 00 00 00 00 00 00', 'ISOTP_FRAME_LENGTH'],
    ['65 bytes', '00 '.repeat(65), 'ISOTP_FRAME_LENGTH'],
    ['SF_DL 0 on a classic frame (§9.6.2.2) [pcis]', '00 11 22', 'ISOTP_SF_DL'],
    ['SF_DL 8 on a classic frame [pcis]', '08 11 22 33 44 55 66 77', 'ISOTP_SF_DL'],
    ['SF_DL larger than the frame [pcis]', '02 11', 'ISOTP_SF_DL'],
    ['SF alone, no data [pcis]', '01', 'ISOTP_SF_DL'],
    ['SF without the escape on CAN_DL 12', '07 ' + '00 '.repeat(11), 'ISOTP_SF_DL'],
    ['escape SF with SF_DL 0', '00 00 ' + '00 '.repeat(10), 'ISOTP_SF_DL'],
    ['escape SF with SF_DL > CAN_DL − 2', '00 0B ' + '00 '.repeat(10), 'ISOTP_SF_DL'],
    ['FF shorter than 8 bytes [pcis]', '10 0A 11 22 33 44 55', 'ISOTP_FRAME_LENGTH'],
    ['FF with FF_DL 7 < FF_DLmin 8 (§9.6.3.2)', '10 07 11 22 33 44 55 66', 'ISOTP_FF_DL'],
    ['FF on CAN_DL 12 with FF_DL 10 < FF_DLmin 11', '10 0A ' + '00 '.repeat(10), 'ISOTP_FF_DL'],
    ['escaped FF_DL 4095 (escape only above 4095, §9.6.3.1)', '10 00 00 00 0F FF 00 00', 'ISOTP_FF_DL'],
    ['escaped FF_DL 0', '10 00 00 00 00 00 00 00', 'ISOTP_FF_DL'],
    ['CF without data', '21', 'ISOTP_FRAME_LENGTH'],
    ['FC of 1 byte [pcis]', '30', 'ISOTP_FRAME_LENGTH'],
    ['FC of 2 bytes [pcis]', '30 00', 'ISOTP_FRAME_LENGTH'],
    ['FC with reserved flow status 3 (§9.6.5.2) [pcis]', '33 00 00', 'ISOTP_FC_STATUS'],
    ['FC with reserved flow status 0xF [pcis]', '3F 00 00', 'ISOTP_FC_STATUS'],
    ['reserved N_PCI type 4', '40 00 00 00 00 00 00 00', 'ISOTP_PCI_TYPE'],
    ['reserved N_PCI type F', 'F0', 'ISOTP_PCI_TYPE'],
  ];
  for (const [name, hex, code] of malformed) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(() => decodeFrame(parseHex(hex)), hasCode(code));
    });
  }
});

describe('encodeFrame › values it cannot represent', () => {
  const bad: Array<[string, IsoTpFrame, IsoTpCodecOptions, string]> = [
    ['an empty SF', { type: 'SF', data: bytes() }, {}, 'ISOTP_VALUE_RANGE'],
    ['an 8-byte SF on classic CAN', { type: 'SF', data: range(8) }, {}, 'ISOTP_TOO_LARGE'],
    ['a 63-byte SF with TX_DL 64', { type: 'SF', data: range(63) }, { txDl: 64 }, 'ISOTP_TOO_LARGE'],
    ['a FF below FF_DLmin', { type: 'FF', length: 7, data: range(6) }, {}, 'ISOTP_FF_DL'],
    ['a FF with the wrong data length', { type: 'FF', length: 100, data: range(5) }, {}, 'ISOTP_FRAME_LENGTH'],
    ['a FF over 2^32 − 1', { type: 'FF', length: 2 ** 32, data: range(2) }, {}, 'ISOTP_TOO_LARGE'],
    ['a CF with SN 16', { type: 'CF', sn: 16, data: range(7) }, {}, 'ISOTP_VALUE_RANGE'],
    ['a CF with 8 data bytes on classic CAN', { type: 'CF', sn: 1, data: range(8) }, {}, 'ISOTP_FRAME_LENGTH'],
    ['a CF without data', { type: 'CF', sn: 1, data: bytes() }, {}, 'ISOTP_FRAME_LENGTH'],
    ['a FC with BS 256', { type: 'FC', status: 'CTS', blockSize: 256, stMin: 0 }, {}, 'ISOTP_VALUE_RANGE'],
    ['a FC with reserved STmin 0x80', { type: 'FC', status: 'CTS', blockSize: 0, stMin: 0x80 }, {}, 'ISOTP_VALUE_RANGE'],
    ['TX_DL 10', { type: 'SF', data: range(1) }, { txDl: 10 }, 'ISOTP_VALUE_RANGE'],
    ['TX_DL 7', { type: 'SF', data: range(1) }, { txDl: 7 }, 'ISOTP_VALUE_RANGE'],
    ['pad byte 256', { type: 'SF', data: range(1) }, { padding: 256 }, 'ISOTP_VALUE_RANGE'],
  ];
  for (const [name, frame, options, code] of bad) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(() => encodeFrame(frame, options), hasCode(code));
    });
  }
});

describe('STmin (ISO 15765-2:2016 §9.6.5.4)', () => {
  it('maps 0x00–0x7F to ms, 0xF1–0xF9 to 100–900 µs, reserved values to 127 ms', () => {
    for (let raw = 0; raw <= 0x7f; raw++) assert.equal(stMinToMs(raw), raw);
    for (let raw = 0xf1; raw <= 0xf9; raw++) assert.equal(stMinToMs(raw), (raw - 0xf0) / 10);
    for (const raw of [0x80, 0xa5, 0xf0, 0xfa, 0xff]) {
      assert.equal(isValidStMin(raw), false);
      assert.equal(stMinToMs(raw), 127);
    }
  });

  it('encodes a requested separation as the smallest STmin at least that long', () => {
    assert.equal(msToStMin(0), 0x00);
    assert.equal(msToStMin(0.1), 0xf1);
    assert.equal(msToStMin(0.3), 0xf3);
    assert.equal(msToStMin(0.25), 0xf3);
    assert.equal(msToStMin(0.9), 0xf9);
    assert.equal(msToStMin(0.95), 0x01);
    assert.equal(msToStMin(10), 0x0a);
    assert.equal(msToStMin(127), 0x7f);
    assert.throws(() => msToStMin(128), hasCode('ISOTP_VALUE_RANGE'));
    assert.throws(() => msToStMin(-1), hasCode('ISOTP_VALUE_RANGE'));
  });
});

// ── property tests ───────────────────────────────────────────────────────────────────────────────

const txDlArb = fc.constantFrom(8, 12, 16, 20, 24, 32, 48, 64);
const stMinArb = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0xf1, max: 0xf9 }));

/** A frame valid for `txDl`, with data that fills its frame whenever decoding could not tell padding apart. */
const frameFor = (txDl: number): fc.Arbitrary<IsoTpFrame> => {
  const sfMax = txDl <= 8 ? txDl - 1 : txDl - 2;
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: sfMax }).map((data): IsoTpFrame => ({ type: 'SF', data })),
    fc
      .integer({ min: txDl <= 8 ? 8 : txDl - 1, max: 0xffffffff })
      .chain((length) =>
        fc
          .uint8Array({ minLength: length > 0xfff ? txDl - 6 : txDl - 2, maxLength: length > 0xfff ? txDl - 6 : txDl - 2 })
          .map((data): IsoTpFrame => ({ type: 'FF', length, data })),
      ),
    fc
      .record({ sn: fc.integer({ min: 0, max: 15 }), data: fc.uint8Array({ minLength: txDl - 1, maxLength: txDl - 1 }) })
      .map(({ sn, data }): IsoTpFrame => ({ type: 'CF', sn, data })),
    fc
      .record({
        status: fc.constantFrom('CTS' as const, 'WAIT' as const, 'OVFLW' as const),
        blockSize: fc.integer({ min: 0, max: 255 }),
        stMin: stMinArb,
      })
      .map((f): IsoTpFrame => ({ type: 'FC', ...f })),
  );
};

describe('encodeFrame / decodeFrame › properties', () => {
  it('decode(encode(frame)) equals the frame for every valid frame, TX_DL and pad byte (10,000 cases)', () => {
    const arb = fc
      .tuple(txDlArb, fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }))
      .chain(([txDl, padding]) => fc.tuple(frameFor(txDl), fc.constant({ txDl, padding })));
    fc.assert(
      fc.property(arb, ([frame, options]) => {
        assert.deepEqual(decodeFrame(encodeFrame(frame, options)), frame);
      }),
      { numRuns: 10_000 },
    );
  });

  it('decodes short CFs without padding to exactly their data (10,000 cases)', () => {
    const arb = txDlArb.chain((txDl) =>
      fc.record({
        txDl: fc.constant(txDl),
        sn: fc.integer({ min: 0, max: 15 }),
        data: fc.uint8Array({ minLength: 1, maxLength: Math.min(txDl - 1, 7) }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ txDl, sn, data }) => {
        const frame: IsoTpFrame = { type: 'CF', sn, data };
        assert.deepEqual(decodeFrame(encodeFrame(frame, { txDl, padding: null })), frame);
      }),
      { numRuns: 10_000 },
    );
  });

  it('gives only OtaError (or a frame) for random bytes (10,000 cases)', () => {
    const anyLength = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 9 }),
      fc.constantFrom(12, 16, 20, 24, 32, 48, 64, 13).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    );
    fc.assert(
      fc.property(anyLength, (data) => {
        try {
          const frame = decodeFrame(data);
          assert.ok(['SF', 'FF', 'CF', 'FC'].includes(frame.type));
        } catch (e) {
          assert.ok(e instanceof OtaError, `not an OtaError: ${String(e)}`);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
