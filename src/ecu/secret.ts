/**
 * The ECU's SecurityAccess secret (ARCHITECTURE §2.4): 32 random bytes made at the ECU's first start and
 * kept in its state directory, `<dir>/security-secret` (hex, mode 0600), like a real ECU's secret written
 * at end of line. Nothing a tester can read (not the serial number, DID F18C) derives it.
 *
 * An ECU whose state directory predates this file (the old simulator derived the secret from the serial
 * number) gets a random one at its next start: the derived secret unlocks nothing any more.
 */
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OtaError } from '../protocol/errors.js';
import { createFileExclusiveSync } from '../platform/atomic-write.js';

export const SECRET_FILE = 'security-secret';
/** Bytes of a secret the ECU makes itself. */
export const ECU_SECRET_LENGTH = 32;
/** Secrets given from outside (`--secret-file`) may be 16 to 64 bytes. */
export const MIN_SECRET_LENGTH = 16;
export const MAX_SECRET_LENGTH = 64;

export const ECU_SECRET_CODES = {
  /** The secret file is not 16–64 bytes of hex. */
  corrupt: 'ECU_SECRET_CORRUPT',
} as const;

/** The secret an ECU uses, and where it came from. */
export interface EcuSecretInfo {
  secret: Uint8Array;
  /** The file it lives in; undefined when it lives only in memory (given, or a memory-only ECU). */
  file: string | undefined;
  /** True when this start made it. */
  created: boolean;
}

/** Hex text (whitespace around it allowed) of 16–64 bytes → the secret; ECU_SECRET_CORRUPT otherwise. */
export function parseSecretText(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length / 2 < MIN_SECRET_LENGTH || hex.length / 2 > MAX_SECRET_LENGTH) {
    throw new OtaError(ECU_SECRET_CODES.corrupt, `${where} does not hold a secret of ${MIN_SECRET_LENGTH}-${MAX_SECRET_LENGTH} bytes of hex`);
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Reads `<dir>/security-secret`, or makes it (random, 0600, durable) if there is none. */
export function loadOrCreateEcuSecret(dir: string, rng: (n: number) => Uint8Array = (n) => Uint8Array.from(randomBytes(n))): EcuSecretInfo {
  const file = join(dir, SECRET_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    const secret = parseSecretText(text, file);
    // A secret readable by others is no secret: tighten it rather than refuse to start.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { secret, file, created: false };
  }
  const secret = rng(ECU_SECRET_LENGTH);
  // Written whole and flushed under a temporary name, then linked into place: if another process made
  // the file meanwhile, that one is used; a crash never leaves a half-written secret.
  if (!createFileExclusiveSync(file, Buffer.from(secret).toString('hex') + '\n', { mode: 0o600 })) return loadOrCreateEcuSecret(dir, rng);
  return { secret, file, created: true };
}
