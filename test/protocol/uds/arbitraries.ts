/**
 * fast-check generators of valid UDS requests and responses, one per service, for the round-trip
 * properties. Each response generator also yields the decode options it needs (DID / record lengths).
 */
import fc from 'fast-check';
import { nrcName, SID, type DecodeResponseOptions, type MemoryRange, type ServiceName, type UdsRequest, type UdsResponse } from '../../../src/protocol/uds/index.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u24 = fc.integer({ min: 0, max: 0xffffff });
export const bytes = (minLength = 0, maxLength = 12): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength, maxLength });
const spr = fc.boolean();
const range = (...ranges: Array<[number, number]>): fc.Arbitrary<number> =>
  fc.oneof(...ranges.map(([min, max]) => fc.integer({ min, max })));

/** fc.record builds null-prototype objects; decoders build plain ones. Rebuild values as plain objects. */
function plain<T>(value: T): T {
  if (value instanceof Uint8Array || value instanceof Map || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plain) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T;
}

function plainArbitraries<K extends string, T>(table: Record<K, fc.Arbitrary<T>>): Record<K, fc.Arbitrary<T>> {
  const out = {} as Record<K, fc.Arbitrary<T>>;
  for (const key of Object.keys(table) as K[]) out[key] = table[key].map((v) => plain(v));
  return out;
}

const specific: [number, number] = [0x40, 0x7e];
const sessionType = range([0x01, 0x04], specific);
const resetType = range([0x01, 0x05], specific);
const securityType = range([0x01, 0x42], [0x5f, 0x7e]);
const controlType = range([0x00, 0x05], specific);
const settingType = range([0x01, 0x02], specific);
const routineType = fc.integer({ min: 1, max: 3 });

const memoryRange: fc.Arbitrary<MemoryRange> = fc
  .record({ addressLength: fc.integer({ min: 1, max: 4 }), sizeLength: fc.integer({ min: 1, max: 4 }) })
  .chain(({ addressLength, sizeLength }) =>
    fc.record({
      memoryAddress: fc.integer({ min: 0, max: 2 ** (8 * addressLength) - 1 }),
      memorySize: fc.integer({ min: 1, max: 2 ** (8 * sizeLength) - 1 }),
      addressLength: fc.constant(addressLength),
      sizeLength: fc.constant(sizeLength),
    }),
  );
const dataFormat = fc.record({ compressionMethod: fc.integer({ min: 0, max: 15 }), encryptingMethod: fc.integer({ min: 0, max: 15 }) });

/** One generator of valid requests per service. */
export const requestArbitraries: Record<ServiceName, fc.Arbitrary<UdsRequest>> = plainArbitraries<ServiceName, UdsRequest>({
  DiagnosticSessionControl: fc.record({ service: fc.constant('DiagnosticSessionControl' as const), sessionType, suppressPositiveResponse: spr }),
  ECUReset: fc.record({ service: fc.constant('ECUReset' as const), resetType, suppressPositiveResponse: spr }),
  ClearDiagnosticInformation: fc.record(
    { service: fc.constant('ClearDiagnosticInformation' as const), groupOfDTC: u24, memorySelection: u8 },
    { requiredKeys: ['service', 'groupOfDTC'] },
  ),
  ReadDTCInformation: fc.oneof(
    fc.record({ service: fc.constant('ReadDTCInformation' as const), reportType: fc.constantFrom(0x01 as const, 0x02 as const), dtcStatusMask: u8, suppressPositiveResponse: spr }),
    fc.record({ service: fc.constant('ReadDTCInformation' as const), reportType: fc.constant(0x04 as const), dtc: u24, snapshotRecordNumber: u8, suppressPositiveResponse: spr }),
    fc.record({ service: fc.constant('ReadDTCInformation' as const), reportType: fc.constant(0x06 as const), dtc: u24, extDataRecordNumber: u8, suppressPositiveResponse: spr }),
    fc.record({ service: fc.constant('ReadDTCInformation' as const), reportType: fc.constant(0x0a as const), suppressPositiveResponse: spr }),
  ),
  ReadDataByIdentifier: fc.record({ service: fc.constant('ReadDataByIdentifier' as const), dids: fc.array(u16, { minLength: 1, maxLength: 8 }) }),
  ReadMemoryByAddress: memoryRange.map((m) => ({ service: 'ReadMemoryByAddress' as const, ...m })),
  SecurityAccess: securityType.chain((securityAccessType) =>
    fc.record({
      service: fc.constant('SecurityAccess' as const),
      securityAccessType: fc.constant(securityAccessType),
      data: securityAccessType % 2 === 1 ? bytes(0, 16) : bytes(1, 16),
      suppressPositiveResponse: spr,
    }),
  ),
  CommunicationControl: controlType.chain((ct) =>
    ct === 0x04 || ct === 0x05
      ? fc.record({ service: fc.constant('CommunicationControl' as const), controlType: fc.constant(ct), communicationType: u8, nodeIdentificationNumber: u16, suppressPositiveResponse: spr })
      : fc.record({ service: fc.constant('CommunicationControl' as const), controlType: fc.constant(ct), communicationType: u8, suppressPositiveResponse: spr }),
  ),
  WriteDataByIdentifier: fc.record({ service: fc.constant('WriteDataByIdentifier' as const), did: u16, data: bytes(1, 20) }),
  RoutineControl: fc.record({ service: fc.constant('RoutineControl' as const), routineControlType: routineType, routineIdentifier: u16, optionRecord: bytes(0, 20), suppressPositiveResponse: spr }),
  RequestDownload: fc.tuple(dataFormat, memoryRange).map(([f, m]) => ({ service: 'RequestDownload' as const, ...f, ...m })),
  RequestUpload: fc.tuple(dataFormat, memoryRange).map(([f, m]) => ({ service: 'RequestUpload' as const, ...f, ...m })),
  TransferData: fc.record({ service: fc.constant('TransferData' as const), blockSequenceCounter: u8, data: bytes(0, 64) }),
  RequestTransferExit: fc.record({ service: fc.constant('RequestTransferExit' as const), parameterRecord: bytes(0, 40) }),
  TesterPresent: fc.record({ service: fc.constant('TesterPresent' as const), suppressPositiveResponse: spr }),
  ControlDTCSetting: fc.record({ service: fc.constant('ControlDTCSetting' as const), settingType, optionRecord: bytes(0, 6), suppressPositiveResponse: spr }),
});

/** A response with the options needed to decode it again. */
export interface ResponseCase {
  res: UdsResponse;
  options: DecodeResponseOptions;
}

const noOptions = (a: fc.Arbitrary<UdsResponse>): fc.Arbitrary<ResponseCase> => a.map((res) => ({ res, options: {} }));

/** A catalogue of distinct ids with a data length each, so records can be split again on decode. */
const catalogueOf = (id: fc.Arbitrary<number>): fc.Arbitrary<Array<{ id: number; length: number }>> =>
  fc.uniqueArray(fc.record({ id, length: fc.integer({ min: 1, max: 6 }) }), { selector: (e) => e.id, minLength: 1, maxLength: 6 });
const catalogue = catalogueOf(u16);
const recordFrom = (entries: Array<{ id: number; length: number }>): fc.Arbitrary<{ did: number; data: Uint8Array }> =>
  fc.constantFrom(...entries).chain(({ id, length }) => bytes(length, length).map((data) => ({ did: id, data })));
const lengthsOf = (entries: Array<{ id: number; length: number }>): Map<number, number> => new Map(entries.map((e) => [e.id, e.length]));

const dtcAndStatus = fc.record({ dtc: u24, status: u8 });

/** One generator of valid responses per service, plus negative responses. */
export const responseArbitraries: Record<ServiceName | 'negative', fc.Arbitrary<ResponseCase>> = plainArbitraries<ServiceName | 'negative', ResponseCase>({
  DiagnosticSessionControl: noOptions(
    fc.record({
      kind: fc.constant('positive' as const),
      service: fc.constant('DiagnosticSessionControl' as const),
      sessionType,
      p2ServerMaxMs: u16,
      p2StarServerMaxMs: u16.map((v) => v * 10),
    }),
  ),
  ECUReset: noOptions(
    resetType.chain((rt) =>
      rt === 0x04
        ? fc.record({ kind: fc.constant('positive' as const), service: fc.constant('ECUReset' as const), resetType: fc.constant(rt), powerDownTime: u8 })
        : fc.record({ kind: fc.constant('positive' as const), service: fc.constant('ECUReset' as const), resetType: fc.constant(rt) }),
    ),
  ),
  ClearDiagnosticInformation: noOptions(fc.constant({ kind: 'positive', service: 'ClearDiagnosticInformation' })),
  ReadDTCInformation: fc.oneof(
    noOptions(
      fc.record({
        kind: fc.constant('positive' as const),
        service: fc.constant('ReadDTCInformation' as const),
        reportType: fc.constant(0x01 as const),
        statusAvailabilityMask: u8,
        dtcFormatIdentifier: u8,
        dtcCount: u16,
      }),
    ),
    noOptions(
      fc.record({
        kind: fc.constant('positive' as const),
        service: fc.constant('ReadDTCInformation' as const),
        reportType: fc.constantFrom(0x02 as const, 0x0a as const),
        statusAvailabilityMask: u8,
        dtcs: fc.array(dtcAndStatus, { maxLength: 8 }),
      }),
    ),
    catalogue.chain((entries) =>
      fc
        .record({
          kind: fc.constant('positive' as const),
          service: fc.constant('ReadDTCInformation' as const),
          reportType: fc.constant(0x04 as const),
          dtc: u24,
          status: u8,
          snapshots: fc.array(fc.record({ recordNumber: u8, identifiers: fc.array(recordFrom(entries), { minLength: 1, maxLength: 3 }) }), { maxLength: 3 }),
        })
        .map((res) => ({ res, options: { didLengths: lengthsOf(entries) } })),
    ),
    catalogueOf(u8).chain((entries) =>
      fc
        .record({
          kind: fc.constant('positive' as const),
          service: fc.constant('ReadDTCInformation' as const),
          reportType: fc.constant(0x06 as const),
          dtc: u24,
          status: u8,
          extendedData: fc.array(
            fc.constantFrom(...entries).chain(({ id, length }) => bytes(length, length).map((data) => ({ recordNumber: id, data }))),
            { maxLength: 3 },
          ),
        })
        .map((res) => ({ res, options: { extDataRecordLengths: lengthsOf(entries) } })),
    ),
  ),
  ReadDataByIdentifier: catalogue.chain((entries) =>
    fc
      .record({ kind: fc.constant('positive' as const), service: fc.constant('ReadDataByIdentifier' as const), records: fc.array(recordFrom(entries), { minLength: 1, maxLength: 4 }) })
      .map((res) => ({ res, options: { didLengths: lengthsOf(entries) } })),
  ),
  ReadMemoryByAddress: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('ReadMemoryByAddress' as const), data: bytes(1, 32) })),
  SecurityAccess: noOptions(
    securityType.chain((t) =>
      fc.record({
        kind: fc.constant('positive' as const),
        service: fc.constant('SecurityAccess' as const),
        securityAccessType: fc.constant(t),
        securitySeed: t % 2 === 1 ? bytes(1, 16) : bytes(0, 0),
      }),
    ),
  ),
  CommunicationControl: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('CommunicationControl' as const), controlType })),
  WriteDataByIdentifier: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('WriteDataByIdentifier' as const), did: u16 })),
  RoutineControl: noOptions(
    fc.record({
      kind: fc.constant('positive' as const),
      service: fc.constant('RoutineControl' as const),
      routineControlType: routineType,
      routineIdentifier: u16,
      statusRecord: bytes(0, 40),
    }),
  ),
  RequestDownload: noOptions(blockLengthResponse('RequestDownload')),
  RequestUpload: noOptions(blockLengthResponse('RequestUpload')),
  TransferData: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('TransferData' as const), blockSequenceCounter: u8, data: bytes(0, 64) })),
  RequestTransferExit: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('RequestTransferExit' as const), parameterRecord: bytes(0, 40) })),
  TesterPresent: noOptions(fc.constant({ kind: 'positive', service: 'TesterPresent' })),
  ControlDTCSetting: noOptions(fc.record({ kind: fc.constant('positive' as const), service: fc.constant('ControlDTCSetting' as const), settingType })),
  negative: noOptions(
    fc.record({ requestSid: u8, nrc: fc.integer({ min: 1, max: 0xff }) }).map(({ requestSid, nrc }) => ({
      kind: 'negative' as const,
      sid: 0x7f as const,
      requestSid,
      nrc,
      nrcName: nrcName(nrc),
    })),
  ),
});

function blockLengthResponse(service: 'RequestDownload' | 'RequestUpload'): fc.Arbitrary<UdsResponse> {
  return fc.integer({ min: 1, max: 4 }).chain((n) =>
    fc.record({
      kind: fc.constant('positive' as const),
      service: fc.constant(service),
      maxNumberOfBlockLength: fc.integer({ min: 0, max: 2 ** (8 * n) - 1 }),
      maxNumberOfBlockLengthBytes: fc.constant(n),
    }),
  );
}

const requestSids = Object.values(SID);

/** Random bytes, half of them starting with a known request SID so decoders get past the first byte. */
export const requestishBytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.tuple(fc.constantFrom(...requestSids), fc.uint8Array({ maxLength: 24 })).map(([sid, rest]) => Uint8Array.of(sid, ...rest)),
);

/** Random bytes, most starting with a known positive or the negative response SID. */
export const responseishBytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc
    .tuple(fc.constantFrom(...requestSids.map((s) => s + 0x40), 0x7f), fc.uint8Array({ maxLength: 24 }))
    .map(([sid, rest]) => Uint8Array.of(sid, ...rest)),
);
