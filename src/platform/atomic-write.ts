/**
 * The one atomic file replacement every part uses (ARCHITECTURE §4: state that survives a power loss).
 *
 *   write a temp file ─▶ fsync it ─▶ rename over `<path>` ─▶ fsync the directory
 *
 * A crash leaves the old or the new content, never a torn file; with `durable` (the default) the
 * new content and its name are on disk when the call returns — without the directory fsync a power
 * loss after the rename may bring the old name back (POSIX: rename is atomic, not durable). A failed
 * write removes its temp file and leaves `<path>` as it was. The synchronous writer's temp file is
 * `<path>.tmp` (one writer per file: a crash leaves at most that one behind); the asynchronous one adds
 * a random part, as writes of one file may overlap there. Imports nothing of ours.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600; the synchronous writer leaves the umask to narrow it, the asynchronous one sets it exactly). */
  mode?: number;
  /** fsync the data before the rename and the directory after it (default true). */
  durable?: boolean;
}

/** The file-system calls the synchronous writer makes: the real ones by default, a fault-injecting port in tests. */
export interface AtomicWriteFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, data: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, opts: { force: true }): void;
}

export const nodeAtomicWriteFs: AtomicWriteFs = {
  openSync: (p, f, m) => openSync(p, f, m),
  writeSync: (fd, d, o, l) => writeSync(fd, d, o, l),
  fsyncSync: (fd) => fsyncSync(fd),
  closeSync: (fd) => closeSync(fd),
  renameSync: (a, b) => renameSync(a, b),
  rmSync: (p, o) => rmSync(p, o),
};

const bytesOf = (data: Uint8Array | string): Uint8Array => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** fsync of a directory (its entries); platforms that cannot open a directory for it (Windows) skip it. */
function syncDirSync(fs: AtomicWriteFs, dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch (e) {
    if (process.platform === 'win32') return;
    throw e;
  }
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and (by default) durably; synchronous. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}, fs: AtomicWriteFs = nodeAtomicWriteFs): void {
  const durable = opts.durable ?? true;
  const bytes = bytesOf(data);
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w', opts.mode ?? 0o600);
  try {
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      if (durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the temp file stays behind; the target is unchanged either way
    }
    throw e;
  }
  if (durable) syncDirSync(fs, dirname(path));
}

/**
 * Creates `path` with `data` only if it does not exist yet, never half-written: the data is written
 * and flushed under a temporary name, then hard-linked into place (the link fails EEXIST when another
 * writer made the file first: nothing is overwritten) and the directory synced. Resolves true when this
 * call created the file, false when it existed. For files made once, such as keys and secrets.
 */
export function createFileExclusiveSync(path: string, data: Uint8Array | string, opts: { mode?: number } = {}): boolean {
  const bytes = bytesOf(data);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  syncDirSync(nodeAtomicWriteFs, dirname(path));
  return true;
}

/** The same as `writeFileAtomicSync`, on the thread pool. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const bytes = bytesOf(data);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(tmp, 'wx', opts.mode ?? 0o600);
  try {
    try {
      if (opts.mode !== undefined) await file.chmod(opts.mode); // the umask may have narrowed it
      await file.writeFile(bytes);
      if (durable) await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  if (durable) await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (e) {
    if (process.platform === 'win32') return;
    throw e;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
