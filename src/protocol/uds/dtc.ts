/**
 * The DTC model: a 3-byte DTC (ISO 14229-1:2013 Annex D, ISO 15031-6 / SAE J2012 format) ⇄ text like
 * `P0100-00`, the DTC status bits (Annex D.2), and the snapshot / extended data records that
 * ReadDTCInformation returns.
 */
import { udsError } from './bytes.js';
import type { DidRecord } from './did.js';

/** DTC status bits (ISO 14229-1 Annex D.2), bit 0 first. */
export const DTC_STATUS = {
  testFailed: 0x01,
  testFailedThisOperationCycle: 0x02,
  pendingDTC: 0x04,
  confirmedDTC: 0x08,
  testNotCompletedSinceLastClear: 0x10,
  testFailedSinceLastClear: 0x20,
  testNotCompletedThisOperationCycle: 0x40,
  warningIndicatorRequested: 0x80,
} as const;

export type DtcStatusBit = keyof typeof DTC_STATUS;

/** DTCFormatIdentifier of a reportNumberOfDTC response (ISO 14229-1 §11.3.3). */
export const DTC_FORMAT = {
  ISO15031_6: 0x00,
  ISO14229_1: 0x01,
  SAEJ1939_73: 0x02,
  ISO11992_4: 0x03,
  SAEJ2012_DA_DTCFormat_04: 0x04,
} as const;

/** groupOfDTC 0xFFFFFF: all groups (ClearDiagnosticInformation, ISO 14229-1 Annex D.1). */
export const ALL_DTC_GROUPS = 0xffffff;

/** A DTC (24-bit number) with its status byte. */
export interface DtcAndStatus {
  dtc: number;
  status: number;
}

/** DTCSnapshotRecord: a record number and its DIDs with their data (ISO 14229-1 §11.3.3). */
export interface DtcSnapshotRecord {
  recordNumber: number;
  identifiers: DidRecord[];
}

/** DTCExtendedDataRecord: a record number and its manufacturer-defined bytes. */
export interface DtcExtDataRecord {
  recordNumber: number;
  data: Uint8Array;
}

const STATUS_BITS = Object.entries(DTC_STATUS) as Array<[DtcStatusBit, number]>;

/** The names of the status bits set in `status`, bit 0 first. */
export function dtcStatusBits(status: number): DtcStatusBit[] {
  return STATUS_BITS.filter(([, mask]) => (status & mask) !== 0).map(([name]) => name);
}

/** The status byte with the named bits set. */
export function dtcStatusFromBits(bits: Iterable<DtcStatusBit>): number {
  let status = 0;
  for (const bit of bits) status |= DTC_STATUS[bit];
  return status;
}

const LETTERS = ['P', 'C', 'B', 'U'] as const;

/**
 * `0x010000` → `P0100-00`. Byte 0 bits 7-6 give the letter (00 P powertrain, 01 C chassis, 10 B body,
 * 11 U network), bits 5-4 the first digit (0-3), bits 3-0 and byte 1 three hex digits; byte 2 is the
 * failure type (SAE J2012 / ISO 15031-6).
 */
export function formatDtc(dtc: number): string {
  if (!Number.isInteger(dtc) || dtc < 0 || dtc > 0xffffff) throw udsError('UDS_RANGE', `DTC must be 0..0xFFFFFF, got ${dtc}`);
  const high = dtc >> 16;
  const letter = LETTERS[high >> 6] as string;
  const digit = (high >> 4) & 0x03;
  const rest = ((dtc >> 8) & 0x0fff).toString(16).toUpperCase().padStart(3, '0');
  const failureType = (dtc & 0xff).toString(16).toUpperCase().padStart(2, '0');
  return `${letter}${digit}${rest}-${failureType}`;
}

/** `P0100-00` (or `P0100`, failure type 00; case-insensitive) → 0x010000. Throws UDS_DTC_TEXT otherwise. */
export function parseDtc(text: string): number {
  const m = /^([PCBU])([0-3])([0-9A-F]{3})(?:-([0-9A-F]{2}))?$/i.exec(text.trim());
  if (!m) throw udsError('UDS_DTC_TEXT', `not a DTC like P0100-00: '${text}'`);
  const letter = LETTERS.indexOf((m[1] as string).toUpperCase() as (typeof LETTERS)[number]);
  const digit = Number(m[2]);
  const rest = parseInt(m[3] as string, 16);
  const failureType = m[4] === undefined ? 0 : parseInt(m[4], 16);
  return ((letter << 22) | (digit << 20) | (rest << 8) | failureType) >>> 0;
}
