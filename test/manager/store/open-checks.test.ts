/**
 * Opening the SQLite store checks the file first (issue 10 §3): a missing or 0-byte database where one
 * is expected (MGR_DB_MISSING), a file that is not a database or fails SQLite's quick_check
 * (MGR_DB_CORRUPT) — each naming the file — and the explicit reset keeps the old file beside the new one.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, setAsideSqliteFile } from '../../../src/manager/store/index.js';

describe('openSqliteStore: the checks before a start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-open-checks-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A database with enough diag_log rows to span many pages, closed (WAL checkpointed away). */
  const populated = async (name: string): Promise<string> => {
    const file = join(dir, name);
    const store = await openSqliteStore(file);
    const row = { at: '2026-01-01T00:00:00.000Z', actor: 'test', vehicleId: 'VIN-1', ecu: 'engine', request: '22F190', response: '62F190' + 'AB'.repeat(100), outcome: 'positive' as const, nrc: null, errorCode: null, elapsedMs: 1 };
    await Promise.all(Array.from({ length: 500 }, () => store.recordDiag(row)));
    await store.close();
    return file;
  };

  it('a missing database where one is expected is MGR_DB_MISSING naming the file, and creates nothing', async () => {
    const file = join(dir, 'gone', 'ota.db');
    await assert.rejects(openSqliteStore(file, { mustExist: true }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MGR_DB_MISSING');
      assert.ok(e.message.includes(file), 'names the file');
      assert.ok(e.message.includes('--reset-database'), 'says how to reset explicitly');
      return true;
    });
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  it('a 0-byte database where one is expected is MGR_DB_MISSING naming the file', async () => {
    const file = join(dir, 'empty.db');
    await writeFile(file, '');
    await assert.rejects(openSqliteStore(file, { mustExist: true }), (e: Error & { code?: string }) => e.code === 'MGR_DB_MISSING' && e.message.includes(file));
    assert.equal((await stat(file)).size, 0, 'left as it was');
  });

  it('a file that is not a database is MGR_DB_CORRUPT naming the file', async () => {
    const file = join(dir, 'garbage.db');
    await writeFile(file, Buffer.alloc(8192, 0x5a));
    await assert.rejects(openSqliteStore(file), (e: Error & { code?: string }) => e.code === 'MGR_DB_CORRUPT' && e.message.includes(file));
  });

  it('a database with a damaged page fails quick_check at open: MGR_DB_CORRUPT naming the file', async () => {
    const file = await populated('damaged.db');
    const { size } = await stat(file);
    assert.ok(size > 16 * 4096, `enough pages to damage one in the middle (${size} bytes)`);
    const fh = await open(file, 'r+');
    try {
      await fh.write(Buffer.alloc(4096, 0xa5), 0, 4096, 8 * 4096); // page 9: a diag_log b-tree page
    } finally {
      await fh.close();
    }
    await assert.rejects(openSqliteStore(file), (e: Error & { code?: string }) => e.code === 'MGR_DB_CORRUPT' && e.message.includes(file));
  });

  it('an intact database opens with its rows', async () => {
    const file = await populated('intact.db');
    const store = await openSqliteStore(file, { mustExist: true });
    try {
      assert.equal((await store.listDiag({ limit: 1000 })).length, 500);
    } finally {
      await store.close();
    }
  });

  it('setAsideSqliteFile keeps the old file (and its -wal) beside a fresh start', async () => {
    const file = await populated('reset.db');
    await writeFile(file + '-wal', '');
    const kept = setAsideSqliteFile(file, new Date('2026-12-07T12:00:00.000Z'));
    assert.equal(kept, `${file}.reset-2026-12-07T12-00-00-000Z`);
    const names = await readdir(dir);
    assert.ok(names.includes('reset.db.reset-2026-12-07T12-00-00-000Z') && names.includes('reset.db.reset-2026-12-07T12-00-00-000Z-wal'));
    assert.ok(!names.includes('reset.db'));
    const fresh = await openSqliteStore(file);
    try {
      assert.equal((await fresh.listDiag()).length, 0);
    } finally {
      await fresh.close();
    }
    assert.equal(setAsideSqliteFile(join(dir, 'never.db')), undefined);
  });
});
