import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import { describeUds } from '../../../src/protocol/uds/index.js';
import { requestishBytes, responseishBytes } from './arbitraries.js';
import { assertDecodeError, h } from './helpers.js';

describe('describeUds', () => {
  it('describes 59 02 FF 01 00 00 2F as the issue requires', () => {
    assert.deepEqual(describeUds(h('59 02 FF 01 00 00 2F')), {
      service: 'ReadDTCInformation',
      direction: 'positive response',
      sid: '0x59',
      subFunction: 'reportDTCByStatusMask',
      subFunctionValue: '0x02',
      statusAvailabilityMask: '0xFF',
      dtcs: [
        {
          dtc: 'P0100-00',
          code: '0x010000',
          status: '0x2F',
          statusBits: ['testFailed', 'testFailedThisOperationCycle', 'pendingDTC', 'confirmedDTC', 'testFailedSinceLastClear'],
        },
      ],
    });
  });

  it('describes 7F 36 73 as a negative response to TransferData, wrongBlockSequenceCounter', () => {
    assert.deepEqual(describeUds(h('7F 36 73')), {
      service: 'TransferData',
      direction: 'negative response',
      sid: '0x7F',
      requestSid: '0x36',
      nrc: '0x73',
      nrcName: 'wrongBlockSequenceCounter',
    });
  });

  it('describes a request with its sub-function and SPR bit', () => {
    assert.deepEqual(describeUds(h('3E 80')), {
      service: 'TesterPresent',
      direction: 'request',
      sid: '0x3E',
      subFunction: 'zeroSubFunction',
      subFunctionValue: '0x00',
      suppressPositiveResponse: true,
    });
  });

  it('describes the session response timing in ms', () => {
    const d = describeUds(h('50 03 00 32 01 F4')) as Record<string, unknown>;
    assert.equal(d.subFunction, 'extendedDiagnosticSession');
    assert.equal(d.p2ServerMaxMs, 50);
    assert.equal(d.p2StarServerMaxMs, 5000);
  });

  it('names DIDs and shows ASCII data', () => {
    const d = describeUds(h('62 F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36')) as { records: Array<Record<string, unknown>> };
    assert.deepEqual(d.records[0], {
      did: '0xF190',
      name: 'VIN',
      data: { hex: '57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36', length: 17, ascii: 'W0L000043MB541326' },
    });
  });

  it('describes RequestDownload with ALFID, address and size', () => {
    assert.deepEqual(describeUds(h('34 00 44 08 00 20 00 00 00 DC 00')), {
      service: 'RequestDownload',
      direction: 'request',
      sid: '0x34',
      dataFormatIdentifier: '0x00',
      compressionMethod: 0,
      encryptingMethod: 0,
      addressAndLengthFormatIdentifier: '0x44',
      memoryAddress: '0x08002000',
      memorySize: 0xdc00,
    });
  });

  it('decodes the eraseMemory option record as a range', () => {
    const d = describeUds(h('31 01 FF 00 44 08 00 20 00 00 00 DC 00')) as Record<string, unknown>;
    assert.equal(d.routineName, 'eraseMemory');
    assert.equal(d.subFunction, 'startRoutine');
    assert.deepEqual(d.eraseRange, { addressAndLengthFormatIdentifier: '0x44', memoryAddress: '0x08002000', memorySize: 0xdc00 });
  });

  it('names the SecurityAccess step and level', () => {
    const d = describeUds(h('67 11 01 02 03 04')) as Record<string, unknown>;
    assert.equal(d.subFunction, 'requestSeed');
    assert.equal(d.securityLevel, 9);
    assert.deepEqual(d.securitySeed, { hex: '01 02 03 04', length: 4 });
  });

  it('produces JSON that survives a round trip through JSON.stringify', () => {
    for (const hex of ['59 04 12 34 56 24 02 01 47 11 A6 66 07 50 20', '28 05 03 00 0A', '74 20 04 02', '14 FF FF FF', '59 01 FB 01 12 34']) {
      const d = describeUds(h(hex));
      assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    }
  });

  it('refuses malformed bytes with the decoder error', () => {
    assertDecodeError(() => describeUds(new Uint8Array(0)), 'UDS_EMPTY');
    assertDecodeError(() => describeUds(h('7F 36')), 'UDS_LENGTH');
    assertDecodeError(() => describeUds(h('22 F1')), 'UDS_LENGTH', 0x13);
    assertDecodeError(() => describeUds(h('6F 01')), 'UDS_UNKNOWN_SERVICE');
  });

  it('random bytes give only OtaErrors or JSON-able descriptions', () => {
    fc.assert(
      fc.property(fc.oneof(requestishBytes, responseishBytes), (bytes) => {
        try {
          const d = describeUds(bytes);
          assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
        } catch (e) {
          assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
