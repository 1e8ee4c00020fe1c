/**
 * diag_log writes with group commit. `append()` accepts a row, gives it its id, and resolves with that id
 * once the row is committed: the rows accepted in one event-loop turn (and those accepted while a commit
 * runs) are committed together, in acceptance order, in one transaction. A diagnostic answer waits for its
 * row (diagnostics.ts), so whatever was answered is on disk (WAL; a kill -9 keeps it) before the caller
 * sees it, at the cost of one commit per turn rather than per request.
 *
 * A failed commit rejects the waiting appends with MGR_LOG_FAILED (the caller sees it; no silent gap),
 * keeps the rows queued and retries them every RETRY_MS; `failing` stays true until a commit succeeds, so
 * the diagnostics service refuses new requests (MGR_LOG_UNAVAILABLE) rather than send what it could not log,
 * and readers refuse to answer from a log that is behind (Store.listDiag).
 *
 * Ids are allocated here (MAX(id) + 1 when loaded), not by the database: one manager per database, as
 * the job engine already requires (src/manager/README.md). A multi-instance dialect must reserve ids.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CompiledQuery, Kysely } from 'kysely';
import { redactUdsHex } from '../../protocol/uds/redact.js';
import { ManagerError } from '../errors.js';
import type { Database, DiagLogRow as Row, DiagOutcome } from './schema.js';
import type { NewDiagEntry } from './store.js';

const DIAG_OUTCOMES: ReadonlySet<string> = new Set<DiagOutcome>(['positive', 'negative', 'timeout', 'error']);
/** Delay before a failed commit is tried again (ms). */
const RETRY_MS = 1000;
/** Rows per INSERT statement: a few fixed sizes keep the prepared-statement cache small. */
const CHUNK_SIZES = [64, 32, 16, 8, 4, 2, 1] as const;

/** A row accepted and not yet committed, with the append() waiting for it (none once told of a failure). */
interface Queued {
  row: Row;
  waiter?: { resolve: (id: number) => void; reject: (e: unknown) => void };
}

/** Group-commits diag_log inserts; see the file comment. */
export class DiagLogWriter {
  private nextId: number | undefined;
  private queued: Queued[] = [];
  /** The commit in progress (never rejects): flushes chain on it, so rows commit in id order. */
  private writing: Promise<void> = Promise.resolve();
  private scheduled: NodeJS.Immediate | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private failed = false;
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

  /** The last commit failed and no commit has succeeded since: the log on disk is behind. */
  get failing(): boolean {
    return this.failed;
  }

  private allocate(): number {
    if (this.nextId === undefined) throw new ManagerError('MGR_CONFIG', 'the store is not migrated (diag_log ids not loaded)');
    if (this.closed) throw new ManagerError('MGR_CLOSED', 'the store is closed');
    return this.nextId++;
  }

  /**
   * Accept one row for the next group commit; resolves with its id once it is committed, rejects with
   * MGR_LOG_FAILED if that commit fails (the row stays queued and is retried) or MGR_CLOSED after close.
   */
  append(e: NewDiagEntry): Promise<number> {
    let id: number;
    try {
      // A row the table refuses would fail its commit on every retry and hold up every row after it.
      if (!DIAG_OUTCOMES.has(e.outcome)) throw new ManagerError('MGR_BAD_INPUT', `diag_log outcome must be one of ${[...DIAG_OUTCOMES].join(', ')}`);
      id = this.allocate();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      this.queued.push({ row: toRow(id, e), waiter: { resolve, reject } });
      this.scheduled ??= setImmediate(() => {
        this.scheduled = undefined;
        void this.flush();
      });
    });
  }

  /** Commit every queued row (and wait for a commit in progress); resolves once done, failed or not. */
  flush(): Promise<void> {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.queued.length > 0) {
      const batch = this.queued;
      this.queued = [];
      this.writing = this.writing.then(() => this.write(batch));
    }
    return this.writing;
  }

  private async write(batch: Queued[]): Promise<void> {
    const rows = batch.map((q) => q.row);
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
      this.failed = true;
      const error = new ManagerError('MGR_LOG_FAILED', `the diagnostic log could not be written (${rows.length} rows${this.closed ? ', lost at close' : ', kept in memory and retried'}): ${errorMessage(e)}`, { cause: e });
      for (const q of batch) {
        q.waiter?.reject(error);
        delete q.waiter;
      }
      // All or nothing (one statement or one transaction): the same rows, ids and all, go again later.
      if (!this.closed) {
        this.queued = batch.concat(this.queued);
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = undefined;
          void this.flush();
        }, RETRY_MS);
        this.retryTimer.unref();
      }
      this.onError(e, rows.length);
      return;
    }
    this.failed = false;
    for (const q of batch) q.waiter?.resolve(q.row.id);
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
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
