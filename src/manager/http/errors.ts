/**
 * The one place codes become HTTP status codes (STYLE.md: map at the edge). Every error body is
 * `{ error: { code, message } }`. A negative UDS response is not an error: it is a 200 diagnostic result.
 */
import { isOtaError } from '../../protocol/errors.js';
import { GatewayDiagError } from '../errors.js';

export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = {
  MGR_BAD_INPUT: 400,
  HEX_INVALID: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  VEHICLE_UNKNOWN: 404,
  FIRMWARE_UNKNOWN: 404,
  JOB_UNKNOWN: 404,
  ECU_UNKNOWN: 404,
  GW_UNKNOWN_ECU: 404,
  VEHICLE_OFFLINE: 409,
  JOB_CONFLICT: 409,
  JOB_FINISHED: 409,
  JOB_NOT_CANCELLABLE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  BROKER_DISCONNECTED: 503,
  MGR_CLOSED: 503,
  MGR_LOG_UNAVAILABLE: 503,
  MGR_LOG_FAILED: 503,
  JOB_SAVE_FAILED: 503,
  GW_BUSY: 503,
  DIAG_TIMEOUT: 504,
  // The fleet CRL on disk is unusable: the manager refuses what needs it (fails closed).
  PKI_TRUST_UNAVAILABLE: 503,
  UDS_TIMEOUT: 504,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Status and body for any thrown value; unknown errors become 500 INTERNAL without details. */
export function httpError(e: unknown): { status: number; body: ErrorBody } {
  if (isOtaError(e)) {
    // Other gateway errors (link failures) are a bad answer from upstream of us.
    // FW_*: a refused firmware (signature, image, manifest, hardware) is well-formed JSON with unacceptable content.
    const status = HTTP_STATUS_BY_CODE[e.code] ?? (e.code.startsWith('FW_') ? 422 : e instanceof GatewayDiagError ? 502 : 500);
    return { status, body: { error: { code: e.code, message: e.message } } };
  }
  const fst = e as { statusCode?: unknown; validation?: unknown; message?: unknown };
  if (fst.validation !== undefined) return { status: 400, body: { error: { code: 'BAD_REQUEST', message: String(fst.message) } } };
  if (typeof fst.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 500) {
    const code = fst.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : fst.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST';
    return { status: fst.statusCode === 413 || fst.statusCode === 415 ? fst.statusCode : 400, body: { error: { code, message: String(fst.message) } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}
