/**
 * UDS service identifiers and sub-function tables. Names are the standard's (service names in
 * UpperCamelCase as in its clause titles, parameter values in lowerCamelCase). Clause numbers in this
 * folder are those of ISO 14229-1:2013 (the NRC table follows the 2020 edition).
 */

/** The services this codec encodes and decodes (request SIDs). */
export const SID = {
  DiagnosticSessionControl: 0x10,
  ECUReset: 0x11,
  ClearDiagnosticInformation: 0x14,
  ReadDTCInformation: 0x19,
  ReadDataByIdentifier: 0x22,
  ReadMemoryByAddress: 0x23,
  SecurityAccess: 0x27,
  CommunicationControl: 0x28,
  WriteDataByIdentifier: 0x2e,
  RoutineControl: 0x31,
  RequestDownload: 0x34,
  RequestUpload: 0x35,
  TransferData: 0x36,
  RequestTransferExit: 0x37,
  TesterPresent: 0x3e,
  ControlDTCSetting: 0x85,
} as const;

export type ServiceName = keyof typeof SID;

/** Other ISO 14229-1 services: named (e.g. in a negative response) but not encoded by this codec. */
const OTHER_SERVICES: Readonly<Record<number, string>> = {
  0x24: 'ReadScalingDataByIdentifier',
  0x29: 'Authentication',
  0x2a: 'ReadDataByPeriodicIdentifier',
  0x2c: 'DynamicallyDefineDataIdentifier',
  0x2f: 'InputOutputControlByIdentifier',
  0x38: 'RequestFileTransfer',
  0x3d: 'WriteMemoryByAddress',
  0x83: 'AccessTimingParameter',
  0x84: 'SecuredDataTransmission',
  0x86: 'ResponseOnEvent',
  0x87: 'LinkControl',
};

/** A positive response SID is the request SID + 0x40 (ISO 14229-1, positive response message). */
export const POSITIVE_RESPONSE_OFFSET = 0x40;
/** Bit 7 of a sub-function byte: suppressPosRspMsgIndicationBit (ISO 14229-1 §7.5). */
export const SUPPRESS_POSITIVE_RESPONSE = 0x80;

const SERVICE_BY_SID = new Map<number, ServiceName>(
  (Object.entries(SID) as Array<[ServiceName, number]>).map(([name, sid]) => [sid, name]),
);

/** The codec's service for a request SID, or undefined. */
export function serviceOfSid(sid: number): ServiceName | undefined {
  return SERVICE_BY_SID.get(sid);
}

/** The ISO 14229-1 name of a request SID (any standard service, not only those this codec handles), or undefined. */
export function serviceName(sid: number): string | undefined {
  return SERVICE_BY_SID.get(sid) ?? OTHER_SERVICES[sid];
}

/** diagnosticSessionType (ISO 14229-1 §9.2.2). */
export const SESSION_TYPE = {
  defaultSession: 0x01,
  programmingSession: 0x02,
  extendedDiagnosticSession: 0x03,
  safetySystemDiagnosticSession: 0x04,
} as const;

/** resetType (ISO 14229-1 §9.3.2). */
export const RESET_TYPE = {
  hardReset: 0x01,
  keyOffOnReset: 0x02,
  softReset: 0x03,
  enableRapidPowerShutDown: 0x04,
  disableRapidPowerShutDown: 0x05,
} as const;

/** controlType of CommunicationControl (ISO 14229-1 §9.5.2). */
export const COMMUNICATION_CONTROL_TYPE = {
  enableRxAndTx: 0x00,
  enableRxAndDisableTx: 0x01,
  disableRxAndEnableTx: 0x02,
  disableRxAndTx: 0x03,
  enableRxAndDisableTxWithEnhancedAddressInformation: 0x04,
  enableRxAndTxWithEnhancedAddressInformation: 0x05,
} as const;

/** communicationType bits 1-0 (ISO 14229-1 Annex B.1). Bits 7-4 are the subnet number. */
export const COMMUNICATION_TYPE = {
  normalCommunicationMessages: 0x01,
  networkManagementCommunicationMessages: 0x02,
  networkManagementAndNormalCommunicationMessages: 0x03,
} as const;

/** DTCSettingType (ISO 14229-1 §9.9.2). */
export const DTC_SETTING_TYPE = { on: 0x01, off: 0x02 } as const;

/** routineControlType (ISO 14229-1 §13.2.2). */
export const ROUTINE_CONTROL_TYPE = { startRoutine: 0x01, stopRoutine: 0x02, requestRoutineResults: 0x03 } as const;

/**
 * Routine identifiers we use: 0xFF00/0xFF01 from ISO 14229-1 Annex F.1, 0x0202 checkMemory by our
 * flash-sequence contract (ARCHITECTURE.md §3), 0x0203 installRevocationList (the fleet CA's CRL, DER,
 * as the option record; docs/flash-sequence.md) — both in the vehicle-manufacturer-specific range
 * 0x0200–0xDFFF of Annex F.1.
 */
export const ROUTINE_ID = {
  eraseMemory: 0xff00,
  checkProgrammingDependencies: 0xff01,
  checkMemory: 0x0202,
  installRevocationList: 0x0203,
} as const;

/** The reportType values of ReadDTCInformation this codec supports (ISO 14229-1 §11.3.2). */
export const DTC_REPORT_TYPE = {
  reportNumberOfDTCByStatusMask: 0x01,
  reportDTCByStatusMask: 0x02,
  reportDTCSnapshotRecordByDTCNumber: 0x04,
  reportDTCExtDataRecordByDTCNumber: 0x06,
  reportSupportedDTC: 0x0a,
} as const;

/** TesterPresent's only sub-function (ISO 14229-1 §9.6.2). */
export const ZERO_SUB_FUNCTION = 0x00;

/** Name of a key in an `as const` table for a value, or undefined. */
export function keyOf<T extends Record<string, number>>(table: T, value: number): (keyof T & string) | undefined {
  for (const key of Object.keys(table)) if (table[key] === value) return key;
  return undefined;
}

/** The ISO name of a sub-function value for the common ranges (0x40-0x5F, 0x60-0x7E). */
function rangeName(value: number): string | undefined {
  if (value >= 0x40 && value <= 0x5f) return 'vehicleManufacturerSpecific';
  if (value >= 0x60 && value <= 0x7e) return 'systemSupplierSpecific';
  return undefined;
}

/**
 * The sub-function values a service accepts (ISO reserved values are refused, so the server answers
 * NRC 0x12 subFunctionNotSupported). `value` is the 7-bit sub-function without the SPR bit.
 */
export function isValidSubFunction(service: ServiceName, value: number): boolean {
  const specific = value >= 0x40 && value <= 0x7e;
  switch (service) {
    case 'DiagnosticSessionControl':
      return (value >= 0x01 && value <= 0x04) || specific; // §9.2.2
    case 'ECUReset':
      return (value >= 0x01 && value <= 0x05) || specific; // §9.3.2
    case 'SecurityAccess':
      return (value >= 0x01 && value <= 0x42) || (value >= 0x5f && value <= 0x7e); // §9.4.2
    case 'CommunicationControl':
      return value <= 0x05 || specific; // §9.5.2
    case 'ControlDTCSetting':
      return value === 0x01 || value === 0x02 || specific; // §9.9.2
    case 'RoutineControl':
      return value >= 0x01 && value <= 0x03; // §13.2.2
    case 'TesterPresent':
      return value === ZERO_SUB_FUNCTION;
    case 'ReadDTCInformation':
      return keyOf(DTC_REPORT_TYPE, value) !== undefined;
    default:
      return false;
  }
}

/** A readable name for a sub-function value of a service (undefined when the standard gives none). */
export function subFunctionName(service: ServiceName, value: number): string | undefined {
  switch (service) {
    case 'DiagnosticSessionControl':
      return keyOf(SESSION_TYPE, value) ?? rangeName(value);
    case 'ECUReset':
      return keyOf(RESET_TYPE, value) ?? rangeName(value);
    case 'SecurityAccess':
      return value % 2 === 1 ? 'requestSeed' : 'sendKey';
    case 'CommunicationControl':
      return keyOf(COMMUNICATION_CONTROL_TYPE, value) ?? rangeName(value);
    case 'ControlDTCSetting':
      return keyOf(DTC_SETTING_TYPE, value) ?? rangeName(value);
    case 'RoutineControl':
      return keyOf(ROUTINE_CONTROL_TYPE, value);
    case 'TesterPresent':
      return value === ZERO_SUB_FUNCTION ? 'zeroSubFunction' : undefined;
    case 'ReadDTCInformation':
      return keyOf(DTC_REPORT_TYPE, value);
    default:
      return undefined;
  }
}

/** Services whose second byte is a sub-function (with the SPR bit). */
export const SERVICES_WITH_SUB_FUNCTION: ReadonlySet<ServiceName> = new Set<ServiceName>([
  'DiagnosticSessionControl',
  'ECUReset',
  'ReadDTCInformation',
  'SecurityAccess',
  'CommunicationControl',
  'RoutineControl',
  'TesterPresent',
  'ControlDTCSetting',
]);

/** SecurityAccess: odd securityAccessType values request a seed, even ones send a key (ISO 14229-1 §9.4.2). */
export function isRequestSeed(securityAccessType: number): boolean {
  return securityAccessType % 2 === 1;
}
