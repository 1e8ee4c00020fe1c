/**
 * Negative response codes (ISO 14229-1:2020 Annex A, Table A.1) and the negative response message
 * `7F <requestSid> <NRC>` (ISO 14229-1 §8.7.3). A server throws `UdsNegativeError` and turns it into
 * bytes with `encodeNegativeResponse` or `negativeResponseFor`.
 */
import { DecodeError, OtaError, ProtocolError } from '../errors.js';

/** Every NRC named in ISO 14229-1:2020 Annex A (names as in the standard, lowerCamelCase). */
export const NRC = {
  positiveResponse: 0x00,
  generalReject: 0x10,
  serviceNotSupported: 0x11,
  subFunctionNotSupported: 0x12,
  incorrectMessageLengthOrInvalidFormat: 0x13,
  responseTooLong: 0x14,
  busyRepeatRequest: 0x21,
  conditionsNotCorrect: 0x22,
  requestSequenceError: 0x24,
  noResponseFromSubnetComponent: 0x25,
  failurePreventsExecutionOfRequestedAction: 0x26,
  requestOutOfRange: 0x31,
  securityAccessDenied: 0x33,
  authenticationRequired: 0x34,
  invalidKey: 0x35,
  exceedNumberOfAttempts: 0x36,
  requiredTimeDelayNotExpired: 0x37,
  secureDataTransmissionRequired: 0x38,
  secureDataTransmissionNotAllowed: 0x39,
  secureDataVerificationFailed: 0x3a,
  certificateVerificationFailedInvalidTimePeriod: 0x50,
  certificateVerificationFailedInvalidSignature: 0x51,
  certificateVerificationFailedInvalidChainOfTrust: 0x52,
  certificateVerificationFailedInvalidType: 0x53,
  certificateVerificationFailedInvalidFormat: 0x54,
  certificateVerificationFailedInvalidContent: 0x55,
  certificateVerificationFailedInvalidScope: 0x56,
  certificateVerificationFailedInvalidCertificate: 0x57,
  ownershipVerificationFailed: 0x58,
  challengeCalculationFailed: 0x59,
  settingAccessRightsFailed: 0x5a,
  sessionKeyCreationOrDerivationFailed: 0x5b,
  configurationDataUsageFailed: 0x5c,
  deAuthenticationFailed: 0x5d,
  uploadDownloadNotAccepted: 0x70,
  transferDataSuspended: 0x71,
  generalProgrammingFailure: 0x72,
  wrongBlockSequenceCounter: 0x73,
  requestCorrectlyReceivedResponsePending: 0x78,
  subFunctionNotSupportedInActiveSession: 0x7e,
  serviceNotSupportedInActiveSession: 0x7f,
  rpmTooHigh: 0x81,
  rpmTooLow: 0x82,
  engineIsRunning: 0x83,
  engineIsNotRunning: 0x84,
  engineRunTimeTooLow: 0x85,
  temperatureTooHigh: 0x86,
  temperatureTooLow: 0x87,
  vehicleSpeedTooHigh: 0x88,
  vehicleSpeedTooLow: 0x89,
  throttlePedalTooHigh: 0x8a,
  throttlePedalTooLow: 0x8b,
  transmissionRangeNotInNeutral: 0x8c,
  transmissionRangeNotInGear: 0x8d,
  brakeSwitchesNotClosed: 0x8f,
  shifterLeverNotInPark: 0x90,
  torqueConverterClutchLocked: 0x91,
  voltageTooHigh: 0x92,
  voltageTooLow: 0x93,
  resourceTemporarilyNotAvailable: 0x94,
} as const;

export type NrcName = keyof typeof NRC;

/** The negative response service identifier (ISO 14229-1 §8.7.3). */
export const NEGATIVE_RESPONSE_SID = 0x7f;

const NAME_BY_CODE = new Map<number, NrcName>(
  (Object.entries(NRC) as Array<[NrcName, number]>).map(([name, code]) => [code, name]),
);

/**
 * The Annex A name of an NRC; unnamed codes get the name of their Annex A range
 * (`ISOSAEReserved`, `reservedByExtendedDataLinkSecurityDocument`, `reservedForSpecificConditionsNotCorrect`,
 * `vehicleManufacturerSpecificConditionsNotCorrect`).
 */
export function nrcName(code: number): string {
  const name = NAME_BY_CODE.get(code);
  if (name !== undefined) return name;
  if (code >= 0x3b && code <= 0x4f) return 'reservedByExtendedDataLinkSecurityDocument';
  if (code >= 0x95 && code <= 0xef) return 'reservedForSpecificConditionsNotCorrect';
  if (code >= 0xf0 && code <= 0xfe) return 'vehicleManufacturerSpecificConditionsNotCorrect';
  return 'ISOSAEReserved';
}

/** `wrongBlockSequenceCounter` → `WRONG_BLOCK_SEQUENCE_COUNTER`. */
function upperSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/**
 * The stable error code of an NRC: `UDS_NRC_<NAME>` for a named NRC (`UDS_NRC_WRONG_BLOCK_SEQUENCE_COUNTER`),
 * `UDS_NRC_<HH>` for a code without its own name (`UDS_NRC_F3`).
 */
export function nrcErrorCode(nrc: number): string {
  const name = NAME_BY_CODE.get(nrc);
  return name !== undefined ? `UDS_NRC_${upperSnake(name)}` : `UDS_NRC_${nrc.toString(16).toUpperCase().padStart(2, '0')}`;
}

function checkNrc(nrc: number): void {
  if (!Number.isInteger(nrc) || nrc < 0x01 || nrc > 0xff) {
    // ISO 14229-1 §8.7.5: 0x00 positiveResponse is never sent in a negative response.
    throw new DecodeError('UDS_RANGE', `NRC must be an integer 0x01..0xFF, got ${nrc}`);
  }
}

/**
 * A refusal a UDS server sends as `7F SID NRC`. `wireCode` is the NRC; `code` is `nrcErrorCode(nrc)`.
 * `requestSid`, when known, is the service being refused.
 */
export class UdsNegativeError extends ProtocolError {
  readonly nrc: number;
  readonly requestSid: number | undefined;

  constructor(nrc: number, message?: string, options: { requestSid?: number; cause?: unknown } = {}) {
    checkNrc(nrc);
    super(nrcErrorCode(nrc), message ?? `negative response ${nrcName(nrc)} (0x${nrc.toString(16).padStart(2, '0')})`, {
      wireCode: nrc,
      cause: options.cause,
    });
    this.nrc = nrc;
    this.requestSid = options.requestSid;
  }

  /** The `7F SID NRC` message; `requestSid` defaults to the one given to the constructor. */
  toBytes(requestSid: number | undefined = this.requestSid): Uint8Array {
    if (requestSid === undefined) throw new DecodeError('UDS_RANGE', 'UdsNegativeError.toBytes needs the request SID');
    return encodeNegativeResponse(requestSid, this.nrc);
  }
}

/** `7F <requestSid> <nrc>` (ISO 14229-1 §8.7.3). */
export function encodeNegativeResponse(requestSid: number, nrc: number): Uint8Array {
  checkNrc(nrc);
  if (!Number.isInteger(requestSid) || requestSid < 0 || requestSid > 0xff) {
    throw new DecodeError('UDS_RANGE', `request SID must be a byte, got ${requestSid}`);
  }
  return Uint8Array.of(NEGATIVE_RESPONSE_SID, requestSid, nrc);
}

/**
 * For a server's catch block: the negative response for any thrown value. A UDS error (`code` starting
 * `UDS_`) with a `wireCode` — a `UdsNegativeError`, or a `DecodeError` from `decodeRequest` — answers with
 * that NRC; anything else with 0x10 generalReject, so an internal fault never becomes a positive response.
 */
export function negativeResponseFor(error: unknown, requestSid: number): Uint8Array {
  const wire = error instanceof OtaError && error.code.startsWith('UDS_') ? error.wireCode : undefined;
  const nrc = wire !== undefined && wire >= 0x01 && wire <= 0xff ? wire : NRC.generalReject;
  return encodeNegativeResponse(requestSid, nrc);
}

/** True when `bytes` is a negative response message (first byte 0x7F). */
export function isNegativeResponse(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === NEGATIVE_RESPONSE_SID;
}
