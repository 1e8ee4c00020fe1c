/**
 * What the diagnostics console knows about the virtual vehicle's ECUs by name: the DIDs (standard ones
 * of ISO 14229-1 Annex C.1 and the virtual ECU's own, docs/flash-sequence.md §6) with short aliases and
 * how their values read, the default DTC texts, and the session and reset names. Any other DID or DTC
 * still works by number; it just prints as hex.
 */
import { DEFAULT_DTCS } from '../../ecu/dtc-store.js';
import { BOOT_REASON, DEPENDENCY_RESULT, ECU_DID } from '../../ecu/server/constants.js';
import { OtaError } from '../../protocol/errors.js';
import { hexNum, toHex } from '../../protocol/hex.js';
import { DID, RESET_TYPE, SESSION_TYPE, didName, keyOf, parseDtc } from '../../protocol/uds/index.js';

/** How a DID's value reads. */
export type DidKind = 'ascii' | 'session' | 'bcd-date' | 'u16-mm' | 'u16-mv' | 'boot-state' | 'programming-status' | 'bytes';

export interface DidInfo {
  did: number;
  /** The standard name, or the virtual ECU's name for its own DIDs. */
  name: string;
  /** Short names accepted on the command line. */
  aliases: readonly string[];
  kind: DidKind;
  /** Fixed data length, when there is one. */
  length?: number;
}

/** The DIDs the console knows by name (more work by number). */
export const DID_CATALOG: readonly DidInfo[] = [
  { did: DID.VIN, name: 'VIN', aliases: ['vin'], kind: 'ascii', length: 17 },
  { did: DID.ECUSerialNumber, name: 'ECUSerialNumber', aliases: ['serial'], kind: 'ascii' },
  { did: DID.vehicleManufacturerECUSoftwareVersionNumber, name: 'applicationSoftwareVersion', aliases: ['app-version', 'version'], kind: 'ascii' },
  { did: DID.bootSoftwareIdentification, name: 'bootSoftwareVersion', aliases: ['boot-version'], kind: 'ascii' },
  { did: DID.activeDiagnosticSession, name: 'activeDiagnosticSession', aliases: ['session'], kind: 'session', length: 1 },
  { did: DID.vehicleManufacturerSparePartNumber, name: 'sparePartNumber', aliases: ['spare-part'], kind: 'ascii' },
  { did: DID.vehicleManufacturerECUHardwareNumber, name: 'hardwareId', aliases: ['hardware'], kind: 'ascii' },
  { did: DID.repairShopCodeOrTesterSerialNumber, name: 'repairShopCode', aliases: ['repair-shop'], kind: 'ascii', length: 10 },
  { did: DID.programmingDate, name: 'programmingDate', aliases: ['programming-date'], kind: 'bcd-date', length: 4 },
  { did: ECU_DID.ultrasonicDistance, name: 'ultrasonicDistance', aliases: ['distance'], kind: 'u16-mm', length: 2 },
  { did: ECU_DID.supplyVoltage, name: 'supplyVoltage', aliases: ['voltage'], kind: 'u16-mv', length: 2 },
  { did: ECU_DID.distanceWarningThreshold, name: 'distanceWarningThreshold', aliases: ['distance-threshold'], kind: 'u16-mm', length: 2 },
  { did: ECU_DID.bootState, name: 'bootState', aliases: ['boot-state'], kind: 'boot-state', length: 2 },
  { did: ECU_DID.programmingStatus, name: 'programmingStatus', aliases: ['programming-status'], kind: 'programming-status', length: 2 },
];

const BY_DID = new Map(DID_CATALOG.map((d) => [d.did, d]));
const BY_NAME = new Map<string, DidInfo>(DID_CATALOG.flatMap((d) => [d.name, ...d.aliases].map((n) => [n.toLowerCase(), d] as const)));

/** Every name and alias, for tab completion. */
export function didWords(): string[] {
  return DID_CATALOG.flatMap((d) => [...d.aliases, d.name]);
}

/** What we know about a DID (a standard DID outside the catalog gets its standard name, kind bytes). */
export function didInfo(did: number): DidInfo {
  const known = BY_DID.get(did);
  if (known) return known;
  return { did, name: didName(did) ?? hexNum(did, 4), aliases: [], kind: 'bytes' };
}

/** A DID given as hex (`F190`, `0xF190`) or by name or alias (`vin`, `VIN`, `app-version`). Throws CLI_BAD_DID. */
export function parseDid(text: string): number {
  const named = BY_NAME.get(text.toLowerCase());
  if (named) return named.did;
  if (/^(0x)?[0-9a-f]{1,4}$/i.test(text)) return parseInt(text.replace(/^0x/i, ''), 16);
  throw new OtaError('CLI_BAD_DID', `'${text}' is neither a DID in hex (F190) nor a known name (${DID_CATALOG.map((d) => d.aliases[0]).join(', ')})`);
}

const SESSION_NAMES: Readonly<Record<number, string>> = { 0x01: 'default', 0x02: 'programming', 0x03: 'extended', 0x04: 'safety' };

/** `default`, `extended`, `programming`, `safety` or a byte (`0x03`, `3`). Throws CLI_BAD_ARGUMENT. */
export function parseSession(text: string): number {
  const byName: Record<string, number> = {
    default: SESSION_TYPE.defaultSession,
    extended: SESSION_TYPE.extendedDiagnosticSession,
    programming: SESSION_TYPE.programmingSession,
    safety: SESSION_TYPE.safetySystemDiagnosticSession,
  };
  const n = byName[text.toLowerCase()] ?? parseByte(text, 'session');
  if (n < 0x01 || n > 0x7f) throw new OtaError('CLI_BAD_ARGUMENT', `session ${hexNum(n)} is outside 0x01-0x7F`);
  return n;
}

export const SESSION_WORDS = ['default', 'extended', 'programming'] as const;
export const RESET_WORDS = ['hard', 'soft', 'key-off'] as const;

/** `hard` (0x01), `key-off` (0x02), `soft` (0x03) or a byte. */
export function parseReset(text: string): number {
  const byName: Record<string, number> = { hard: RESET_TYPE.hardReset, 'key-off': RESET_TYPE.keyOffOnReset, soft: RESET_TYPE.softReset };
  return byName[text.toLowerCase()] ?? parseByte(text, 'reset type');
}

/** A byte as `0x11` or decimal `17`. Throws CLI_BAD_ARGUMENT. */
export function parseByte(text: string, what: string): number {
  const n = /^0x[0-9a-f]{1,2}$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n > 0xff) throw new OtaError('CLI_BAD_ARGUMENT', `${what} '${text}' is not a byte (0x00-0xFF)`);
  return n;
}

/** A number up to `max` in hex (`0x…`) or decimal. Throws CLI_BAD_ARGUMENT. */
export function parseNumber(text: string, what: string, max: number): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n > max) throw new OtaError('CLI_BAD_ARGUMENT', `${what} '${text}' is not a number 0-${hexNum(max, 2)}`);
  return n;
}

/** The session's name (`extended`) or its hex. */
export function sessionName(n: number): string {
  return SESSION_NAMES[n] ?? hexNum(n);
}

const DTC_TEXT = new Map(DEFAULT_DTCS.map((d) => [parseDtc(d.code), d.description]));

/** The description of a DTC of the virtual ECU's default set (P0001, P0100, C0035, B0024, U0100), if known. */
export function dtcText(dtc: number): string | undefined {
  return DTC_TEXT.get(dtc) ?? DTC_TEXT.get(dtc & 0xffff00);
}

const printable = (b: Uint8Array): boolean => b.length > 0 && b.every((c) => c >= 0x20 && c <= 0x7e);
const u16 = (b: Uint8Array): number | undefined => (b.length === 2 ? ((b[0] as number) << 8) | (b[1] as number) : undefined);

function bootState(b: Uint8Array): string | undefined {
  if (b.length !== 2) return undefined;
  const mode = b[0] === 0x01 ? 'bootloader' : b[0] === 0x02 ? 'application' : hexNum(b[0] as number);
  const reason = keyOf(BOOT_REASON, b[1] as number) ?? hexNum(b[1] as number);
  return `${mode} (${reason})`;
}

function programmingStatus(b: Uint8Array): string | undefined {
  if (b.length !== 2) return undefined;
  const app = b[0] === 0x00 ? 'application valid' : `application invalid (${hexNum(b[0] as number)})`;
  const check = keyOf(DEPENDENCY_RESULT, b[1] as number) ?? hexNum(b[1] as number);
  return `${app}, last dependency check: ${check}`;
}

/** The value of a DID as a person reads it (`"1.0.0"`, `450 mm`, `extended`), or undefined when only hex says it. */
export function describeDidValue(did: number, data: Uint8Array): string | undefined {
  const info = didInfo(did);
  switch (info.kind) {
    case 'ascii':
      return printable(data) ? JSON.stringify(Buffer.from(data).toString('latin1')) : undefined;
    case 'session':
      return data.length === 1 ? sessionName(data[0] as number) : undefined;
    case 'bcd-date':
      return data.length === 4 ? `${toHex(data.subarray(0, 2), '')}-${toHex(data.subarray(2, 3))}-${toHex(data.subarray(3, 4))}` : undefined;
    case 'u16-mm': {
      const v = u16(data);
      return v === undefined ? undefined : `${v} mm`;
    }
    case 'u16-mv': {
      const v = u16(data);
      return v === undefined ? undefined : `${(v / 1000).toFixed(3)} V`;
    }
    case 'boot-state':
      return bootState(data);
    case 'programming-status':
      return programmingStatus(data);
    default:
      return printable(data) ? JSON.stringify(Buffer.from(data).toString('latin1')) : undefined;
  }
}

