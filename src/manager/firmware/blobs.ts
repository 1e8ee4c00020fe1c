/**
 * Content-addressed blob store for firmware images (ARCHITECTURE.md §4): `<dir>/sha256/<64 hex>`, the
 * name being the SHA-256 of the content. A blob is written to a temporary file, flushed, and renamed
 * into place, so a reader never sees half a blob and a crash leaves at most a stray `.tmp` file; putting
 * content that is already there changes nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../platform/atomic-write.js';
import { join } from 'node:path';
import { ManagerError } from '../errors.js';

const DIGEST = /^[0-9a-f]{64}$/;

/** SHA-256 of `bytes`, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Blobs named by their SHA-256 under `<dir>/sha256/`. */
export class BlobStore {
  constructor(readonly dir: string) {}

  /** The file of the blob with this digest (whether or not it exists). */
  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new ManagerError('MGR_BAD_INPUT', 'a blob digest is 64 lower-case hex digits');
    return join(this.dir, 'sha256', digest);
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** Store `bytes` (idempotent); returns their digest and whether a new file was written. */
  async put(bytes: Uint8Array): Promise<{ digest: string; created: boolean }> {
    const digest = sha256Hex(bytes);
    const file = this.path(digest);
    if (await this.has(digest)) return { digest, created: false };
    await mkdir(join(this.dir, 'sha256'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, bytes, { mode: 0o600 }); // src/platform: fsync, rename, fsync of the directory
    return { digest, created: true };
  }

  /** The blob's bytes, checked against its name: MGR_BLOB_CORRUPT if missing or altered on disk. */
  async get(digest: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(digest));
    } catch (e) {
      throw new ManagerError('MGR_BLOB_CORRUPT', `firmware blob ${digest} is missing`, { cause: e });
    }
    if (sha256Hex(bytes) !== digest) throw new ManagerError('MGR_BLOB_CORRUPT', `firmware blob ${digest} does not match its digest`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
