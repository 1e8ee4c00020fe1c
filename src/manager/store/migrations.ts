/**
 * Schema migrations, in code, for Kysely's Migrator. Each migration is written once with the schema
 * builder; the only per-database difference is how an auto-increment key is declared, chosen by `kind`.
 * Never edit a migration that has shipped: add the next one.
 */
import { redactUdsHex } from '../../protocol/uds/redact.js';
import { sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** Which database a migration runs against (the few DDL details that differ). */
export type DialectKind = 'sqlite' | 'postgres';

/** Adds an auto-increment integer primary key `id` in the form `kind` understands. */
function withId<T extends string>(table: CreateTableBuilder<T, never>, kind: DialectKind): CreateTableBuilder<T, 'id'> {
  // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT; PostgreSQL: SERIAL PRIMARY KEY.
  return kind === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'serial', (c) => c.primaryKey());
}

function initial(kind: DialectKind): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('vehicles')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('first_seen', 'text', (c) => c.notNull())
        .addColumn('last_seen', 'text', (c) => c.notNull())
        .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('status_at', 'text')
        .addColumn('gateway_version', 'text')
        .addColumn('suites', 'text')
        .addColumn('channel_suite', 'text')
        .execute();
      await db.schema
        .createTable('ecus')
        .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('link', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('app_version', 'text')
        .addColumn('boot_version', 'text')
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('serial', 'text')
        .addColumn('hardware_id', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ecus_pk', ['vehicle_id', 'name'])
        .execute();
      // diag_log keeps attempts on vehicles that were never registered too, so no foreign key.
      await withId(db.schema.createTable('diag_log'), kind)
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('vehicle_id', 'text', (c) => c.notNull())
        .addColumn('ecu', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('response', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('positive', 'negative', 'timeout', 'error')`))
        .addColumn('nrc', 'integer')
        .addColumn('error_code', 'text')
        .addColumn('elapsed_ms', 'integer')
        .execute();
      await db.schema.createIndex('diag_log_vehicle').on('diag_log').columns(['vehicle_id', 'id']).execute();
      await withId(db.schema.createTable('audit_log'), kind)
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of ['audit_log', 'diag_log', 'ecus', 'vehicles']) await db.schema.dropTable(t).execute();
    },
  };
}

/**
 * The firmware repository and update jobs (src/manager/firmware, src/manager/jobs). uint32 fields are
 * `bigint` so PostgreSQL can hold 0xFFFFFFFF; byte strings (signed manifest, signed assignment) are
 * base64 text, the one portable form.
 */
function firmwareAndJobs(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('firmware')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('manifest_digest', 'text', (c) => c.notNull().unique())
        .addColumn('hardware_id', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('length', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('load_address', 'bigint', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('signer_cn', 'text', (c) => c.notNull())
        .addColumn('signer_serial', 'text', (c) => c.notNull())
        .addColumn('added_at', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('firmware_hardware').on('firmware').columns(['hardware_id', 'counter']).execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('vehicle_id', 'text', (c) => c.notNull())
        .addColumn('ecu', 'text', (c) => c.notNull())
        .addColumn('firmware_id', 'text', (c) => c.notNull().references('firmware.id'))
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('active', 'done', 'failed', 'cancelled')`))
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('percent', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('reason_code', 'text')
        .addColumn('reason_message', 'text')
        .addColumn('assignment', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('chunk_size', 'integer', (c) => c.notNull())
        .addColumn('chunks', 'integer', (c) => c.notNull())
        .addColumn('image_length', 'bigint', (c) => c.notNull())
        .addColumn('bytes_sent', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_sent', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('offers', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('from_version', 'text')
        .addColumn('to_version', 'text', (c) => c.notNull())
        .addColumn('installed_version', 'text')
        .addColumn('cancel_pending', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await db.schema.createIndex('jobs_vehicle').on('jobs').columns(['vehicle_id', 'created_at']).execute();
      await db.schema.createIndex('jobs_state').on('jobs').columns(['state', 'created_at']).execute();
      // One active job per ECU, enforced by the database too (two managers may race to create one).
      await db.schema.createIndex('jobs_one_active').on('jobs').columns(['vehicle_id', 'ecu']).unique().where(sql.ref('state'), '=', 'active').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of ['jobs', 'firmware']) await db.schema.dropTable(t).execute();
    },
  };
}

/**
 * Rows written before the redaction rule (src/protocol/uds/redact.ts) keep SecurityAccess seeds and keys
 * (`27 02 <key>`, `67 01 <seed>`) and 0x29 proofs: replace those bytes, as new rows already are. Only
 * rows whose request or response starts with 27, 29, 67 or 69 can hold one.
 */
function redactDiagLog(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const d = db as Kysely<{ diag_log: { id: number; request: string; response: string | null } }>;
      const rows = await d
        .selectFrom('diag_log')
        .select(['id', 'request', 'response'])
        .where((eb) =>
          eb.or(['27%', '29%', '67%', '69%'].flatMap((p) => [eb('request', 'like', p), eb('response', 'like', p)])),
        )
        .execute();
      for (const r of rows) {
        const request = redactUdsHex(r.request);
        const response = r.response === null ? null : redactUdsHex(r.response);
        if (request !== r.request || response !== r.response) {
          await d.updateTable('diag_log').set({ request, response }).where('id', '=', r.id).execute();
        }
      }
    },
    async down(): Promise<void> {
      // Redacted bytes are gone for good: nothing to undo.
    },
  };
}

/**
 * Issue 9 §1 (revocation): the registry's admission state. A vehicle the registry did not know that
 * presents a valid certificate issued outside the manager's PKI index is held `pending` until an admin
 * approves it (docs/operations.md, "Revocation and the fleet registry"); every vehicle registered before
 * this migration keeps working (`approved`). Firmware revocation needs no column: it is the release
 * signer's serial (firmware.signer_serial) against the live CRL.
 */
function firmwareRevocation(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('vehicles')
        .addColumn('approval', 'text', (c) => c.notNull().defaultTo('approved').check(sql`approval in ('approved', 'pending')`))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('vehicles').dropColumn('approval').execute();
    },
  };
}

/** Every migration, by name (applied in name order). */
export function migrations(kind: DialectKind): Record<string, Migration> {
  return {
    '0001_initial': initial(kind),
    '0002_firmware_jobs': firmwareAndJobs(),
    '0003_firmware_revocation': firmwareRevocation(),
    '0004_redact_diag_log': redactDiagLog(),
  };
}

/** A MigrationProvider over the in-code migrations for Kysely's Migrator. */
export function migrationProvider(kind: DialectKind): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(kind)) };
}
