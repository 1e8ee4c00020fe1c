import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, OtaError, ProtocolError } from '../../../src/protocol/errors.js';
import {
  NRC,
  UdsNegativeError,
  decodeRequest,
  encodeNegativeResponse,
  negativeResponseFor,
  nrcErrorCode,
  nrcName,
  serviceName,
} from '../../../src/protocol/uds/index.js';
import { assertDecodeError, h } from './helpers.js';

describe('NRC table', () => {
  // ISO 14229-1:2020 Annex A, Table A.1: every named code, by value.
  const annexA: Array<[number, string]> = [
    [0x10, 'generalReject'],
    [0x11, 'serviceNotSupported'],
    [0x12, 'subFunctionNotSupported'],
    [0x13, 'incorrectMessageLengthOrInvalidFormat'],
    [0x14, 'responseTooLong'],
    [0x21, 'busyRepeatRequest'],
    [0x22, 'conditionsNotCorrect'],
    [0x24, 'requestSequenceError'],
    [0x25, 'noResponseFromSubnetComponent'],
    [0x26, 'failurePreventsExecutionOfRequestedAction'],
    [0x31, 'requestOutOfRange'],
    [0x33, 'securityAccessDenied'],
    [0x34, 'authenticationRequired'],
    [0x35, 'invalidKey'],
    [0x36, 'exceedNumberOfAttempts'],
    [0x37, 'requiredTimeDelayNotExpired'],
    [0x38, 'secureDataTransmissionRequired'],
    [0x39, 'secureDataTransmissionNotAllowed'],
    [0x3a, 'secureDataVerificationFailed'],
    [0x50, 'certificateVerificationFailedInvalidTimePeriod'],
    [0x51, 'certificateVerificationFailedInvalidSignature'],
    [0x52, 'certificateVerificationFailedInvalidChainOfTrust'],
    [0x53, 'certificateVerificationFailedInvalidType'],
    [0x54, 'certificateVerificationFailedInvalidFormat'],
    [0x55, 'certificateVerificationFailedInvalidContent'],
    [0x56, 'certificateVerificationFailedInvalidScope'],
    [0x57, 'certificateVerificationFailedInvalidCertificate'],
    [0x58, 'ownershipVerificationFailed'],
    [0x59, 'challengeCalculationFailed'],
    [0x5a, 'settingAccessRightsFailed'],
    [0x5b, 'sessionKeyCreationOrDerivationFailed'],
    [0x5c, 'configurationDataUsageFailed'],
    [0x5d, 'deAuthenticationFailed'],
    [0x70, 'uploadDownloadNotAccepted'],
    [0x71, 'transferDataSuspended'],
    [0x72, 'generalProgrammingFailure'],
    [0x73, 'wrongBlockSequenceCounter'],
    [0x78, 'requestCorrectlyReceivedResponsePending'],
    [0x7e, 'subFunctionNotSupportedInActiveSession'],
    [0x7f, 'serviceNotSupportedInActiveSession'],
    [0x81, 'rpmTooHigh'],
    [0x82, 'rpmTooLow'],
    [0x83, 'engineIsRunning'],
    [0x84, 'engineIsNotRunning'],
    [0x85, 'engineRunTimeTooLow'],
    [0x86, 'temperatureTooHigh'],
    [0x87, 'temperatureTooLow'],
    [0x88, 'vehicleSpeedTooHigh'],
    [0x89, 'vehicleSpeedTooLow'],
    [0x8a, 'throttlePedalTooHigh'],
    [0x8b, 'throttlePedalTooLow'],
    [0x8c, 'transmissionRangeNotInNeutral'],
    [0x8d, 'transmissionRangeNotInGear'],
    [0x8f, 'brakeSwitchesNotClosed'],
    [0x90, 'shifterLeverNotInPark'],
    [0x91, 'torqueConverterClutchLocked'],
    [0x92, 'voltageTooHigh'],
    [0x93, 'voltageTooLow'],
    [0x94, 'resourceTemporarilyNotAvailable'],
  ];
  for (const [code, name] of annexA) {
    it(`names 0x${code.toString(16)} ${name}`, () => {
      assert.equal(nrcName(code), name);
      assert.equal(NRC[name as keyof typeof NRC], code);
    });
  }

  it('has no other named codes than Annex A (plus positiveResponse)', () => {
    assert.equal(Object.keys(NRC).length, annexA.length + 1);
  });

  it('names unnamed codes by their Annex A range', () => {
    assert.equal(nrcName(0x01), 'ISOSAEReserved');
    assert.equal(nrcName(0x8e), 'ISOSAEReserved');
    assert.equal(nrcName(0x40), 'reservedByExtendedDataLinkSecurityDocument');
    assert.equal(nrcName(0xa0), 'reservedForSpecificConditionsNotCorrect');
    assert.equal(nrcName(0xf3), 'vehicleManufacturerSpecificConditionsNotCorrect');
    assert.equal(nrcName(0xff), 'ISOSAEReserved');
  });

  it('gives stable UPPER_SNAKE error codes', () => {
    assert.equal(nrcErrorCode(0x73), 'UDS_NRC_WRONG_BLOCK_SEQUENCE_COUNTER');
    assert.equal(nrcErrorCode(0x78), 'UDS_NRC_REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING');
    assert.equal(nrcErrorCode(0x36), 'UDS_NRC_EXCEED_NUMBER_OF_ATTEMPTS');
    assert.equal(nrcErrorCode(0xf3), 'UDS_NRC_F3');
    for (const [code] of annexA) assert.match(nrcErrorCode(code), /^UDS_NRC_[A-Z0-9_]+$/);
  });
});

describe('serviceName', () => {
  it('names the codec services and the other ISO services', () => {
    assert.equal(serviceName(0x36), 'TransferData');
    assert.equal(serviceName(0x85), 'ControlDTCSetting');
    assert.equal(serviceName(0x2f), 'InputOutputControlByIdentifier');
    assert.equal(serviceName(0x99), undefined);
  });
});

describe('UdsNegativeError', () => {
  it('is a ProtocolError carrying the NRC as wireCode', () => {
    const e = new UdsNegativeError(NRC.wrongBlockSequenceCounter, undefined, { requestSid: 0x36 });
    assert.ok(e instanceof ProtocolError && e instanceof OtaError);
    assert.equal(e.code, 'UDS_NRC_WRONG_BLOCK_SEQUENCE_COUNTER');
    assert.equal(e.wireCode, 0x73);
    assert.deepEqual(e.toBytes(), h('7F 36 73'));
    assert.deepEqual(e.toBytes(0x34), h('7F 34 73'));
  });

  it('refuses NRC 0x00 and values above a byte', () => {
    assertDecodeError(() => new UdsNegativeError(0x00), 'UDS_RANGE');
    assertDecodeError(() => new UdsNegativeError(0x100), 'UDS_RANGE');
    assertDecodeError(() => new UdsNegativeError(0x22).toBytes(), 'UDS_RANGE');
  });
});

describe('negativeResponseFor', () => {
  it('answers a thrown UdsNegativeError with its NRC', () => {
    assert.deepEqual(negativeResponseFor(new UdsNegativeError(NRC.invalidKey), 0x27), h('7F 27 35'));
  });

  it('answers a decodeRequest error with the NRC it carries (ISO 14229-1 §7.5)', () => {
    const cases: Array<[string, string]> = [
      ['99', '7F 99 11'], // unknown service → serviceNotSupported
      ['10 00', '7F 10 12'], // reserved sub-function → subFunctionNotSupported
      ['22 F1', '7F 22 13'], // half a DID → incorrectMessageLengthOrInvalidFormat
      ['23 00 10', '7F 23 31'], // bad ALFID → requestOutOfRange
    ];
    for (const [request, response] of cases) {
      const bytes = h(request);
      let thrown: unknown;
      try {
        decodeRequest(bytes);
      } catch (e) {
        thrown = e;
      }
      assert.deepEqual(negativeResponseFor(thrown, bytes[0] as number), h(response));
    }
  });

  it('answers anything else with generalReject, never a foreign wire code', () => {
    assert.deepEqual(negativeResponseFor(new Error('boom'), 0x31), h('7F 31 10'));
    assert.deepEqual(negativeResponseFor(new ProtocolError('DOIP_NACK', 'x', { wireCode: 0x02 }), 0x31), h('7F 31 10'));
    assert.deepEqual(negativeResponseFor(new DecodeError('UDS_EMPTY', 'x'), 0x31), h('7F 31 10'));
  });

  it('encodeNegativeResponse refuses a request SID above a byte', () => {
    assertDecodeError(() => encodeNegativeResponse(0x100, 0x10), 'UDS_RANGE');
  });
});
