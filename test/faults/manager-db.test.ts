/**
 * `ota manager` as a real process on a data directory whose database was lost or damaged (issue 10 §3):
 * it refuses to start, naming the file and the way out, instead of starting with an empty history or
 * answering 500s later; `--reset-database` starts empty and keeps the old file beside the new one.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { managerPaths } from '../../src/manager/paths.js';
import { makeDataDir, waitFor, type TestData } from '../manager/fixtures.js';
import { spawnOta } from '../helpers/ota-cli.js';

/** Start `ota manager`; resolves with its exit code and stderr if it exits, or stops it once it serves. */
async function startManager(dataDir: string, extra: string[] = []): Promise<{ code: number | null; err: string; served: boolean }> {
  // No broker listens on port 1: the manager starts anyway and retries in the background.
  const child = spawnOta(['manager', '--data', dataDir, '--port', '0', '--broker', 'mqtts://127.0.0.1:1', ...extra]);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const served = await Promise.race([
      exited.then(() => false),
      waitFor('manager.json', () => stat(join(dataDir, 'manager.json')).then(() => true, () => false), 60_000),
    ]);
    if (served) child.kill('SIGTERM');
    return { code: await exited, err, served };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('ota manager with a lost or damaged ota.db', { timeout: 110_000 }, () => {
  let data: TestData;
  let db: string;
  before(async () => {
    data = await makeDataDir();
    db = managerPaths(data.dataDir).database;
    const first = await startManager(data.dataDir);
    assert.deepEqual([first.served, first.code], [true, 0], first.err);
  });
  after(async () => {
    await data.cleanup();
  });

  it('a deleted ota.db: refuses to start (exit 1, MGR_DB_MISSING naming the file and --reset-database)', async () => {
    await rm(db);
    const r = await startManager(data.dataDir);
    assert.deepEqual([r.served, r.code], [false, 1], r.err);
    assert.match(r.err, /error MGR_DB_MISSING: /);
    assert.ok(r.err.includes(db) && r.err.includes('--reset-database'), r.err);
    await assert.rejects(stat(db), { code: 'ENOENT' }, 'no empty database was created in its place');
  });

  it('a 0-byte ota.db: refuses to start with MGR_DB_MISSING', async () => {
    await writeFile(db, '');
    const r = await startManager(data.dataDir);
    assert.deepEqual([r.served, r.code], [false, 1], r.err);
    assert.match(r.err, /error MGR_DB_MISSING: /);
    assert.ok(r.err.includes(db), r.err);
  });

  it('--reset-database starts empty and keeps the old file as ota.db.reset-<time>', async () => {
    const r = await startManager(data.dataDir, ['--reset-database']);
    assert.deepEqual([r.served, r.code], [true, 0], r.err);
    const kept = (await readdir(join(data.dataDir, 'manager'))).filter((n) => n.startsWith('ota.db.reset-'));
    assert.equal(kept.length, 1);
    assert.ok((await stat(db)).size > 0);
  });

  it('a damaged page: refuses to start with MGR_DB_CORRUPT naming the file', async () => {
    const { size } = await stat(db);
    const fh = await open(db, 'r+');
    try {
      // Every page after the first (the schema and the tables' roots): garbage.
      await fh.write(Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096);
    } finally {
      await fh.close();
    }
    const r = await startManager(data.dataDir);
    assert.deepEqual([r.served, r.code], [false, 1], r.err);
    assert.match(r.err, /error MGR_DB_CORRUPT: /);
    assert.ok(r.err.includes(db), r.err);
  });
});
