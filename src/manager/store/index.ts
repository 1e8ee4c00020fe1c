/** The manager's store: Kysely over SQLite (default) with portable queries and in-code migrations. */
export { Store, MAX_LIST_LIMIT, type AuditEntry, type DiagLogEntry, type EcuRecord, type NewDiagEntry, type StoreOptions, type VehicleRecord } from './store.js';
export { openSqliteStore, setAsideSqliteFile, type SqliteStoreOptions } from './sqlite.js';
export { migrationProvider, migrations, type DialectKind } from './migrations.js';
export type { Database, DiagOutcome, FirmwareRow, JobRow, JobState } from './schema.js';
