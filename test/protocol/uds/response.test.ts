import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import {
  decodeResponse,
  encodeResponse,
  isNegativeResponse,
  type DecodeResponseOptions,
  type UdsResponse,
} from '../../../src/protocol/uds/index.js';
import { responseArbitraries, responseishBytes, type ResponseCase } from './arbitraries.js';
import { ascii, assertDecodeError, h } from './helpers.js';

interface Vector {
  name: string;
  bytes: Uint8Array;
  value: UdsResponse;
  options?: DecodeResponseOptions;
  source?: string;
}

const empty = new Uint8Array(0);
const sha256OfImage = h('9F 86 D0 81 88 4C 7D 65 9A 2F EA A0 C5 5A D0 15 A3 BF 4F 1B 2B 0B 82 2C D1 5D 6C 15 B0 F0 0A 08');

/** Annotated response vectors, at least one per service plus negative responses. */
const vectors: Vector[] = [
  {
    name: 'DiagnosticSessionControl extendedDiagnosticSession with P2 50 ms, P2* 5000 ms',
    bytes: h('50' /* SID 0x10 + 0x40 */, '03' /* sessionType echo */, '00 32' /* P2server_max 50 ms */, '01 F4' /* P2*server_max 500 × 10 ms */),
    value: { kind: 'positive', service: 'DiagnosticSessionControl', sessionType: 0x03, p2ServerMaxMs: 50, p2StarServerMaxMs: 5000 },
    source: 'ISO 14229-2 default session timing (P2 50 ms, P2* 5000 ms), the customary example',
  },
  {
    name: 'ECUReset hardReset',
    bytes: h('51' /* SID */, '01' /* resetType hardReset */),
    value: { kind: 'positive', service: 'ECUReset', resetType: 0x01 },
  },
  {
    name: 'ECUReset enableRapidPowerShutDown with powerDownTime',
    bytes: h('51' /* SID */, '04' /* enableRapidPowerShutDown */, 'FF' /* powerDownTime: not available */),
    value: { kind: 'positive', service: 'ECUReset', resetType: 0x04, powerDownTime: 0xff },
  },
  {
    name: 'ClearDiagnosticInformation',
    bytes: h('54' /* SID 0x14 + 0x40, no parameters */),
    value: { kind: 'positive', service: 'ClearDiagnosticInformation' },
  },
  {
    name: 'ReadDTCInformation reportNumberOfDTCByStatusMask',
    bytes: h('59' /* SID */, '01' /* reportType */, 'FB' /* DTCStatusAvailabilityMask */, '01' /* DTCFormat ISO14229-1 */, '12 34' /* DTCCount */),
    value: { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x01, statusAvailabilityMask: 0xfb, dtcFormatIdentifier: 0x01, dtcCount: 0x1234 },
    source: 'python-udsoncan test/client/test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation reportDTCByStatusMask, two DTCs',
    bytes: h('59' /* SID */, '02' /* reportType */, 'FB' /* availability mask */, '12 34 56' /* DTC */, '20' /* status */, '12 34 57' /* DTC */, '60' /* status */),
    value: {
      kind: 'positive',
      service: 'ReadDTCInformation',
      reportType: 0x02,
      statusAvailabilityMask: 0xfb,
      dtcs: [
        { dtc: 0x123456, status: 0x20 },
        { dtc: 0x123457, status: 0x60 },
      ],
    },
    source: 'python-udsoncan test/client/test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation reportDTCByStatusMask, P0100-00 confirmed',
    bytes: h('59' /* SID */, '02' /* reportType */, 'FF' /* availability mask */, '01 00 00' /* DTC P0100-00 */, '2F' /* status */),
    value: { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x02, statusAvailabilityMask: 0xff, dtcs: [{ dtc: 0x010000, status: 0x2f }] },
    source: 'the issue (describeUds example)',
  },
  {
    name: 'ReadDTCInformation reportDTCByStatusMask, no DTC',
    bytes: h('59' /* SID */, '02' /* reportType */, 'FB' /* availability mask, then no records */),
    value: { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x02, statusAvailabilityMask: 0xfb, dtcs: [] },
  },
  {
    name: 'ReadDTCInformation snapshot record, one DID (length from the message)',
    bytes: h('59' /* SID */, '04' /* reportType */, '12 34 56' /* DTC */, '24' /* status */, '02' /* record number */, '01' /* 1 identifier */, '47 11' /* DID */, 'A6 66 07 50 20' /* ECT, TP, RPM, MAP */),
    value: {
      kind: 'positive',
      service: 'ReadDTCInformation',
      reportType: 0x04,
      dtc: 0x123456,
      status: 0x24,
      snapshots: [{ recordNumber: 0x02, identifiers: [{ did: 0x4711, data: h('A6 66 07 50 20') }] }],
    },
    source: 'ISO 14229-1 §11.3.5 example, as in python-udsoncan test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation snapshot record, two DIDs split by didLengths',
    bytes: h('59' /* SID */, '04' /* reportType */, '12 34 56' /* DTC */, '24' /* status */, '02' /* record */, '02' /* 2 identifiers */, '47 11' /* DID */, 'A6 66 07 50 20' /* 5 bytes */, '67 89' /* DID */, '99 88 77' /* rest */),
    options: { didLengths: new Map([[0x4711, 5]]) },
    value: {
      kind: 'positive',
      service: 'ReadDTCInformation',
      reportType: 0x04,
      dtc: 0x123456,
      status: 0x24,
      snapshots: [
        {
          recordNumber: 0x02,
          identifiers: [
            { did: 0x4711, data: h('A6 66 07 50 20') },
            { did: 0x6789, data: h('99 88 77') },
          ],
        },
      ],
    },
    source: 'record layout from python-udsoncan test_read_dtc_information.py (test_single_snapshot_2_did)',
  },
  {
    name: 'ReadDTCInformation extended data records split by extDataRecordLengths',
    bytes: h('59' /* SID */, '06' /* reportType */, '01 00 00' /* DTC P0100-00 */, '2F' /* status */, '01' /* record 1 */, '05' /* occurrence counter */, '02' /* record 2 */, '00 03' /* aging counter */),
    options: { extDataRecordLengths: new Map([[0x01, 1]]) },
    value: {
      kind: 'positive',
      service: 'ReadDTCInformation',
      reportType: 0x06,
      dtc: 0x010000,
      status: 0x2f,
      extendedData: [
        { recordNumber: 0x01, data: h('05') },
        { recordNumber: 0x02, data: h('00 03') },
      ],
    },
  },
  {
    name: 'ReadDTCInformation reportSupportedDTC',
    bytes: h('59' /* SID */, '0A' /* reportType */, 'FF' /* availability mask */, '01 00 00' /* P0100-00 */, '2F' /* status */, 'C1 00 00' /* U0100-00 */, '08' /* confirmedDTC */),
    value: {
      kind: 'positive',
      service: 'ReadDTCInformation',
      reportType: 0x0a,
      statusAvailabilityMask: 0xff,
      dtcs: [
        { dtc: 0x010000, status: 0x2f },
        { dtc: 0xc10000, status: 0x08 },
      ],
    },
  },
  {
    name: 'ReadDataByIdentifier VIN',
    bytes: h('62' /* SID */, 'F1 90' /* DID VIN */, '57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36' /* "W0L000043MB541326" */),
    value: { kind: 'positive', service: 'ReadDataByIdentifier', records: [{ did: 0xf190, data: ascii('W0L000043MB541326') }] },
    source: 'ISO 14229-1 §10.2.5 example',
  },
  {
    name: 'ReadDataByIdentifier two DIDs with didLengths',
    bytes: h('62' /* SID */, '01 0A' /* DID */, 'A6 66 07 50 20 1A 00 63 4A 82 7E' /* 11 bytes */, '01 10' /* DID */, '8C' /* battery voltage */),
    options: { didLengths: new Map([[0x010a, 11]]) },
    value: {
      kind: 'positive',
      service: 'ReadDataByIdentifier',
      records: [
        { did: 0x010a, data: h('A6 66 07 50 20 1A 00 63 4A 82 7E') },
        { did: 0x0110, data: h('8C') },
      ],
    },
    source: 'ISO 14229-1 §10.2.5 example (multiple dataIdentifiers)',
  },
  {
    name: 'ReadMemoryByAddress',
    bytes: h('63' /* SID */, '00 50 00 20 01 21 00 08' /* dataRecord: vector table */),
    value: { kind: 'positive', service: 'ReadMemoryByAddress', data: h('00 50 00 20 01 21 00 08') },
  },
  {
    name: 'SecurityAccess seed',
    bytes: h('67' /* SID */, '01' /* requestSeed echo */, '36 57' /* securitySeed */),
    value: { kind: 'positive', service: 'SecurityAccess', securityAccessType: 0x01, securitySeed: h('36 57') },
    source: 'ISO 14229-1:2013 §9.4.5.1 example',
  },
  {
    name: 'SecurityAccess key accepted',
    bytes: h('67' /* SID */, '02' /* sendKey echo, nothing more */),
    value: { kind: 'positive', service: 'SecurityAccess', securityAccessType: 0x02, securitySeed: empty },
    source: 'ISO 14229-1:2013 §9.4.5.1 example',
  },
  {
    name: 'CommunicationControl',
    bytes: h('68' /* SID */, '03' /* controlType echo */),
    value: { kind: 'positive', service: 'CommunicationControl', controlType: 0x03 },
  },
  {
    name: 'WriteDataByIdentifier',
    bytes: h('6E' /* SID */, 'F1 90' /* DID echo */),
    value: { kind: 'positive', service: 'WriteDataByIdentifier', did: 0xf190 },
  },
  {
    name: 'RoutineControl checkMemory with the SHA-256 of what was written',
    bytes: h('71' /* SID */, '01' /* startRoutine */, '02 02' /* checkMemory */, '9F 86 D0 81 88 4C 7D 65 9A 2F EA A0 C5 5A D0 15 A3 BF 4F 1B 2B 0B 82 2C D1 5D 6C 15 B0 F0 0A 08' /* status record */),
    value: { kind: 'positive', service: 'RoutineControl', routineControlType: 0x01, routineIdentifier: 0x0202, statusRecord: sha256OfImage },
    source: 'ARCHITECTURE.md §3 step 8',
  },
  {
    name: 'RequestDownload maxNumberOfBlockLength 0xABCD',
    bytes: h('74' /* SID */, '20' /* LFI: 2-byte maxNumberOfBlockLength */, 'AB CD' /* maxNumberOfBlockLength */),
    value: { kind: 'positive', service: 'RequestDownload', maxNumberOfBlockLength: 0xabcd, maxNumberOfBlockLengthBytes: 2 },
    source: 'python-udsoncan test/client/test_request_download.py',
  },
  {
    name: 'RequestUpload maxNumberOfBlockLength 1026',
    bytes: h('75' /* SID */, '20' /* LFI */, '04 02' /* 1024 data bytes + SID + BSC */),
    value: { kind: 'positive', service: 'RequestUpload', maxNumberOfBlockLength: 1026, maxNumberOfBlockLengthBytes: 2 },
  },
  {
    name: 'TransferData download acknowledgement',
    bytes: h('76' /* SID */, '01' /* blockSequenceCounter echo */),
    value: { kind: 'positive', service: 'TransferData', blockSequenceCounter: 0x01, data: empty },
  },
  {
    name: 'TransferData upload block',
    bytes: h('76' /* SID */, '05' /* blockSequenceCounter */, 'DE AD BE EF' /* data */),
    value: { kind: 'positive', service: 'TransferData', blockSequenceCounter: 0x05, data: h('DE AD BE EF') },
  },
  {
    name: 'RequestTransferExit',
    bytes: h('77' /* SID, no transferResponseParameterRecord */),
    value: { kind: 'positive', service: 'RequestTransferExit', parameterRecord: empty },
  },
  {
    name: 'TesterPresent',
    bytes: h('7E' /* SID */, '00' /* zeroSubFunction */),
    value: { kind: 'positive', service: 'TesterPresent' },
  },
  {
    name: 'ControlDTCSetting',
    bytes: h('C5' /* SID 0x85 + 0x40 */, '02' /* off */),
    value: { kind: 'positive', service: 'ControlDTCSetting', settingType: 0x02 },
  },
  {
    name: 'negative: TransferData wrongBlockSequenceCounter',
    bytes: h('7F' /* negative response */, '36' /* TransferData */, '73' /* wrongBlockSequenceCounter */),
    value: { kind: 'negative', sid: 0x7f, requestSid: 0x36, nrc: 0x73, nrcName: 'wrongBlockSequenceCounter' },
    source: 'the issue; ARCHITECTURE.md §3 step 6',
  },
  {
    name: 'negative: ReadDataByIdentifier requestOutOfRange',
    bytes: h('7F' /* negative response */, '22' /* ReadDataByIdentifier */, '31' /* requestOutOfRange */),
    value: { kind: 'negative', sid: 0x7f, requestSid: 0x22, nrc: 0x31, nrcName: 'requestOutOfRange' },
  },
  {
    name: 'negative: RoutineControl responsePending while erasing',
    bytes: h('7F' /* negative response */, '31' /* RoutineControl */, '78' /* requestCorrectlyReceivedResponsePending */),
    value: { kind: 'negative', sid: 0x7f, requestSid: 0x31, nrc: 0x78, nrcName: 'requestCorrectlyReceivedResponsePending' },
    source: 'ARCHITECTURE.md §3 step 4',
  },
  {
    name: 'negative: SecurityAccess exceedNumberOfAttempts',
    bytes: h('7F' /* negative response */, '27' /* SecurityAccess */, '36' /* exceedNumberOfAttempts */),
    value: { kind: 'negative', sid: 0x7f, requestSid: 0x27, nrc: 0x36, nrcName: 'exceedNumberOfAttempts' },
    source: 'ARCHITECTURE.md §2.4',
  },
  {
    name: 'negative: manufacturer-specific condition',
    bytes: h('7F' /* negative response */, '2F' /* InputOutputControlByIdentifier */, 'F3' /* vehicleManufacturerSpecificConditionsNotCorrect */),
    value: { kind: 'negative', sid: 0x7f, requestSid: 0x2f, nrc: 0xf3, nrcName: 'vehicleManufacturerSpecificConditionsNotCorrect' },
  },
];

describe('decodeResponse / encodeResponse', () => {
  describe('annotated vectors', () => {
    for (const v of vectors) {
      it(`decodes ${v.name}`, () => assert.deepEqual(decodeResponse(v.bytes, v.options), v.value));
      it(`encodes ${v.name}`, () => assert.deepEqual(encodeResponse(v.value), v.bytes));
    }
    it('covers every service and the negative response', () => {
      const covered = new Set(vectors.map((v) => (v.value.kind === 'negative' ? 'negative' : v.value.service)));
      assert.deepEqual([...covered].sort(), Object.keys(responseArbitraries).sort());
    });
  });

  describe('ReadDataByIdentifier with several DIDs', () => {
    const bytes = h('62', '01 0A', 'A6 66 07 50 20 1A 00 63 4A 82 7E', '01 10', '8C');
    it('without didLengths reads the rest as the first DID (the documented single-DID rule)', () => {
      const res = decodeResponse(bytes);
      assert.deepEqual(res, { kind: 'positive', service: 'ReadDataByIdentifier', records: [{ did: 0x010a, data: bytes.subarray(3) }] });
    });
    it('with a length too long for the message, rejects with UDS_LENGTH', () => {
      assertDecodeError(() => decodeResponse(bytes, { didLengths: new Map([[0x010a, 20]]) }), 'UDS_LENGTH');
    });
  });

  /** Malformed responses: decode errors on the tester's side carry no NRC. */
  const malformed: Array<{ hex: string; why: string; code: string; options?: DecodeResponseOptions }> = [
    { hex: '', why: 'empty', code: 'UDS_EMPTY' },
    { hex: '56', why: 'no service 0x16', code: 'UDS_UNKNOWN_SERVICE' },
    { hex: '10 03', why: 'a request', code: 'UDS_UNKNOWN_SERVICE' },
    { hex: '7F', why: 'negative response without SID', code: 'UDS_LENGTH' },
    { hex: '7F 36', why: 'negative response without NRC', code: 'UDS_LENGTH' },
    { hex: '7F 36 73 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: '7F 36 00', why: 'NRC 0x00 is positiveResponse', code: 'UDS_RANGE' },
    { hex: '50', why: 'no sub-function echo', code: 'UDS_LENGTH' },
    { hex: '50 03 00 32 01', why: 'P2* cut short', code: 'UDS_LENGTH' },
    { hex: '50 03 00 32 01 F4 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: '50 83 00 32 01 F4', why: 'SPR bit in the echo', code: 'UDS_SUBFUNCTION' },
    { hex: '50 05 00 32 01 F4', why: 'reserved session echo', code: 'UDS_SUBFUNCTION' },
    { hex: '51 04', why: 'enableRapidPowerShutDown without powerDownTime', code: 'UDS_LENGTH' },
    { hex: '51 01 FF', why: 'powerDownTime after hardReset', code: 'UDS_TRAILING' },
    { hex: '54 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: '59 01 FB 01 12', why: 'DTCCount cut short', code: 'UDS_LENGTH' },
    { hex: '59 02', why: 'no availability mask', code: 'UDS_LENGTH' },
    { hex: '59 02 FF 01 00 00', why: 'DTC without status', code: 'UDS_LENGTH' },
    { hex: '59 03 FF', why: 'unsupported reportType', code: 'UDS_SUBFUNCTION' },
    { hex: '59 04 12 34 56', why: 'no status', code: 'UDS_LENGTH' },
    { hex: '59 04 12 34 56 24 02 00', why: 'zero identifiers', code: 'UDS_RANGE' },
    { hex: '59 04 12 34 56 24 02 01 47', why: 'DID cut short', code: 'UDS_LENGTH' },
    { hex: '59 04 12 34 56 24 02 01 47 11', why: 'DID without data', code: 'UDS_LENGTH' },
    { hex: '59 04 12 34 56 24 02 02 47 11 A6 66 07 50 20 67 89 99 88 77', why: 'two DIDs, first length unknown', code: 'UDS_DID_LENGTH_UNKNOWN' },
    { hex: '59 04 12 34 56 24 02 01 47 11 A6 66', why: 'shorter than didLengths says', code: 'UDS_LENGTH', options: { didLengths: new Map([[0x4711, 5]]) } },
    { hex: '59 06 01 00 00 2F 01 05', why: 'extended record shorter than its length', code: 'UDS_LENGTH', options: { extDataRecordLengths: new Map([[1, 2]]) } },
    { hex: '62', why: 'no DID', code: 'UDS_LENGTH' },
    { hex: '62 F1 90', why: 'DID without data', code: 'UDS_LENGTH' },
    { hex: '62 F1 90 57 30', why: 'VIN shorter than 17 bytes', code: 'UDS_LENGTH', options: { didLengths: new Map([[0xf190, 17]]) } },
    { hex: '62 F1 86 03 F1', why: 'half a DID after a known one', code: 'UDS_LENGTH', options: { didLengths: new Map([[0xf186, 1]]) } },
    { hex: '63', why: 'no data', code: 'UDS_LENGTH' },
    { hex: '67 01', why: 'requestSeed response without seed', code: 'UDS_LENGTH' },
    { hex: '67 02 00', why: 'sendKey response with data', code: 'UDS_TRAILING' },
    { hex: '68 03 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: '6E F1', why: 'DID cut short', code: 'UDS_LENGTH' },
    { hex: '71 01 FF', why: 'routine id cut short', code: 'UDS_LENGTH' },
    { hex: '71 04 FF 00', why: 'routine control type 0x04', code: 'UDS_SUBFUNCTION' },
    { hex: '74', why: 'no LFI', code: 'UDS_LENGTH' },
    { hex: '74 20 04', why: 'maxNumberOfBlockLength cut short', code: 'UDS_LENGTH' },
    { hex: '74 20 04 02 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: '74 23 AB CD', why: 'LFI low nibble is reserved', code: 'UDS_RANGE' },
    { hex: '74 00', why: 'LFI length 0', code: 'UDS_RANGE' },
    { hex: '75 50 00 00 00 00 10', why: 'LFI length 5', code: 'UDS_RANGE' },
    { hex: '76', why: 'no block sequence counter', code: 'UDS_LENGTH' },
    { hex: '7E', why: 'no sub-function echo', code: 'UDS_LENGTH' },
    { hex: '7E 00 00', why: 'trailing byte', code: 'UDS_TRAILING' },
    { hex: 'C5', why: 'no sub-function echo', code: 'UDS_LENGTH' },
  ];

  describe('malformed responses', () => {
    for (const m of malformed) {
      it(`rejects '${m.hex}' (${m.why}) with ${m.code}`, () => assertDecodeError(() => decodeResponse(h(m.hex), m.options), m.code, undefined));
    }
  });

  describe('encoder refusals', () => {
    const bad: Array<[string, UdsResponse, string]> = [
      ['P2* not a multiple of 10 ms', { kind: 'positive', service: 'DiagnosticSessionControl', sessionType: 1, p2ServerMaxMs: 50, p2StarServerMaxMs: 5005 }, 'UDS_RANGE'],
      ['P2* above 655350 ms', { kind: 'positive', service: 'DiagnosticSessionControl', sessionType: 1, p2ServerMaxMs: 50, p2StarServerMaxMs: 655360 }, 'UDS_RANGE'],
      ['powerDownTime after hardReset', { kind: 'positive', service: 'ECUReset', resetType: 1, powerDownTime: 1 }, 'UDS_RANGE'],
      ['NRC 0x00', { kind: 'negative', sid: 0x7f, requestSid: 0x22, nrc: 0, nrcName: 'positiveResponse' }, 'UDS_RANGE'],
      ['a seed on sendKey', { kind: 'positive', service: 'SecurityAccess', securityAccessType: 2, securitySeed: h('01') }, 'UDS_RANGE'],
      ['an empty DID record', { kind: 'positive', service: 'ReadDataByIdentifier', records: [{ did: 0xf190, data: empty }] }, 'UDS_RANGE'],
      ['a block length wider than its LFI', { kind: 'positive', service: 'RequestDownload', maxNumberOfBlockLength: 0x10000, maxNumberOfBlockLengthBytes: 2 }, 'UDS_RANGE'],
      [
        'a snapshot with no identifiers',
        { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x04, dtc: 1, status: 0, snapshots: [{ recordNumber: 1, identifiers: [] }] },
        'UDS_RANGE',
      ],
    ];
    for (const [why, res, code] of bad) {
      it(`refuses ${why} with ${code}`, () => assertDecodeError(() => encodeResponse(res), code));
    }
  });

  describe('isNegativeResponse', () => {
    it('is true for 7F SID NRC and false otherwise', () => {
      assert.equal(isNegativeResponse(h('7F 36 73')), true);
      assert.equal(isNegativeResponse(h('76 01')), false);
      assert.equal(isNegativeResponse(new Uint8Array(0)), false);
    });
  });

  describe('properties', () => {
    for (const [service, arbitrary] of Object.entries(responseArbitraries) as Array<[string, fc.Arbitrary<ResponseCase>]>) {
      it(`decode(encode(x)) deep-equals x for random ${service} responses`, () => {
        fc.assert(
          fc.property(arbitrary, ({ res, options }) => {
            assert.deepEqual(decodeResponse(encodeResponse(res), options), res);
          }),
          { numRuns: 1_000 },
        );
      });
    }

    it('random bytes give only OtaErrors without a wire code, and whatever decodes re-encodes to the same bytes', () => {
      fc.assert(
        fc.property(responseishBytes, (bytes) => {
          let res: UdsResponse;
          try {
            res = decodeResponse(bytes);
          } catch (e) {
            assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
            assert.equal(e.wireCode, undefined);
            return;
          }
          assert.deepEqual(encodeResponse(res), bytes);
        }),
        { numRuns: 10_000 },
      );
    });
  });
});
