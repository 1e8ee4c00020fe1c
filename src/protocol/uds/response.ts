/**
 * UDS response codec (the tester's side): positive responses `SID+0x40 …` and negative responses
 * `7F SID NRC` (ISO 14229-1:2013 §7.5, §8). Decode errors carry no `wireCode` (nobody answers a response).
 */
import { Reader, Writer, udsError } from './bytes.js';
import {
  POSITIVE_RESPONSE_OFFSET,
  SERVICES_WITH_SUB_FUNCTION,
  SID,
  isRequestSeed,
  isValidSubFunction,
  serviceOfSid,
  type ServiceName,
} from './constants.js';
import { readDidData, writeDidRecord } from './did.js';
import { decodeLfi, encodeLfi } from './memory.js';
import { NEGATIVE_RESPONSE_SID, nrcName } from './nrc.js';
import { readDtcResponse, writeDtcResponse } from './read-dtc.js';
import type { DecodeResponseOptions, UdsPositiveResponse, UdsResponse } from './types.js';

/** P2* is sent in units of 10 ms (ISO 14229-2 sessionParameterRecord). */
const P2_STAR_UNIT_MS = 10;

/**
 * Decodes one response. ReadDataByIdentifier: a DID found in `didLengths` takes that many bytes; a DID
 * without an entry takes all remaining bytes (so a single-DID response always decodes, and for several
 * DIDs every DID but the last must be in `didLengths`, else the rest is read as the first unknown DID's
 * data). Snapshot records (0x59 0x04) use the same rule and refuse with UDS_DID_LENGTH_UNKNOWN when an
 * unknown DID is followed by more identifiers of its record.
 */
export function decodeResponse(bytes: Uint8Array, options: DecodeResponseOptions = {}): UdsResponse {
  if (bytes.length === 0) throw udsError('UDS_EMPTY', 'empty UDS response', 'response');
  const r: Reader = new Reader(bytes, 'response');
  const sid = r.u8('SID');
  if (sid === NEGATIVE_RESPONSE_SID) {
    const requestSid = r.u8('requestServiceId');
    const nrc = r.u8('negativeResponseCode');
    // ISO 14229-1 §8.7.5: 0x00 positiveResponse is never a negative response code.
    if (nrc === 0x00) r.fail('UDS_RANGE', 'NRC 0x00 (positiveResponse) in a negative response');
    r.end();
    return { kind: 'negative', sid: NEGATIVE_RESPONSE_SID, requestSid, nrc, nrcName: nrcName(nrc) };
  }
  const service = sid >= POSITIVE_RESPONSE_OFFSET ? serviceOfSid(sid - POSITIVE_RESPONSE_OFFSET) : undefined;
  if (service === undefined) r.fail('UDS_UNKNOWN_SERVICE', `unknown or unsupported response SID 0x${sid.toString(16)}`);
  let sub = 0;
  if (SERVICES_WITH_SUB_FUNCTION.has(service)) {
    sub = r.u8('sub-function echo');
    // The response echoes bits 6-0 of the sub-function; bit 7 (SPR) is never set in a response.
    if (sub > 0x7f || !isValidSubFunction(service, sub)) r.fail('UDS_SUBFUNCTION', `sub-function echo 0x${sub.toString(16)} of ${service}`);
  }
  const res = readBody(r, service, sub, options);
  r.end();
  return res;
}

function readBody(r: Reader, service: ServiceName, sub: number, options: DecodeResponseOptions): UdsPositiveResponse {
  const kind = 'positive';
  switch (service) {
    case 'DiagnosticSessionControl': {
      const p2ServerMaxMs = r.u16('P2Server_max');
      const p2StarServerMaxMs = r.u16('P2*Server_max') * P2_STAR_UNIT_MS;
      return { kind, service, sessionType: sub, p2ServerMaxMs, p2StarServerMaxMs };
    }
    case 'ECUReset':
      // §9.3.3: powerDownTime only follows enableRapidPowerShutDown.
      return sub === 0x04 ? { kind, service, resetType: sub, powerDownTime: r.u8('powerDownTime') } : { kind, service, resetType: sub };
    case 'ClearDiagnosticInformation':
      return { kind, service };
    case 'ReadDTCInformation':
      return readDtcResponse(r, sub, options);
    case 'ReadDataByIdentifier': {
      const records = [];
      do {
        const did = r.u16('dataIdentifier');
        records.push({ did, data: readDidData(r, did, options.didLengths, true) });
      } while (r.remaining > 0);
      return { kind, service, records };
    }
    case 'ReadMemoryByAddress':
      if (r.remaining === 0) r.fail('UDS_LENGTH', 'ReadMemoryByAddress response without data');
      return { kind, service, data: r.rest() };
    case 'SecurityAccess': {
      const securitySeed = r.rest();
      // §9.4.3: requestSeed answers with a seed; sendKey answers with nothing more.
      if (isRequestSeed(sub) && securitySeed.length === 0) r.fail('UDS_LENGTH', 'requestSeed response without a seed');
      if (!isRequestSeed(sub) && securitySeed.length > 0) r.fail('UDS_TRAILING', 'sendKey response with data');
      return { kind, service, securityAccessType: sub, securitySeed };
    }
    case 'CommunicationControl':
      return { kind, service, controlType: sub };
    case 'WriteDataByIdentifier':
      return { kind, service, did: r.u16('dataIdentifier') };
    case 'RoutineControl': {
      const routineIdentifier = r.u16('routineIdentifier');
      return { kind, service, routineControlType: sub, routineIdentifier, statusRecord: r.rest() };
    }
    case 'RequestDownload':
    case 'RequestUpload': {
      const maxNumberOfBlockLengthBytes = decodeLfi(r.u8('lengthFormatIdentifier'), 'response');
      const maxNumberOfBlockLength = r.uint(maxNumberOfBlockLengthBytes, 'maxNumberOfBlockLength');
      return { kind, service, maxNumberOfBlockLength, maxNumberOfBlockLengthBytes };
    }
    case 'TransferData':
      return { kind, service, blockSequenceCounter: r.u8('blockSequenceCounter'), data: r.rest() };
    case 'RequestTransferExit':
      return { kind, service, parameterRecord: r.rest() };
    case 'TesterPresent':
      return { kind, service };
    case 'ControlDTCSetting':
      return { kind, service, settingType: sub };
  }
}

function writeHeader(w: Writer, service: ServiceName, sub?: number): void {
  w.u8(SID[service] + POSITIVE_RESPONSE_OFFSET, 'SID');
  if (!SERVICES_WITH_SUB_FUNCTION.has(service)) return;
  if (sub === undefined || !Number.isInteger(sub) || !isValidSubFunction(service, sub)) {
    throw udsError('UDS_SUBFUNCTION', `sub-function ${String(sub)} of ${service} is not supported`);
  }
  w.u8(sub, 'sub-function');
}

/** Encodes one response (positive or negative). Throws `DecodeError` (UDS_RANGE, UDS_SUBFUNCTION, …) for unrepresentable values. */
export function encodeResponse(res: UdsResponse): Uint8Array {
  const w = new Writer();
  if (res.kind === 'negative') {
    if (res.nrc === 0x00) throw udsError('UDS_RANGE', 'NRC 0x00 is not a negative response code');
    return w.u8(NEGATIVE_RESPONSE_SID, 'SID').u8(res.requestSid, 'requestSid').u8(res.nrc, 'nrc').finish();
  }
  switch (res.service) {
    case 'DiagnosticSessionControl': {
      writeHeader(w, res.service, res.sessionType);
      w.u16(res.p2ServerMaxMs, 'p2ServerMaxMs');
      if (res.p2StarServerMaxMs % P2_STAR_UNIT_MS !== 0) throw udsError('UDS_RANGE', 'p2StarServerMaxMs must be a multiple of 10 ms');
      w.u16(res.p2StarServerMaxMs / P2_STAR_UNIT_MS, 'p2StarServerMaxMs / 10');
      break;
    }
    case 'ECUReset':
      writeHeader(w, res.service, res.resetType);
      if ((res.resetType === 0x04) !== (res.powerDownTime !== undefined)) {
        throw udsError('UDS_RANGE', 'powerDownTime is present exactly for enableRapidPowerShutDown (0x04)');
      }
      if (res.powerDownTime !== undefined) w.u8(res.powerDownTime, 'powerDownTime');
      break;
    case 'ClearDiagnosticInformation':
    case 'TesterPresent':
      writeHeader(w, res.service, res.service === 'TesterPresent' ? 0 : undefined);
      break;
    case 'ReadDTCInformation':
      writeHeader(w, res.service, res.reportType);
      writeDtcResponse(w, res);
      break;
    case 'ReadDataByIdentifier':
      writeHeader(w, res.service);
      if (res.records.length === 0) throw udsError('UDS_RANGE', 'ReadDataByIdentifier response needs at least one record');
      for (const { did, data } of res.records) writeDidRecord(w, did, data);
      break;
    case 'ReadMemoryByAddress':
      writeHeader(w, res.service);
      w.bytes(res.data, 'data');
      if (res.data.length === 0) throw udsError('UDS_RANGE', 'ReadMemoryByAddress response needs data');
      break;
    case 'SecurityAccess':
      writeHeader(w, res.service, res.securityAccessType);
      w.bytes(res.securitySeed, 'securitySeed');
      if (isRequestSeed(res.securityAccessType) !== res.securitySeed.length > 0) {
        throw udsError('UDS_RANGE', 'a requestSeed response carries a seed, a sendKey response none');
      }
      break;
    case 'CommunicationControl':
      writeHeader(w, res.service, res.controlType);
      break;
    case 'WriteDataByIdentifier':
      writeHeader(w, res.service);
      w.u16(res.did, 'did');
      break;
    case 'RoutineControl':
      writeHeader(w, res.service, res.routineControlType);
      w.u16(res.routineIdentifier, 'routineIdentifier').bytes(res.statusRecord, 'statusRecord');
      break;
    case 'RequestDownload':
    case 'RequestUpload':
      writeHeader(w, res.service);
      w.u8(encodeLfi(res.maxNumberOfBlockLengthBytes), 'lengthFormatIdentifier');
      w.uint(res.maxNumberOfBlockLength, res.maxNumberOfBlockLengthBytes, 'maxNumberOfBlockLength');
      break;
    case 'TransferData':
      writeHeader(w, res.service);
      w.u8(res.blockSequenceCounter, 'blockSequenceCounter').bytes(res.data, 'data');
      break;
    case 'RequestTransferExit':
      writeHeader(w, res.service);
      w.bytes(res.parameterRecord, 'parameterRecord');
      break;
    case 'ControlDTCSetting':
      writeHeader(w, res.service, res.settingType);
      break;
    default:
      throw udsError('UDS_UNKNOWN_SERVICE', `unknown service '${String((res as { service?: unknown }).service)}'`);
  }
  return w.finish();
}
