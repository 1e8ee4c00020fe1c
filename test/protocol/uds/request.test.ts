import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import { decodeRequest, encodeRequest, type ServiceName, type UdsRequest } from '../../../src/protocol/uds/index.js';
import { requestArbitraries, requestishBytes } from './arbitraries.js';
import { ascii, assertDecodeError, h } from './helpers.js';

interface Vector {
  name: string;
  bytes: Uint8Array;
  value: UdsRequest;
  /** Where a vector comes from when it is not our own. */
  source?: string;
}

const VIN = 'W0L000043MB541326';

/** Annotated request vectors, at least one per service. */
const vectors: Vector[] = [
  {
    name: 'DiagnosticSessionControl extendedDiagnosticSession',
    bytes: h('10' /* SID DiagnosticSessionControl */, '03' /* sessionType extendedDiagnosticSession, SPR 0 */),
    value: { service: 'DiagnosticSessionControl', sessionType: 0x03, suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 1',
  },
  {
    name: 'DiagnosticSessionControl programmingSession with suppressPositiveResponse',
    bytes: h('10' /* SID */, '82' /* SPR bit 7 set | sessionType 0x02 programmingSession */),
    value: { service: 'DiagnosticSessionControl', sessionType: 0x02, suppressPositiveResponse: true },
  },
  {
    name: 'ECUReset hardReset',
    bytes: h('11' /* SID ECUReset */, '01' /* resetType hardReset */),
    value: { service: 'ECUReset', resetType: 0x01, suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 9',
  },
  {
    name: 'ClearDiagnosticInformation all groups',
    bytes: h('14' /* SID ClearDiagnosticInformation */, 'FF FF FF' /* groupOfDTC: all groups (ISO 14229-1 Annex D.1) */),
    value: { service: 'ClearDiagnosticInformation', groupOfDTC: 0xffffff },
  },
  {
    name: 'ClearDiagnosticInformation with MemorySelection',
    bytes: h('14' /* SID */, 'FF FF 33' /* groupOfDTC emissions-related (0xFFFF33) */, '01' /* MemorySelection (2020) */),
    value: { service: 'ClearDiagnosticInformation', groupOfDTC: 0xffff33, memorySelection: 0x01 },
  },
  {
    name: 'ReadDTCInformation reportNumberOfDTCByStatusMask',
    bytes: h('19' /* SID ReadDTCInformation */, '01' /* reportNumberOfDTCByStatusMask */, '5A' /* DTCStatusMask */),
    value: { service: 'ReadDTCInformation', reportType: 0x01, dtcStatusMask: 0x5a, suppressPositiveResponse: false },
    source: 'python-udsoncan test/client/test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation reportDTCByStatusMask',
    bytes: h('19' /* SID */, '02' /* reportDTCByStatusMask */, '5A' /* DTCStatusMask */),
    value: { service: 'ReadDTCInformation', reportType: 0x02, dtcStatusMask: 0x5a, suppressPositiveResponse: false },
    source: 'python-udsoncan test/client/test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation reportDTCSnapshotRecordByDTCNumber',
    bytes: h('19' /* SID */, '04' /* reportDTCSnapshotRecordByDTCNumber */, '12 34 56' /* DTCMaskRecord */, '02' /* DTCSnapshotRecordNumber */),
    value: { service: 'ReadDTCInformation', reportType: 0x04, dtc: 0x123456, snapshotRecordNumber: 0x02, suppressPositiveResponse: false },
    source: 'ISO 14229-1 §11.3.5 example, as in python-udsoncan test_read_dtc_information.py',
  },
  {
    name: 'ReadDTCInformation reportDTCExtDataRecordByDTCNumber, all records',
    bytes: h('19' /* SID */, '06' /* reportDTCExtDataRecordByDTCNumber */, '01 00 00' /* DTC P0100-00 */, 'FF' /* all records */),
    value: { service: 'ReadDTCInformation', reportType: 0x06, dtc: 0x010000, extDataRecordNumber: 0xff, suppressPositiveResponse: false },
  },
  {
    name: 'ReadDTCInformation reportSupportedDTC',
    bytes: h('19' /* SID */, '0A' /* reportSupportedDTC */),
    value: { service: 'ReadDTCInformation', reportType: 0x0a, suppressPositiveResponse: false },
  },
  {
    name: 'ReadDataByIdentifier VIN',
    bytes: h('22' /* SID ReadDataByIdentifier */, 'F1 90' /* DID VIN */),
    value: { service: 'ReadDataByIdentifier', dids: [0xf190] },
    source: 'ISO 14229-1 §10.2.5 example',
  },
  {
    name: 'ReadDataByIdentifier two DIDs',
    bytes: h('22' /* SID */, '01 0A' /* DID 0x010A */, '01 10' /* DID 0x0110 */),
    value: { service: 'ReadDataByIdentifier', dids: [0x010a, 0x0110] },
    source: 'ISO 14229-1 §10.2.5 example (multiple dataIdentifiers)',
  },
  {
    name: 'ReadMemoryByAddress 4-byte address, 1-byte size',
    bytes: h('23' /* SID ReadMemoryByAddress */, '14' /* ALFID: size 1 byte, address 4 bytes */, '08 00 20 00' /* memoryAddress */, '10' /* memorySize 16 */),
    value: { service: 'ReadMemoryByAddress', memoryAddress: 0x08002000, memorySize: 16, addressLength: 4, sizeLength: 1 },
  },
  {
    name: 'SecurityAccess requestSeed level 1',
    bytes: h('27' /* SID SecurityAccess */, '01' /* requestSeed */),
    value: { service: 'SecurityAccess', securityAccessType: 0x01, data: new Uint8Array(0), suppressPositiveResponse: false },
    source: 'ISO 14229-1:2013 §9.4.5.1 example',
  },
  {
    name: 'SecurityAccess sendKey level 1',
    bytes: h('27' /* SID */, '02' /* sendKey */, 'C9 A9' /* securityKey */),
    value: { service: 'SecurityAccess', securityAccessType: 0x02, data: h('C9 A9'), suppressPositiveResponse: false },
    source: 'ISO 14229-1:2013 §9.4.5.1 example',
  },
  {
    name: 'SecurityAccess requestSeed for programming (0x11)',
    bytes: h('27' /* SID */, '11' /* requestSeed, level 9 */),
    value: { service: 'SecurityAccess', securityAccessType: 0x11, data: new Uint8Array(0), suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 3',
  },
  {
    name: 'CommunicationControl disableRxAndTx normal messages',
    bytes: h('28' /* SID CommunicationControl */, '03' /* disableRxAndTx */, '01' /* communicationType: normal, all subnets */),
    value: { service: 'CommunicationControl', controlType: 0x03, communicationType: 0x01, suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 1',
  },
  {
    name: 'CommunicationControl with enhanced address information',
    bytes: h('28' /* SID */, '85' /* SPR | enableRxAndTxWithEnhancedAddressInformation */, '03' /* NM + normal */, '00 0A' /* nodeIdentificationNumber */),
    value: { service: 'CommunicationControl', controlType: 0x05, communicationType: 0x03, nodeIdentificationNumber: 0x000a, suppressPositiveResponse: true },
  },
  {
    name: 'WriteDataByIdentifier VIN',
    bytes: h('2E' /* SID WriteDataByIdentifier */, 'F1 90' /* DID VIN */, '57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36' /* 17 ASCII chars */),
    value: { service: 'WriteDataByIdentifier', did: 0xf190, data: ascii(VIN) },
  },
  {
    name: 'RoutineControl start eraseMemory over the application region',
    bytes: h('31' /* SID RoutineControl */, '01' /* startRoutine */, 'FF 00' /* eraseMemory */, '44 08 00 20 00 00 00 DC 00' /* option: ALFID, address, size 56 KiB */),
    value: {
      service: 'RoutineControl',
      routineControlType: 0x01,
      routineIdentifier: 0xff00,
      optionRecord: h('44 08 00 20 00 00 00 DC 00'),
      suppressPositiveResponse: false,
    },
    source: 'ARCHITECTURE.md §3 step 4',
  },
  {
    name: 'RoutineControl start checkMemory',
    bytes: h('31' /* SID */, '01' /* startRoutine */, '02 02' /* checkMemory */),
    value: { service: 'RoutineControl', routineControlType: 0x01, routineIdentifier: 0x0202, optionRecord: new Uint8Array(0), suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 8',
  },
  {
    name: 'RoutineControl requestRoutineResults',
    bytes: h('31' /* SID */, '03' /* requestRoutineResults */, 'FF 01' /* checkProgrammingDependencies */),
    value: { service: 'RoutineControl', routineControlType: 0x03, routineIdentifier: 0xff01, optionRecord: new Uint8Array(0), suppressPositiveResponse: false },
  },
  {
    name: 'RequestDownload into the application region',
    bytes: h('34' /* SID RequestDownload */, '00' /* DFI: no compression, no encryption */, '44' /* ALFID 4/4 */, '08 00 20 00' /* address */, '00 00 DC 00' /* size */),
    value: { service: 'RequestDownload', compressionMethod: 0, encryptingMethod: 0, memoryAddress: 0x08002000, memorySize: 0xdc00, addressLength: 4, sizeLength: 4 },
    source: 'ARCHITECTURE.md §3 step 5',
  },
  {
    name: 'RequestDownload 2-byte address, 1-byte size',
    bytes: h('34' /* SID */, '00' /* DFI */, '12' /* ALFID: size 1 byte, address 2 bytes */, '12 34' /* address */, 'FF' /* size */),
    value: { service: 'RequestDownload', compressionMethod: 0, encryptingMethod: 0, memoryAddress: 0x1234, memorySize: 0xff, addressLength: 2, sizeLength: 1 },
    source: 'python-udsoncan test/client/test_request_download.py',
  },
  {
    name: 'RequestDownload with compression 5 and encryption 2',
    bytes: h('34' /* SID */, '52' /* DFI: compressionMethod 5, encryptingMethod 2 */, '12' /* ALFID */, '12 34' /* address */, 'FF' /* size */),
    value: { service: 'RequestDownload', compressionMethod: 5, encryptingMethod: 2, memoryAddress: 0x1234, memorySize: 0xff, addressLength: 2, sizeLength: 1 },
    source: 'python-udsoncan test/client/test_request_download.py',
  },
  {
    name: 'RequestUpload of the bootloader region',
    bytes: h('35' /* SID RequestUpload */, '00' /* DFI */, '24' /* ALFID: size 2 bytes, address 4 bytes */, '08 00 00 00' /* address */, '20 00' /* size 8 KiB */),
    value: { service: 'RequestUpload', compressionMethod: 0, encryptingMethod: 0, memoryAddress: 0x08000000, memorySize: 0x2000, addressLength: 4, sizeLength: 2 },
  },
  {
    name: 'TransferData first block',
    bytes: h('36' /* SID TransferData */, '01' /* blockSequenceCounter */, '00 20 00 20 C1 21 00 08' /* data */),
    value: { service: 'TransferData', blockSequenceCounter: 0x01, data: h('00 20 00 20 C1 21 00 08') },
    source: 'ARCHITECTURE.md §3 step 6',
  },
  {
    name: 'TransferData without data (upload), counter wrapped to 0',
    bytes: h('36' /* SID */, '00' /* blockSequenceCounter after 0xFF */),
    value: { service: 'TransferData', blockSequenceCounter: 0x00, data: new Uint8Array(0) },
  },
  {
    name: 'RequestTransferExit',
    bytes: h('37' /* SID RequestTransferExit, no transferRequestParameterRecord */),
    value: { service: 'RequestTransferExit', parameterRecord: new Uint8Array(0) },
    source: 'ARCHITECTURE.md §3 step 7',
  },
  {
    name: 'TesterPresent',
    bytes: h('3E' /* SID TesterPresent */, '00' /* zeroSubFunction */),
    value: { service: 'TesterPresent', suppressPositiveResponse: false },
  },
  {
    name: 'TesterPresent with suppressPositiveResponse',
    bytes: h('3E' /* SID */, '80' /* SPR | zeroSubFunction: the usual keep-alive */),
    value: { service: 'TesterPresent', suppressPositiveResponse: true },
  },
  {
    name: 'ControlDTCSetting off',
    bytes: h('85' /* SID ControlDTCSetting */, '02' /* off */),
    value: { service: 'ControlDTCSetting', settingType: 0x02, optionRecord: new Uint8Array(0), suppressPositiveResponse: false },
    source: 'ARCHITECTURE.md §3 step 1',
  },
  {
    name: 'ControlDTCSetting on with option record',
    bytes: h('85' /* SID */, '81' /* SPR | on */, 'FF FF FF' /* DTCSettingControlOptionRecord: all groups */),
    value: { service: 'ControlDTCSetting', settingType: 0x01, optionRecord: h('FF FF FF'), suppressPositiveResponse: true },
  },
];

describe('decodeRequest / encodeRequest', () => {
  describe('annotated vectors', () => {
    for (const v of vectors) {
      it(`decodes ${v.name}`, () => assert.deepEqual(decodeRequest(v.bytes), v.value));
      it(`encodes ${v.name}`, () => assert.deepEqual(encodeRequest(v.value), v.bytes));
    }
    it('covers every service', () => {
      const covered = new Set(vectors.map((v) => v.value.service));
      assert.deepEqual([...covered].sort(), Object.keys(requestArbitraries).sort());
    });
  });

  /** Malformed requests with the code and the NRC a server answers (ISO 14229-1:2013 §7.5). */
  const malformed: Array<{ hex: string; why: string; code: string; nrc?: number }> = [
    { hex: '', why: 'empty', code: 'UDS_EMPTY' },
    { hex: '99', why: 'unknown SID', code: 'UDS_UNKNOWN_SERVICE', nrc: 0x11 },
    { hex: '50 03', why: 'a positive response SID', code: 'UDS_UNKNOWN_SERVICE', nrc: 0x11 },
    { hex: '7F 10 11', why: 'a negative response', code: 'UDS_UNKNOWN_SERVICE', nrc: 0x11 },
    { hex: '10', why: 'no sub-function', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '10 00', why: 'session 0x00 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '10 05', why: 'session 0x05 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '10 FF', why: 'session 0x7F reserved (with SPR)', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '10 00 00', why: 'sub-function is checked before total length', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '10 03 00', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '11 06', why: 'reset type 0x06 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '14 FF FF', why: 'groupOfDTC cut short', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '14 FF FF FF 01 02', why: 'trailing after MemorySelection', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '19', why: 'no reportType', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '19 03', why: 'reportType 0x03 unsupported', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '19 02', why: 'no status mask', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '19 04 12 34 56', why: 'no snapshot record number', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '19 0A 00', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '22', why: 'no DID', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '22 F1', why: 'half a DID', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '22 F1 90 F1', why: 'odd DID list', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '23', why: 'no ALFID', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '23 44 08 00', why: 'address cut short', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '23 40 10', why: 'ALFID address length 0', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '23 04 08 00 20 00', why: 'ALFID size length 0', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '23 15 00 08 00 20 00 10', why: 'ALFID address length 5', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '23 11 10 00', why: 'memorySize 0', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '23 11 10 01 02', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '27', why: 'no sub-function', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '27 00', why: 'security type 0x00 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '27 43', why: 'security type 0x43 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '27 02', why: 'sendKey without key', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '28 03', why: 'no communicationType', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '28 04 01', why: 'no nodeIdentificationNumber', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '28 03 01 00', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '28 06 01', why: 'control type 0x06 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '2E F1 90', why: 'no dataRecord', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '31 04 FF 00', why: 'routine control type 0x04', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '31 01 FF', why: 'routine id cut short', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '34 00', why: 'no ALFID', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '34 00 44 08 00 20 00 00 00 10', why: 'size cut short', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '34 00 44 08 00 20 00 00 00 10 00 00', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '34 00 04 08 00 20 00', why: 'ALFID size length 0', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '35 00 F4 08 00 20 00', why: 'ALFID size length 15', code: 'UDS_RANGE', nrc: 0x31 },
    { hex: '36', why: 'no block sequence counter', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '3E', why: 'no sub-function', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '3E 01', why: 'only zeroSubFunction exists', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
    { hex: '3E 00 00', why: 'trailing byte', code: 'UDS_TRAILING', nrc: 0x13 },
    { hex: '85', why: 'no sub-function', code: 'UDS_LENGTH', nrc: 0x13 },
    { hex: '85 03', why: 'DTC setting type 0x03 reserved', code: 'UDS_SUBFUNCTION', nrc: 0x12 },
  ];

  describe('malformed requests', () => {
    for (const m of malformed) {
      it(`rejects '${m.hex}' (${m.why}) with ${m.code}${m.nrc === undefined ? '' : ` and NRC 0x${m.nrc.toString(16)}`}`, () => {
        assertDecodeError(() => decodeRequest(h(m.hex)), m.code, m.nrc);
      });
    }
  });

  describe('encoder refusals', () => {
    const bad: Array<[string, UdsRequest, string]> = [
      ['a reserved session type', { service: 'DiagnosticSessionControl', sessionType: 0x05, suppressPositiveResponse: false }, 'UDS_SUBFUNCTION'],
      ['a DID above 16 bits', { service: 'ReadDataByIdentifier', dids: [0x10000] }, 'UDS_RANGE'],
      ['no DIDs', { service: 'ReadDataByIdentifier', dids: [] }, 'UDS_RANGE'],
      ['an address wider than its ALFID nibble', { service: 'ReadMemoryByAddress', memoryAddress: 0x10000, memorySize: 1, addressLength: 2, sizeLength: 1 }, 'UDS_RANGE'],
      ['an ALFID length of 5', { service: 'ReadMemoryByAddress', memoryAddress: 0, memorySize: 1, addressLength: 5, sizeLength: 1 }, 'UDS_RANGE'],
      ['memorySize 0', { service: 'RequestDownload', compressionMethod: 0, encryptingMethod: 0, memoryAddress: 0, memorySize: 0, addressLength: 4, sizeLength: 4 }, 'UDS_RANGE'],
      ['a DFI nibble of 16', { service: 'RequestDownload', compressionMethod: 16, encryptingMethod: 0, memoryAddress: 0, memorySize: 1, addressLength: 4, sizeLength: 4 }, 'UDS_RANGE'],
      ['a sendKey without key', { service: 'SecurityAccess', securityAccessType: 0x02, data: new Uint8Array(0), suppressPositiveResponse: false }, 'UDS_RANGE'],
      ['a nodeIdentificationNumber for controlType 0x03', { service: 'CommunicationControl', controlType: 0x03, communicationType: 1, nodeIdentificationNumber: 1, suppressPositiveResponse: false }, 'UDS_RANGE'],
      ['a block counter of 256', { service: 'TransferData', blockSequenceCounter: 256, data: new Uint8Array(0) }, 'UDS_RANGE'],
    ];
    for (const [why, req, code] of bad) {
      it(`refuses ${why} with ${code}`, () => assertDecodeError(() => encodeRequest(req), code));
    }
    it('refuses a plain array where bytes are expected', () => {
      const req = { service: 'TransferData', blockSequenceCounter: 1, data: [1, 2, 3] } as unknown as UdsRequest;
      assertDecodeError(() => encodeRequest(req), 'UDS_RANGE');
    });
  });

  describe('properties', () => {
    for (const [service, arbitrary] of Object.entries(requestArbitraries) as Array<[ServiceName, fc.Arbitrary<UdsRequest>]>) {
      it(`decode(encode(x)) deep-equals x for random ${service} requests`, () => {
        fc.assert(
          fc.property(arbitrary, (req) => {
            assert.deepEqual(decodeRequest(encodeRequest(req)), req);
          }),
          { numRuns: 1_000 },
        );
      });
    }

    it('random bytes give only OtaErrors with the NRC a server answers, and whatever decodes re-encodes to the same bytes', () => {
      fc.assert(
        fc.property(requestishBytes, (bytes) => {
          let req: UdsRequest;
          try {
            req = decodeRequest(bytes);
          } catch (e) {
            assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
            if (bytes.length > 0) assert.ok([0x11, 0x12, 0x13, 0x31].includes(e.wireCode ?? -1), `${e.code} without a server NRC`);
            return;
          }
          assert.deepEqual(encodeRequest(req), bytes);
        }),
        { numRuns: 10_000 },
      );
    });
  });
});
