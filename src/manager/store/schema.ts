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
}

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

export interface Database {
  vehicles: VehiclesTable;
  ecus: EcusTable;
  diag_log: DiagLogTable;
  audit_log: AuditLogTable;
}

export type VehicleRow = Selectable<VehiclesTable>;
export type EcuRow = Selectable<EcusTable>;
export type DiagLogRow = Selectable<DiagLogTable>;
export type NewDiagLog = Insertable<DiagLogTable>;
export type AuditRow = Selectable<AuditLogTable>;
