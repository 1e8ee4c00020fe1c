/**
 * The data identifiers of the virtual ECU: which ones each mode can read and write, their lengths and
 * value checks, and the live data. Standard identification DIDs follow ISO 14229-1 Annex C.1; the
 * ECU's own DIDs are in `ECU_DID` (constants.ts). docs/flash-sequence.md has the table.
 */
import type { Clock } from '../../protocol/clock.js';
import { DID, STANDARD_DID_LENGTHS } from '../../protocol/uds/did.js';
import { APP_STATUS_CODE } from '../descriptor.js';
import { SNAPSHOT_DIDS } from '../dtc-store.js';
import type { EcuNvm } from '../nvm.js';
import { IDENT_DID } from '../state.js';
import { BOOT_MODE_CODE, ECU_DID, type DependencyResult, type EcuMode, type Session } from './constants.js';

/** What reading a DID may look at. */
export interface DidContext {
  readonly mode: EcuMode;
  readonly session: Session;
  readonly nvm: EcuNvm;
  readonly clock: Clock;
  readonly bootReason: number;
  readonly dependencyResult: DependencyResult;
}

/** How a writable DID's new value is checked: exact length (else NRC 0x13), then its content (else 0x31). */
export interface DidWriteRule {
  readonly modes: readonly EcuMode[];
  readonly length: number;
  valid(data: Uint8Array): boolean;
}

/** One DID of this ECU. `read` returns undefined when the value does not exist right now (e.g. no application). */
export interface DidDefinition {
  readonly name: string;
  readonly modes: readonly EcuMode[];
  read(ctx: DidContext): Uint8Array | undefined;
  readonly write?: DidWriteRule;
}

const BOTH: readonly EcuMode[] = ['bootloader', 'application'];
const APP: readonly EcuMode[] = ['application'];

const TAU = 2 * Math.PI;

/**
 * Live ultrasonic distance sensor reading at clock time `timeMs`: a smooth 250…1950 mm signal (an
 * obstacle slowly approaching and receding, periods 12 s and 2.9 s), as DID 0x0100 reports it.
 */
export function ultrasonicDistanceMm(timeMs: number): number {
  return Math.round(1100 + 700 * Math.sin((TAU * timeMs) / 12_000) + 150 * Math.sin((TAU * timeMs) / 2_900));
}

/** Live supply voltage at clock time `timeMs`: 13.8 V with slow alternator ripple, 13510…14090 mV (DID 0x0101). */
export function supplyVoltageMv(timeMs: number): number {
  return Math.round(13_800 + 250 * Math.sin((TAU * timeMs) / 30_000) + 40 * Math.sin((TAU * timeMs) / 1_700));
}

function u16(value: number): Uint8Array {
  return Uint8Array.of((value >> 8) & 0xff, value & 0xff);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

const isPrintable = (data: Uint8Array): boolean => data.every((b) => b >= 0x20 && b <= 0x7e);

/** BCD date `YY YY MM DD` with a real month 01–12 and day 01–31. */
function isBcdDate(data: Uint8Array): boolean {
  if (!data.every((b) => (b >> 4) <= 9 && (b & 0x0f) <= 9)) return false;
  const bcd = (b: number): number => (b >> 4) * 10 + (b & 0x0f);
  const month = bcd(data[2] as number);
  const day = bcd(data[3] as number);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/** Stored value of `did`, or `fallback` when nothing was written yet. */
function stored(did: number, fallback: Uint8Array): (ctx: DidContext) => Uint8Array {
  return (ctx) => ctx.nvm.state.readDid(did) ?? fallback;
}

/** Default of the distance warning threshold: 300 mm. */
export const DEFAULT_DISTANCE_WARNING_MM = 300;
/** Default repair shop code (DID 0xF198) before any write: ten ASCII zeros. */
export const DEFAULT_REPAIR_SHOP_CODE = '0000000000';

/** Every DID this ECU knows, by identifier. */
export const DID_TABLE: ReadonlyMap<number, DidDefinition> = new Map<number, DidDefinition>([
  [DID.VIN, { name: 'VIN', modes: BOTH, read: (c) => c.nvm.state.readDid(IDENT_DID.vin) }],
  [DID.ECUSerialNumber, { name: 'ECUSerialNumber', modes: BOTH, read: (c) => c.nvm.state.readDid(IDENT_DID.serialNumber) }],
  [DID.vehicleManufacturerSparePartNumber, { name: 'sparePartNumber', modes: BOTH, read: (c) => c.nvm.state.readDid(IDENT_DID.sparePartNumber) }],
  [DID.vehicleManufacturerECUHardwareNumber, { name: 'ECUHardwareNumber', modes: BOTH, read: (c) => c.nvm.state.readDid(IDENT_DID.hardwareNumber) }],
  [DID.bootSoftwareIdentification, {
    name: 'bootSoftwareVersion', modes: BOTH,
    read: (c) => { const info = c.nvm.bootInfo(); return info === null ? undefined : ascii(info.version); },
  }],
  [DID.vehicleManufacturerECUSoftwareVersionNumber, {
    name: 'applicationSoftwareVersion', modes: BOTH,
    read: (c) => { const d = c.nvm.application.descriptor(); return d === null ? undefined : ascii(d.version); },
  }],
  [DID.activeDiagnosticSession, { name: 'activeDiagnosticSession', modes: BOTH, read: (c) => Uint8Array.of(c.session) }],
  [DID.repairShopCodeOrTesterSerialNumber, {
    name: 'repairShopCode', modes: BOTH, read: stored(DID.repairShopCodeOrTesterSerialNumber, ascii(DEFAULT_REPAIR_SHOP_CODE)),
    write: { modes: BOTH, length: 10, valid: isPrintable },
  }],
  [DID.programmingDate, {
    name: 'programmingDate', modes: BOTH, read: stored(DID.programmingDate, new Uint8Array(4)),
    write: { modes: BOTH, length: 4, valid: isBcdDate },
  }],
  [ECU_DID.distanceWarningThreshold, {
    name: 'distanceWarningThreshold', modes: APP, read: stored(ECU_DID.distanceWarningThreshold, u16(DEFAULT_DISTANCE_WARNING_MM)),
    write: { modes: APP, length: 2, valid: (d) => { const mm = ((d[0] as number) << 8) | (d[1] as number); return mm >= 50 && mm <= 4000; } },
  }],
  [ECU_DID.ultrasonicDistance, { name: 'ultrasonicDistance', modes: APP, read: (c) => u16(ultrasonicDistanceMm(c.clock.now())) }],
  [ECU_DID.supplyVoltage, { name: 'supplyVoltage', modes: APP, read: (c) => u16(supplyVoltageMv(c.clock.now())) }],
  [ECU_DID.bootState, { name: 'bootState', modes: BOTH, read: (c) => Uint8Array.of(BOOT_MODE_CODE[c.mode], c.bootReason) }],
  [ECU_DID.revocationListNumber, { name: 'revocationListNumber', modes: BOTH, read: stored(ECU_DID.revocationListNumber, new Uint8Array(4)) }],
  [ECU_DID.programmingStatus, {
    name: 'programmingStatus', modes: BOTH,
    read: (c) => {
      const status = c.nvm.applicationStatus();
      return Uint8Array.of(status.valid ? APP_STATUS_CODE.VALID : APP_STATUS_CODE[status.reason], c.dependencyResult);
    },
  }],
]);

/**
 * Data length of every fixed-length DID this ECU sends (the ISO ones, its own, and the DTC snapshot DIDs),
 * so a tester can split a multi-DID `62` response or a `59 04` snapshot record. The variable-length
 * identification DIDs (F180, F187, F189, F18C, F191) are absent: each must be the last of its response.
 */
export const ECU_DID_LENGTHS: ReadonlyMap<number, number> = new Map<number, number>([
  ...STANDARD_DID_LENGTHS,
  [DID.repairShopCodeOrTesterSerialNumber, 10],
  [DID.programmingDate, 4],
  [ECU_DID.ultrasonicDistance, 2],
  [ECU_DID.supplyVoltage, 2],
  [ECU_DID.distanceWarningThreshold, 2],
  [ECU_DID.bootState, 2],
  [ECU_DID.programmingStatus, 2],
  ...SNAPSHOT_DIDS.map((d): [number, number] => [d.did, d.length]),
]);

/** The value of `did` in this context, or undefined when this mode does not support it (or it has no value). */
export function readDid(did: number, ctx: DidContext): Uint8Array | undefined {
  const def = DID_TABLE.get(did);
  if (def === undefined || !def.modes.includes(ctx.mode)) return undefined;
  const value = def.read(ctx);
  return value === undefined || value.length === 0 ? undefined : value;
}

/** The write rule of `did` in `mode`, or undefined when it is not writable there. */
export function writeRule(did: number, mode: EcuMode): DidWriteRule | undefined {
  const rule = DID_TABLE.get(did)?.write;
  return rule !== undefined && rule.modes.includes(mode) ? rule : undefined;
}
