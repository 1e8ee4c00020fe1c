/**
 * UDS request codec. Checks follow the server's order in ISO 14229-1:2013 §7.5: known service (NRC 0x11),
 * minimum length (0x13), supported sub-function (0x12), then total length and format (0x13) and
 * parameter ranges (0x31); every `DecodeError` carries that NRC as `wireCode`.
 */
import { Reader, Writer, udsError } from './bytes.js';
import {
  SERVICES_WITH_SUB_FUNCTION,
  SID,
  SUPPRESS_POSITIVE_RESPONSE,
  isRequestSeed,
  isValidSubFunction,
  serviceOfSid,
  type ServiceName,
} from './constants.js';
import { readMemoryRange, writeMemoryRange, decodeDfi, encodeDfi } from './memory.js';
import { readDtcRequest, writeDtcRequest } from './read-dtc.js';
import type { UdsRequest } from './types.js';

/** Control types of CommunicationControl that carry a nodeIdentificationNumber (ISO 14229-1 §9.5.2). */
function hasNodeId(controlType: number): boolean {
  return controlType === 0x04 || controlType === 0x05;
}

/** Decodes one request message. Throws `DecodeError` (UDS_EMPTY, UDS_UNKNOWN_SERVICE, UDS_LENGTH, …) with the NRC as `wireCode`. */
export function decodeRequest(bytes: Uint8Array): UdsRequest {
  if (bytes.length === 0) throw udsError('UDS_EMPTY', 'empty UDS request', 'request');
  const r: Reader = new Reader(bytes, 'request');
  const sid = r.u8('SID');
  const service = serviceOfSid(sid);
  if (service === undefined) r.fail('UDS_UNKNOWN_SERVICE', `unknown or unsupported request SID 0x${sid.toString(16)}`);
  let sub = 0;
  let suppressPositiveResponse = false;
  if (SERVICES_WITH_SUB_FUNCTION.has(service)) {
    const byte = r.u8('sub-function');
    sub = byte & 0x7f;
    suppressPositiveResponse = (byte & SUPPRESS_POSITIVE_RESPONSE) !== 0;
    // §7.5: a sub-function the server does not support → NRC 0x12 (before the total length check).
    if (!isValidSubFunction(service, sub)) r.fail('UDS_SUBFUNCTION', `sub-function 0x${sub.toString(16)} of ${service} is not supported`);
  }
  const req = readBody(r, service, sub, suppressPositiveResponse);
  r.end();
  return req;
}

function readBody(r: Reader, service: ServiceName, sub: number, suppressPositiveResponse: boolean): UdsRequest {
  switch (service) {
    case 'DiagnosticSessionControl':
      return { service, sessionType: sub, suppressPositiveResponse };
    case 'ECUReset':
      return { service, resetType: sub, suppressPositiveResponse };
    case 'ClearDiagnosticInformation': {
      const groupOfDTC = r.u24('groupOfDTC');
      return r.remaining === 0 ? { service, groupOfDTC } : { service, groupOfDTC, memorySelection: r.u8('MemorySelection') };
    }
    case 'ReadDTCInformation':
      return readDtcRequest(r, sub, suppressPositiveResponse);
    case 'ReadDataByIdentifier': {
      // §10.2.4: at least one DID and whole DIDs only, else NRC 0x13.
      if (r.remaining === 0 || r.remaining % 2 !== 0) r.fail('UDS_LENGTH', `dataIdentifier list of ${r.remaining} bytes`);
      const dids: number[] = [];
      while (r.remaining > 0) dids.push(r.u16('dataIdentifier'));
      return { service, dids };
    }
    case 'ReadMemoryByAddress':
      return { service, ...readMemoryRange(r) };
    case 'SecurityAccess': {
      const data = r.rest();
      // §9.4.4: sendKey without a key has the wrong length → NRC 0x13.
      if (!isRequestSeed(sub) && data.length === 0) r.fail('UDS_LENGTH', 'sendKey without a key');
      return { service, securityAccessType: sub, data, suppressPositiveResponse };
    }
    case 'CommunicationControl': {
      const communicationType = r.u8('communicationType');
      if (!hasNodeId(sub)) return { service, controlType: sub, communicationType, suppressPositiveResponse };
      const nodeIdentificationNumber = r.u16('nodeIdentificationNumber');
      return { service, controlType: sub, communicationType, nodeIdentificationNumber, suppressPositiveResponse };
    }
    case 'WriteDataByIdentifier': {
      const did = r.u16('dataIdentifier');
      if (r.remaining === 0) r.fail('UDS_LENGTH', 'WriteDataByIdentifier without a dataRecord'); // §10.7.4
      return { service, did, data: r.rest() };
    }
    case 'RoutineControl': {
      const routineIdentifier = r.u16('routineIdentifier');
      return { service, routineControlType: sub, routineIdentifier, optionRecord: r.rest(), suppressPositiveResponse };
    }
    case 'RequestDownload':
    case 'RequestUpload': {
      const format = decodeDfi(r.u8('dataFormatIdentifier'));
      return { service, ...format, ...readMemoryRange(r) };
    }
    case 'TransferData':
      return { service, blockSequenceCounter: r.u8('blockSequenceCounter'), data: r.rest() };
    case 'RequestTransferExit':
      return { service, parameterRecord: r.rest() };
    case 'TesterPresent':
      return { service, suppressPositiveResponse };
    case 'ControlDTCSetting':
      return { service, settingType: sub, optionRecord: r.rest(), suppressPositiveResponse };
  }
}

/** Appends SID and, for services with one, the sub-function byte with the SPR bit. */
function writeHeader(w: Writer, service: ServiceName, sub: number, suppress: boolean | undefined): void {
  w.u8(SID[service], 'SID');
  if (!SERVICES_WITH_SUB_FUNCTION.has(service)) return;
  if (typeof suppress !== 'boolean') throw udsError('UDS_RANGE', `${service}: suppressPositiveResponse must be a boolean`);
  if (!Number.isInteger(sub) || !isValidSubFunction(service, sub)) {
    throw udsError('UDS_SUBFUNCTION', `sub-function ${String(sub)} of ${service} is not supported`);
  }
  w.u8(sub | (suppress ? SUPPRESS_POSITIVE_RESPONSE : 0), 'sub-function');
}

/** Encodes one request. Throws `DecodeError` (UDS_RANGE, UDS_SUBFUNCTION, UDS_UNKNOWN_SERVICE) for values the wire cannot carry. */
export function encodeRequest(req: UdsRequest): Uint8Array {
  const w = new Writer();
  switch (req.service) {
    case 'DiagnosticSessionControl':
      writeHeader(w, req.service, req.sessionType, req.suppressPositiveResponse);
      break;
    case 'ECUReset':
      writeHeader(w, req.service, req.resetType, req.suppressPositiveResponse);
      break;
    case 'ClearDiagnosticInformation':
      writeHeader(w, req.service, 0, undefined);
      w.u24(req.groupOfDTC, 'groupOfDTC');
      if (req.memorySelection !== undefined) w.u8(req.memorySelection, 'memorySelection');
      break;
    case 'ReadDTCInformation':
      writeHeader(w, req.service, req.reportType, req.suppressPositiveResponse);
      writeDtcRequest(w, req);
      break;
    case 'ReadDataByIdentifier':
      writeHeader(w, req.service, 0, undefined);
      if (req.dids.length === 0) throw udsError('UDS_RANGE', 'ReadDataByIdentifier needs at least one DID');
      for (const did of req.dids) w.u16(did, 'did');
      break;
    case 'ReadMemoryByAddress':
      writeHeader(w, req.service, 0, undefined);
      writeMemoryRange(w, req);
      break;
    case 'SecurityAccess':
      writeHeader(w, req.service, req.securityAccessType, req.suppressPositiveResponse);
      w.bytes(req.data, 'data');
      if (!isRequestSeed(req.securityAccessType) && req.data.length === 0) throw udsError('UDS_RANGE', 'sendKey needs a key');
      break;
    case 'CommunicationControl':
      writeHeader(w, req.service, req.controlType, req.suppressPositiveResponse);
      w.u8(req.communicationType, 'communicationType');
      if (hasNodeId(req.controlType) !== (req.nodeIdentificationNumber !== undefined)) {
        throw udsError('UDS_RANGE', 'nodeIdentificationNumber is present exactly for controlType 0x04/0x05');
      }
      if (req.nodeIdentificationNumber !== undefined) w.u16(req.nodeIdentificationNumber, 'nodeIdentificationNumber');
      break;
    case 'WriteDataByIdentifier':
      writeHeader(w, req.service, 0, undefined);
      w.u16(req.did, 'did').bytes(req.data, 'data');
      if (req.data.length === 0) throw udsError('UDS_RANGE', 'WriteDataByIdentifier needs a dataRecord');
      break;
    case 'RoutineControl':
      writeHeader(w, req.service, req.routineControlType, req.suppressPositiveResponse);
      w.u16(req.routineIdentifier, 'routineIdentifier').bytes(req.optionRecord, 'optionRecord');
      break;
    case 'RequestDownload':
    case 'RequestUpload':
      writeHeader(w, req.service, 0, undefined);
      w.u8(encodeDfi(req), 'dataFormatIdentifier');
      writeMemoryRange(w, req);
      break;
    case 'TransferData':
      writeHeader(w, req.service, 0, undefined);
      w.u8(req.blockSequenceCounter, 'blockSequenceCounter').bytes(req.data, 'data');
      break;
    case 'RequestTransferExit':
      writeHeader(w, req.service, 0, undefined);
      w.bytes(req.parameterRecord, 'parameterRecord');
      break;
    case 'TesterPresent':
      writeHeader(w, req.service, 0, req.suppressPositiveResponse);
      break;
    case 'ControlDTCSetting':
      writeHeader(w, req.service, req.settingType, req.suppressPositiveResponse);
      w.bytes(req.optionRecord, 'optionRecord');
      break;
    default:
      throw udsError('UDS_UNKNOWN_SERVICE', `unknown service '${String((req as { service?: unknown }).service)}'`);
  }
  return w.finish();
}
