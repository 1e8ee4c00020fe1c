/**
 * Standard data identifiers 0xF180–0xF19E (ISO 14229-1:2013 Annex C.1, with the 2020 name of 0xF18F)
 * and the DID + data record used by ReadDataByIdentifier responses and DTC snapshot records.
 */
import { udsError, type Reader, type Writer } from './bytes.js';

/** The standard identification DIDs, named as in ISO 14229-1 Annex C.1 (without the `DataIdentifier` suffix). */
export const DID = {
  bootSoftwareIdentification: 0xf180,
  applicationSoftwareIdentification: 0xf181,
  applicationDataIdentification: 0xf182,
  bootSoftwareFingerprint: 0xf183,
  applicationSoftwareFingerprint: 0xf184,
  applicationDataFingerprint: 0xf185,
  activeDiagnosticSession: 0xf186,
  vehicleManufacturerSparePartNumber: 0xf187,
  vehicleManufacturerECUSoftwareNumber: 0xf188,
  vehicleManufacturerECUSoftwareVersionNumber: 0xf189,
  systemSupplierIdentifier: 0xf18a,
  ECUManufacturingDate: 0xf18b,
  ECUSerialNumber: 0xf18c,
  supportedFunctionalUnits: 0xf18d,
  vehicleManufacturerKitAssemblyPartNumber: 0xf18e,
  /** ISOSAEReservedStandardized in the 2013 edition. */
  regulationXSoftwareIdentificationNumbers: 0xf18f,
  VIN: 0xf190,
  vehicleManufacturerECUHardwareNumber: 0xf191,
  systemSupplierECUHardwareNumber: 0xf192,
  systemSupplierECUHardwareVersionNumber: 0xf193,
  systemSupplierECUSoftwareNumber: 0xf194,
  systemSupplierECUSoftwareVersionNumber: 0xf195,
  exhaustRegulationOrTypeApprovalNumber: 0xf196,
  systemNameOrEngineType: 0xf197,
  repairShopCodeOrTesterSerialNumber: 0xf198,
  programmingDate: 0xf199,
  calibrationRepairShopCodeOrCalibrationEquipmentSerialNumber: 0xf19a,
  calibrationDate: 0xf19b,
  calibrationEquipmentSoftwareNumber: 0xf19c,
  ECUInstallationDate: 0xf19d,
  ODXFile: 0xf19e,
} as const;

export type DidName = keyof typeof DID;

const NAME_BY_DID = new Map<number, DidName>(
  (Object.entries(DID) as Array<[DidName, number]>).map(([name, did]) => [did, name]),
);

/** The standard name of a DID in 0xF180–0xF19E, or undefined. */
export function didName(did: number): DidName | undefined {
  return NAME_BY_DID.get(did);
}

/**
 * Data lengths ISO fixes for standard DIDs: 0xF186 activeDiagnosticSession (1 byte), 0xF190 VIN (17 ASCII
 * characters). Others are set by the vehicle manufacturer. Merge with your own table for `didLengths`.
 */
export const STANDARD_DID_LENGTHS: ReadonlyMap<number, number> = new Map([
  [DID.activeDiagnosticSession, 1],
  [DID.VIN, 17],
]);

/** One dataIdentifier with its dataRecord. */
export interface DidRecord {
  did: number;
  data: Uint8Array;
}

/**
 * Reads the data of `did` from a response: `didLengths` gives its length; without an entry the DID
 * takes every remaining byte (at least 1), which is right only when it is the last DID of the message.
 * `mayTakeRest: false` (a DID followed by more in the same record) refuses instead: UDS_DID_LENGTH_UNKNOWN.
 */
export function readDidData(r: Reader, did: number, didLengths: ReadonlyMap<number, number> | undefined, mayTakeRest: boolean): Uint8Array {
  const length = didLengths?.get(did);
  if (length !== undefined) {
    if (!Number.isInteger(length) || length < 0) throw udsError('UDS_RANGE', `didLengths has an invalid length ${length} for DID 0x${did.toString(16)}`);
    return r.take(length, `data of DID 0x${did.toString(16)}`);
  }
  if (!mayTakeRest) r.fail('UDS_DID_LENGTH_UNKNOWN', `data length of DID 0x${did.toString(16)} is unknown and more identifiers follow; pass didLengths`);
  if (r.remaining === 0) r.fail('UDS_LENGTH', `DID 0x${did.toString(16)} has no data`);
  return r.rest();
}

/** Appends `DID data`; the dataRecord must not be empty (ISO 14229-1 §10.2.3). */
export function writeDidRecord(w: Writer, did: number, data: Uint8Array): void {
  w.u16(did, 'did').bytes(data, `data of DID 0x${did.toString(16)}`);
  if (data.length === 0) throw udsError('UDS_RANGE', `data of DID 0x${did.toString(16)} must not be empty`);
}
