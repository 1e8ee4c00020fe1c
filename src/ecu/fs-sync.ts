/**
 * The two ways the virtual ECU writes its non-volatile files. Both are synchronous, so everything the
 * ECU did before a crash (SIGKILL = power loss) is in the file, in the order it happened.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * Replaces `path` atomically: writes `path.tmp`, flushes it, renames it over `path`. A crash leaves
 * either the old or the new content, never a torn file.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Writes `length` bytes of `source` from `offset` to the same offset of the open file `fd`. */
export function writeAt(fd: number, source: Uint8Array, offset: number, length: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, source, offset + done, length - done, offset + done);
}
