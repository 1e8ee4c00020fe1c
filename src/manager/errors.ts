/**
 * The manager's refusals. Every one is an OtaError with a stable code; the HTTP API maps codes to status
 * codes at its edge (http/errors.ts), the CLI maps them to exit status. Nothing here knows about HTTP.
 */
import { OtaError, TimeoutError } from '../protocol/errors.js';

export const MANAGER_CODES = [
  /** No vehicle with this id has ever been seen (no status, no handshake). */
  'VEHICLE_UNKNOWN',
  /** The vehicle is known but offline, or has no established secure channel with this manager. */
  'VEHICLE_OFFLINE',
  /** The vehicle's last announce lists no ECU of this name. */
  'ECU_UNKNOWN',
  /** No diag.response arrived within the request's timeout. */
  'DIAG_TIMEOUT',
  /** The manager is not connected to the broker, so nothing can reach a vehicle. */
  'BROKER_DISCONNECTED',
  /** An argument is out of range or malformed (a request, a timeout, an id). */
  'MGR_BAD_INPUT',
  /** The manager is shutting down; pending requests are abandoned. */
  'MGR_CLOSED',
  /** The manager's configuration or data directory is unusable (missing PKI, bad token file). */
  'MGR_CONFIG',
  /** No firmware with this id (or manifest digest) in the repository. */
  'FIRMWARE_UNKNOWN',
  /** No update job with this id. */
  'JOB_UNKNOWN',
  /** The ECU already has an active update job: one at a time per ECU. */
  'JOB_CONFLICT',
  /** The job is already done, failed or cancelled. */
  'JOB_FINISHED',
  /** The gateway is installing the image (verifying … rebooting) and runs that to its end: cancel needs `force`. */
  'JOB_NOT_CANCELLABLE',
  /** A job's new state could not be written to the database: nothing was changed (retry). */
  'JOB_SAVE_FAILED',
  /** The job's assignment expired before the gateway started programming (a failure reason). */
  'JOB_EXPIRED',
  /** The watchdog saw no progress of a job in flight through its re-offers (a failure reason; `--job-stall-timeout`). */
  'JOB_STALLED',
  /** `<data>/manager/ota.db` is missing or empty where a manager ran before: restore it, or reset explicitly. */
  'MGR_DB_MISSING',
  /** `<data>/manager/ota.db` fails SQLite's integrity check or is not a database: restore it, or reset explicitly. */
  'MGR_DB_CORRUPT',
  /** A firmware blob is missing from, or corrupt in, `<data>/manager/blobs` (a failure reason). */
  'MGR_BLOB_CORRUPT',
  /** The diagnostic log cannot be written (commits failing): no request is sent that could not be logged. */
  'MGR_LOG_UNAVAILABLE',
  /** A diagnostic request's diag_log row could not be committed: its answer is withheld (the row is retried). */
  'MGR_LOG_FAILED',
  /** The ECU secret key store (`<data>/manager/ecu-secrets.json` + `.key`) is unreadable or does not decrypt. */
  'MGR_SECRET_STORE',
  /** The API would listen on a non-loopback address without HTTPS (no certificate, no `--insecure-http`). */
  'MGR_API_TLS',
  /** A handshake of a vehicle with a valid certificate the fleet registry holds pending approval (a refusal, counted). */
  'MGR_VEHICLE_PENDING',
] as const;
export type ManagerCode = (typeof MANAGER_CODES)[number];

/** A manager refusal with a code from MANAGER_CODES. */
export class ManagerError extends OtaError {
  constructor(code: ManagerCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The vehicle did not answer a diagnostic request in time (code DIAG_TIMEOUT). */
export class DiagTimeoutError extends TimeoutError {
  constructor(message: string) {
    super('DIAG_TIMEOUT', message);
  }
}

/**
 * The gateway answered a diagnostic request with an error instead of a UDS response (UDS_TIMEOUT,
 * GW_UNKNOWN_ECU, GW_BUSY, link errors). `code` is the gateway's code, checked to be UPPER_SNAKE.
 */
export class GatewayDiagError extends OtaError {}

const GATEWAY_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The gateway's error code if it has the stable UPPER_SNAKE form, else GW_ERROR. */
export function gatewayCode(code: string): string {
  return GATEWAY_CODE.test(code) ? code : 'GW_ERROR';
}
