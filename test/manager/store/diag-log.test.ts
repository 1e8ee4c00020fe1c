/**
 * The batched diag_log writer (src/manager/store/diag-log.ts) through the Store: ids at once, rows
 * committed later in order, readers and close() flush first, a failed commit keeps its rows.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('Store diag_log queue', () => {
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

  it('returns increasing ids at once and commits the rows later, in order', async () => {
    const direct = await store.recordDiag(entry(0));
    const ids = [1, 2, 3].map((n) => store.queueDiag(entry(n)));
    assert.deepEqual(ids, [direct + 1, direct + 2, direct + 3]);
    assert.equal(store.diagBacklog, 3);
    assert.deepEqual((await committed(store)).map((r) => r.id), [direct], 'not committed before the flush');
    await store.flushDiag();
    assert.equal(store.diagBacklog, 0);
    assert.deepEqual(await committed(store), [direct, ...ids].map((id, n) => ({ id, actor: `actor-${n}` })));
  });

  it('commits on its own within a few milliseconds', async () => {
    const id = store.queueDiag(entry(4));
    const deadline = Date.now() + 2000;
    while (!(await committed(store)).some((r) => r.id === id)) {
      assert.ok(Date.now() < deadline, 'the queued row was never committed');
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(store.diagBacklog, 0);
  });

  it('listDiag sees a row queued just before it, with every field', async () => {
    const id = store.queueDiag(entry(5, { outcome: 'negative', response: '7F2231', nrc: 0x31, vehicleId: 'VIN-X' }));
    const [row] = await store.listDiag({ vehicleId: 'VIN-X', limit: 1 });
    assert.deepEqual(row, { id, at: T0, actor: 'actor-5', vehicleId: 'VIN-X', ecu: 'engine', request: '22F190', response: '7F2231', outcome: 'negative', nrc: 0x31, errorCode: null, elapsedMs: 5 });
  });

  it('commits a burst of 203 rows (several INSERT sizes) exactly once each, in id order', async () => {
    const before = (await committed(store)).length;
    const ids = Array.from({ length: 203 }, (_, i) => store.queueDiag(entry(100 + i)));
    await store.flushDiag();
    const rows = await committed(store);
    assert.equal(rows.length, before + 203);
    assert.deepEqual(rows.slice(before), ids.map((id, i) => ({ id, actor: `actor-${100 + i}` })));
    const listed = await store.listDiag({ limit: 1000 });
    assert.deepEqual(listed.find((e) => e.id === ids[2]), { id: ids[2], at: T0, actor: 'actor-102', vehicleId: 'VIN-EVEN', ecu: 'engine', request: '22F190', response: null, outcome: 'timeout', nrc: null, errorCode: 'DIAG_TIMEOUT', elapsedMs: 102 });
    assert.deepEqual(listed.find((e) => e.id === ids[3]), { id: ids[3], at: T0, actor: 'actor-103', vehicleId: 'VIN-ODD', ecu: 'engine', request: '22F190', response: '62F1900067', outcome: 'positive', nrc: null, errorCode: null, elapsedMs: 103 });
  });

  it('keeps the rows of a failed commit queued, reports them, and commits them once it can', async () => {
    // Another writer took the next id: the queued row's INSERT fails on the primary key.
    const id = store.queueDiag(entry(6));
    await store.db.insertInto('diag_log').values({ id, ...toColumns(entry(99)) }).execute();
    const failuresBefore = errors.length;
    await store.flushDiag();
    assert.equal(errors.length, failuresBefore + 1);
    assert.equal(errors.at(-1)?.rows, 1);
    assert.equal(store.diagBacklog, 1, 'the row stays queued');
    await store.db.deleteFrom('diag_log').where('id', '=', id).execute();
    await store.flushDiag();
    assert.equal(store.diagBacklog, 0);
    assert.equal((await committed(store)).find((r) => r.id === id)?.actor, 'actor-6');
  });

  it('close() commits what is queued, and ids continue after a reopen', async () => {
    const id = store.queueDiag(entry(7));
    await store.close();
    store = await open();
    assert.equal((await committed(store)).at(-1)?.id, id);
    assert.equal(store.queueDiag(entry(8)), id + 1);
    await store.flushDiag();
  });

  it('refuses rows after close with MGR_CLOSED', async () => {
    const other = await openSqliteStore(join(dir, 'other.db'));
    await other.close();
    assert.throws(() => other.queueDiag(entry(9)), { code: 'MGR_CLOSED' });
  });
});

function toColumns(e: NewDiagEntry): { at: string; actor: string; vehicle_id: string; ecu: string; request: string; response: string | null; outcome: NewDiagEntry['outcome']; nrc: number | null; error_code: string | null; elapsed_ms: number | null } {
  return { at: e.at, actor: e.actor, vehicle_id: e.vehicleId, ecu: e.ecu, request: e.request, response: e.response, outcome: e.outcome, nrc: e.nrc, error_code: e.errorCode, elapsed_ms: e.elapsedMs };
}
