/**
 * The manager's store: the fleet registry (vehicles, their ECUs), the diagnostic log and the audit log.
 * One query layer over Kysely: every query here is portable SQL (ON CONFLICT upserts, RETURNING), so a
 * PostgreSQL dialect plugs in without touching it (open one with `createStore(db, 'postgres')`).
 *
 * After migrate() the registry is also held in memory, loaded from the database and refreshed from it
 * (in the writing transaction) by every registry write, so reads (a diagnostic request's vehicle and ECU
 * check) cost no query; the database stays the source of truth. diag_log rows are group-committed
 * (diag-log.ts). Both assume one manager per database.
 */
import { Migrator, type Kysely, type Transaction } from 'kysely';
import type { AnnounceMessage } from '../../protocol/ota/messages.js';
import { ManagerError } from '../errors.js';
import { DiagLogWriter } from './diag-log.js';
import { migrationProvider, type DialectKind } from './migrations.js';
import type { Database, DiagLogRow, DiagOutcome, EcuRow, VehicleApproval, VehicleRow } from './schema.js';

/** One ECU of a vehicle as last announced. */
export interface EcuRecord {
  name: string;
  link: string;
  address: string;
  appVersion: string | null;
  bootVersion: string | null;
  mode: string;
  serial: string | null;
  hardwareId: string | null;
  updatedAt: string;
}

/** One vehicle of the registry with its ECUs. */
export interface VehicleRecord {
  id: string;
  firstSeen: string;
  lastSeen: string;
  online: boolean;
  statusAt: string | null;
  gatewayVersion: string | null;
  suites: string[];
  channelSuite: string | null;
  /** `pending`: a valid certificate the registry did not know; no session until an admin approves it. */
  approval: VehicleApproval;
  ecus: EcuRecord[];
}

/** One diagnostic request as logged. `at` is when it was sent. */
export interface DiagLogEntry {
  id: number;
  at: string;
  actor: string;
  vehicleId: string;
  ecu: string;
  request: string;
  response: string | null;
  outcome: DiagOutcome;
  nrc: number | null;
  errorCode: string | null;
  elapsedMs: number | null;
}

export type NewDiagEntry = Omit<DiagLogEntry, 'id'>;

/** One audit event: who did what to which target. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

export const MAX_LIST_LIMIT = 1000;

export interface StoreOptions {
  /** A diag_log commit failed (`rows` stay queued and are retried; at close they are lost). */
  onDiagLogError?: (e: unknown, rows: number) => void;
}

/** The registry, diagnostic log and audit log over one Kysely database. */
export class Store {
  /** The registry in memory, by vehicle id (from migrate() on; before, reads query the database). */
  private fleet: Map<string, VehicleRecord> | undefined;
  private readonly diagLog: DiagLogWriter;

  constructor(
    readonly db: Kysely<Database>,
    readonly kind: DialectKind,
    options: StoreOptions = {},
  ) {
    this.diagLog = new DiagLogWriter(db, (e, rows) => options.onDiagLogError?.(e, rows));
  }

  /** Apply every pending migration (MGR_CONFIG if one fails), then load the registry and diag_log ids. */
  async migrate(): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.kind) });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) throw new ManagerError('MGR_CONFIG', 'database migration failed', { cause: error });
    await this.diagLog.load();
    this.fleet = new Map((await this.queryVehicles()).map((v) => [v.id, v]));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  /**
   * Run one registry write and, in the same transaction, re-read the vehicle into the in-memory
   * registry: what memory holds is always what the database committed.
   */
  private async writeVehicle(id: string, write: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
    const fresh = await this.db.transaction().execute(async (trx) => {
      await write(trx);
      return this.fleet === undefined ? undefined : readVehicle(trx, id);
    });
    if (fresh !== undefined) this.fleet?.set(id, fresh);
  }

  /** Record the vehicle's presence from its retained status message. */
  async setPresence(id: string, online: boolean, at: string): Promise<void> {
    const flag = online ? 1 : 0;
    await this.writeVehicle(id, async (trx) => {
      await trx
        .insertInto('vehicles')
        .values({ id, first_seen: at, last_seen: at, online: flag, status_at: at })
        .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen: at, online: flag, status_at: at }))
        .execute();
    });
  }

  /** Record the suite of a newly established secure channel. */
  async setChannel(id: string, suite: string, at: string): Promise<void> {
    await this.writeVehicle(id, async (trx) => {
      await trx
        .insertInto('vehicles')
        .values({ id, first_seen: at, last_seen: at, online: 0, channel_suite: suite })
        .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen: at, channel_suite: suite }))
        .execute();
    });
  }

  /** Replace the vehicle's gateway facts and ECU inventory with what `announce` says, atomically. */
  async applyAnnounce(id: string, announce: AnnounceMessage, at: string): Promise<void> {
    const suites = JSON.stringify(announce.gateway.suites);
    const version = announce.gateway.version;
    await this.writeVehicle(id, async (trx) => {
      await trx
        .insertInto('vehicles')
        .values({ id, first_seen: at, last_seen: at, online: 0, gateway_version: version, suites })
        .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen: at, gateway_version: version, suites }))
        .execute();
      const names = announce.ecus.map((e) => e.name);
      let gone = trx.deleteFrom('ecus').where('vehicle_id', '=', id);
      if (names.length > 0) gone = gone.where('name', 'not in', names);
      await gone.execute();
      for (const e of announce.ecus) {
        const row = {
          link: e.link,
          address: e.address,
          app_version: e.appVersion,
          boot_version: e.bootVersion,
          mode: e.mode,
          serial: e.serial ?? null,
          hardware_id: e.hardwareId ?? null,
          updated_at: at,
        };
        await trx
          .insertInto('ecus')
          .values({ vehicle_id: id, name: e.name, ...row })
          .onConflict((oc) => oc.columns(['vehicle_id', 'name']).doUpdateSet(row))
          .execute();
      }
    });
  }

  /** Enter a vehicle the registry does not hold yet, `approved` or `pending`; an existing row is left as it is. */
  async registerVehicle(id: string, approval: VehicleApproval, at: string): Promise<void> {
    await this.writeVehicle(id, async (trx) => {
      await trx.insertInto('vehicles').values({ id, first_seen: at, last_seen: at, online: 0, approval }).onConflict((oc) => oc.column('id').doNothing()).execute();
    });
  }

  /** Approve a pending vehicle (audited); false when the registry has no such vehicle. */
  async approveVehicle(id: string, actor: string, at: string): Promise<boolean> {
    let found = false;
    await this.writeVehicle(id, async (trx) => {
      const r = await trx.updateTable('vehicles').set({ approval: 'approved' }).where('id', '=', id).executeTakeFirst();
      found = Number(r.numUpdatedRows) > 0;
      if (found) await trx.insertInto('audit_log').values({ at, actor, action: 'vehicle.approve', target: id, detail: '{}' }).execute();
    });
    return found;
  }

  /** One vehicle with its ECUs (a copy: the caller may keep or change it). */
  async getVehicle(id: string): Promise<VehicleRecord | undefined> {
    if (this.fleet === undefined) return readVehicle(this.db, id);
    const v = this.fleet.get(id);
    return v && copyVehicle(v);
  }

  /** The in-memory registry's record of `id`, not copied (do not change it); undefined before migrate(). */
  peekVehicle(id: string): Readonly<VehicleRecord> | undefined {
    return this.fleet?.get(id);
  }

  /** Every vehicle, ordered by id, with its ECUs. */
  async listVehicles(): Promise<VehicleRecord[]> {
    if (this.fleet === undefined) return this.queryVehicles();
    return [...this.fleet.values()].sort((a, b) => compareCodePoints(a.id, b.id)).map(copyVehicle);
  }

  private async queryVehicles(): Promise<VehicleRecord[]> {
    const rows = await this.db.selectFrom('vehicles').selectAll().orderBy('id').execute();
    const ecus = await this.db.selectFrom('ecus').selectAll().orderBy('vehicle_id').orderBy('name').execute();
    const byVehicle = new Map<string, EcuRow[]>();
    for (const e of ecus) byVehicle.set(e.vehicle_id, [...(byVehicle.get(e.vehicle_id) ?? []), e]);
    return rows.map((r) => toVehicle(r, byVehicle.get(r.id) ?? []));
  }

  /**
   * Append one diagnostic request to the log; resolves with its id once it is committed (group commit:
   * the rows of one event-loop turn go in one transaction, diag-log.ts). Rejects MGR_LOG_FAILED when the
   * commit fails (the row stays queued and is retried), MGR_CLOSED after close().
   */
  recordDiag(e: NewDiagEntry): Promise<number> {
    return this.diagLog.append(e);
  }

  /** Commit the queued diag_log rows now (resolves when done, failed or not). */
  flushDiag(): Promise<void> {
    return this.diagLog.flush();
  }

  /** diag_log rows accepted and not yet committed (more than a few means commits are failing). */
  get diagBacklog(): number {
    return this.diagLog.backlog;
  }

  /** The last diag_log commit failed and none has succeeded since: the log on disk is behind. */
  get diagLogFailing(): boolean {
    return this.diagLog.failing;
  }

  /**
   * The newest diagnostic log entries first, optionally of one vehicle (queued rows committed first).
   * MGR_LOG_UNAVAILABLE while rows cannot be committed: an answer from a log that is behind would be stale.
   */
  async listDiag(opts: { vehicleId?: string; limit?: number } = {}): Promise<DiagLogEntry[]> {
    await this.diagLog.flush();
    if (this.diagLog.failing) {
      throw new ManagerError('MGR_LOG_UNAVAILABLE', `the diagnostic log cannot be written (${this.diagLog.backlog} rows waiting): what is on disk is behind`);
    }
    let q = this.db.selectFrom('diag_log').selectAll();
    if (opts.vehicleId !== undefined) q = q.where('vehicle_id', '=', opts.vehicleId);
    const rows = await q.orderBy('id', 'desc').limit(clampLimit(opts.limit)).execute();
    return rows.map(toDiag);
  }

  /** Append one audit event. */
  async audit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({ at: e.at, actor: e.actor, action: e.action, target: e.target, detail: JSON.stringify(e.detail) })
      .execute();
  }

  /** The newest audit events first. */
  async listAudit(opts: { limit?: number } = {}): Promise<AuditEntry[]> {
    const rows = await this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(clampLimit(opts.limit)).execute();
    return rows.map((r) => ({ id: Number(r.id), at: r.at, actor: r.actor, action: r.action, target: r.target, detail: parseObject(r.detail) }));
  }

  /** Commit the queued diag_log rows, then close the database. */
  async close(): Promise<void> {
    await this.diagLog.close();
    await this.db.destroy();
  }
}

async function readVehicle(db: Kysely<Database>, id: string): Promise<VehicleRecord | undefined> {
  const row = await db.selectFrom('vehicles').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) return undefined;
  const ecus = await db.selectFrom('ecus').selectAll().where('vehicle_id', '=', id).orderBy('name').execute();
  return toVehicle(row, ecus);
}

function copyVehicle(v: VehicleRecord): VehicleRecord {
  return { ...v, suites: [...v.suites], ecus: v.ecus.map((e) => ({ ...e })) };
}

/** Code point order: the order of SQLite's BINARY collation (UTF-8 bytes) for well-formed strings. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return 50;
  return Math.max(1, Math.min(MAX_LIST_LIMIT, Math.trunc(limit)));
}

function toVehicle(r: VehicleRow, ecus: EcuRow[]): VehicleRecord {
  return {
    id: r.id,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    online: Number(r.online) === 1,
    statusAt: r.status_at,
    gatewayVersion: r.gateway_version,
    suites: parseStringList(r.suites),
    channelSuite: r.channel_suite,
    approval: r.approval === 'pending' ? 'pending' : 'approved',
    ecus: ecus.map((e) => ({
      name: e.name,
      link: e.link,
      address: e.address,
      appVersion: e.app_version,
      bootVersion: e.boot_version,
      mode: e.mode,
      serial: e.serial,
      hardwareId: e.hardware_id,
      updatedAt: e.updated_at,
    })),
  };
}

function toDiag(r: DiagLogRow): DiagLogEntry {
  return {
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    vehicleId: r.vehicle_id,
    ecu: r.ecu,
    request: r.request,
    response: r.response,
    outcome: r.outcome,
    nrc: r.nrc === null ? null : Number(r.nrc),
    errorCode: r.error_code,
    elapsedMs: r.elapsed_ms === null ? null : Number(r.elapsed_ms),
  };
}

function parseStringList(text: string | null): string[] {
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
