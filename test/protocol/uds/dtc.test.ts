import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DTC_STATUS, dtcStatusBits, dtcStatusFromBits, formatDtc, parseDtc } from '../../../src/protocol/uds/index.js';
import { assertDecodeError } from './helpers.js';

describe('formatDtc / parseDtc', () => {
  // SAE J2012 / ISO 15031-6: byte 0 bits 7-6 = letter, bits 5-4 = first digit, then 3 hex digits; byte 2 = failure type.
  const vectors: Array<[number, string]> = [
    [0x010000, 'P0100-00'], // 00 00 0001 | 00000000 → P 0 1 00
    [0x000100, 'P0001-00'], // the virtual ECU's default set (ARCHITECTURE.md §3)
    [0x403500, 'C0035-00'], // 01 → C
    [0x802400, 'B0024-00'], // 10 → B
    [0xc10000, 'U0100-00'], // 11 → U
    [0x123456, 'P1234-56'], // first digit 1 (bits 5-4 = 01), failure type 0x56
    [0xffffff, 'U3FFF-FF'], // every bit set
    [0x000000, 'P0000-00'],
  ];
  for (const [dtc, text] of vectors) {
    it(`formats 0x${dtc.toString(16).padStart(6, '0')} as ${text}`, () => assert.equal(formatDtc(dtc), text));
    it(`parses ${text}`, () => assert.equal(parseDtc(text), dtc));
  }

  it('parses text without failure type, and lower case', () => {
    assert.equal(parseDtc('P0100'), 0x010000);
    assert.equal(parseDtc('u0100-87'), 0xc10087);
  });

  for (const bad of ['', 'X0100-00', 'P4100-00', 'P010-00', 'P0100-0', 'P0100-000', 'P01G0-00', 'P0100 00']) {
    it(`rejects '${bad}' with UDS_DTC_TEXT`, () => assertDecodeError(() => parseDtc(bad), 'UDS_DTC_TEXT'));
  }

  it('rejects a DTC above 24 bits with UDS_RANGE', () => assertDecodeError(() => formatDtc(0x1000000), 'UDS_RANGE'));

  it('parseDtc(formatDtc(x)) is x for every 24-bit DTC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), (dtc) => {
        assert.equal(parseDtc(formatDtc(dtc)), dtc);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('DTC status bits', () => {
  it('names 0x2F as the issue example says', () => {
    assert.deepEqual(dtcStatusBits(0x2f), ['testFailed', 'testFailedThisOperationCycle', 'pendingDTC', 'confirmedDTC', 'testFailedSinceLastClear']);
  });

  it('maps each bit to its ISO 14229-1 Annex D.2 position', () => {
    assert.deepEqual(DTC_STATUS, {
      testFailed: 0x01,
      testFailedThisOperationCycle: 0x02,
      pendingDTC: 0x04,
      confirmedDTC: 0x08,
      testNotCompletedSinceLastClear: 0x10,
      testFailedSinceLastClear: 0x20,
      testNotCompletedThisOperationCycle: 0x40,
      warningIndicatorRequested: 0x80,
    });
    assert.deepEqual(dtcStatusBits(0x00), []);
    assert.equal(dtcStatusBits(0xff).length, 8);
  });

  it('dtcStatusFromBits(dtcStatusBits(s)) is s for every status byte', () => {
    for (let s = 0; s <= 0xff; s++) assert.equal(dtcStatusFromBits(dtcStatusBits(s)), s);
  });
});
