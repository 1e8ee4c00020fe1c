/**
 * The group-committing diag_log writer (src/manager/store/diag-log.ts) through the Store: a row's id comes
 * with its commit, rows commit in order, readers and close() flush first, a failed commit is every
 * waiting caller's error and keeps its rows for a retry.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqliteStore, type NewDiagEntry, type Store } from '../../../src/manager/store/index.js';

const T0 = '2026-01-01T10:00:00.000Z';
const entry = (n: number, over: Partial<NewDiagEntry> = {}): NewDiagEntry => ({
  at: T0,
  actor: `actor-${n}`,
  vehicleId: n % 2 === 0 ? 'VIN-EVEN' : 'VIN-ODD',
  ecu: 'engine',
  request: '22F190',
  response: n % 3 === 0 ? null : `62F190${n.toString(16).padStart(4, '0').toUpperCase()}`,
  outcome: n % 3 === 0 ? 'timeout' : 'positive',
  nrc: null,
  errorCode: n % 3 === 0 ? 'DIAG_TIMEOUT' : null,
  elapsedMs: n,
  ...over,
});

/** Rows committed to the file, read by SQL (no flush). */
async function committed(store: Store): Promise<Array<{ id: number; actor: string }>> {
  const rows = await store.db.selectFrom('diag_log').select(['id', 'actor']).orderBy('id').execute();
  return rows.map((r) => ({ id: Number(r.id), actor: r.actor }));
}

describe('Store diag_log group commit', () => {
  let dir: string;
  let file: string;
  let store: Store;
  const errors: Array<{ code: unknown; rows: number }> = [];

  const open = (): Promise<Store> => openSqliteStore(file, { onDiagLogError: (e, rows) => errors.push({ code: (e as { code?: unknown }).code, rows }) });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-diaglog-'));
    file = join(dir, 'ota.db');
    store = await open();
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves each row with its id only once it is committed, ids increasing in acceptance order', async () => {
    const first = await store.recordDiag(entry(0));
    const seen: number[] = [];
    const all = [1, 2, 3].map((n) =>
      store.recordDiag(entry(n)).then(async (id) => {
        // Committed when it resolves: visible to a plain SELECT, no flush.
        assert.ok((await committed(store)).some((r) => r.id === id));
        seen.push(id);
        return id;
      }),
    );
    assert.equal(store.diagBacklog, 3, 'accepted in this turn, committed together in the next');
    const ids = await Promise.all(all);
    assert.deepEqual(ids, [first + 1, first + 2, first + 3]);
    assert.deepEqual(seen, ids);
    assert.equal(store.diagBacklog, 0);
    assert.deepEqual((await committed(store)).slice(-4), [first, ...ids].map((id, n) => ({ id, actor: `actor-${n}` })));
  });

  it('listDiag sees a row accepted just before it, with every field', async () => {
    const pending = store.recordDiag(entry(5, { outcome: 'negative', response: '7F2231', nrc: 0x31, vehicleId: 'VIN-X' }));
    const [row] = await store.listDiag({ vehicleId: 'VIN-X', limit: 1 });
    const id = await pending;
    assert.deepEqual(row, { id, at: T0, actor: 'actor-5', vehicleId: 'VIN-X', ecu: 'engine', request: '22F190', response: '7F2231', outcome: 'negative', nrc: 0x31, errorCode: null, elapsedMs: 5 });
  });

  it('commits a burst of 203 rows (several INSERT sizes) exactly once each, in id order', async () => {
    const before = (await committed(store)).length;
    const ids = await Promise.all(Array.from({ length: 203 }, (_, i) => store.recordDiag(entry(100 + i))));
    const rows = await committed(store);
    assert.equal(rows.length, before + 203);
    assert.deepEqual(rows.slice(before), ids.map((id, i) => ({ id, actor: `actor-${100 + i}` })));
    const listed = await store.listDiag({ limit: 1000 });
    assert.deepEqual(listed.find((e) => e.id === ids[2]), { id: ids[2], at: T0, actor: 'actor-102', vehicleId: 'VIN-EVEN', ecu: 'engine', request: '22F190', response: null, outcome: 'timeout', nrc: null, errorCode: 'DIAG_TIMEOUT', elapsedMs: 102 });
    assert.deepEqual(listed.find((e) => e.id === ids[3]), { id: ids[3], at: T0, actor: 'actor-103', vehicleId: 'VIN-ODD', ecu: 'engine', request: '22F190', response: '62F1900067', outcome: 'positive', nrc: null, errorCode: null, elapsedMs: 103 });
  });

  describe('when a commit fails (the disk is full)', () => {
    it('rejects every row of it with MGR_LOG_FAILED, refuses stale reads, keeps the rows and commits them once it can', async () => {
      await diskFull(store, true);
      const failuresBefore = errors.length;
      const results = await Promise.allSettled([store.recordDiag(entry(6)), store.recordDiag(entry(7))]);
      assert.deepEqual(results.map((r) => r.status === 'rejected' && (r.reason as { code?: string }).code), ['MGR_LOG_FAILED', 'MGR_LOG_FAILED']);
      assert.deepEqual(errors.slice(failuresBefore), [{ code: 'SQLITE_CONSTRAINT_TRIGGER', rows: 2 }]);
      assert.equal(store.diagLogFailing, true);
      assert.equal(store.diagBacklog, 2, 'the rows stay queued');
      await assert.rejects(store.listDiag(), { code: 'MGR_LOG_UNAVAILABLE' });
      await diskFull(store, false);
      await store.flushDiag();
      assert.deepEqual([store.diagLogFailing, store.diagBacklog], [false, 0]);
      assert.deepEqual((await store.listDiag({ limit: 2 })).map((e) => e.actor), ['actor-7', 'actor-6']);
    });
  });

  it('close() commits what is queued, and ids continue after a reopen', async () => {
    const pending = store.recordDiag(entry(7));
    await store.close();
    const id = await pending;
    store = await open();
    assert.equal((await committed(store)).at(-1)?.id, id);
    assert.equal(await store.recordDiag(entry(8)), id + 1);
  });

  it('refuses rows after close with MGR_CLOSED', async () => {
    const other = await openSqliteStore(join(dir, 'other.db'));
    await other.close();
    await assert.rejects(other.recordDiag(entry(9)), { code: 'MGR_CLOSED' });
  });
});

/**
 * A full disk for diag_log only: a TEMP trigger makes every INSERT fail with SQLITE_FULL's message
 * (RAISE reports SQLITE_CONSTRAINT_TRIGGER rather than SQLITE_FULL: the writer treats every failure alike).
 */
async function diskFull(store: Store, full: boolean): Promise<void> {
  if (full) await sql`CREATE TEMP TRIGGER diag_disk_full BEFORE INSERT ON main.diag_log BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`.execute(store.db);
  else await sql`DROP TRIGGER temp.diag_disk_full`.execute(store.db);
}
