import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ChunkFile, UpdateStore, safeName, type JobRecord } from '../../../src/gateway/update/store.js';

const root = mkdtempSync(join(tmpdir(), 'ota-gw-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `d${++n}`);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

/** 10 chunks of 100 bytes, the last one 50: 950 bytes. */
const GEOMETRY = { length: 950, chunkSize: 100, chunks: 10 };
const IMAGE = bytes(950, 3);
const chunk = (i: number): Uint8Array => IMAGE.subarray(i * 100, Math.min(950, i * 100 + 100));

describe('ChunkFile', () => {
  it('preallocates image.bin to the image length and starts with an empty bitmap', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true);
    assert.equal(statSync(join(dir, 'image.bin')).size, 950);
    assert.deepEqual([...readFileSync(join(dir, 'chunks.bitmap'))], [0, 0]); // ceil(10 / 8) bytes
    assert.equal(f.received, 0);
    assert.equal(f.nextMissing(), 0);
    f.close();
  });

  it('writes each chunk at index × chunkSize and persists its bit; a reopened file holds the same', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true);
    for (const i of [0, 1, 9, 4]) assert.equal(f.write(i, chunk(i)), 'stored');
    f.sync(); // group commit (the default): the bits reach the file at the acknowledgement
    // bits 0, 1, 4 in byte 0 (LSB first) = 0b0001_0011; bit 9 = bit 1 of byte 1
    assert.deepEqual([...readFileSync(join(dir, 'chunks.bitmap'))], [0x13, 0x02]);
    assert.equal(f.nextMissing(), 2);
    assert.equal(f.outOfOrder(), true);
    f.close();
    const again = ChunkFile.open(dir, GEOMETRY, true);
    assert.equal(again.received, 4);
    assert.deepEqual(again.readImage().subarray(900, 950), chunk(9));
    assert.deepEqual(again.readImage().subarray(400, 500), chunk(4));
    again.close();
  });

  it('ignores a duplicate chunk (the data first stored stays)', () => {
    const f = ChunkFile.open(fresh(), GEOMETRY, false);
    f.write(3, chunk(3));
    assert.equal(f.write(3, new Uint8Array(100).fill(0xaa)), 'duplicate');
    assert.deepEqual(f.readImage().subarray(300, 400), chunk(3));
    assert.equal(f.received, 1);
    f.close();
  });

  it('refuses an index outside the geometry or a wrong size with GW_CHUNK_SIZE, writing nothing', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, false);
    assert.equal(codeOf(() => f.write(10, chunk(0))), 'GW_CHUNK_SIZE');
    assert.equal(codeOf(() => f.write(-1, chunk(0))), 'GW_CHUNK_SIZE');
    assert.equal(codeOf(() => f.write(2, chunk(9))), 'GW_CHUNK_SIZE'); // 50 bytes where 100 belong
    assert.equal(codeOf(() => f.write(9, chunk(0))), 'GW_CHUNK_SIZE'); // the last chunk is 50 bytes
    assert.equal(f.received, 0);
    assert.deepEqual([...readFileSync(join(dir, 'chunks.bitmap'))], [0, 0]);
    f.close();
  });

  it('starts over when the bitmap on disk does not fit the geometry', () => {
    const dir = fresh();
    ChunkFile.open(dir, GEOMETRY, false).close();
    writeFileSync(join(dir, 'chunks.bitmap'), Uint8Array.of(0xff, 0xff, 0xff));
    const f = ChunkFile.open(dir, GEOMETRY, false);
    assert.equal(f.received, 0);
    f.close();
  });

  it('assembles the image from chunks in any order, with duplicates and reopenings (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 9 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        (order, reopen) => {
          const dir = fresh();
          let f = ChunkFile.open(dir, GEOMETRY, false);
          const held = new Set<number>();
          order.forEach((i, k) => {
            assert.equal(f.write(i, chunk(i)), held.has(i) ? 'duplicate' : 'stored');
            held.add(i);
            if (reopen[k] === true) {
              f.close();
              f = ChunkFile.open(dir, GEOMETRY, false);
            }
          });
          for (let i = 0; i < 10; i++) assert.equal(f.has(i), held.has(i));
          assert.equal(f.received, held.size);
          const image = f.readImage();
          for (const i of held) assert.deepEqual(image.subarray(i * 100, i * 100 + chunk(i).length), chunk(i));
          f.close();
          rmSync(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 200 },
    );
  });
});

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

describe('UpdateStore', () => {
  it('persists job records and the nonces they used, and finds them again after a restart', () => {
    const dir = fresh();
    const s = new UpdateStore(dir, false);
    s.save(record('job-1'));
    s.save(record('job-2', { phase: 'done', nonces: ['n2a', 'n2b'] }));
    const t = new UpdateStore(dir, false);
    assert.equal(t.job('job-1')?.phase, 'downloading');
    assert.equal(t.nonceOwner('n2b'), 'job-2');
    assert.equal(t.nonceOwner('unknown'), undefined);
    assert.equal(t.jobs().length, 2);
  });

  it('skips an unreadable job.json and reports it', () => {
    const dir = fresh();
    const s = new UpdateStore(dir, false);
    s.save(record('good'));
    s.save(record('broken'));
    writeFileSync(join(s.dirOf('broken'), 'job.json'), '{"jobId": 5}');
    const skipped: string[] = [];
    const t = new UpdateStore(dir, false, (name) => skipped.push(name));
    assert.deepEqual(skipped, ['broken']);
    assert.equal(t.job('good')?.jobId, 'good');
  });

  it('names job directories safely: a job id with path characters never leaves updates/', () => {
    assert.equal(safeName('job-42_a.b'), 'job-42_a.b');
    assert.match(safeName('../../etc'), /^h-[0-9a-f]{40}$/);
    assert.match(safeName('a/b'), /^h-[0-9a-f]{40}$/);
    assert.notEqual(safeName('a/b'), safeName('a/c'));
    // The store's own directories and the hashed form cannot be taken by a job id.
    assert.match(safeName('last-good'), /^h-[0-9a-f]{40}$/);
    assert.match(safeName('installed'), /^h-[0-9a-f]{40}$/);
    assert.notEqual(safeName('h-' + '0'.repeat(40)), 'h-' + '0'.repeat(40));
    const dir = fresh();
    const s = new UpdateStore(dir, false);
    s.save(record('../../escape'));
    assert.ok(s.dirOf('../../escape').startsWith(join(dir, 'updates')));
    assert.equal(new UpdateStore(dir, false).job('../../escape')?.jobId, '../../escape');
  });

  it('drops a job\'s image and bitmap but keeps its record (the nonces stay known)', () => {
    const dir = fresh();
    const s = new UpdateStore(dir, false);
    s.save(record('j'));
    s.chunkFile('j', GEOMETRY).close();
    s.dropData('j');
    assert.equal(existsSync(join(s.dirOf('j'), 'image.bin')), false);
    assert.equal(existsSync(join(s.dirOf('j'), 'job.json')), true);
    assert.equal(s.nonceOwner('j-nonce'), 'j');
  });

  it('prunes only finished, reported jobs whose assignments expired', () => {
    const dir = fresh();
    const s = new UpdateStore(dir, false);
    const past = new Date(Date.now() - 7_200_000).toISOString();
    s.save(record('old-done', { phase: 'done', reported: true, expiresAt: past }));
    s.save(record('old-unreported', { phase: 'failed', reported: false, expiresAt: past }));
    s.save(record('old-running', { phase: 'downloading', expiresAt: past }));
    s.save(record('fresh-done', { phase: 'done', reported: true }));
    assert.equal(s.prune(new Date()), 1);
    assert.deepEqual(s.jobs().map((j) => j.jobId).sort(), ['fresh-done', 'old-running', 'old-unreported']);
    assert.equal(s.nonceOwner('old-done-nonce'), undefined);
  });

  it('keeps the installed counter and the last good image per ECU', () => {
    const s = new UpdateStore(fresh(), false);
    assert.equal(s.installed('engine'), undefined);
    s.setInstalled('engine', { counter: 7, version: '2.0.0', hardwareId: 'stm32f103c8', jobId: 'j', at: new Date().toISOString() });
    assert.equal(s.installed('engine')?.counter, 7);
    s.saveLastGood('engine', IMAGE, Uint8Array.of(1, 2, 3), { version: '2.0.0', counter: 7, jobId: 'j' });
    const lg = s.lastGood('engine');
    assert.deepEqual(lg?.image, IMAGE);
    assert.deepEqual(lg?.signedManifest, Uint8Array.of(1, 2, 3));
    assert.equal(lg?.counter, 7);
    assert.equal(s.lastGood('body'), undefined);
  });
});
