/**
 * diag_log writes off the diagnostic round trip. `queue()` accepts a row at once and returns its id (so
 * the caller's result can name its row); the rows accepted within DIAG_FLUSH_MS are committed together,
 * in acceptance order, in one transaction. Readers flush first (Store.listDiag) and close() flushes, so
 * nothing accepted is missed by a reader or lost by an orderly shutdown; a crash loses at most the last
 * few milliseconds of rows. A failed commit keeps its rows queued (retried every RETRY_MS, reported
 * through `onError`); `backlog` lets the diagnostics service refuse requests it could not log.
 *
 * Ids are allocated here (MAX(id) + 1 when loaded), not by the database: one manager per database, as
 * the job engine already requires (src/manager/README.md). A multi-instance dialect must reserve ids.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CompiledQuery, Kysely } from 'kysely';
import { redactUdsHex } from '../../protocol/uds/redact.js';
import { ManagerError } from '../errors.js';
import type { Database, DiagLogRow as Row } from './schema.js';
import type { NewDiagEntry } from './store.js';

/** The longest a queued row waits for its commit (ms). */
export const DIAG_FLUSH_MS = 5;
/** Rows that trigger a commit without waiting for DIAG_FLUSH_MS. */
const FLUSH_AT_ROWS = 256;
/** Delay before a failed commit is tried again (ms). */
const RETRY_MS = 1000;
/** Rows per INSERT statement: a few fixed sizes keep the prepared-statement cache small. */
const CHUNK_SIZES = [64, 32, 16, 8, 4, 2, 1] as const;

/** Batches diag_log inserts; see the file comment. */
export class DiagLogWriter {
  private nextId: number | undefined;
  private queued: Row[] = [];
  /** The commit in progress (never rejects): flushes chain on it, so rows commit in id order. */
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The INSERT of n rows, compiled once (building and compiling costs more than running it). */
  private readonly inserts = new Map<number, CompiledQuery>();

  constructor(
    private readonly db: Kysely<Database>,
    /** A commit failed: `rows` stay queued (or, at close, are lost). */
    private readonly onError: (e: unknown, rows: number) => void,
  ) {}

  /** Read the highest id in use (after migrations). */
  async load(): Promise<void> {
    const r = await this.db
      .selectFrom('diag_log')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    this.nextId = Number(r?.max ?? 0) + 1;
  }

  /** Rows accepted and not yet committed. */
  get backlog(): number {
    return this.queued.length;
  }

  private allocate(): number {
    if (this.nextId === undefined) throw new ManagerError('MGR_CONFIG', 'the store is not migrated (diag_log ids not loaded)');
    if (this.closed) throw new ManagerError('MGR_CLOSED', 'the store is closed');
    return this.nextId++;
  }

  /** Accept one row for the next commit; returns its id. */
  queue(e: NewDiagEntry): number {
    const id = this.allocate();
    this.queued.push(toRow(id, e));
    this.schedule(this.queued.length >= FLUSH_AT_ROWS ? 0 : DIAG_FLUSH_MS);
    return id;
  }

  /** Write one row now (after those queued before it); rejects if this row cannot be written. */
  async insert(e: NewDiagEntry): Promise<number> {
    const id = this.allocate();
    await this.flush();
    await this.db.insertInto('diag_log').values(toRow(id, e)).execute();
    return id;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  /** Commit every queued row (and wait for a commit in progress); resolves once done, failed or not. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queued.length > 0) {
      const rows = this.queued;
      this.queued = [];
      this.writing = this.writing.then(() => this.write(rows));
    }
    return this.writing;
  }

  private async write(rows: Row[]): Promise<void> {
    try {
      const chunks: Row[][] = [];
      for (let i = 0; i < rows.length; ) {
        const n = CHUNK_SIZES.find((c) => c <= rows.length - i) ?? 1;
        chunks.push(rows.slice(i, i + n));
        i += n;
      }
      if (chunks.length === 1) await this.db.executeQuery(this.insertQuery(rows));
      else await this.db.transaction().execute(async (trx) => {
        for (const c of chunks) await trx.executeQuery(this.insertQuery(c));
      });
    } catch (e) {
      // All or nothing (one statement or one transaction): the same rows, ids and all, go again later.
      if (!this.closed) {
        this.queued = rows.concat(this.queued);
        if (this.timer === undefined) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            void this.flush();
          }, RETRY_MS);
          this.timer.unref();
        }
      }
      this.onError(e, rows.length);
    }
  }

  /** The INSERT for `rows`: the compiled statement for that many rows with their values as parameters. */
  private insertQuery(rows: Row[]): CompiledQuery {
    const parameters = rows.flatMap(rowValues);
    const cached = this.inserts.get(rows.length);
    if (cached !== undefined) return { ...cached, parameters };
    const compiled = this.db.insertInto('diag_log').values(rows).compile();
    // Reuse only if the compiler bound exactly these values in this order (it does: one `?` per value).
    if (isDeepStrictEqual(compiled.parameters, parameters)) this.inserts.set(rows.length, compiled);
    return compiled;
  }

  /** Refuse new rows and commit those queued (a failure is reported through onError: those rows are lost). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A row's values in the column order of toRow (the order Kysely binds them). */
function rowValues(r: Row): unknown[] {
  return [r.id, r.at, r.actor, r.vehicle_id, r.ecu, r.request, r.response, r.outcome, r.nrc, r.error_code, r.elapsed_ms];
}

function toRow(id: number, e: NewDiagEntry): Row {
  return {
    id,
    at: e.at,
    actor: e.actor,
    vehicle_id: e.vehicleId,
    ecu: e.ecu,
    // The one redaction rule (src/protocol/uds/redact.ts): no seed, key or 0x29 proof is ever stored.
    request: redactUdsHex(e.request),
    response: e.response === null ? null : redactUdsHex(e.response),
    outcome: e.outcome,
    nrc: e.nrc,
    error_code: e.errorCode,
    elapsed_ms: e.elapsedMs,
  };
}
