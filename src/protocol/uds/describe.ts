/**
 * `describeUds` for `ota decode uds`: one UDS message (request, positive or negative response) as a
 * JSON-friendly object naming the service, direction, sub-function and every field. Identifiers and
 * masks print as `0x..` hex, byte fields as spaced hex (plus `ascii` when all printable), DTCs as
 * `P0100-00` with their status bits by name.
 */
import { hexNum, toHex } from '../hex.js';
import { udsError } from './bytes.js';
import {
  COMMUNICATION_TYPE,
  POSITIVE_RESPONSE_OFFSET,
  ROUTINE_ID,
  keyOf,
  serviceName,
  subFunctionName,
} from './constants.js';
import { didName, type DidRecord } from './did.js';
import { DTC_FORMAT, dtcStatusBits, formatDtc, type DtcAndStatus } from './dtc.js';
import { decodeMemoryRange, encodeAlfid, encodeDfi, type DataFormat, type MemoryRange } from './memory.js';
import { NEGATIVE_RESPONSE_SID } from './nrc.js';
import { decodeRequest } from './request.js';
import { decodeResponse } from './response.js';
import type { DecodeResponseOptions, UdsPositiveResponse, UdsRequest } from './types.js';

type Json = Record<string, unknown>;

/** Bytes as spaced hex, with their ASCII text when every byte is printable. */
function bytesField(bytes: Uint8Array): Json {
  const out: Json = { hex: toHex(bytes), length: bytes.length };
  if (bytes.length > 0 && bytes.every((b) => b >= 0x20 && b < 0x7f)) out.ascii = Buffer.from(bytes).toString('latin1');
  return out;
}

function didField({ did, data }: DidRecord): Json {
  return { did: hexNum(did, 4), name: didName(did) ?? null, data: bytesField(data) };
}

function dtcField(dtc: number, status: number): Json {
  return { dtc: formatDtc(dtc), code: hexNum(dtc, 6), status: hexNum(status), statusBits: dtcStatusBits(status) };
}

function memoryFields(m: MemoryRange): Json {
  return {
    addressAndLengthFormatIdentifier: hexNum(encodeAlfid(m)),
    memoryAddress: hexNum(m.memoryAddress, 2 * m.addressLength),
    memorySize: m.memorySize,
  };
}

function formatFields(f: DataFormat): Json {
  return { dataFormatIdentifier: hexNum(encodeDfi(f)), compressionMethod: f.compressionMethod, encryptingMethod: f.encryptingMethod };
}

function communicationTypeFields(byte: number): Json {
  const subnet = byte >> 4;
  return {
    communicationType: hexNum(byte),
    messages: keyOf(COMMUNICATION_TYPE, byte & 0x03) ?? 'ISOSAEReserved',
    subnet: subnet === 0 ? 'allSubnets' : subnet === 0x0f ? 'receivingNetwork' : subnet,
  };
}

function routineFields(routineIdentifier: number): Json {
  return { routineIdentifier: hexNum(routineIdentifier, 4), routineName: keyOf(ROUTINE_ID, routineIdentifier) ?? null };
}

/** The sub-function value for services that have one, or undefined. */
function subFunctionOf(m: UdsRequest | UdsPositiveResponse): number | undefined {
  switch (m.service) {
    case 'DiagnosticSessionControl':
      return m.sessionType;
    case 'ECUReset':
      return m.resetType;
    case 'ReadDTCInformation':
      return m.reportType;
    case 'SecurityAccess':
      return m.securityAccessType;
    case 'CommunicationControl':
      return m.controlType;
    case 'RoutineControl':
      return m.routineControlType;
    case 'ControlDTCSetting':
      return m.settingType;
    case 'TesterPresent':
      return 0;
    default:
      return undefined;
  }
}

function header(m: UdsRequest | UdsPositiveResponse, direction: string, sid: number): Json {
  const out: Json = { service: m.service, direction, sid: hexNum(sid) };
  const sub = subFunctionOf(m);
  if (sub !== undefined) {
    out.subFunction = subFunctionName(m.service, sub) ?? null;
    out.subFunctionValue = hexNum(sub);
    if (m.service === 'SecurityAccess') out.securityLevel = Math.ceil(sub / 2);
    if ('suppressPositiveResponse' in m) out.suppressPositiveResponse = m.suppressPositiveResponse;
  }
  return out;
}

function requestFields(m: UdsRequest): Json {
  switch (m.service) {
    case 'ClearDiagnosticInformation':
      return {
        groupOfDTC: m.groupOfDTC === 0xffffff ? 'allGroups' : hexNum(m.groupOfDTC, 6),
        ...(m.memorySelection === undefined ? {} : { memorySelection: hexNum(m.memorySelection) }),
      };
    case 'ReadDTCInformation':
      if (m.reportType === 0x01 || m.reportType === 0x02) return { dtcStatusMask: hexNum(m.dtcStatusMask), statusBits: dtcStatusBits(m.dtcStatusMask) };
      if (m.reportType === 0x04) return { dtc: formatDtc(m.dtc), snapshotRecordNumber: hexNum(m.snapshotRecordNumber) };
      if (m.reportType === 0x06) return { dtc: formatDtc(m.dtc), extDataRecordNumber: hexNum(m.extDataRecordNumber) };
      return {};
    case 'ReadDataByIdentifier':
      return { dataIdentifiers: m.dids.map((did) => ({ did: hexNum(did, 4), name: didName(did) ?? null })) };
    case 'ReadMemoryByAddress':
      return memoryFields(m);
    case 'SecurityAccess':
      return { [m.securityAccessType % 2 === 1 ? 'securityAccessDataRecord' : 'securityKey']: bytesField(m.data) };
    case 'CommunicationControl':
      return {
        ...communicationTypeFields(m.communicationType),
        ...(m.nodeIdentificationNumber === undefined ? {} : { nodeIdentificationNumber: hexNum(m.nodeIdentificationNumber, 4) }),
      };
    case 'WriteDataByIdentifier':
      return didField(m);
    case 'RoutineControl': {
      const out: Json = { ...routineFields(m.routineIdentifier), optionRecord: bytesField(m.optionRecord) };
      if (m.routineIdentifier === ROUTINE_ID.eraseMemory && m.optionRecord.length > 0) {
        try {
          out.eraseRange = memoryFields(decodeMemoryRange(m.optionRecord));
        } catch {
          // Not an ALFID-address-size record: the raw optionRecord above is all we can show.
        }
      }
      return out;
    }
    case 'RequestDownload':
    case 'RequestUpload':
      return { ...formatFields(m), ...memoryFields(m) };
    case 'TransferData':
      return { blockSequenceCounter: hexNum(m.blockSequenceCounter), data: bytesField(m.data) };
    case 'RequestTransferExit':
      return { transferRequestParameterRecord: bytesField(m.parameterRecord) };
    case 'ControlDTCSetting':
      return { optionRecord: bytesField(m.optionRecord) };
    default:
      return {};
  }
}

function dtcList(dtcs: DtcAndStatus[]): Json[] {
  return dtcs.map(({ dtc, status }) => dtcField(dtc, status));
}

function responseFields(m: UdsPositiveResponse): Json {
  switch (m.service) {
    case 'DiagnosticSessionControl':
      return { p2ServerMaxMs: m.p2ServerMaxMs, p2StarServerMaxMs: m.p2StarServerMaxMs };
    case 'ECUReset':
      return m.powerDownTime === undefined ? {} : { powerDownTime: m.powerDownTime };
    case 'ReadDTCInformation':
      switch (m.reportType) {
        case 0x01:
          return {
            statusAvailabilityMask: hexNum(m.statusAvailabilityMask),
            dtcFormatIdentifier: keyOf(DTC_FORMAT, m.dtcFormatIdentifier) ?? hexNum(m.dtcFormatIdentifier),
            dtcCount: m.dtcCount,
          };
        case 0x02:
        case 0x0a:
          return { statusAvailabilityMask: hexNum(m.statusAvailabilityMask), dtcs: dtcList(m.dtcs) };
        case 0x04:
          return {
            ...dtcField(m.dtc, m.status),
            snapshots: m.snapshots.map((s) => ({ recordNumber: hexNum(s.recordNumber), identifiers: s.identifiers.map(didField) })),
          };
        case 0x06:
          return {
            ...dtcField(m.dtc, m.status),
            extendedData: m.extendedData.map((e) => ({ recordNumber: hexNum(e.recordNumber), data: bytesField(e.data) })),
          };
      }
      return {};
    case 'ReadDataByIdentifier':
      return { records: m.records.map(didField) };
    case 'ReadMemoryByAddress':
      return { data: bytesField(m.data) };
    case 'SecurityAccess':
      return m.securityAccessType % 2 === 1 ? { securitySeed: bytesField(m.securitySeed) } : {};
    case 'WriteDataByIdentifier':
      return { did: hexNum(m.did, 4), name: didName(m.did) ?? null };
    case 'RoutineControl':
      return { ...routineFields(m.routineIdentifier), statusRecord: bytesField(m.statusRecord) };
    case 'RequestDownload':
    case 'RequestUpload':
      return { maxNumberOfBlockLength: m.maxNumberOfBlockLength, lengthFormatIdentifier: hexNum(m.maxNumberOfBlockLengthBytes << 4) };
    case 'TransferData':
      return { blockSequenceCounter: hexNum(m.blockSequenceCounter), data: bytesField(m.data) };
    case 'RequestTransferExit':
      return { transferResponseParameterRecord: bytesField(m.parameterRecord) };
    default:
      return {};
  }
}

/** True when the first byte is a response SID: 0x7F, or a standard service's SID + 0x40. */
function isResponseSid(sid: number): boolean {
  return sid === NEGATIVE_RESPONSE_SID || (sid >= POSITIVE_RESPONSE_OFFSET && serviceName(sid - POSITIVE_RESPONSE_OFFSET) !== undefined);
}

/**
 * Describes one UDS message for people and JSON. Direction comes from the first byte (0x7F negative,
 * SID+0x40 positive, else a request). Multi-DID responses decode with `options.didLengths` as in
 * `decodeResponse`. Malformed bytes throw the decoder's `DecodeError`.
 */
export function describeUds(bytes: Uint8Array, options: DecodeResponseOptions = {}): unknown {
  const sid = bytes[0];
  if (sid === undefined) throw udsError('UDS_EMPTY', 'no bytes to describe', 'response');
  if (!isResponseSid(sid)) {
    const req = decodeRequest(bytes);
    return { ...header(req, 'request', sid), ...requestFields(req) };
  }
  const res = decodeResponse(bytes, options);
  if (res.kind === 'negative') {
    return {
      service: serviceName(res.requestSid) ?? null,
      direction: 'negative response',
      sid: hexNum(res.sid),
      requestSid: hexNum(res.requestSid),
      nrc: hexNum(res.nrc),
      nrcName: res.nrcName,
    };
  }
  return { ...header(res, 'positive response', sid), ...responseFields(res) };
}
