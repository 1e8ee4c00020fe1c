/**
 * The manager's tables as Kysely types. Portable column types only, so the same queries run on SQLite
 * and PostgreSQL: timestamps are ISO 8601 UTC strings (they sort as text), booleans are integers 0/1,
 * lists and objects are JSON text.
 */
import type { Generated, Insertable, Selectable } from 'kysely';

export interface VehiclesTable {
  id: string;
  first_seen: string;
  last_seen: string;
  /** 1 when the last retained status said `online`, else 0. */
  online: number;
  /** When the presence last changed (the status message's arrival). */
  status_at: string | null;
  gateway_version: string | null;
  /** JSON array of the suites the gateway announced. */
  suites: string | null;
  /** The suite negotiated for the current secure channel. */
  channel_suite: string | null;
  /** Registry admission: `approved`, or `pending` until an admin approves it (migration 0003). */
  approval: Generated<VehicleApproval>;
}

export type VehicleApproval = 'approved' | 'pending';

export interface EcusTable {
  vehicle_id: string;
  name: string;
  link: string;
  address: string;
  app_version: string | null;
  boot_version: string | null;
  mode: string;
  serial: string | null;
  hardware_id: string | null;
  updated_at: string;
}

export type DiagOutcome = 'positive' | 'negative' | 'timeout' | 'error';

export interface DiagLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  vehicle_id: string;
  ecu: string;
  /** Request bytes, upper-case hex without spaces. */
  request: string;
  /** Final response bytes (hex), null when none came (suppressed positive response, timeout, error). */
  response: string | null;
  outcome: DiagOutcome;
  nrc: number | null;
  error_code: string | null;
  elapsed_ms: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target: string;
  /** JSON object. */
  detail: string;
}

/** One signed firmware release in the repository (src/manager/firmware). uint32 columns are bigint. */
export interface FirmwareTable {
  /** The first 16 hex digits of manifest_digest. */
  id: string;
  /** SHA-256 of the whole signed manifest (what an assignment names), 64 hex. */
  manifest_digest: string;
  hardware_id: string;
  version: string;
  counter: number | string;
  length: number | string;
  /** SHA-256 of the contiguous image: its blob is `<data>/manager/blobs/sha256/<sha256>`. */
  sha256: string;
  load_address: number | string;
  /** Format of the file as uploaded (ihex, srec, bin). */
  format: string;
  /** The signed manifest, base64. */
  manifest: string;
  signer_cn: string;
  signer_serial: string;
  added_at: string;
  added_by: string;
}

export type JobState = 'active' | 'done' | 'failed' | 'cancelled';

/** One update of one ECU of one vehicle (src/manager/jobs). */
export interface JobsTable {
  id: string;
  vehicle_id: string;
  ecu: string;
  firmware_id: string;
  state: JobState;
  /** An update phase (queued, downloading, …, done, failed) or `cancelled`. */
  phase: string;
  percent: number;
  reason_code: string | null;
  reason_message: string | null;
  /** The signed assignment, base64: the same bytes for every offer of the job. */
  assignment: string;
  nonce: string;
  expires_at: string;
  chunk_size: number;
  chunks: number;
  /** Bytes of the contiguous image (the firmware's length). */
  image_length: number | string;
  bytes_sent: number | string;
  chunks_sent: number;
  offers: number;
  from_version: string | null;
  to_version: string;
  /** The version the gateway reported with `done`. */
  installed_version: string | null;
  /** 1 while an update.cancel still has to reach the gateway. */
  cancel_pending: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface Database {
  vehicles: VehiclesTable;
  ecus: EcusTable;
  diag_log: DiagLogTable;
  audit_log: AuditLogTable;
  firmware: FirmwareTable;
  jobs: JobsTable;
}

export type VehicleRow = Selectable<VehiclesTable>;
export type EcuRow = Selectable<EcusTable>;
export type DiagLogRow = Selectable<DiagLogTable>;
export type NewDiagLog = Insertable<DiagLogTable>;
export type AuditRow = Selectable<AuditLogTable>;
export type FirmwareRow = Selectable<FirmwareTable>;
export type JobRow = Selectable<JobsTable>;
