/**
 * The diagnostic and communication management services and the data services of the virtual ECU
 * (ISO 14229-1:2013 §9 and §10–§11), after `admit` (gate.ts) has checked SID, session and
 * sub-function. Each returns the positive response or throws a `UdsNegativeError`.
 */
import { isRequestSeed } from '../../protocol/uds/constants.js';
import { DTC_FORMAT } from '../../protocol/uds/dtc.js';
import { NRC, UdsNegativeError } from '../../protocol/uds/nrc.js';
import { encodeResponse } from '../../protocol/uds/response.js';
import type {
  ClearDiagnosticInformationRequest,
  CommunicationControlRequest,
  ControlDTCSettingRequest,
  DiagnosticSessionControlRequest,
  ECUResetRequest,
  ReadDataByIdentifierRequest,
  ReadDTCInformationRequest,
  ReadDTCInformationResponse,
  SecurityAccessRequest,
  TesterPresentRequest,
  WriteDataByIdentifierRequest,
} from '../../protocol/uds/types.js';
import { DTC_STATUS_AVAILABILITY_MASK } from '../dtc-store.js';
import { SA_LEVEL } from '../security-access.js';
import { MAX_DIDS_PER_READ, SESSION, type Session } from './constants.js';
import type { Outcome, ServerCore } from './core.js';
import { readDid, writeRule } from './dids.js';

function refuse(nrc: number, message: string): UdsNegativeError {
  return new UdsNegativeError(nrc, message);
}

/** DiagnosticSessionControl (§9.2): the response carries P2 and P2*; programming from the application hands over to the bootloader. */
export function diagnosticSessionControl(core: ServerCore, req: DiagnosticSessionControlRequest): Outcome {
  const session = req.sessionType as Session;
  const response = encodeResponse({
    kind: 'positive',
    service: 'DiagnosticSessionControl',
    sessionType: session,
    p2ServerMaxMs: core.config.p2Ms,
    p2StarServerMaxMs: core.config.p2StarMs,
  });
  const toBootloader = core.mode === 'application' && session === SESSION.programming;
  // The new session starts once the response is out (ISO 14229-1 §9.2.1); the application's answer to
  // `10 02` is the bootloader's, which then runs in the programming session.
  return { response, suppress: req.suppressPositiveResponse, after: () => (toBootloader ? core.enterBootloader() : core.changeSession(session)) };
}

/** ECUReset (§9.3): hard (0x01) and soft (0x03) reset both restart through the bootloader's start check, after the response. */
export function ecuReset(core: ServerCore, req: ECUResetRequest): Outcome {
  const response = encodeResponse({ kind: 'positive', service: 'ECUReset', resetType: req.resetType });
  return { response, suppress: req.suppressPositiveResponse, after: () => core.reset() };
}

/** SecurityAccess (§9.4): seeds and keys per security-access.ts; requestSeed takes no securityAccessDataRecord. */
export function securityAccess(core: ServerCore, req: SecurityAccessRequest): Outcome {
  const sub = req.securityAccessType;
  const security = core.nvm.security;
  if (isRequestSeed(sub)) {
    // §9.4.4: this server defines no securityAccessDataRecord, so requestSeed is exactly 2 bytes → else 0x13.
    if (req.data.length > 0) throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, 'requestSeed takes no securityAccessDataRecord');
    const seed = security.requestSeed(sub);
    return { response: encodeResponse({ kind: 'positive', service: 'SecurityAccess', securityAccessType: sub, securitySeed: seed }), suppress: req.suppressPositiveResponse };
  }
  security.sendKey(sub, req.data);
  return { response: encodeResponse({ kind: 'positive', service: 'SecurityAccess', securityAccessType: sub, securitySeed: new Uint8Array() }), suppress: req.suppressPositiveResponse };
}

/** TesterPresent (§9.6): keeps a non-default session alive (the S3 timer restarts after every request). */
export function testerPresent(req: TesterPresentRequest): Outcome {
  return { response: encodeResponse({ kind: 'positive', service: 'TesterPresent' }), suppress: req.suppressPositiveResponse };
}

/**
 * CommunicationControl (§9.5), controlType 0x00–0x03. communicationType: bits 1-0 select normal and/or
 * network management messages (0 is invalid), bits 3-2 are reserved (0), bits 7-4 the subnet: 0x0 all
 * networks or 0xF the network of the request (this ECU has one) — anything else → NRC 0x31.
 */
export function communicationControl(core: ServerCore, req: CommunicationControlRequest): Outcome {
  const type = req.communicationType;
  const subnet = type >> 4;
  if ((type & 0x03) === 0 || (type & 0x0c) !== 0 || (subnet !== 0x0 && subnet !== 0xf)) {
    throw refuse(NRC.requestOutOfRange, `communicationType 0x${type.toString(16)} is not supported`);
  }
  core.communication.controlType = req.controlType;
  core.communication.communicationType = type;
  return { response: encodeResponse({ kind: 'positive', service: 'CommunicationControl', controlType: req.controlType }), suppress: req.suppressPositiveResponse };
}

/** ControlDTCSetting (§9.9): on/off; the only DTCSettingControlOptionRecord accepted is FF FF FF (all groups). */
export function controlDtcSetting(core: ServerCore, req: ControlDTCSettingRequest): Outcome {
  const record = req.optionRecord;
  const allGroups = record.length === 3 && record.every((b) => b === 0xff);
  if (record.length > 0 && !allGroups) throw refuse(NRC.requestOutOfRange, 'DTCSettingControlOptionRecord must be empty or FF FF FF');
  core.nvm.dtcs.setDtcSetting(req.settingType === 0x01);
  return { response: encodeResponse({ kind: 'positive', service: 'ControlDTCSetting', settingType: req.settingType }), suppress: req.suppressPositiveResponse };
}

/**
 * ReadDataByIdentifier (§10.2): the records of the supported DIDs in request order; unsupported ones are
 * left out, and if none is supported → NRC 0x31. More than `MAX_DIDS_PER_READ` DIDs → 0x13; a response
 * longer than the link can carry → 0x14.
 */
export function readDataByIdentifier(core: ServerCore, req: ReadDataByIdentifierRequest): Outcome {
  if (req.dids.length > MAX_DIDS_PER_READ) {
    throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, `at most ${MAX_DIDS_PER_READ} DIDs per request, got ${req.dids.length}`);
  }
  const records = [];
  for (const did of req.dids) {
    const data = readDid(did, core);
    if (data !== undefined) records.push({ did, data });
  }
  if (records.length === 0) throw refuse(NRC.requestOutOfRange, `none of the DIDs ${req.dids.map((d) => d.toString(16)).join(', ')} is supported`);
  const response = encodeResponse({ kind: 'positive', service: 'ReadDataByIdentifier', records });
  if (response.length > core.config.maxResponseLength) {
    throw refuse(NRC.responseTooLong, `response of ${response.length} bytes exceeds ${core.config.maxResponseLength}`);
  }
  return { response };
}

/** The session and level a write needs: extended + level 0x01, or (bootloader) programming + level 0x11. */
function mayWrite(core: ServerCore): boolean {
  const level = core.nvm.security.unlockedLevel;
  if (core.session === SESSION.extended) return level === SA_LEVEL.extended.requestSeed;
  return core.session === SESSION.programming && level === SA_LEVEL.programming.requestSeed;
}

/** WriteDataByIdentifier (§10.7): checks in the order of §10.7.4 — DID (0x31), security (0x33), length (0x13), value (0x31). */
export function writeDataByIdentifier(core: ServerCore, req: WriteDataByIdentifierRequest): Outcome {
  const rule = writeRule(req.did, core.mode);
  if (rule === undefined) throw refuse(NRC.requestOutOfRange, `DID 0x${req.did.toString(16)} is not writable`);
  if (!mayWrite(core)) throw refuse(NRC.securityAccessDenied, `writing DID 0x${req.did.toString(16)} needs SecurityAccess`);
  if (req.data.length !== rule.length) {
    throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, `DID 0x${req.did.toString(16)} takes ${rule.length} bytes, got ${req.data.length}`);
  }
  if (!rule.valid(req.data)) throw refuse(NRC.requestOutOfRange, `value of DID 0x${req.did.toString(16)} is out of range`);
  try {
    core.nvm.state.writeDid(req.did, req.data);
  } catch (e) {
    // §10.7.4: the server could not write the memory → NRC 0x72.
    throw new UdsNegativeError(NRC.generalProgrammingFailure, `writing DID 0x${req.did.toString(16)} failed`, { cause: e });
  }
  return { response: encodeResponse({ kind: 'positive', service: 'WriteDataByIdentifier', did: req.did }) };
}

/** ReadDTCInformation (§11.3): reportTypes 0x01, 0x02, 0x04, 0x06, 0x0A over the DTC memory. */
export function readDtcInformation(core: ServerCore, req: ReadDTCInformationRequest): Outcome {
  const dtcs = core.nvm.dtcs;
  const mask = DTC_STATUS_AVAILABILITY_MASK;
  let res: ReadDTCInformationResponse;
  switch (req.reportType) {
    case 0x01:
      res = { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x01, statusAvailabilityMask: mask,
        dtcFormatIdentifier: DTC_FORMAT.ISO15031_6, dtcCount: dtcs.byStatusMask(req.dtcStatusMask).length };
      break;
    case 0x02:
      res = { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x02, statusAvailabilityMask: mask, dtcs: dtcs.byStatusMask(req.dtcStatusMask) };
      break;
    case 0x0a:
      res = { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x0a, statusAvailabilityMask: mask, dtcs: dtcs.supported() };
      break;
    case 0x04: {
      const snapshots = dtcs.snapshots(req.dtc, req.snapshotRecordNumber); // unknown DTC or record → 0x31
      res = { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x04, dtc: req.dtc, status: statusOf(core, req.dtc), snapshots };
      break;
    }
    case 0x06: {
      const extendedData = dtcs.extendedData(req.dtc, req.extDataRecordNumber); // unknown DTC or record → 0x31
      res = { kind: 'positive', service: 'ReadDTCInformation', reportType: 0x06, dtc: req.dtc, status: statusOf(core, req.dtc), extendedData };
      break;
    }
  }
  return { response: encodeResponse(res), suppress: req.suppressPositiveResponse };
}

function statusOf(core: ServerCore, dtc: number): number {
  return core.nvm.dtcs.supported().find((e) => e.dtc === dtc)?.status ?? 0;
}

/** ClearDiagnosticInformation (§11.2): all groups (FF FF FF), a system group or one DTC; no MemorySelection (→ 0x31). */
export function clearDiagnosticInformation(core: ServerCore, req: ClearDiagnosticInformationRequest): Outcome {
  if (req.memorySelection !== undefined) throw refuse(NRC.requestOutOfRange, 'this ECU has no user-defined DTC memory (MemorySelection)');
  core.nvm.dtcs.clear(req.groupOfDTC); // FF FF FF all, 00/40/80/C0 00 00 a system, else one DTC; unknown → 0x31
  return { response: encodeResponse({ kind: 'positive', service: 'ClearDiagnosticInformation' }) };
}
