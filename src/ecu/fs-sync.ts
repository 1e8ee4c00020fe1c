/**
 * The two ways the virtual ECU writes its non-volatile files. Both are synchronous, so everything the
 * ECU did before a crash (SIGKILL = power loss) is in the file, in the order it happened.
 */
import { writeSync } from 'node:fs';
import { writeFileAtomicSync } from '../platform/atomic-write.js';

/**
 * Replaces `path` atomically and durably (src/platform: temp, fsync, rename, fsync of the directory). A
 * crash leaves either the old or the new content, never a torn file.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  writeFileAtomicSync(path, data);
}

/** Writes `length` bytes of `source` from `offset` to the same offset of the open file `fd`. */
export function writeAt(fd: number, source: Uint8Array, offset: number, length: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, source, offset + done, length - done, offset + done);
}
