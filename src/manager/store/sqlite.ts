/**
 * The embedded SQLite database (`<data>/manager/ota.db`) through better-sqlite3: WAL journal (readers
 * never block the writer), foreign keys on, a busy timeout for a second process reading the file.
 * Opening checks the file first (missing / empty where a database is expected, SQLite's quick_check),
 * naming the file and how to restore or reset it: a damaged database fails the start, not later requests.
 * better-sqlite3 is synchronous, so a checkpoint (which fsyncs) stalls the event loop: it runs on a
 * timer between requests, not inside the commit that happens to fill the WAL (see `CHECKPOINT_EVERY_MS`).
 */
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { isOtaError } from '../../protocol/errors.js';
import { ManagerError } from '../errors.js';
import type { Database } from './schema.js';
import { Store, type StoreOptions } from './store.js';

export interface SqliteStoreOptions extends StoreOptions {
  /**
   * The file must already hold a database (a manager ran on this data directory before): a missing or
   * 0-byte file is refused with MGR_DB_MISSING instead of silently starting an empty history.
   */
  mustExist?: boolean;
}

/**
 * Open (creating if needed, unless `mustExist`) the SQLite database at `file`, check it (SQLite's
 * quick_check: MGR_DB_CORRUPT naming the file), migrate it, and return the store.
 */
export async function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Promise<Store> {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (options.mustExist) checkPresent(file);
  }
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(file);
  } catch (e) {
    throw damaged(file, e);
  }
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    if (file !== ':memory:') sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    if (file !== ':memory:') checkIntegrity(sqlite, file);
  } catch (e) {
    sqlite.close();
    throw isOtaError(e) ? e : damaged(file, e);
  }
  const store = new Store(new Kysely<Database>({ dialect: new SqliteDialect({ database: withCheckpoints(withStatementCache(sqlite), sqlite, file) }) }), 'sqlite', options);
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

const RESTORE_HINT = 'restore it from a backup (with the manager stopped, copy the backup to this path and remove any -wal/-shm files beside it), or start with --reset-database to set it aside and begin an empty database';

function checkPresent(file: string): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new ManagerError('MGR_DB_MISSING', `the manager database ${file} is missing, but a manager has run on this data directory (its history — fleet registry, diagnostic log, jobs, audit — would start empty): ${RESTORE_HINT}`);
  }
  if (size === 0) {
    throw new ManagerError('MGR_DB_MISSING', `the manager database ${file} is empty (0 bytes), but a manager has run on this data directory: ${RESTORE_HINT}`);
  }
}

/** SQLite's quick_check (integrity_check without the index-content comparison: O(N), no sort). */
function checkIntegrity(sqlite: BetterSqlite3.Database, file: string): void {
  const rows = sqlite.pragma('quick_check(5)') as Array<Record<string, unknown>>;
  const problems = rows.map((r) => String(Object.values(r)[0]));
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw new ManagerError('MGR_DB_CORRUPT', `the manager database ${file} is damaged (SQLite quick_check: ${problems.join('; ').slice(0, 300)}): ${RESTORE_HINT}`);
}

function damaged(file: string, e: unknown): ManagerError {
  const message = e instanceof Error ? e.message : String(e);
  return new ManagerError('MGR_DB_CORRUPT', `the manager database ${file} cannot be opened (SQLite: ${message}): ${RESTORE_HINT}`, { cause: e });
}

/**
 * Move `file` and its -wal/-shm files aside as `<file>.reset-<time>` (kept, never deleted) so that a
 * new empty database starts there; returns the new name of the database file, or undefined if none was there.
 */
export function setAsideSqliteFile(file: string, now: Date = new Date()): string | undefined {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const aside = `${file}.reset-${stamp}`;
  let moved: string | undefined;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      renameSync(file + suffix, aside + suffix);
      if (suffix === '') moved = aside;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return moved;
}

/** Prepared statements kept (by SQL text) beyond this many are dropped oldest first. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs more than running our small
 * queries. Reuse a prepared statement per SQL text, unless it is busy
 * (an unfinished `iterate()`), which gets a fresh one. SQLite re-prepares a statement by itself when
 * the schema changes under it.
 */
function withStatementCache(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => db.close(),
    prepare(sql) {
      const hit = cache.get(sql);
      if (hit !== undefined && !hit.busy) return hit;
      const stmt = db.prepare(sql);
      if (hit === undefined) {
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

/**
 * SQLite checkpoints by itself inside the commit that grows the WAL past 1000 pages: with a diag_log
 * row per diagnostic request that is every few hundred requests, each stalling the event loop for the
 * fsyncs (milliseconds: the p99 of a diagnostic round trip). Checkpoint PASSIVE once a second instead
 * (a no-op when the WAL holds nothing new), and leave SQLite's own checkpoint as a size backstop.
 */
const CHECKPOINT_EVERY_MS = 250;
/** SQLite's own checkpoint threshold (pages; 16 384 × 4 KiB = 64 MiB of WAL). */
const WAL_AUTOCHECKPOINT_PAGES = 16_384;

function withCheckpoints(db: SqliteDatabase, sqlite: BetterSqlite3.Database, file: string): SqliteDatabase {
  if (file === ':memory:') return db;
  const timer = setInterval(() => {
    try {
      sqlite.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // busy or closing: the next tick (or SQLite's own threshold) checkpoints
    }
  }, CHECKPOINT_EVERY_MS);
  timer.unref();
  return {
    prepare: (sql) => db.prepare(sql),
    close: () => {
      clearInterval(timer);
      db.close();
    },
  };
}
