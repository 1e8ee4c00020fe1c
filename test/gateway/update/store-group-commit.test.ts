// ChunkFile with group commit (update.groupCommit, the default): a chunk's bit reaches the bitmap file only
// in commit() / sync() (after one fdatasync of image.bin) or close(), so a crash never leaves a bit whose chunk is not written,
// and costs at most the chunks received since the last acknowledgement.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ChunkFile, UpdateStore } from '../../../src/gateway/update/store.js';

const root = mkdtempSync(join(tmpdir(), 'ota-gw-group-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `d${++n}`);

/** 10 chunks of 100 bytes, the last one 50: 950 bytes. */
const GEOMETRY = { length: 950, chunkSize: 100, chunks: 10 };
const IMAGE = Uint8Array.from({ length: 950 }, (_, i) => (i * 31 + 5) & 0xff);
const chunk = (i: number): Uint8Array => IMAGE.subarray(i * 100, Math.min(950, i * 100 + 100));
const fileBits = (dir: string): number[] => [...readFileSync(join(dir, 'chunks.bitmap'))];

/** The process dies: its descriptors close without the flush an orderly close() does. */
function crash(f: ChunkFile): void {
  const fds = f as unknown as { imageFd: number; bitmapFd: number; closed: boolean };
  closeSync(fds.imageFd);
  closeSync(fds.bitmapFd);
  fds.closed = true;
}

describe('ChunkFile with group commit', () => {
  it('keeps new bits in memory until sync(), then writes them after the data', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true, true);
    for (const i of [0, 1, 9, 4]) assert.equal(f.write(i, chunk(i)), 'stored');
    assert.equal(f.write(4, chunk(4)), 'duplicate', 'a chunk held in memory is a duplicate already');
    assert.equal(f.received, 4);
    assert.deepEqual(fileBits(dir), [0, 0], 'no bit on disk before the sync');
    f.sync();
    // bits 0, 1, 4 in byte 0 (LSB first) = 0b0001_0011; bit 9 = bit 1 of byte 1
    assert.deepEqual(fileBits(dir), [0x13, 0x02]);
    f.close();
  });

  it('writes what is unsaved when closed (an orderly stop keeps every chunk)', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, false, true);
    f.write(2, chunk(2));
    f.write(3, chunk(3));
    f.close();
    const again = ChunkFile.open(dir, GEOMETRY, false, true);
    assert.equal(again.received, 2);
    assert.deepEqual(again.readImage().subarray(200, 400), IMAGE.subarray(200, 400));
    again.close();
  });

  it('after a crash (never synced nor closed) the file holds only acknowledged chunks, each of them written (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 9 }), fc.boolean()), { minLength: 1, maxLength: 30 }), (steps) => {
        const dir = fresh();
        const f = ChunkFile.open(dir, GEOMETRY, false, true);
        const acknowledged = new Set<number>();
        const held = new Set<number>();
        for (const [i, ack] of steps) {
          f.write(i, chunk(i));
          held.add(i);
          if (ack) {
            f.sync();
            for (const h of held) acknowledged.add(h);
          }
        }
        crash(f);
        const after = ChunkFile.open(dir, GEOMETRY, false, true);
        const image = after.readImage();
        for (let i = 0; i < 10; i++) {
          assert.equal(after.has(i), acknowledged.has(i), `chunk ${i}`);
          if (after.has(i)) assert.deepEqual(image.subarray(i * 100, i * 100 + chunk(i).length), chunk(i));
        }
        after.close();
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 300 },
    );
  });

  it('commit(): the bits of the chunks stored before it reach the file when it resolves, later chunks wait for the next', async () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true, true);
    f.write(0, chunk(0));
    f.write(1, chunk(1));
    const first = f.commit();
    f.write(2, chunk(2)); // stored while the first commit syncs
    assert.deepEqual(fileBits(dir), [0, 0], 'no bit before the data is synced');
    await first;
    assert.deepEqual(fileBits(dir), [0x03, 0], 'chunk 2 is not part of the first commit');
    await f.commit();
    assert.deepEqual(fileBits(dir), [0x07, 0]);
    f.close();
  });

  it('close() while a commit is syncing keeps every chunk stored and closes the files once the sync is done', async () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true, true);
    f.write(5, chunk(5));
    const pending = f.commit();
    f.write(6, chunk(6));
    f.close();
    await pending;
    assert.deepEqual(fileBits(dir), [0x60, 0]);
    const again = ChunkFile.open(dir, GEOMETRY, true, true);
    assert.equal(again.received, 2);
    assert.deepEqual(again.readImage().subarray(500, 700), IMAGE.subarray(500, 700));
    again.close();
  });

  it('when turned off, writes each chunk\'s bit at once (after syncing its data)', () => {
    const dir = fresh();
    const f = ChunkFile.open(dir, GEOMETRY, true, false);
    f.write(3, chunk(3));
    assert.deepEqual(fileBits(dir), [0x08, 0]);
    f.close();
  });

  it('is the default of ChunkFile.open and UpdateStore', () => {
    const f = new UpdateStore(fresh(), false).chunkFile('job-1', GEOMETRY);
    f.write(0, chunk(0));
    assert.deepEqual(fileBits(f.dir), [0, 0]);
    f.close();
    assert.deepEqual(fileBits(f.dir), [0x01, 0]);
  });

  it('is what UpdateStore hands out when it is asked to group-commit', () => {
    const store = new UpdateStore(fresh(), false, undefined, true);
    const f = store.chunkFile('job-1', GEOMETRY);
    f.write(0, chunk(0));
    assert.deepEqual(fileBits(f.dir), [0, 0]);
    f.sync();
    assert.deepEqual(fileBits(f.dir), [0x01, 0]);
    f.close();
  });
});
