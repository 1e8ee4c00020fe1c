import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import { parseHex } from '../../../src/protocol/hex.js';
import { describeIsoTp } from '../../../src/protocol/isotp/describe.js';
import { ascii } from './helpers.js';

const vinResponse = Uint8Array.of(0x62, 0xf1, 0x90, ...ascii('W0L000051T2123456'));

describe('describeIsoTp', () => {
  it('names the fields of a single frame', () => {
    assert.deepEqual(describeIsoTp(parseHex('03 22 F1 90 CC CC CC CC')), {
      type: 'SF',
      name: 'single frame',
      canDl: 8,
      escape: false,
      sfDl: 3,
      data: Uint8Array.of(0x22, 0xf1, 0x90),
    });
  });

  it('names the fields of a first frame, with and without the FF_DL escape', () => {
    assert.deepEqual(describeIsoTp(parseHex('10 14 62 F1 90 57 30 4C')), {
      type: 'FF',
      name: 'first frame',
      canDl: 8,
      escape: false,
      ffDl: 20,
      dataLength: 6,
      data: parseHex('62 F1 90 57 30 4C'),
    });
    assert.equal((describeIsoTp(parseHex('10 00 00 00 13 88 00 01')) as { ffDl: number }).ffDl, 5000);
  });

  it('names a flow control frame, STmin in ms or µs, and a reserved STmin', () => {
    assert.deepEqual(describeIsoTp(parseHex('30 00 00')), {
      type: 'FC',
      name: 'flow control',
      canDl: 3,
      flowStatus: 0,
      flowStatusName: 'ContinueToSend',
      blockSize: 0,
      blockSizeMeaning: 'no further flow control',
      stMin: { raw: '0x00', ms: 0 },
    });
    const wait = describeIsoTp(parseHex('31 08 F3')) as Record<string, unknown>;
    assert.equal(wait.flowStatusName, 'Wait');
    assert.deepEqual(wait.stMin, { raw: '0xF3', us: 300 });
    assert.deepEqual((describeIsoTp(parseHex('32 00 90')) as Record<string, unknown>).stMin, {
      raw: '0x90',
      reserved: true,
      treatedAsMs: 127,
    });
  });

  it('names a consecutive frame', () => {
    assert.deepEqual(describeIsoTp(parseHex('21 30 30 30 30 35 31 54')), {
      type: 'CF',
      name: 'consecutive frame',
      canDl: 8,
      sn: 1,
      data: ascii('000051T'),
    });
  });

  it('reassembles a trace of FF, FC and CFs into the message', () => {
    const trace = ['10 14 62 F1 90 57 30 4C', '30 00 00 CC CC CC CC CC', '21 30 30 30 30 35 31 54', '22 32 31 32 33 34 35 36'];
    const result = describeIsoTp(trace.map((t) => parseHex(t))) as Record<string, unknown>;
    assert.equal((result.frames as unknown[]).length, 4);
    assert.deepEqual(result.message, { complete: true, length: 20, data: vinResponse });
    assert.equal(result.incomplete, undefined);
    assert.equal(result.problems, undefined);
  });

  it('says how far an incomplete or broken trace got', () => {
    const partial = describeIsoTp([parseHex('10 14 62 F1 90 57 30 4C'), parseHex('21 30 30 30 30 35 31 54')]);
    assert.deepEqual((partial as Record<string, unknown>).incomplete, { length: 20, received: 13, nextSn: 2 });
    const broken = describeIsoTp([parseHex('10 14 62 F1 90 57 30 4C'), parseHex('22 30 30 30 30 35 31 54')]);
    assert.deepEqual(
      ((broken as Record<string, unknown>).problems as Array<{ code: string }>).map((p) => p.code),
      ['ISOTP_WRONG_SN'],
    );
    // A FF announcing 4 GiB is refused rather than allocated.
    const huge = describeIsoTp([parseHex('10 00 FF FF FF FF 00 01')]);
    assert.deepEqual(
      ((huge as Record<string, unknown>).problems as Array<{ code: string }>).map((p) => p.code),
      ['ISOTP_OVERFLOW'],
    );
  });

  it('throws the decoder error for a malformed frame', () => {
    assert.throws(() => describeIsoTp(parseHex('08 00')), { code: 'ISOTP_SF_DL' });
    assert.throws(() => describeIsoTp([parseHex('03 22 F1 90'), parseHex('F0')]), { code: 'ISOTP_PCI_TYPE' });
  });

  it('gives only OtaError for random frames and traces (10,000 cases each)', () => {
    const frame = fc.uint8Array({ minLength: 0, maxLength: 12 });
    const check = (input: Uint8Array | Uint8Array[]) => {
      try {
        describeIsoTp(input);
      } catch (e) {
        assert.ok(e instanceof OtaError, String(e));
      }
    };
    fc.assert(fc.property(frame, check), { numRuns: 10_000 });
    fc.assert(fc.property(fc.array(frame, { maxLength: 6 }), check), { numRuns: 10_000 });
  });
});
