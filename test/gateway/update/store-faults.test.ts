// The update store with a full disk (ENOSPC through its StoreFs port) and lost files: typed codes,
// nothing claimed that is not on disk, records kept in memory until they can be written.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkFile, changedChunks, chunkDigest, isDiskFull, nodeStoreFs, UpdateStore, type JobRecord, type StoreFs } from '../../../src/gateway/update/store.js';

const root = mkdtempSync(join(tmpdir(), 'ota-gw-store-faults-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `d${++n}`);

class FullDisk implements StoreFs {
  full = false;
  private check(): void {
    if (this.full) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  }
  writeFile(path: string, data: Uint8Array | string, durable: boolean): void {
    this.check();
    nodeStoreFs.writeFile(path, data, durable);
  }
  writeAt(fd: number, data: Uint8Array, offset: number, length: number, position: number): void {
    this.check();
    nodeStoreFs.writeAt(fd, data, offset, length, position);
  }
}

const GEOMETRY = { length: 950, chunkSize: 100, chunks: 10 };
const IMAGE = Uint8Array.from({ length: 950 }, (_, i) => (i * 31 + 5) & 0xff);
const chunk = (i: number): Uint8Array => IMAGE.subarray(i * 100, Math.min(950, i * 100 + 100));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

function record(jobId: string, fields: Partial<JobRecord> = {}): JobRecord {
  const now = new Date().toISOString();
  return {
    jobId,
    ecu: 'engine',
    offer: { type: 'update.offer', jobId, ecu: 'engine', assignment: 'AAAA', manifest: 'AAAA', chunkSize: 100, chunks: 10 },
    manifestDigest: 'ab'.repeat(32),
    nonces: [`${jobId}-nonce`],
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    version: '1.0.0',
    counter: 1,
    length: 950,
    phase: 'downloading',
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

describe('ChunkFile on a full disk', () => {
  it('a chunk write refused ENOSPC is GW_STORE_FULL and the chunk is not held', () => {
    const disk = new FullDisk();
    const file = ChunkFile.open(fresh(), GEOMETRY, false, true, disk);
    disk.full = true;
    assert.equal(codeOf(() => file.write(0, chunk(0))), 'GW_STORE_FULL');
    assert.deepEqual([file.has(0), file.received], [false, 0]);
    disk.full = false;
    assert.equal(file.write(0, chunk(0)), 'stored');
    file.close();
  });

  it('a group commit refused ENOSPC forgets its batch: those chunks are asked for again, not claimed', async () => {
    const disk = new FullDisk();
    const dir = fresh();
    const file = ChunkFile.open(dir, GEOMETRY, false, true, disk);
    for (const i of [0, 1, 2]) file.write(i, chunk(i));
    await file.commit();
    for (const i of [3, 4]) file.write(i, chunk(i));
    disk.full = true;
    await assert.rejects(file.commit(), (e: unknown) => (e as { code?: string }).code === 'GW_STORE_FULL');
    assert.deepEqual([file.received, file.has(3), file.has(4), file.nextMissing()], [3, false, false, 3]);
    disk.full = false;
    assert.equal(file.write(3, chunk(3)), 'stored', 'not a duplicate: it was never durable');
    file.close();
    const reopened = ChunkFile.open(dir, GEOMETRY, false, true, disk);
    assert.equal(reopened.received, 4);
    reopened.close();
  });

  it('a sync refused ENOSPC forgets what it could not write', () => {
    const disk = new FullDisk();
    const file = ChunkFile.open(fresh(), GEOMETRY, false, true, disk);
    for (let i = 0; i < 10; i++) file.write(i, chunk(i));
    assert.equal(file.complete, true);
    disk.full = true;
    assert.equal(codeOf(() => file.sync()), 'GW_STORE_FULL');
    assert.deepEqual([file.complete, file.received], [false, 0]);
    disk.full = false;
    file.close();
  });
});

describe('UpdateStore on a full disk', () => {
  it('saveOrKeep: a refused record is the job in memory (nothing on disk changes); flush() writes it once space returns', () => {
    const disk = new FullDisk();
    const dir = fresh();
    const store = new UpdateStore(dir, false, () => undefined, true, disk);
    store.save(record('job-1', { phase: 'flashing' }));
    disk.full = true;
    const error = store.saveOrKeep(record('job-1', { phase: 'done', reported: false }));
    assert.equal((error as { code?: string }).code, 'GW_STORE_FULL');
    assert.equal(isDiskFull(error), true);
    assert.equal(store.job('job-1')?.phase, 'done', 'the outcome holds in memory');
    const file = join(store.dirOf('job-1'), 'job.json');
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as JobRecord).phase, 'flashing');
    assert.deepEqual(store.flush(), ['job-1'], 'still full');
    disk.full = false;
    assert.deepEqual(store.flush(), []);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as JobRecord).phase, 'done');
  });

  it('an install record that cannot be written still counts as the rollback floor', () => {
    const disk = new FullDisk();
    const store = new UpdateStore(fresh(), false, () => undefined, true, disk);
    disk.full = true;
    assert.equal(codeOf(() => store.setInstalled('engine', { counter: 9, version: '9.0.0', hardwareId: 'stm32f103c8', jobId: 'j', at: '' })), 'GW_STORE_FULL');
    assert.equal(store.installed('engine')?.counter, 9);
  });

  it('a job directory without a readable job.json is reported and known as orphaned (rebuilt at its next offer)', () => {
    const dir = fresh();
    const store = new UpdateStore(dir, false);
    store.save(record('job-lost'));
    store.save(record('job-garbled'));
    for (const id of ['job-lost', 'job-garbled']) store.chunkFile(id, GEOMETRY).close();
    rmSync(join(store.dirOf('job-lost'), 'job.json'));
    writeFileSync(join(store.dirOf('job-garbled'), 'job.json'), '{"jobId":');
    const skipped: string[] = [];
    const again = new UpdateStore(dir, false, (name) => skipped.push(name));
    assert.deepEqual(skipped.sort(), ['job-garbled', 'job-lost']);
    assert.deepEqual([again.orphaned('job-lost'), again.orphaned('job-garbled'), again.job('job-lost')], [true, true, undefined]);
    again.save(record('job-lost'));
    assert.equal(again.orphaned('job-lost'), false);
  });
});

describe('changedChunks', () => {
  it('names the chunks whose bytes differ from the digests taken on receipt, and counts those without one', () => {
    const digests = new Map<number, Uint8Array>();
    for (let i = 0; i < 8; i++) digests.set(i, chunkDigest(chunk(i)));
    const image = Uint8Array.from(IMAGE);
    image[250] = (image[250] as number) ^ 1;
    assert.deepEqual(changedChunks(image, GEOMETRY, digests), { changed: [2], unknown: 2 });
    assert.deepEqual(changedChunks(IMAGE, GEOMETRY, digests), { changed: [], unknown: 2 });
  });
});
