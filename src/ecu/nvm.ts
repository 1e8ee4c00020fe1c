/**
 * The non-volatile memory of one virtual ECU, wired together: flash (`flash.bin`, `flash.wear`,
 * `flash.meta.json`) and state (`state.json`) in one directory, the application record, SecurityAccess
 * and DTC memory on top. This is what the bootloader / application / UDS server is built on.
 *
 * Wiring that matters: erasing any application page first clears the application descriptor (so a
 * power loss mid-reprogramming leaves no stale valid descriptor), and the security counters, DTC memory
 * and descriptor persist through `state.json`.
 */
import type { Clock } from '../protocol/clock.js';
import { parseBootInfo, type BootInfo } from './bootloader-image.js';
import { ApplicationRecord, type AppValidity } from './descriptor.js';
import { DtcStore } from './dtc-store.js';
import { Flash } from './flash.js';
import { TimedFlash, type FlashTiming } from './flash-timing.js';
import type { EcuFlashModel } from './models.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../protocol/errors.js';
import { FLASH_FILES } from './flash-store.js';
import { OPTION_BYTES_FILE } from './option-bytes.js';
import { loadOrCreateEcuSecret, type EcuSecretInfo } from './secret.js';
import { SecurityAccess } from './security-access.js';
import { EcuState, IDENT_DID, STATE_FILE, type EcuIdentity } from './state.js';

export interface NvmOptions {
  /** Flash model of a new ECU (an existing one keeps its own; a different explicit model is refused). */
  model?: string | EcuFlashModel;
  /** Identity of a new ECU (VIN, serial, spare part, hardware id; default hardware id = flash model name). */
  identity?: Partial<EcuIdentity>;
  /**
   * SecurityAccess secret. Default: the ECU's own random secret, made at first start and kept in
   * `<dir>/security-secret` (0600, src/ecu/secret.ts); a memory-only ECU makes a random one per instance.
   */
  secret?: Uint8Array;
  /** Clock for the lockout delay and the flash timing; default `systemClock`. */
  clock?: Clock;
  /** Flash timing model; default off (`null`). */
  timing?: FlashTiming | null;
  /** SecurityAccess lockout delay (ms, default 10 000) and attempt limit (default 3). */
  lockoutMs?: number;
  maxAttempts?: number;
  /** Seed randomness (tests). */
  rng?: (length: number) => Uint8Array;
  /**
   * Re-provision an ECU whose `state.json` or `flash.bin` is gone (while the other, or the option bytes,
   * show it was provisioned): recreate the missing file (fresh identity / erased application), keep the
   * rollback floor from the copy that is left, and report it to `log`. Without it such an ECU is refused
   * (ECU_STATE_MISSING / FLASH_STATE_MISSING): a silent reset would lower its rollback floor.
   */
  reprovision?: boolean;
  /** Where a re-provision is reported (default: stderr). */
  log?: (line: string) => void;
}

/** One ECU's non-volatile memory and the logic that keeps it. */
export interface EcuNvm {
  /** Synchronous, physics-free flash. */
  readonly flash: Flash;
  /** The same flash with the timing model (a pass-through when timing is off). */
  readonly timedFlash: TimedFlash;
  readonly state: EcuState;
  readonly application: ApplicationRecord;
  readonly security: SecurityAccess;
  readonly dtcs: DtcStore;
  /** The SecurityAccess secret and its file (for the simulator, which hands it to the gateway and the manager's key store). */
  readonly securitySecret: Readonly<EcuSecretInfo>;
  /** The hardware id manifests must name (DID 0xF191). */
  hardwareId(): string;
  /** Version and product read from the bootloader region (DID 0xF180), `null` if it holds no boot info. */
  bootInfo(): BootInfo | null;
  /** The bootloader's start decision. */
  applicationStatus(): AppValidity;
  close(): void;
}

/** Opens (or creates) the ECU in `dir`; refuses a provisioned ECU that lost a file (see `reprovision`). */
export function openNvm(dir: string, options: NvmOptions = {}): EcuNvm {
  const lost = checkProvisioned(dir, options);
  const nvm = assemble(
    options,
    (identity) => EcuState.open(dir, identity),
    (beforeErase) => Flash.open(dir, { model: options.model, beforeErase }),
    () => loadOrCreateEcuSecret(dir),
  );
  if (lost.length > 0) {
    // A recreated flash holds no application: a descriptor that still names one must not survive it.
    if (lost.includes(FLASH_FILES.cells)) nvm.application.invalidate();
    const line = `ECU in ${dir}: re-provisioned (${lost.join(' and ')} recreated); rollback floor kept at ${nvm.application.installedCounter()}`;
    (options.log ?? ((l: string) => process.stderr.write(l + '\n')))(line);
  }
  return nvm;
}

/** An ECU whose memory lives only in this process. */
export function memoryNvm(options: NvmOptions = {}): EcuNvm {
  return assemble(
    options,
    (identity) => EcuState.inMemory(identity),
    (beforeErase) => Flash.inMemory({ model: options.model, beforeErase }),
    () => ({ secret: Uint8Array.from(randomBytes(32)), file: undefined, created: true }),
  );
}

/**
 * A provisioned ECU (any of flash.bin, state.json, option bytes present) must have both flash.bin and
 * state.json: one missing is a lost or tampered file, never a new ECU. Refused loudly, or — with
 * `reprovision` — reported and let through (the floor comes back from the copy that is left).
 */
function checkProvisioned(dir: string, options: NvmOptions): string[] {
  const has = {
    flash: existsSync(join(dir, FLASH_FILES.cells)),
    state: existsSync(join(dir, STATE_FILE)),
    floor: existsSync(join(dir, OPTION_BYTES_FILE)),
  };
  if (!(has.flash || has.state || has.floor) || (has.flash && has.state)) return [];
  const lost = [...(has.state ? [] : [STATE_FILE]), ...(has.flash ? [] : [FLASH_FILES.cells])];
  const code = has.state ? 'FLASH_STATE_MISSING' : 'ECU_STATE_MISSING';
  if (options.reprovision !== true) {
    throw new OtaError(code, `the ECU in ${dir} was provisioned but ${lost.join(' and ')} is gone; refusing to start from a reset state (it would lower the rollback floor). Restore the file, or re-provision explicitly`);
  }
  return lost;
}

function assemble(
  options: NvmOptions,
  openState: (identity: Partial<EcuIdentity>) => EcuState,
  openFlash: (beforeErase: (page: number) => void) => Flash,
  openSecret: () => EcuSecretInfo,
): EcuNvm {
  const hook: { record?: ApplicationRecord } = {};
  const flash = openFlash((page) => {
    const app = flash.layout.application;
    if (page >= app.start && page < app.end) hook.record?.invalidate();
  });
  let state: EcuState;
  let securitySecret: EcuSecretInfo;
  try {
    // A new ECU's hardware id defaults to its flash model (an existing state keeps its own).
    const identity: Partial<EcuIdentity> = { ...options.identity };
    identity.hardwareId ??= flash.model.name;
    state = openState(identity);
    securitySecret = options.secret === undefined ? openSecret() : { secret: Uint8Array.from(options.secret), file: undefined, created: false };
  } catch (e) {
    flash.close();
    throw e;
  }
  const hardwareId = (): string => Buffer.from(state.readDid(IDENT_DID.hardwareNumber) ?? new Uint8Array()).toString('latin1');
  const record = new ApplicationRecord(flash, state.applicationSlot(), hardwareId);
  hook.record = record;
  const security = new SecurityAccess({
    secret: securitySecret.secret,
    store: state.slot('security'),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.rng === undefined ? {} : { rng: options.rng }),
    ...(options.lockoutMs === undefined ? {} : { lockoutMs: options.lockoutMs }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });
  const dtcs = new DtcStore(state.slot('dtcs'));
  const timedFlash = new TimedFlash(flash, { timing: options.timing ?? null, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  return {
    flash,
    timedFlash,
    state,
    application: record,
    security,
    dtcs,
    securitySecret,
    hardwareId,
    bootInfo: () => parseBootInfo(flash.read(flash.layout.bootloader.start, flash.layout.bootloader.end - flash.layout.bootloader.start)),
    applicationStatus: () => record.status(),
    close: () => flash.close(),
  };
}
