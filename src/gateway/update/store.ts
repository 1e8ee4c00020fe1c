/**
 * The gateway's update store (ARCHITECTURE.md §4): what survives a restart of the telematics unit.
 *
 *   <dataDir>/updates/<job>/job.json       the job: offer (signed assignment + signed manifest), nonces, phase
 *   <dataDir>/updates/<job>/image.bin      the image, preallocated to the manifest length
 *   <dataDir>/updates/<job>/chunks.bitmap  bit i (LSB first in byte i >> 3) = chunk i is in image.bin
 *   <dataDir>/updates/last-good/<ecu>/     image.bin + manifest.bin + meta.json of the last verified install
 *   <dataDir>/updates/installed/<ecu>.json the release counter and version the gateway last installed
 *
 * A chunk is written at `index × chunkSize` with a positional write, made durable (fdatasync), and only
 * then is its bit written into the bitmap file: a power loss can lose a bit whose chunk is on disk (the
 * chunk is fetched again), never set a bit whose chunk is not. The bitmap file is synced when the agent
 * acknowledges. `job.json` and the last-good files are replaced atomically (temp + fsync + rename + fsync of the directory).
 *
 * Group commit (option `groupCommit`, the default): the same rule with two syncs per acknowledgement
 * instead of one per chunk — a chunk's bit is set in memory at once (duplicates are recognised) and
 * written to the bitmap file by `commit()` (each acknowledgement: the fdatasyncs run on the thread pool
 * while later chunks keep arriving; the ack goes out when it resolves), `sync()` or `close()`, always
 * after an fdatasync of image.bin that covers its chunk. A power loss then costs at most the chunks
 * received since the last acknowledgement. `groupCommit: false` syncs every chunk before its bit.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../../protocol/errors.js';
import { writeFileAtomicSync } from '../../platform/atomic-write.js';
import type { UpdateOfferMessage } from '../../protocol/ota/update-messages.js';

/** Where a job is: downloading chunks, verifying the whole image, flashing the ECU, or finished. */
export type JobPhase = 'downloading' | 'verifying' | 'flashing' | 'done' | 'failed';

/** One update job as persisted in `job.json`. */
export interface JobRecord {
  jobId: string;
  ecu: string;
  /** The offer as received (signed assignment and signed manifest, base64), from the latest (re-)offer. */
  offer: UpdateOfferMessage;
  /** SHA-256 of the signed manifest (what the assignment names), lower-case hex. */
  manifestDigest: string;
  /** Every assignment nonce this job was offered with (a re-signed assignment adds one). */
  nonces: string[];
  /** expiresAt of the latest assignment (ISO 8601): after it the job's nonces can no longer be replayed anyway. */
  expiresAt: string;
  /** Manifest version and release counter. */
  version: string;
  counter: number;
  length: number;
  phase: JobPhase;
  error?: { code: string; message: string };
  /** Fresh downloads after the stored image was found corrupt (GW_STORE_CORRUPT). */
  redownloads?: number;
  /** Whether the final status (done / failed) went out on an established session. */
  reported?: boolean;
  createdAt: string;
  updatedAt: string;
}

/** What the gateway last installed on one ECU (its own rollback floor; the bootloader keeps another). */
export interface InstalledRecord {
  counter: number;
  version: string;
  hardwareId: string;
  jobId: string;
  at: string;
}

export const STORE_CODES = {
  /** A file of the store could not be read or written. */
  io: 'GW_STORE_IO',
  /** The vehicle's disk is full (ENOSPC, EDQUOT): transient, the write is tried again later. */
  full: 'GW_STORE_FULL',
  /** The stored image does not match the manifest it was downloaded for (the local store, not the release). */
  corrupt: 'GW_STORE_CORRUPT',
  /** A chunk index or size that does not fit the job's geometry. */
  chunk: 'GW_CHUNK_SIZE',
} as const;

export const FINAL_PHASES: ReadonlySet<JobPhase> = new Set(['done', 'failed']);

/** Names the store uses itself under `updates/`: a job may not be called that. */
const RESERVED: ReadonlySet<string> = new Set(['installed', 'last-good']);

/** A file-system-safe directory name for an id: the id itself if harmless, else `h-<SHA-256 prefix>`. */
export function safeName(id: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id) && !id.includes('..') && !RESERVED.has(id) && !id.startsWith('h-')) return id;
  return 'h-' + createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 40);
}

/**
 * The writes of the store that can meet a full disk, as a port: the real file system by default; tests
 * inject ENOSPC here. `writeFile` replaces a file atomically, `writeAt` is a positional write into an open file.
 */
export interface StoreFs {
  writeFile(path: string, data: Uint8Array | string, durable: boolean): void;
  writeAt(fd: number, data: Uint8Array, offset: number, length: number, position: number): void;
}

export const nodeStoreFs: StoreFs = {
  writeFile: (path, data, durable) => writeFileAtomicSync(path, data, { durable }),
  writeAt: (fd, data, offset, length, position) => {
    let done = 0;
    while (done < length) done += writeSync(fd, data, offset + done, length - done, position + done);
  },
};

/** Writes `data` to `path` atomically (src/platform: temp, fsync, rename, fsync of the directory when durable). */
export function writeAtomic(path: string, data: Uint8Array | string, durable: boolean, fs: StoreFs = nodeStoreFs): void {
  fs.writeFile(path, data, durable);
}

const FULL_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** Whether `e` (or its cause) says the disk is full. */
export function isDiskFull(e: unknown): boolean {
  for (let c = e, depth = 0; typeof c === 'object' && c !== null && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (code === STORE_CODES.full || (typeof code === 'string' && FULL_ERRNOS.has(code))) return true;
  }
  return false;
}

function io<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    if (cause instanceof OtaError) throw cause;
    if (isDiskFull(cause)) throw new OtaError(STORE_CODES.full, `update store: the disk is full, cannot ${what}`, { cause });
    throw new OtaError(STORE_CODES.io, `update store: cannot ${what}`, { cause });
  }
}

/** Chunk geometry of a job: every chunk but the last is `chunkSize` bytes; together they are `length` bytes. */
export interface Geometry {
  length: number;
  chunkSize: number;
  chunks: number;
}

/** The image being downloaded: positional chunk writes into `image.bin` and the persisted bitmap. */
export class ChunkFile {
  readonly bitmap: Uint8Array;
  /**
   * SHA-256 (first 16 bytes) of every chunk stored by this process, as received: when the assembled
   * image fails its digest, these tell a store that changed the bytes (GW_STORE_CORRUPT) from a sender
   * that sent wrong ones (FW_DIGEST_MISMATCH). Chunks held from before a restart have none.
   */
  readonly digests = new Map<number, Uint8Array>();
  private imageFd: number;
  private bitmapFd: number;
  private count = 0;
  private closed = false;
  /** Group commit: the bitmap as written to its file (a bit only once its chunk's data was synced). */
  private readonly saved: Uint8Array;
  /** Group commit: chunks stored since the last commit began (their bits are in `bitmap` only). */
  private pending: number[] = [];
  /** Group commit: the last commit() (they run one after the other). */
  private commits: Promise<void> = Promise.resolve();
  /** Asynchronous syncs running on the descriptors (close() leaves closing them to the last one). */
  private busy = 0;

  private constructor(
    readonly dir: string,
    readonly geometry: Geometry,
    private readonly durable: boolean,
    bitmap: Uint8Array,
    private readonly groupCommit: boolean,
    private readonly fs: StoreFs,
  ) {
    this.bitmap = bitmap;
    this.saved = Uint8Array.from(bitmap);
    for (let i = 0; i < geometry.chunks; i++) if (this.has(i)) this.count++;
    this.imageFd = openSync(join(dir, 'image.bin'), 'r+');
    this.bitmapFd = openSync(join(dir, 'chunks.bitmap'), 'r+');
  }

  /**
   * Creates `image.bin` (preallocated to `length`) and an empty bitmap in `dir`, or opens what is there.
   * Group commit is the default (see the file comment); `groupCommit = false` syncs every chunk.
   */
  static open(dir: string, geometry: Geometry, durable: boolean, groupCommit = true, fs: StoreFs = nodeStoreFs): ChunkFile {
    return io(`open the image in ${dir}`, () => {
      mkdirSync(dir, { recursive: true });
      const bytes = Math.ceil(geometry.chunks / 8);
      const imagePath = join(dir, 'image.bin');
      const bitmapPath = join(dir, 'chunks.bitmap');
      let bitmap = existsSync(bitmapPath) && existsSync(imagePath) ? Uint8Array.from(readFileSync(bitmapPath)) : undefined;
      if (bitmap?.length !== bytes) {
        // New job, or a bitmap that does not fit: start from nothing (never trust bits we cannot explain).
        // Not synced: an empty bitmap lost to a power loss is recreated empty, the same state.
        bitmap = new Uint8Array(bytes);
        writeAtomic(bitmapPath, bitmap, false, fs);
      }
      const fd = openSync(imagePath, existsSync(imagePath) ? 'r+' : 'w+', 0o600);
      try {
        ftruncateSync(fd, geometry.length);
      } finally {
        closeSync(fd);
      }
      return new ChunkFile(dir, geometry, durable, bitmap, groupCommit, fs);
    });
  }

  has(index: number): boolean {
    return ((this.bitmap[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  /** Chunks held. */
  get received(): number {
    return this.count;
  }

  get complete(): boolean {
    return this.count === this.geometry.chunks;
  }

  /** Lowest chunk index not held (= chunks when complete). */
  nextMissing(): number {
    for (let i = 0; i < this.geometry.chunks; i++) if (!this.has(i)) return i;
    return this.geometry.chunks;
  }

  /** Whether some chunk above the lowest missing one is held (the manager then needs the bitmap). */
  outOfOrder(): boolean {
    const next = this.nextMissing();
    for (let i = next + 1; i < this.geometry.chunks; i++) if (this.has(i)) return true;
    return false;
  }

  /** Size chunk `index` must have. */
  sizeOf(index: number): number {
    const { chunks, chunkSize, length } = this.geometry;
    return index === chunks - 1 ? length - (chunks - 1) * chunkSize : chunkSize;
  }

  /**
   * Stores chunk `index`: data at its offset, durable, then its bit. A chunk already held is ignored
   * (`duplicate`). Throws GW_CHUNK_SIZE for an index or size outside the geometry (nothing written).
   */
  write(index: number, data: Uint8Array): 'stored' | 'duplicate' {
    if (this.closed) throw new OtaError(STORE_CODES.io, 'the image file is closed');
    if (!Number.isInteger(index) || index < 0 || index >= this.geometry.chunks) {
      throw new OtaError(STORE_CODES.chunk, `chunk ${index} is outside 0..${this.geometry.chunks - 1}`);
    }
    if (data.length !== this.sizeOf(index)) {
      throw new OtaError(STORE_CODES.chunk, `chunk ${index} has ${data.length} bytes, expected ${this.sizeOf(index)}`);
    }
    if (this.has(index)) return 'duplicate';
    const byte = index >> 3;
    const bit = 1 << (index & 7);
    io('write a chunk', () => {
      // A failed write (a full disk, say) leaves the chunk missing: it is sent again, nothing is claimed.
      this.fs.writeAt(this.imageFd, data, 0, data.length, index * this.geometry.chunkSize);
      if (this.groupCommit) return; // its bit is written by commit() or sync(), after the data is durable
      if (this.durable) fdatasyncSync(this.imageFd); // the data is on disk before its bit is
      this.fs.writeAt(this.bitmapFd, Uint8Array.of((this.saved[byte] as number) | bit), 0, 1, byte);
      this.saved[byte] = (this.saved[byte] as number) | bit;
    });
    this.bitmap[byte] = (this.bitmap[byte] as number) | bit;
    if (this.groupCommit) this.pending.push(index);
    this.digests.set(index, chunkDigest(data));
    this.count++;
    return 'stored';
  }

  /**
   * Makes every chunk stored so far durable, data first, then the bits (synchronous; before an
   * acknowledgement without group commit, at the end of a download, and at close).
   */
  sync(): void {
    if (this.closed) return;
    try {
      io('sync the bitmap', () => {
        if (this.groupCommit && this.unsaved()) {
          if (this.durable) fdatasyncSync(this.imageFd); // the data is on disk before its bits are
          this.fs.writeAt(this.bitmapFd, this.bitmap, 0, this.bitmap.length, 0);
          this.pending = [];
          this.saved.set(this.bitmap); // every bit in memory now has its chunk on disk
        }
        if (this.durable) fdatasyncSync(this.bitmapFd);
      });
    } catch (e) {
      this.forgetUnsaved();
      throw e;
    }
  }

  /**
   * A sync failed (a full disk): chunks whose bits are not in the file may not be on disk either, so
   * they are no longer counted as held — the next acknowledgement or accept asks for them again.
   */
  private forgetUnsaved(): void {
    for (let i = 0; i < this.geometry.chunks; i++) {
      const byte = i >> 3;
      const bit = 1 << (i & 7);
      if (((this.bitmap[byte] as number) & bit) !== 0 && ((this.saved[byte] as number) & bit) === 0) {
        this.bitmap[byte] = (this.bitmap[byte] as number) & ~bit;
        this.count--;
      }
    }
    this.pending = [];
  }

  /**
   * Group commit, without blocking the thread: the chunks stored so far are made durable (fdatasync of
   * image.bin on the thread pool), then their bits are written and the bitmap synced; resolves then
   * (the agent acknowledges them). Chunks stored meanwhile wait for the next commit. Commits run in order.
   */
  commit(): Promise<void> {
    if (!this.groupCommit) {
      this.sync();
      return Promise.resolve();
    }
    const batch = this.pending;
    this.pending = [];
    const run = this.commits.then(async () => {
      if (this.durable) await this.fdatasync(() => this.imageFd); // the data is on disk before its bits are
      if (this.closed) return; // close() synced everything stored, this batch included
      const next = Uint8Array.from(this.saved);
      for (const index of batch) next[index >> 3] = (next[index >> 3] as number) | (1 << (index & 7));
      io('sync the bitmap', () => {
        for (const byte of new Set(batch.map((i) => i >> 3))) this.fs.writeAt(this.bitmapFd, next, byte, 1, byte);
      });
      this.saved.set(next);
      if (this.durable) await this.fdatasync(() => this.bitmapFd);
    }).catch((e: unknown) => {
      if (!this.closed) this.forgetBatch(batch);
      throw e;
    });
    this.commits = run.catch(() => undefined);
    return run;
  }

  /** A commit failed: the chunks of its batch whose bits did not reach the file are no longer held. */
  private forgetBatch(batch: readonly number[]): void {
    for (const index of batch) {
      const byte = index >> 3;
      const bit = 1 << (index & 7);
      if (((this.saved[byte] as number) & bit) === 0 && ((this.bitmap[byte] as number) & bit) !== 0) {
        this.bitmap[byte] = (this.bitmap[byte] as number) & ~bit;
        this.count--;
      }
    }
  }

  /** Whether a bit in memory is not in the file yet (stored since a commit, or in a commit still syncing). */
  private unsaved(): boolean {
    for (let b = 0; b < this.bitmap.length; b++) if (this.bitmap[b] !== this.saved[b]) return true;
    return false;
  }

  /** fdatasync on the thread pool; the descriptor stays open until it is done (see close). */
  private fdatasync(fd: () => number): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.busy++;
    return new Promise<void>((resolve, reject) => {
      fdatasync(fd(), (e) => {
        this.busy--;
        if (this.closed && this.busy === 0) this.closeFds();
        if (e) reject(new OtaError(isDiskFull(e) ? STORE_CODES.full : STORE_CODES.io, 'update store: cannot sync the image', { cause: e }));
        else resolve();
      });
    });
  }

  /** The whole image as written (call when complete). */
  readImage(): Uint8Array {
    return io('read the image', () => {
      const out = new Uint8Array(this.geometry.length);
      let done = 0;
      while (done < out.length) {
        const n = readSync(this.imageFd, out, done, out.length - done, done);
        if (n === 0) break;
        done += n;
      }
      return out;
    });
  }

  /** Writes what is not yet committed (data, then bits) and closes; a commit still syncing closes the files when done. */
  close(): void {
    if (this.closed) return;
    try {
      if (this.unsaved()) this.sync();
    } catch {
      // not durable: those chunks are not in the bitmap file, so a reopen asks for them again
    }
    this.closed = true;
    if (this.busy === 0) this.closeFds();
  }

  private closeFds(): void {
    closeSync(this.imageFd);
    closeSync(this.bitmapFd);
  }
}

/** The digest `ChunkFile.digests` keeps of a chunk. */
export function chunkDigest(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest().subarray(0, 16);
}

/**
 * Which chunks of `image` differ from the digests taken when they were received; `unknown` counts the
 * chunks without a digest (held from before a restart).
 */
export function changedChunks(image: Uint8Array, geometry: Geometry, digests: ReadonlyMap<number, Uint8Array>): { changed: number[]; unknown: number } {
  const changed: number[] = [];
  let unknown = 0;
  for (let i = 0; i < geometry.chunks; i++) {
    const want = digests.get(i);
    if (want === undefined) {
      unknown++;
      continue;
    }
    const got = chunkDigest(image.subarray(i * geometry.chunkSize, Math.min(geometry.length, (i + 1) * geometry.chunkSize)));
    if (!Buffer.from(got).equals(want)) changed.push(i);
  }
  return { changed, unknown };
}

/** Reads the stored image of a job directory (without a bitmap), or undefined when it is not there. */
function readImageFile(dir: string): Uint8Array | undefined {
  const path = join(dir, 'image.bin');
  return existsSync(path) ? Uint8Array.from(readFileSync(path)) : undefined;
}

/** The update store of one gateway data directory. */
export class UpdateStore {
  readonly root: string;
  private readonly records = new Map<string, JobRecord>();
  /** Nonce → the job it belongs to. */
  private readonly nonceIndex = new Map<string, string>();
  /** Jobs whose latest record is only in memory (its save failed: a full disk); `flush()` tries again. */
  private readonly unsaved = new Set<string>();
  /** Install records that could not be written: they still count as the gateway's rollback floor. */
  private readonly installedInMemory = new Map<string, InstalledRecord>();
  /** Job directories holding data but no readable `job.json` (lost or corrupted): rebuilt on the next offer. */
  private readonly orphans = new Set<string>();

  /** Opens (creating) `<dataDir>/updates` and loads every job record; unreadable records are reported to `skipped`. */
  constructor(
    dataDir: string,
    readonly durable = true,
    skipped: (dir: string, error: unknown) => void = () => undefined,
    /** Chunk files sync once per acknowledgement (see ChunkFile), not per chunk. Default true. */
    readonly groupCommit = true,
    /** The writes that can meet a full disk (tests inject ENOSPC). */
    private readonly fs: StoreFs = nodeStoreFs,
  ) {
    this.root = join(dataDir, 'updates');
    io(`create ${this.root}`, () => mkdirSync(join(this.root, 'installed'), { recursive: true }));
    for (const name of readdirSync(this.root)) {
      if (RESERVED.has(name)) continue;
      const file = join(this.root, name, 'job.json');
      if (!existsSync(file)) {
        if (existsSync(join(this.root, name, 'image.bin'))) {
          this.orphans.add(name);
          skipped(name, new OtaError(STORE_CODES.io, `${name}/job.json is missing`));
        }
        continue;
      }
      try {
        const record = checkRecord(JSON.parse(readFileSync(file, 'utf8')));
        this.index(record);
      } catch (e) {
        this.orphans.add(name);
        skipped(name, e);
      }
    }
  }

  /** Whether `jobId` has a directory whose `job.json` was lost or unreadable at start (its chunks may be there). */
  orphaned(jobId: string): boolean {
    return this.orphans.has(safeName(jobId));
  }

  private index(record: JobRecord): void {
    this.records.set(record.jobId, record);
    for (const n of record.nonces) this.nonceIndex.set(n, record.jobId);
  }

  /** Directory of a job. */
  dirOf(jobId: string): string {
    return join(this.root, safeName(jobId));
  }

  job(jobId: string): JobRecord | undefined {
    const r = this.records.get(jobId);
    return r === undefined ? undefined : structuredClone(r);
  }

  jobs(): JobRecord[] {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  /** The job a nonce was used by, if any. */
  nonceOwner(nonce: string): string | undefined {
    return this.nonceIndex.get(nonce);
  }

  /** Persists a job record (atomically) and indexes its nonces. On a failed write nothing changes. */
  save(record: JobRecord): void {
    const copy = structuredClone({ ...record, updatedAt: new Date().toISOString() });
    io(`save job ${record.jobId}`, () => {
      mkdirSync(this.dirOf(record.jobId), { recursive: true });
      writeAtomic(join(this.dirOf(record.jobId), 'job.json'), JSON.stringify(copy, null, 2) + '\n', this.durable, this.fs);
    });
    this.index(copy);
    this.unsaved.delete(record.jobId);
    this.orphans.delete(safeName(record.jobId));
  }

  /**
   * Persists a record, or — when that fails — keeps it in memory as the job's truth (and says so with
   * the error): an outcome is never lost to a full disk while the process runs; `flush()` retries.
   */
  saveOrKeep(record: JobRecord): unknown {
    try {
      this.save(record);
      return undefined;
    } catch (e) {
      this.index(structuredClone({ ...record, updatedAt: new Date().toISOString() }));
      this.unsaved.add(record.jobId);
      return e;
    }
  }

  /** Tries again to write the records kept only in memory; the ids still unsaved. */
  flush(): string[] {
    for (const jobId of [...this.unsaved]) {
      const r = this.records.get(jobId);
      if (r === undefined) this.unsaved.delete(jobId);
      else this.saveOrKeep(r);
    }
    return [...this.unsaved];
  }

  /** Opens (creating) the image and bitmap of a job. */
  chunkFile(jobId: string, geometry: Geometry): ChunkFile {
    return ChunkFile.open(this.dirOf(jobId), geometry, this.durable, this.groupCommit, this.fs);
  }

  /** The stored image of a job (complete or not), or undefined. */
  image(jobId: string): Uint8Array | undefined {
    return io(`read the image of ${jobId}`, () => readImageFile(this.dirOf(jobId)));
  }

  /** Removes a job's image and bitmap; `job.json` stays (it records the nonces). */
  dropData(jobId: string): void {
    const dir = this.dirOf(jobId);
    io(`remove the data of ${jobId}`, () => {
      rmSync(join(dir, 'image.bin'), { force: true });
      rmSync(join(dir, 'chunks.bitmap'), { force: true });
    });
  }

  /** Forgets finished jobs whose assignments expired before `before` (their nonces can no longer be replayed). */
  prune(before: Date): number {
    let n = 0;
    for (const r of [...this.records.values()]) {
      if (!FINAL_PHASES.has(r.phase) || r.reported === false || new Date(r.expiresAt).getTime() >= before.getTime()) continue;
      io(`remove job ${r.jobId}`, () => rmSync(this.dirOf(r.jobId), { recursive: true, force: true }));
      this.records.delete(r.jobId);
      for (const nonce of r.nonces) this.nonceIndex.delete(nonce);
      n++;
    }
    return n;
  }

  // ── per ECU ─────────────────────────────────────────────────────────────────────────────────

  installed(ecu: string): InstalledRecord | undefined {
    const kept = this.installedInMemory.get(ecu);
    if (kept !== undefined) return { ...kept };
    const file = join(this.root, 'installed', `${safeName(ecu)}.json`);
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as InstalledRecord;
      return Number.isSafeInteger(v.counter) && typeof v.version === 'string' ? v : undefined;
    } catch {
      return undefined; // missing or unreadable: unknown (the ECU bootloader still enforces its own floor)
    }
  }

  /** Records what was installed on `ecu`; when the write fails it still holds in memory (and the error is thrown). */
  setInstalled(ecu: string, record: InstalledRecord): void {
    this.installedInMemory.set(ecu, { ...record });
    io(`record the install on ${ecu}`, () => writeAtomic(join(this.root, 'installed', `${safeName(ecu)}.json`), JSON.stringify(record, null, 2) + '\n', this.durable, this.fs));
    this.installedInMemory.delete(ecu);
  }

  /** Keeps `image` and its signed manifest as the last good image of `ecu` (replacing the previous one). */
  saveLastGood(ecu: string, image: Uint8Array, signedManifest: Uint8Array, meta: { version: string; counter: number; jobId: string }): void {
    const dir = join(this.root, 'last-good', safeName(ecu));
    io(`keep the last good image of ${ecu}`, () => {
      mkdirSync(dir, { recursive: true });
      writeAtomic(join(dir, 'image.bin'), image, this.durable, this.fs);
      writeAtomic(join(dir, 'manifest.bin'), signedManifest, this.durable, this.fs);
      writeAtomic(join(dir, 'meta.json'), JSON.stringify({ ...meta, at: new Date().toISOString() }, null, 2) + '\n', this.durable, this.fs);
    });
  }

  /** The last good image of `ecu` and its signed manifest, if kept. */
  lastGood(ecu: string): { image: Uint8Array; signedManifest: Uint8Array; version: string; counter: number } | undefined {
    const dir = join(this.root, 'last-good', safeName(ecu));
    if (!existsSync(join(dir, 'meta.json'))) return undefined;
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { version: string; counter: number };
    return { image: Uint8Array.from(readFileSync(join(dir, 'image.bin'))), signedManifest: Uint8Array.from(readFileSync(join(dir, 'manifest.bin'))), version: meta.version, counter: meta.counter };
  }
}

/** A type guard for what `job.json` must hold (the file is ours, but a disk is untrusted input too). */
function checkRecord(v: unknown): JobRecord {
  const r = v as Partial<JobRecord> | null;
  const phases: readonly JobPhase[] = ['downloading', 'verifying', 'flashing', 'done', 'failed'];
  if (
    r === null ||
    typeof r !== 'object' ||
    typeof r.jobId !== 'string' ||
    typeof r.ecu !== 'string' ||
    typeof r.manifestDigest !== 'string' ||
    !Array.isArray(r.nonces) ||
    !r.nonces.every((n) => typeof n === 'string') ||
    typeof r.offer !== 'object' ||
    r.offer === null ||
    typeof r.offer.assignment !== 'string' ||
    typeof r.offer.manifest !== 'string' ||
    !Number.isInteger(r.offer.chunkSize) ||
    !Number.isInteger(r.offer.chunks) ||
    !Number.isInteger(r.length) ||
    !phases.includes(r.phase as JobPhase)
  ) {
    throw new OtaError(STORE_CODES.io, 'job.json is not a job record');
  }
  return r as JobRecord;
}
