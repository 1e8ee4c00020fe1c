/**
 * Nothing answered is lost (issue 10 §3): the diagnostics service over a real SQLite store, with the
 * vehicle sessions replaced by a fake that records what is sent. An answer (or a timeout) reaches the
 * caller only once its diag_log row is committed; a row that cannot be committed is the caller's error,
 * and while the log cannot be written nothing is sent and nothing stale is read.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { Diagnostics } from '../../src/manager/diagnostics.js';
import { silentLog } from '../../src/manager/log.js';
import type { VehicleSessions } from '../../src/manager/sessions.js';
import { newCounters } from '../../src/manager/stats.js';
import { openSqliteStore, type Store } from '../../src/manager/store/index.js';
import type { ControlMessage, DiagRequestMessage } from '../../src/protocol/ota/messages.js';

const V = 'VIN-DURABLE-1';
const request = Uint8Array.of(0x22, 0xf1, 0x90);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Rows on disk, read by plain SQL (no flush of anything queued). */
async function committedIds(store: Store): Promise<number[]> {
  const rows = await store.db.selectFrom('diag_log').select('id').orderBy('id').execute();
  return rows.map((r) => Number(r.id));
}

/** A full disk for diag_log inserts (a TEMP trigger failing every INSERT), or the space back. */
async function diskFull(store: Store, full: boolean): Promise<void> {
  if (full) await sql`CREATE TEMP TRIGGER diag_disk_full BEFORE INSERT ON main.diag_log BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`.execute(store.db);
  else await sql`DROP TRIGGER temp.diag_disk_full`.execute(store.db);
}

describe('diag_log durability (diagnostics over a real SQLite store)', () => {
  let dir: string;
  let store: Store;
  let diagnostics: Diagnostics;
  const sent: DiagRequestMessage[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-diag-durable-'));
    store = await openSqliteStore(join(dir, 'ota.db'));
    await store.setPresence(V, true, new Date().toISOString());
    const sessions = {
      state: () => 'established',
      sendControl: (_v: string, msg: ControlMessage) => {
        if (msg.type === 'diag.request') sent.push(msg);
        return Promise.resolve();
      },
    } as unknown as VehicleSessions;
    diagnostics = new Diagnostics({ store, sessions, brokerConnected: () => true, counters: newCounters(), log: silentLog });
  });
  after(async () => {
    diagnostics.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const answerLast = async (response = '62F19031'): Promise<void> => {
    await tick();
    const msg = sent.at(-1);
    assert.ok(msg);
    assert.ok(diagnostics.onResponse(V, { type: 'diag.response', id: msg.id, ecu: 'engine', response }));
  };

  it('an answer reaches the caller only once its row is committed', async () => {
    const pending = diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 2000 });
    await answerLast();
    const r = await pending;
    assert.ok((await committedIds(store)).includes(r.logId), 'the answered row is on disk when the answer is returned');
  });

  it('a timeout (DIAG_TIMEOUT) reaches the caller only once its row is committed', async () => {
    const before = (await committedIds(store)).length;
    await assert.rejects(diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 1 }), { code: 'DIAG_TIMEOUT' });
    assert.equal((await committedIds(store)).length, before + 1);
  });

  describe('when the row cannot be committed (disk full)', () => {
    it('withholds the answer as MGR_LOG_FAILED, then refuses new requests without sending and refuses stale reads, until the log can be written again', async () => {
      await diskFull(store, true);
      try {
        const pending = diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test:failed', timeoutMs: 2000 });
        await answerLast();
        await assert.rejects(pending, { code: 'MGR_LOG_FAILED' });
        const sentBefore = sent.length;
        await assert.rejects(diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 2000 }), { code: 'MGR_LOG_UNAVAILABLE' });
        assert.equal(sent.length, sentBefore, 'nothing is sent that could not be logged');
        await assert.rejects(store.listDiag(), { code: 'MGR_LOG_UNAVAILABLE' });
      } finally {
        await diskFull(store, false);
      }
      await store.flushDiag();
      const [row] = await store.listDiag({ limit: 1 });
      assert.deepEqual(row && [row.actor, row.outcome], ['test:failed', 'positive'], 'the withheld row is written once it can be');
      const pending = diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 2000 });
      await answerLast();
      assert.equal((await pending).positive, true);
    });
  });
});
