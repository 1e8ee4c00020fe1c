/**
 * The embedded SQLite database (`<data>/manager/ota.db`) through better-sqlite3: WAL journal (readers
 * never block the writer), foreign keys on, a busy timeout for a second process reading the file.
 * better-sqlite3 is synchronous, so a checkpoint (which fsyncs) stalls the event loop: it runs on a
 * timer between requests, not inside the commit that happens to fill the WAL (see `CHECKPOINT_EVERY_MS`).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import type { Database } from './schema.js';
import { Store, type StoreOptions } from './store.js';

/** Open (creating if needed) the SQLite database at `file`, migrate it, and return the store. */
export async function openSqliteStore(file: string, options: StoreOptions = {}): Promise<Store> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new BetterSqlite3(file);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    if (file !== ':memory:') sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  } catch (e) {
    sqlite.close();
    throw e;
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
