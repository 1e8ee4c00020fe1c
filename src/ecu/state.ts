/**
 * The ECU's non-volatile state other than flash content: one JSON file, `<dir>/state.json`, replaced
 * atomically (write temp, fsync, rename) on every change, so a power loss leaves the old or the new
 * state, never a torn one. It holds what must survive a reset: the SecurityAccess attempt counter and
 * lockout (ISO 14229-1 §10.4), DTC memory, the application descriptor, the installed release counter
 * (rollback protection, kept apart from the descriptor so an erase does not reset it), and the DID
 * values (VIN, serial, spare part and hardware numbers, and anything written by WriteDataByIdentifier).
 *
 * The rollback floor (`installedCounter`) has a second copy in the option bytes (option-bytes.ts): on
 * open the larger of the two wins and both are brought up to it, so a deleted or rolled-back copy of
 * either does not lower the floor.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../protocol/errors.js';
import { isApplicationDescriptor, type ApplicationDescriptor, type ApplicationRecordState } from './descriptor.js';
import { isDtcEntryState, type DtcEntryState } from './dtc-store.js';
import { EcuFileError } from './errors.js';
import { writeFileAtomic } from './fs-sync.js';
import { readFloorCopy, writeFloorCopy } from './option-bytes.js';
import type { SecurityCounters } from './security-access.js';

/** A value that lives in non-volatile memory: read it, replace it (the write is durable on return). */
export interface Persisted<T> {
  load(): T;
  save(value: T): void;
}

/** A `Persisted` kept in memory only (tests, or parts run without a state directory). */
export function memoryPersisted<T>(initial: T): Persisted<T> {
  let value = structuredClone(initial);
  return {
    load: () => structuredClone(value),
    save: (v) => {
      value = structuredClone(v);
    },
  };
}

/** Identification DIDs the state seeds (ISO 14229-1 Annex C.1 identifiers). */
export const IDENT_DID = {
  sparePartNumber: 0xf187,
  serialNumber: 0xf18c,
  vin: 0xf190,
  hardwareNumber: 0xf191,
} as const;

/** Identity of a new ECU; every field has a documented simulator default. */
export interface EcuIdentity {
  /** 17-character VIN (DID 0xF190); default a placeholder, see `DEFAULT_IDENTITY`. */
  vin: string;
  /** ECU serial number (DID 0xF18C). */
  serialNumber: string;
  /** Spare part number (DID 0xF187). */
  sparePartNumber: string;
  /** Hardware id the firmware manifest must name (DID 0xF191); default the flash model name. */
  hardwareId: string;
}

export const DEFAULT_IDENTITY: EcuIdentity = {
  vin: 'ZZZ0TASM000000001',
  serialNumber: 'SIM0000000001',
  sparePartNumber: 'OTA-ECU-0001',
  hardwareId: 'stm32f103c8',
};

/** Everything in `state.json`. DID keys are 4 upper-case hex digits, values hex strings. */
export interface EcuStateData {
  format: 1;
  dids: Record<string, string>;
  security: SecurityCounters;
  /** DTC memory; `null` until the DTC store first saves (it then starts from its default set). */
  dtcs: DtcEntryState[] | null;
  /** Descriptor of the installed application; `null` when none is valid (never installed, or erased since). */
  application: ApplicationDescriptor | null;
  /** Highest release counter ever installed (0 = none). Never decreases, survives erases. */
  installedCounter: number;
}

export const STATE_FILE = 'state.json';

function didKey(did: number): string {
  if (!Number.isInteger(did) || did < 0 || did > 0xffff) throw new OtaError('ECU_STATE_DID', `DID ${String(did)} is not 16-bit`);
  return did.toString(16).toUpperCase().padStart(4, '0');
}

/** A fresh state for an ECU with `identity`. */
export function initialState(identity: Partial<EcuIdentity> = {}): EcuStateData {
  const id: EcuIdentity = { ...DEFAULT_IDENTITY };
  for (const key of Object.keys(id) as (keyof EcuIdentity)[]) {
    const given = identity[key];
    if (given !== undefined) id[key] = given;
  }
  const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
  return {
    format: 1,
    dids: {
      [didKey(IDENT_DID.vin)]: ascii(id.vin),
      [didKey(IDENT_DID.serialNumber)]: ascii(id.serialNumber),
      [didKey(IDENT_DID.sparePartNumber)]: ascii(id.sparePartNumber),
      [didKey(IDENT_DID.hardwareNumber)]: ascii(id.hardwareId),
    },
    security: { failedAttempts: 0, lockoutUntil: 0 },
    dtcs: null,
    application: null,
    installedCounter: 0,
  };
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function isStateData(v: unknown): v is EcuStateData {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  const sec = s.security as Record<string, unknown> | null | undefined;
  const dids = s.dids;
  return (
    s.format === 1 &&
    typeof dids === 'object' && dids !== null && !Array.isArray(dids) &&
    Object.entries(dids).every(([k, x]) => /^[0-9A-F]{4}$/.test(k) && typeof x === 'string' && /^([0-9a-f]{2})*$/.test(x)) &&
    typeof sec === 'object' && sec !== null && isNat(sec.failedAttempts) && typeof sec.lockoutUntil === 'number' &&
    (s.dtcs === null || (Array.isArray(s.dtcs) && s.dtcs.every(isDtcEntryState))) &&
    (s.application === null || isApplicationDescriptor(s.application)) &&
    isNat(s.installedCounter)
  );
}

/** Parses `state.json` text; throws `ECU_STATE_CORRUPT` unless it has every field with the right type. */
export function parseState(text: string): EcuStateData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new OtaError('ECU_STATE_CORRUPT', `${STATE_FILE} is not JSON`, { cause: e });
  }
  if (!isStateData(parsed)) throw new OtaError('ECU_STATE_CORRUPT', `${STATE_FILE} does not have the expected fields`);
  return parsed;
}

/** Reads and parses `path`; any failure is an `EcuFileError` naming it (ECU_STATE_CORRUPT). */
function loadStateFile(path: string): EcuStateData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new EcuFileError('ECU_STATE_CORRUPT', path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  try {
    return parseState(text);
  } catch (e) {
    throw new EcuFileError('ECU_STATE_CORRUPT', path, e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/** The state of one ECU, in a directory (`EcuState.open`) or in memory (`EcuState.inMemory`). */
export class EcuState {
  private current: EcuStateData;

  private constructor(
    initial: EcuStateData,
    private readonly write: (data: EcuStateData) => void,
  ) {
    this.current = initial;
  }

  /**
   * Loads `<dir>/state.json`, or creates it for a new ECU with `identity` (ignored when it exists). The
   * rollback floor is the larger of state.json's and the option bytes' copy (a new state starts from the
   * option bytes: a re-provisioned ECU keeps its floor). Whether a missing state.json may be created is
   * the caller's decision (openNvm refuses it for a provisioned ECU unless told to re-provision).
   */
  static open(dir: string, identity: Partial<EcuIdentity> = {}): EcuState {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, STATE_FILE);
    let copy = readFloorCopy(dir);
    const write = (data: EcuStateData): void => {
      writeFileAtomic(path, JSON.stringify(data, null, 2) + '\n');
      if (copy === undefined || data.installedCounter > copy) {
        writeFloorCopy(dir, data.installedCounter);
        copy = data.installedCounter;
      }
    };
    if (existsSync(path)) {
      const loaded = loadStateFile(path);
      if (copy !== undefined && copy > loaded.installedCounter) {
        loaded.installedCounter = copy; // state.json was rolled back or replaced: the option bytes keep the floor
        write(loaded);
      } else if (copy === undefined || copy < loaded.installedCounter) {
        writeFloorCopy(dir, loaded.installedCounter); // the second copy was lost (or never made): make it again
        copy = loaded.installedCounter;
      }
      return new EcuState(loaded, write);
    }
    const fresh = initialState(identity);
    fresh.installedCounter = copy ?? 0;
    write(fresh);
    return new EcuState(fresh, write);
  }

  /** A state that is never written to disk. */
  static inMemory(identity: Partial<EcuIdentity> = {}): EcuState {
    return new EcuState(initialState(identity), () => undefined);
  }

  /** A deep copy of the whole state. */
  snapshot(): EcuStateData {
    return structuredClone(this.current);
  }

  /** Applies `change` to a copy and makes it durable; if writing fails, the state is unchanged. */
  update(change: (draft: EcuStateData) => void): void {
    const draft = structuredClone(this.current);
    change(draft);
    if (!isStateData(draft)) throw new OtaError('ECU_STATE_INVALID', 'a state update produced an invalid state');
    this.write(draft);
    this.current = draft;
  }

  /** One top-level field as a `Persisted` (how the security, DTC and descriptor modules store theirs). */
  slot<K extends Exclude<keyof EcuStateData, 'format'>>(key: K): Persisted<EcuStateData[K]> {
    return {
      load: () => structuredClone(this.current[key]),
      save: (value) => this.update((d) => {
        d[key] = structuredClone(value);
      }),
    };
  }

  /** Descriptor and installed counter as one `Persisted`, so both change in one atomic write. */
  applicationSlot(): Persisted<ApplicationRecordState> {
    return {
      load: () => ({ application: structuredClone(this.current.application), installedCounter: this.current.installedCounter }),
      save: (value) => this.update((d) => {
        d.application = structuredClone(value.application);
        d.installedCounter = Math.max(d.installedCounter, value.installedCounter); // never decreases
      }),
    };
  }

  /** The stored value of `did`, or `undefined` when the ECU holds none. */
  readDid(did: number): Uint8Array | undefined {
    const hex = this.current.dids[didKey(did)];
    return hex === undefined ? undefined : Uint8Array.from(Buffer.from(hex, 'hex'));
  }

  /** Stores `value` for `did` durably (WriteDataByIdentifier; which DIDs are writable is the caller's rule). */
  writeDid(did: number, value: Uint8Array): void {
    const key = didKey(did);
    this.update((d) => {
      d.dids[key] = Buffer.from(value).toString('hex');
    });
  }

  /** The stored DIDs, ascending. */
  dids(): number[] {
    return Object.keys(this.current.dids).map((k) => parseInt(k, 16)).sort((a, b) => a - b);
  }
}
