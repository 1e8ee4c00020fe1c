// Shared test helpers for test/ecu: temp state directories and a tiny flash model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EcuFlashModel } from '../../src/ecu/models.js';

/** A fresh temp directory; `cleanup` removes it. */
export function tempDir(prefix = 'ota-ecu-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** 16 KiB flash, 1 KiB pages, 2 KiB protected bootloader: small enough for thousands of property runs. */
export const TINY_MODEL: EcuFlashModel = {
  name: 'test-tiny',
  base: 0x0800_0000,
  size: 16 * 1024,
  pageSize: 1024,
  bootloaderSize: 2 * 1024,
  sramSize: 4 * 1024,
  datasheet: 'none (test model)',
};

/** Deterministic bytes (xorshift32), none equal to 0xFF unless `allowFF`. */
export function pseudoRandomBytes(length: number, seed = 1, allowFF = false): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const b = x & 0xff;
    out[i] = !allowFF && b === 0xff ? 0xfe : b;
  }
  return out;
}

/** Catches a thrown error and returns its `code` (asserting it has one). */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}
