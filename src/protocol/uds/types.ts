/**
 * UDS messages as discriminated unions. Every request and positive response has `service` (the
 * `SID` key, e.g. `'TransferData'`); positive responses also have `kind: 'positive'`, negative ones are
 * `{ kind: 'negative', sid: 0x7F, requestSid, nrc, nrcName }`.
 *
 * Conventions: numbers are unsigned wire values (DIDs, DTCs as 24-bit numbers, masks); sub-functions
 * are the 7-bit value under the ISO parameter name (`sessionType`, `resetType`, …) and, for services
 * that have one, `suppressPositiveResponse` is bit 7. Byte fields decoded from a message are views into
 * the input (no copy): copy them if the input buffer is reused. Decoders fill every field (optional
 * ones only when present on the wire), so `decode(encode(x))` deep-equals `x`.
 */
import type { DidRecord } from './did.js';
import type { DtcAndStatus, DtcExtDataRecord, DtcSnapshotRecord } from './dtc.js';
import type { MemoryRange, DataFormat } from './memory.js';

/** Bit 7 of the sub-function byte (suppressPosRspMsgIndicationBit): the server sends no positive response. */
export interface WithSuppress {
  suppressPositiveResponse: boolean;
}

// ---- requests -------------------------------------------------------------------------------------

export interface DiagnosticSessionControlRequest extends WithSuppress {
  service: 'DiagnosticSessionControl';
  sessionType: number;
}

export interface ECUResetRequest extends WithSuppress {
  service: 'ECUReset';
  resetType: number;
}

export interface ClearDiagnosticInformationRequest {
  service: 'ClearDiagnosticInformation';
  /** 24-bit groupOfDTC; 0xFFFFFF = all groups. */
  groupOfDTC: number;
  /** MemorySelection (ISO 14229-1:2020), present only when sent. */
  memorySelection?: number;
}

export interface ReadDtcByStatusMaskRequest extends WithSuppress {
  service: 'ReadDTCInformation';
  /** 0x01 reportNumberOfDTCByStatusMask, 0x02 reportDTCByStatusMask. */
  reportType: 0x01 | 0x02;
  dtcStatusMask: number;
}

export interface ReadDtcSnapshotRequest extends WithSuppress {
  service: 'ReadDTCInformation';
  /** 0x04 reportDTCSnapshotRecordByDTCNumber. */
  reportType: 0x04;
  dtc: number;
  /** DTCSnapshotRecordNumber; 0xFF = all records. */
  snapshotRecordNumber: number;
}

export interface ReadDtcExtDataRequest extends WithSuppress {
  service: 'ReadDTCInformation';
  /** 0x06 reportDTCExtDataRecordByDTCNumber. */
  reportType: 0x06;
  dtc: number;
  /** DTCExtDataRecordNumber; 0xFF = all records, 0xFE = all OBD records. */
  extDataRecordNumber: number;
}

export interface ReadSupportedDtcRequest extends WithSuppress {
  service: 'ReadDTCInformation';
  /** 0x0A reportSupportedDTC. */
  reportType: 0x0a;
}

export type ReadDTCInformationRequest =
  | ReadDtcByStatusMaskRequest
  | ReadDtcSnapshotRequest
  | ReadDtcExtDataRequest
  | ReadSupportedDtcRequest;

export interface ReadDataByIdentifierRequest {
  service: 'ReadDataByIdentifier';
  /** One or more 16-bit DIDs, in order. */
  dids: number[];
}

export interface ReadMemoryByAddressRequest extends MemoryRange {
  service: 'ReadMemoryByAddress';
}

export interface SecurityAccessRequest extends WithSuppress {
  service: 'SecurityAccess';
  /** Odd: requestSeed (level (n+1)/2); even: sendKey. */
  securityAccessType: number;
  /** requestSeed: securityAccessDataRecord (may be empty); sendKey: the key (at least 1 byte). */
  data: Uint8Array;
}

export interface CommunicationControlRequest extends WithSuppress {
  service: 'CommunicationControl';
  controlType: number;
  /** Bits 1-0 message kind (`COMMUNICATION_TYPE`), bits 7-4 subnet number. */
  communicationType: number;
  /** Present exactly for controlType 0x04/0x05 (16 bits). */
  nodeIdentificationNumber?: number;
}

export interface WriteDataByIdentifierRequest {
  service: 'WriteDataByIdentifier';
  did: number;
  /** dataRecord, at least 1 byte. */
  data: Uint8Array;
}

export interface RoutineControlRequest extends WithSuppress {
  service: 'RoutineControl';
  /** 0x01 startRoutine, 0x02 stopRoutine, 0x03 requestRoutineResults. */
  routineControlType: number;
  routineIdentifier: number;
  /** routineControlOptionRecord (may be empty). */
  optionRecord: Uint8Array;
}

export interface RequestDownloadRequest extends MemoryRange, DataFormat {
  service: 'RequestDownload';
}

export interface RequestUploadRequest extends MemoryRange, DataFormat {
  service: 'RequestUpload';
}

export interface TransferDataRequest {
  service: 'TransferData';
  /** blockSequenceCounter: 0x01 first, wrapping 0xFF → 0x00. */
  blockSequenceCounter: number;
  /** transferRequestParameterRecord: the block (download) or empty (upload). */
  data: Uint8Array;
}

export interface RequestTransferExitRequest {
  service: 'RequestTransferExit';
  /** transferRequestParameterRecord (may be empty). */
  parameterRecord: Uint8Array;
}

export interface TesterPresentRequest extends WithSuppress {
  service: 'TesterPresent';
}

export interface ControlDTCSettingRequest extends WithSuppress {
  service: 'ControlDTCSetting';
  /** 0x01 on, 0x02 off. */
  settingType: number;
  /** DTCSettingControlOptionRecord (may be empty). */
  optionRecord: Uint8Array;
}

/** Every request this codec handles, discriminated by `service`. */
export type UdsRequest =
  | DiagnosticSessionControlRequest
  | ECUResetRequest
  | ClearDiagnosticInformationRequest
  | ReadDTCInformationRequest
  | ReadDataByIdentifierRequest
  | ReadMemoryByAddressRequest
  | SecurityAccessRequest
  | CommunicationControlRequest
  | WriteDataByIdentifierRequest
  | RoutineControlRequest
  | RequestDownloadRequest
  | RequestUploadRequest
  | TransferDataRequest
  | RequestTransferExitRequest
  | TesterPresentRequest
  | ControlDTCSettingRequest;

// ---- responses ------------------------------------------------------------------------------------

interface Positive {
  kind: 'positive';
}

export interface DiagnosticSessionControlResponse extends Positive {
  service: 'DiagnosticSessionControl';
  sessionType: number;
  /** P2server_max in ms (2 bytes on the wire, ISO 14229-2 sessionParameterRecord). */
  p2ServerMaxMs: number;
  /** P2*server_max in ms (2 bytes on the wire in units of 10 ms, so a multiple of 10 up to 655350). */
  p2StarServerMaxMs: number;
}

export interface ECUResetResponse extends Positive {
  service: 'ECUReset';
  resetType: number;
  /** powerDownTime in s (0xFF = failure/unavailable); present exactly for enableRapidPowerShutDown (0x04). */
  powerDownTime?: number;
}

export interface ClearDiagnosticInformationResponse extends Positive {
  service: 'ClearDiagnosticInformation';
}

export interface ReadNumberOfDtcResponse extends Positive {
  service: 'ReadDTCInformation';
  reportType: 0x01;
  statusAvailabilityMask: number;
  /** `DTC_FORMAT` value. */
  dtcFormatIdentifier: number;
  dtcCount: number;
}

export interface ReadDtcListResponse extends Positive {
  service: 'ReadDTCInformation';
  reportType: 0x02 | 0x0a;
  statusAvailabilityMask: number;
  dtcs: DtcAndStatus[];
}

export interface ReadDtcSnapshotResponse extends Positive {
  service: 'ReadDTCInformation';
  reportType: 0x04;
  dtc: number;
  status: number;
  snapshots: DtcSnapshotRecord[];
}

export interface ReadDtcExtDataResponse extends Positive {
  service: 'ReadDTCInformation';
  reportType: 0x06;
  dtc: number;
  status: number;
  extendedData: DtcExtDataRecord[];
}

export type ReadDTCInformationResponse =
  | ReadNumberOfDtcResponse
  | ReadDtcListResponse
  | ReadDtcSnapshotResponse
  | ReadDtcExtDataResponse;

export interface ReadDataByIdentifierResponse extends Positive {
  service: 'ReadDataByIdentifier';
  records: DidRecord[];
}

export interface ReadMemoryByAddressResponse extends Positive {
  service: 'ReadMemoryByAddress';
  /** dataRecord, at least 1 byte. */
  data: Uint8Array;
}

export interface SecurityAccessResponse extends Positive {
  service: 'SecurityAccess';
  securityAccessType: number;
  /** requestSeed: the seed (≥ 1 byte; all zero when already unlocked); sendKey: empty. */
  securitySeed: Uint8Array;
}

export interface CommunicationControlResponse extends Positive {
  service: 'CommunicationControl';
  controlType: number;
}

export interface WriteDataByIdentifierResponse extends Positive {
  service: 'WriteDataByIdentifier';
  did: number;
}

export interface RoutineControlResponse extends Positive {
  service: 'RoutineControl';
  routineControlType: number;
  routineIdentifier: number;
  /** Everything after the routine id: routineInfo (if the ECU uses it) and routineStatusRecord. */
  statusRecord: Uint8Array;
}

export interface RequestDownloadResponse extends Positive {
  service: 'RequestDownload';
  /** Largest request the server accepts, SID and BSC included. */
  maxNumberOfBlockLength: number;
  /** Bytes of maxNumberOfBlockLength on the wire (LFI high nibble), 1..4. */
  maxNumberOfBlockLengthBytes: number;
}

export interface RequestUploadResponse extends Positive {
  service: 'RequestUpload';
  maxNumberOfBlockLength: number;
  maxNumberOfBlockLengthBytes: number;
}

export interface TransferDataResponse extends Positive {
  service: 'TransferData';
  blockSequenceCounter: number;
  /** transferResponseParameterRecord: empty on download, the block on upload. */
  data: Uint8Array;
}

export interface RequestTransferExitResponse extends Positive {
  service: 'RequestTransferExit';
  /** transferResponseParameterRecord (may be empty). */
  parameterRecord: Uint8Array;
}

export interface TesterPresentResponse extends Positive {
  service: 'TesterPresent';
}

export interface ControlDTCSettingResponse extends Positive {
  service: 'ControlDTCSetting';
  settingType: number;
}

/** `7F <requestSid> <nrc>`; `nrcName` is derived from `nrc` (ignored by the encoder). */
export interface NegativeResponse {
  kind: 'negative';
  sid: 0x7f;
  requestSid: number;
  nrc: number;
  nrcName: string;
}

export type UdsPositiveResponse =
  | DiagnosticSessionControlResponse
  | ECUResetResponse
  | ClearDiagnosticInformationResponse
  | ReadDTCInformationResponse
  | ReadDataByIdentifierResponse
  | ReadMemoryByAddressResponse
  | SecurityAccessResponse
  | CommunicationControlResponse
  | WriteDataByIdentifierResponse
  | RoutineControlResponse
  | RequestDownloadResponse
  | RequestUploadResponse
  | TransferDataResponse
  | RequestTransferExitResponse
  | TesterPresentResponse
  | ControlDTCSettingResponse;

/** Every response: a positive one (by `service`) or a negative one (`kind: 'negative'`). */
export type UdsResponse = UdsPositiveResponse | NegativeResponse;

/** Options for `decodeResponse`. */
export interface DecodeResponseOptions {
  /**
   * Data length per DID, to split a ReadDataByIdentifier response with several DIDs or a snapshot record.
   * A DID without an entry takes all remaining bytes, so it must be the last one (see decodeResponse).
   */
  didLengths?: ReadonlyMap<number, number>;
  /** Data length per DTCExtDataRecordNumber, to split several extended data records (same rule). */
  extDataRecordLengths?: ReadonlyMap<number, number>;
}
