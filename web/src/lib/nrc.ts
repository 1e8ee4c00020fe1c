/**
 * Negative response codes (ISO 14229-1 Annex A.1) the diagnostic log shows by name, with a hint for the
 * ones an engineer meets daily. The console gets the name from the manager (`nrc.name`); the log rows
 * carry only the number.
 */
const NRC_NAMES: Readonly<Record<number, string>> = {
  0x10: 'generalReject',
  0x11: 'serviceNotSupported',
  0x12: 'subFunctionNotSupported',
  0x13: 'incorrectMessageLengthOrInvalidFormat',
  0x14: 'responseTooLong',
  0x21: 'busyRepeatRequest',
  0x22: 'conditionsNotCorrect',
  0x24: 'requestSequenceError',
  0x25: 'noResponseFromSubnetComponent',
  0x26: 'failurePreventsExecutionOfRequestedAction',
  0x31: 'requestOutOfRange',
  0x33: 'securityAccessDenied',
  0x34: 'authenticationRequired',
  0x35: 'invalidKey',
  0x36: 'exceedNumberOfAttempts',
  0x37: 'requiredTimeDelayNotExpired',
  0x70: 'uploadDownloadNotAccepted',
  0x71: 'transferDataSuspended',
  0x72: 'generalProgrammingFailure',
  0x73: 'wrongBlockSequenceCounter',
  0x78: 'requestCorrectlyReceivedResponsePending',
  0x7e: 'subFunctionNotSupportedInActiveSession',
  0x7f: 'serviceNotSupportedInActiveSession',
};

const NRC_HINTS: Readonly<Record<number, string>> = {
  0x11: 'The ECU does not implement this service.',
  0x12: 'The service exists, but not with this sub-function.',
  0x13: 'Wrong length or format: check the request bytes.',
  0x22: 'Preconditions not met (e.g. engine running, wrong session).',
  0x24: 'Steps out of order (e.g. key sent before a seed was requested).',
  0x31: 'An identifier or value is out of range (e.g. unknown DID).',
  0x33: 'Unlock with SecurityAccess (27) first.',
  0x35: 'The SecurityAccess key is wrong.',
  0x36: 'Too many wrong keys: the ECU locked SecurityAccess.',
  0x37: 'Locked out: wait for the delay to pass, then retry.',
  0x7e: 'Switch session first (e.g. extended session, 10 03).',
  0x7f: 'Switch session first (e.g. extended session, 10 03).',
};

/** `serviceNotSupported`, or undefined for codes outside the table. */
export function nrcName(code: number): string | undefined {
  return NRC_NAMES[code];
}

/** What to try next for this NRC, if there is a common answer. */
export function nrcHint(code: number): string | undefined {
  return NRC_HINTS[code];
}
