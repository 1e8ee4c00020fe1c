/**
 * The DTC memory of the virtual ECU (no UDS bytes). Clause numbers are ISO 14229-1:2013: status bytes
 * per Annex D.2, one snapshot record and two extended data records per DTC, queries by status mask
 * (ReadDTCInformation 0x19, §11.3), clear (ClearDiagnosticInformation 0x14, §11.2), and
 * ControlDTCSetting (0x85, §9.9).
 *
 * DTCs are 3 bytes (`parseDtc`/`formatDtc` of the UDS codec): the 2-byte SAE J2012 code — system letter
 * in bits 23–22 (P 00, C 01, B 10, U 11), then four hex digits — and a failure type byte (FTB, 00 here).
 * P0001 → 00 01 00, P0100 → 01 00 00, C0035 → 40 35 00, B0024 → 80 24 00, U0100 → C1 00 00.
 * Refusals are `UdsNegativeError(0x31 requestOutOfRange)`, ready for the UDS server.
 *
 * DTCStatusAvailabilityMask is 0xAF: testFailed, testFailedThisOperationCycle, pendingDTC,
 * confirmedDTC, testFailedSinceLastClear and warningIndicatorRequested are supported; the two
 * "test not completed" bits (4, 6) are not, so a cleared DTC (status 0x50 & 0xAF = 0x00) matches no mask.
 */
import type { DidRecord } from '../protocol/uds/did.js';
import {
  ALL_DTC_GROUPS,
  DTC_STATUS,
  parseDtc,
  type DtcAndStatus,
  type DtcExtDataRecord,
  type DtcSnapshotRecord,
} from '../protocol/uds/dtc.js';
import { NRC, UdsNegativeError } from '../protocol/uds/nrc.js';
import { memoryPersisted, type Persisted } from './state.js';

export const DTC_STATUS_AVAILABILITY_MASK = 0xaf;
/** Manufacturer-defined groups of this ECU: every DTC of one system letter. */
export const DTC_SYSTEM_GROUP = { P: 0x000000, C: 0x400000, B: 0x800000, U: 0xc00000 } as const;
/** Confirmed DTCs not failing for this many operation cycles are cleared from confirmed (self-healing). */
export const DTC_AGING_THRESHOLD = 40;

/** The snapshot record number and its DIDs (OBD PIDs 0x0D, 0x0C, 0x42 as DIDs 0xF40D, 0xF40C, 0xF442). */
export const DTC_SNAPSHOT_RECORD = 0x01;
export const SNAPSHOT_DIDS = [
  { did: 0xf40d, name: 'vehicleSpeed', length: 1 }, // km/h
  { did: 0xf40c, name: 'engineSpeed', length: 2 }, // rpm × 4, big-endian
  { did: 0xf442, name: 'controlModuleVoltage', length: 2 }, // mV, big-endian
] as const;

/** Extended data records: 0x01 occurrence counter, 0x02 aging counter (1 byte each). */
export const DTC_EXT_RECORD = { occurrenceCounter: 0x01, agingCounter: 0x02 } as const;
/** Record number meaning "all records" in 0x19 0x04 / 0x06 requests. */
export const ALL_RECORDS = 0xff;

function outOfRange(message: string): UdsNegativeError {
  return new UdsNegativeError(NRC.requestOutOfRange, message);
}

/** One snapshot DID and its raw value (hex), as persisted. */
export interface SnapshotValue {
  did: number;
  data: string;
}

/** One DTC's memory, as persisted in `state.json`. */
export interface DtcEntryState {
  dtc: number;
  status: number;
  occurrenceCounter: number;
  agingCounter: number;
  /** Snapshot record 0x01 (conditions at first failure), `null` when none is stored. */
  snapshot: SnapshotValue[] | null;
}

/** Operating conditions captured into a snapshot. */
export interface SnapshotConditions {
  vehicleSpeedKmh: number;
  engineRpm: number;
  supplyVoltageV: number;
}

const isByte = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;

/** Type guard for a persisted DTC entry (used when `state.json` is loaded). */
export function isDtcEntryState(v: unknown): v is DtcEntryState {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const snap = e.snapshot;
  return (
    typeof e.dtc === 'number' && Number.isInteger(e.dtc) && e.dtc >= 0 && e.dtc <= 0xffffff &&
    isByte(e.status) && isByte(e.occurrenceCounter) && isByte(e.agingCounter) &&
    (snap === null || (Array.isArray(snap) && snap.every((s: unknown) => {
      const x = s as Record<string, unknown> | null;
      return typeof x === 'object' && x !== null && typeof x.did === 'number' && typeof x.data === 'string' && /^([0-9a-f]{2})*$/.test(x.data);
    })))
  );
}

/** Raw snapshot DID values for `conditions` (big-endian, OBD scaling). */
export function snapshotValues(c: SnapshotConditions): SnapshotValue[] {
  const u8 = (n: number): string => Math.max(0, Math.min(0xff, Math.round(n))).toString(16).padStart(2, '0');
  const u16 = (n: number): string => Math.max(0, Math.min(0xffff, Math.round(n))).toString(16).padStart(4, '0');
  return [
    { did: 0xf40d, data: u8(c.vehicleSpeedKmh) },
    { did: 0xf40c, data: u16(c.engineRpm * 4) },
    { did: 0xf442, data: u16(c.supplyVoltageV * 1000) },
  ];
}

/** One configured DTC: its code, what it means, and its factory memory. */
export interface DtcDefinition {
  code: string;
  description: string;
  /** Failure sets warningIndicatorRequested (MIL). */
  warningIndicator: boolean;
  initial: { status: number; occurrenceCounter: number; agingCounter: number; conditions: SnapshotConditions };
}

/** The default DTC set of the virtual ECU (ARCHITECTURE §3), with its factory memory. */
export const DEFAULT_DTCS: readonly DtcDefinition[] = [
  { code: 'P0001', description: 'Fuel volume regulator control circuit / open', warningIndicator: false,
    initial: { status: 0x2f, occurrenceCounter: 3, agingCounter: 0, conditions: { vehicleSpeedKmh: 48, engineRpm: 2150, supplyVoltageV: 13.8 } } },
  { code: 'P0100', description: 'Mass or volume air flow circuit', warningIndicator: false,
    initial: { status: 0x24, occurrenceCounter: 1, agingCounter: 0, conditions: { vehicleSpeedKmh: 0, engineRpm: 780, supplyVoltageV: 14.1 } } },
  { code: 'C0035', description: 'Left front wheel speed sensor circuit', warningIndicator: false,
    initial: { status: 0x28, occurrenceCounter: 2, agingCounter: 12, conditions: { vehicleSpeedKmh: 72, engineRpm: 2600, supplyVoltageV: 13.9 } } },
  { code: 'B0024', description: 'Right side airbag deployment control', warningIndicator: false,
    initial: { status: 0x2c, occurrenceCounter: 1, agingCounter: 0, conditions: { vehicleSpeedKmh: 0, engineRpm: 0, supplyVoltageV: 12.4 } } },
  { code: 'U0100', description: 'Lost communication with ECM/PCM "A"', warningIndicator: true,
    initial: { status: 0xaf, occurrenceCounter: 5, agingCounter: 0, conditions: { vehicleSpeedKmh: 31, engineRpm: 1400, supplyVoltageV: 11.9 } } },
];

/** The DTC memory of a new ECU. */
export function defaultDtcMemory(definitions: readonly DtcDefinition[] = DEFAULT_DTCS): DtcEntryState[] {
  return definitions.map((d) => ({
    dtc: parseDtc(d.code),
    status: d.initial.status & DTC_STATUS_AVAILABILITY_MASK,
    occurrenceCounter: d.initial.occurrenceCounter,
    agingCounter: d.initial.agingCounter,
    snapshot: snapshotValues(d.initial.conditions),
  }));
}

/** DTC memory with ISO 14229-1 status handling; every change is persisted at once. */
export class DtcStore {
  private readonly store: Persisted<DtcEntryState[] | null>;
  private readonly definitions: readonly DtcDefinition[];
  private entries: DtcEntryState[];
  private settingOn = true;

  constructor(store: Persisted<DtcEntryState[] | null> = memoryPersisted(null), definitions = DEFAULT_DTCS) {
    this.store = store;
    this.definitions = definitions;
    const loaded = store.load();
    const defaults = defaultDtcMemory(definitions);
    // Keep only configured DTCs; a DTC added to the configuration starts from its factory memory.
    this.entries = defaults.map((d) => loaded?.find((e) => e.dtc === d.dtc) ?? d);
  }

  /** Every supported DTC with its status (ReadDTCInformation 0x0A reportSupportedDTC). */
  supported(): DtcAndStatus[] {
    return this.entries.map((e) => ({ dtc: e.dtc, status: e.status & DTC_STATUS_AVAILABILITY_MASK }));
  }

  /** ISO 14229-1 §11.3.2: DTCs whose status & mask & availability ≠ 0 (sub-functions 0x01/0x02). */
  byStatusMask(mask: number): DtcAndStatus[] {
    return this.supported().filter((e) => (e.status & mask) !== 0);
  }

  /**
   * Snapshot records of `dtc` for 0x19 0x04: record 0x01 or 0xFF (all); empty when none is stored.
   * Other record numbers and unknown DTCs → NRC 0x31.
   */
  snapshots(dtc: number, recordNumber: number = ALL_RECORDS): DtcSnapshotRecord[] {
    const entry = this.entry(dtc);
    if (recordNumber !== DTC_SNAPSHOT_RECORD && recordNumber !== ALL_RECORDS) {
      throw outOfRange(`no snapshot record 0x${recordNumber.toString(16)}`);
    }
    if (entry.snapshot === null) return [];
    const identifiers: DidRecord[] = entry.snapshot.map((s) => ({ did: s.did, data: Uint8Array.from(Buffer.from(s.data, 'hex')) }));
    return [{ recordNumber: DTC_SNAPSHOT_RECORD, identifiers }];
  }

  /** Extended data records of `dtc` for 0x19 0x06: 0x01 occurrence counter, 0x02 aging counter, 0xFF both. */
  extendedData(dtc: number, recordNumber: number = ALL_RECORDS): DtcExtDataRecord[] {
    const entry = this.entry(dtc);
    const all: DtcExtDataRecord[] = [
      { recordNumber: DTC_EXT_RECORD.occurrenceCounter, data: Uint8Array.of(entry.occurrenceCounter) },
      { recordNumber: DTC_EXT_RECORD.agingCounter, data: Uint8Array.of(entry.agingCounter) },
    ];
    if (recordNumber === ALL_RECORDS) return all;
    const one = all.filter((r) => r.recordNumber === recordNumber);
    if (one.length === 0) throw outOfRange(`no extended data record 0x${recordNumber.toString(16)}`);
    return one;
  }

  /**
   * ClearDiagnosticInformation (§11.2): 0xFFFFFF all, a system group (`DTC_SYSTEM_GROUP`), or one DTC.
   * Cleared DTCs get status 0x50 (Annex D.2: only the test-not-completed bits set), counters 0, no
   * snapshot. Unknown groups → NRC 0x31. Allowed with DTC setting off. Returns how many were cleared.
   */
  clear(group: number): number {
    const matches = this.entries.filter((e) => this.inGroup(e.dtc, group));
    if (matches.length === 0) {
      throw outOfRange(`groupOfDTC 0x${group.toString(16)} is not supported`);
    }
    this.mutate(() => {
      for (const e of matches) {
        e.status = (DTC_STATUS.testNotCompletedSinceLastClear | DTC_STATUS.testNotCompletedThisOperationCycle) & DTC_STATUS_AVAILABILITY_MASK;
        e.occurrenceCounter = 0;
        e.agingCounter = 0;
        e.snapshot = null;
      }
    });
    return matches.length;
  }

  /** ControlDTCSetting on/off (§9.9): while off, test results and operation cycles change nothing. Not persisted (a reset turns it on). */
  setDtcSetting(on: boolean): void {
    this.settingOn = on;
  }

  get dtcSettingOn(): boolean {
    return this.settingOn;
  }

  /**
   * A diagnostic test of `dtc` completed. Failing: testFailed, testFailedThisOperationCycle, pending,
   * confirmed (single-trip confirmation) and testFailedSinceLastClear set; occurrence counter +1 on a
   * pass→fail transition; aging restarts; the snapshot is taken at the first failure. Passing: testFailed
   * cleared. Returns false (and changes nothing) while DTC setting is off.
   */
  reportTestResult(dtc: number, failed: boolean, conditions?: SnapshotConditions): boolean {
    const entry = this.entry(dtc);
    if (!this.settingOn) return false;
    const definition = this.definitions.find((d) => parseDtc(d.code) === dtc);
    this.mutate(() => {
      if (failed) {
        if ((entry.status & DTC_STATUS.testFailed) === 0) entry.occurrenceCounter = Math.min(0xff, entry.occurrenceCounter + 1);
        entry.status |= DTC_STATUS.testFailed | DTC_STATUS.testFailedThisOperationCycle | DTC_STATUS.pendingDTC |
          DTC_STATUS.confirmedDTC | DTC_STATUS.testFailedSinceLastClear;
        if (definition?.warningIndicator === true) entry.status |= DTC_STATUS.warningIndicatorRequested;
        entry.agingCounter = 0;
        if (entry.snapshot === null && conditions !== undefined) entry.snapshot = snapshotValues(conditions);
      } else {
        entry.status &= ~DTC_STATUS.testFailed;
      }
      entry.status &= DTC_STATUS_AVAILABILITY_MASK;
    });
    return true;
  }

  /**
   * A new operation cycle starts. For each DTC that did not fail in the cycle that ended: pending is
   * cleared, the warning indicator goes off, and a confirmed DTC ages (+1); at `DTC_AGING_THRESHOLD` it is
   * no longer confirmed. testFailedThisOperationCycle is cleared for all. No effect while DTC setting is off.
   */
  startOperationCycle(): boolean {
    if (!this.settingOn) return false;
    this.mutate(() => {
      for (const e of this.entries) {
        if ((e.status & DTC_STATUS.testFailedThisOperationCycle) === 0) {
          e.status &= ~(DTC_STATUS.pendingDTC | DTC_STATUS.warningIndicatorRequested);
          if ((e.status & DTC_STATUS.confirmedDTC) !== 0) {
            e.agingCounter = Math.min(0xff, e.agingCounter + 1);
            if (e.agingCounter >= DTC_AGING_THRESHOLD) {
              e.status &= ~DTC_STATUS.confirmedDTC;
              e.agingCounter = 0;
            }
          }
        }
        e.status &= ~DTC_STATUS.testFailedThisOperationCycle & DTC_STATUS_AVAILABILITY_MASK;
      }
    });
    return true;
  }

  private inGroup(dtc: number, group: number): boolean {
    if (group === ALL_DTC_GROUPS) return true;
    if ((Object.values(DTC_SYSTEM_GROUP) as number[]).includes(group)) return (dtc & 0xc00000) === group;
    return dtc === group;
  }

  private entry(dtc: number): DtcEntryState {
    const entry = this.entries.find((e) => e.dtc === dtc);
    if (entry === undefined) {
      throw outOfRange(`DTC 0x${dtc.toString(16)} is not supported`);
    }
    return entry;
  }

  /** Applies `change` to the live entries and persists them; on a failed write the entries are restored. */
  private mutate(change: () => void): void {
    const before = structuredClone(this.entries);
    change();
    try {
      this.store.save(this.entries);
    } catch (e) {
      // entries are referenced by callers' closures: restore in place
      this.entries.splice(0, this.entries.length, ...before);
      throw e;
    }
  }
}
