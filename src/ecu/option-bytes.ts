/**
 * The second copy of the ECU's rollback floor, as the STM32F103 keeps user data in its option bytes
 * (RM0008 §4.7.6: every option byte is stored with its complement; a pair that does not match is read
 * as not programmed). `<dir>/option-bytes.bin`, 8 bytes: the highest installed release counter as
 * u32 LE, then its bitwise complement. `state.json` holds the first copy; the floor is the larger of
 * the two, so losing or rolling back one copy does not lower it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../platform/atomic-write.js';

export const OPTION_BYTES_FILE = 'option-bytes.bin';

/** The counter the option bytes hold; undefined when the file is missing or its complement check fails. */
export function readFloorCopy(dir: string): number | undefined {
  const path = join(dir, OPTION_BYTES_FILE);
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  if (bytes.length !== 8) return undefined;
  const value = bytes.readUInt32LE(0);
  return ((value ^ bytes.readUInt32LE(4)) >>> 0) === 0xffff_ffff ? value : undefined;
}

/** Programs the option bytes with `counter` (atomically and durably). */
export function writeFloorCopy(dir: string, counter: number): void {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32LE(counter >>> 0, 0);
  bytes.writeUInt32LE(~counter >>> 0, 4);
  writeFileAtomicSync(join(dir, OPTION_BYTES_FILE), bytes);
}
