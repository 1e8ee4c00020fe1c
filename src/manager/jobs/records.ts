/**
 * Update jobs in the `jobs` table: the job as the API shows it (`Job`), the row mapping, and the few
 * queries the job service and engine need. Portable SQL only (SQLite and PostgreSQL).
 */
import type { Kysely } from 'kysely';
import type { UpdatePhase } from '../../protocol/ota/update-messages.js';
import type { Database, JobRow, JobState } from '../store/index.js';

/** A job's phase: the gateway's update phases, or `cancelled`. */
export type JobPhase = UpdatePhase | 'cancelled';

export const JOB_STATES = ['active', 'done', 'failed', 'cancelled'] as const satisfies readonly JobState[];

/** Live flow-control facts of the job being transferred now (null otherwise). */
export interface TransferInfo {
  /** `waiting` (no session / broker), `offered`, `streaming`, `downloaded` (every chunk held). */
  stage: 'waiting' | 'offered' | 'streaming' | 'downloaded';
  heldChunks: number;
  inFlight: number;
  window: number;
}

/** One update of one ECU of one vehicle, as the API shows it. Times are ISO 8601 UTC. */
export interface Job {
  id: string;
  vehicleId: string;
  ecu: string;
  firmwareId: string;
  state: JobState;
  phase: JobPhase;
  percent: number;
  reason: { code: string; message: string } | null;
  fromVersion: string | null;
  toVersion: string;
  installedVersion: string | null;
  nonce: string;
  expiresAt: string;
  chunkSize: number;
  chunks: number;
  imageLength: number;
  /** Image bytes and chunks handed to the broker, re-sends included. */
  bytesSent: number;
  chunksSent: number;
  /** update.offer messages sent (1 + re-offers after reconnects and timeouts). */
  offers: number;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  transfer: TransferInfo | null;
}

/** A job with its signed assignment (base64), as the engine keeps it in memory while active. */
export interface LiveJob extends Omit<Job, 'transfer'> {
  assignment: string;
  /** An update.cancel still has to reach the gateway. */
  cancelPending: boolean;
}

/** Row → job (without live transfer facts). */
export function fromRow(r: JobRow): LiveJob {
  return {
    id: r.id,
    vehicleId: r.vehicle_id,
    ecu: r.ecu,
    firmwareId: r.firmware_id,
    state: r.state,
    phase: r.phase as JobPhase,
    percent: Number(r.percent),
    reason: r.reason_code === null ? null : { code: r.reason_code, message: r.reason_message ?? '' },
    fromVersion: r.from_version,
    toVersion: r.to_version,
    installedVersion: r.installed_version,
    nonce: r.nonce,
    expiresAt: r.expires_at,
    chunkSize: Number(r.chunk_size),
    chunks: Number(r.chunks),
    imageLength: Number(r.image_length),
    bytesSent: Number(r.bytes_sent),
    chunksSent: Number(r.chunks_sent),
    offers: Number(r.offers),
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    assignment: r.assignment,
    cancelPending: Number(r.cancel_pending) === 1,
  };
}

/** The public view of a job (the assignment stays inside the manager). */
export function toJob(j: LiveJob, transfer: TransferInfo | null = null): Job {
  const { assignment: _a, cancelPending: _c, ...rest } = j;
  return { ...rest, reason: j.reason && { ...j.reason }, transfer };
}

type MutableColumns = Pick<
  JobRow,
  'state' | 'phase' | 'percent' | 'reason_code' | 'reason_message' | 'bytes_sent' | 'chunks_sent' | 'offers' | 'installed_version' | 'cancel_pending' | 'updated_at' | 'finished_at'
>;

/** The columns that change while a job runs. */
function mutableColumns(j: LiveJob): MutableColumns {
  return {
    state: j.state,
    phase: j.phase,
    percent: j.percent,
    reason_code: j.reason?.code ?? null,
    reason_message: j.reason?.message ?? null,
    bytes_sent: j.bytesSent,
    chunks_sent: j.chunksSent,
    offers: j.offers,
    installed_version: j.installedVersion,
    cancel_pending: j.cancelPending ? 1 : 0,
    updated_at: j.updatedAt,
    finished_at: j.finishedAt,
  };
}

export async function insertJob(db: Kysely<Database>, j: LiveJob): Promise<void> {
  await db
    .insertInto('jobs')
    .values({
      id: j.id,
      vehicle_id: j.vehicleId,
      ecu: j.ecu,
      firmware_id: j.firmwareId,
      assignment: j.assignment,
      nonce: j.nonce,
      expires_at: j.expiresAt,
      chunk_size: j.chunkSize,
      chunks: j.chunks,
      image_length: j.imageLength,
      from_version: j.fromVersion,
      to_version: j.toVersion,
      created_by: j.createdBy,
      created_at: j.createdAt,
      ...mutableColumns(j),
    })
    .execute();
}

/** Write the changing columns of `j`. */
export async function saveJob(db: Kysely<Database>, j: LiveJob): Promise<void> {
  await db.updateTable('jobs').set(mutableColumns(j)).where('id', '=', j.id).execute();
}

export async function getJobRow(db: Kysely<Database>, id: string): Promise<LiveJob | undefined> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromRow(row);
}

/** Jobs newest first, filtered by vehicle and state. */
export async function listJobRows(db: Kysely<Database>, f: { vehicleId?: string; state?: JobState; limit?: number } = {}): Promise<LiveJob[]> {
  let q = db.selectFrom('jobs').selectAll();
  if (f.vehicleId !== undefined) q = q.where('vehicle_id', '=', f.vehicleId);
  if (f.state !== undefined) q = q.where('state', '=', f.state);
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.max(1, Math.min(1000, f.limit ?? 100))).execute();
  return rows.map(fromRow);
}

/** Every active job, oldest first (the order the engine runs them in). */
export async function activeJobRows(db: Kysely<Database>): Promise<LiveJob[]> {
  const rows = await db.selectFrom('jobs').selectAll().where('state', '=', 'active').orderBy('created_at').orderBy('id').execute();
  return rows.map(fromRow);
}

/** Finished jobs of one vehicle whose update.cancel has not reached the gateway yet. */
export async function pendingCancelRows(db: Kysely<Database>, vehicleId: string): Promise<LiveJob[]> {
  const rows = await db.selectFrom('jobs').selectAll().where('vehicle_id', '=', vehicleId).where('cancel_pending', '=', 1).execute();
  return rows.map(fromRow);
}
