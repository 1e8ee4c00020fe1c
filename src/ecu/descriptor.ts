/**
 * The application descriptor: what the bootloader records once the programming dependencies check
 * (routine 0xFF01, signed manifest verified by the caller) has passed, and checks at every start.
 *
 * Where it lives: in the ECU state file (`state.json`, atomically replaced), not in flash. Keeping it
 * out of flash leaves the whole application region (0x08002000–0x0800FFFF on the c8, ARCHITECTURE §3)
 * for the image, so no image can overlap it; it plays the role of the dedicated bootloader-data page
 * (EEPROM emulation) a production bootloader would use, and its atomic replace gives a clean valid /
 * invalid switch. Any erase of an application page clears it first (the NVM wires `Flash`'s
 * `beforeErase` to `invalidate`), so a power loss during reprogramming never leaves a stale valid
 * descriptor; and the start check recomputes SHA-256 over flash anyway.
 *
 * The installed release counter (rollback protection) is stored beside it but separately: an erase
 * clears the descriptor, never the counter.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { OtaError } from '../protocol/errors.js';
import type { FlashLayout } from './models.js';
import type { Persisted } from './state.js';

/** The installed application as the bootloader recorded it. `sha256` is 64 lower-case hex digits. */
export interface ApplicationDescriptor {
  start: number;
  length: number;
  sha256: string;
  version: string;
  counter: number;
  hardwareId: string;
}

/** Why the bootloader does not start the application; codes are what a status DID reports. */
export const APP_INVALID = {
  /** No descriptor: never installed, or an application page was erased since. */
  NO_DESCRIPTOR: 'NO_DESCRIPTOR',
  /** The descriptor's start is not inside the application region. */
  RANGE: 'RANGE',
  /** The length is 0 or runs past the end of the application region. */
  LENGTH: 'LENGTH',
  /** The digest differs and the image's first 8 bytes (initial SP, reset vector) read erased. */
  ERASED: 'ERASED',
  /** The SHA-256 of the flash content differs from the descriptor's. */
  DIGEST: 'DIGEST',
} as const;

export type AppInvalidReason = (typeof APP_INVALID)[keyof typeof APP_INVALID];

/** One-byte status codes for a DID (0x00 = valid application). */
export const APP_STATUS_CODE: Readonly<Record<'VALID' | AppInvalidReason, number>> = {
  VALID: 0x00,
  NO_DESCRIPTOR: 0x01,
  RANGE: 0x02,
  LENGTH: 0x03,
  ERASED: 0x04,
  DIGEST: 0x05,
};

export type AppValidity =
  | { readonly valid: true; readonly descriptor: ApplicationDescriptor }
  | { readonly valid: false; readonly reason: AppInvalidReason };

/** What validation needs of a flash. */
export interface FlashReader {
  readonly layout: FlashLayout;
  read(address: number, length: number): Uint8Array;
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Type guard for a stored descriptor. */
export function isApplicationDescriptor(v: unknown): v is ApplicationDescriptor {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  return isNat(d.start) && isNat(d.length) && typeof d.sha256 === 'string' && /^[0-9a-f]{64}$/.test(d.sha256) &&
    typeof d.version === 'string' && isNat(d.counter) && typeof d.hardwareId === 'string';
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The bootloader's start check: the descriptor exists, its range lies in the application region, and
 * the SHA-256 recomputed over flash equals the recorded one. Otherwise says why.
 */
export function validateApplication(flash: FlashReader, descriptor: ApplicationDescriptor | null): AppValidity {
  if (descriptor === null) return { valid: false, reason: APP_INVALID.NO_DESCRIPTOR };
  const app = flash.layout.application;
  if (descriptor.start < app.start || descriptor.start >= app.end) return { valid: false, reason: APP_INVALID.RANGE };
  if (descriptor.length <= 0 || descriptor.start + descriptor.length > app.end) return { valid: false, reason: APP_INVALID.LENGTH };
  const image = flash.read(descriptor.start, descriptor.length);
  if (sha256Hex(image) === descriptor.sha256) return { valid: true, descriptor: { ...descriptor } };
  const head = image.subarray(0, 8);
  return { valid: false, reason: head.every((b) => b === 0xff) ? APP_INVALID.ERASED : APP_INVALID.DIGEST };
}

/** Stable codes of `ApplicationRecord.install` refusals. */
export const APP_ERROR = {
  HARDWARE_ID: 'APP_HARDWARE_ID',
  ROLLBACK: 'APP_ROLLBACK',
  RANGE: 'APP_RANGE',
  FORMAT: 'APP_FORMAT',
  DIGEST: 'APP_DIGEST',
} as const;

/** The verified manifest fields the dependency check hands to `install`. */
export interface InstallRequest {
  start: number;
  length: number;
  /** SHA-256 of the image: 32 bytes or 64 hex digits. */
  sha256: Uint8Array | string;
  version: string;
  counter: number;
  hardwareId: string;
}

/** What the record persists, in one atomic write (descriptor and counter change together). */
export interface ApplicationRecordState {
  application: ApplicationDescriptor | null;
  installedCounter: number;
}

/** The bootloader's record of the installed application and of the highest release counter. */
export class ApplicationRecord {
  constructor(
    private readonly flash: FlashReader,
    private readonly store: Persisted<ApplicationRecordState>,
    private readonly hardwareId: () => string,
  ) {}

  /** The recorded descriptor, or `null`. */
  descriptor(): ApplicationDescriptor | null {
    return this.store.load().application;
  }

  /** Highest release counter installed so far (0 = none); survives erases. */
  installedCounter(): number {
    return this.store.load().installedCounter;
  }

  /** `validateApplication` on this ECU's flash and descriptor. */
  status(): AppValidity {
    return validateApplication(this.flash, this.descriptor());
  }

  /**
   * Records the application after the checks of ARCHITECTURE §2.3, in this order: hardware id
   * (APP_HARDWARE_ID), release counter strictly above the installed one (APP_ROLLBACK), range inside
   * the application region (APP_RANGE), digest well-formed (APP_FORMAT) and equal to SHA-256 over the
   * flash bytes (APP_DIGEST). A refusal changes nothing.
   */
  install(request: InstallRequest): ApplicationDescriptor {
    const current = this.store.load();
    if (request.hardwareId !== this.hardwareId()) {
      throw new OtaError(APP_ERROR.HARDWARE_ID, `image is for hardware '${request.hardwareId}', this ECU is '${this.hardwareId()}'`);
    }
    if (!Number.isSafeInteger(request.counter) || request.counter <= current.installedCounter) {
      throw new OtaError(APP_ERROR.ROLLBACK, `release counter ${String(request.counter)} is not above the installed ${current.installedCounter}`);
    }
    const app = this.flash.layout.application;
    const { start, length } = request;
    if (!isNat(start) || !isNat(length) || length === 0 || start < app.start || start + length > app.end) {
      throw new OtaError(APP_ERROR.RANGE, `image ${String(start)}+${String(length)} is not inside the application region`);
    }
    const expected = typeof request.sha256 === 'string' ? request.sha256.toLowerCase() : Buffer.from(request.sha256).toString('hex');
    if (!/^[0-9a-f]{64}$/.test(expected)) throw new OtaError(APP_ERROR.FORMAT, 'the image digest is not a SHA-256');
    const actual = createHash('sha256').update(this.flash.read(start, length)).digest();
    if (!timingSafeEqual(actual, Buffer.from(expected, 'hex'))) {
      throw new OtaError(APP_ERROR.DIGEST, 'the SHA-256 of the flash content differs from the manifest');
    }
    const descriptor: ApplicationDescriptor = {
      start, length, sha256: expected, version: request.version, counter: request.counter, hardwareId: request.hardwareId,
    };
    this.store.save({ application: descriptor, installedCounter: request.counter });
    return { ...descriptor };
  }

  /** Forgets the descriptor (keeps the counter). Called before any application page is erased. */
  invalidate(): void {
    const current = this.store.load();
    if (current.application === null) return;
    this.store.save({ application: null, installedCounter: current.installedCounter });
  }
}
