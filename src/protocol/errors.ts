/**
 * The one error base of the project. Every refusal anywhere is an `OtaError` with a stable,
 * machine-readable `code` (tests assert on it, the CLI maps it to exit status, HTTP maps it to
 * a status) and an optional `cause`. Protocol errors may also carry the wire code they map to
 * (a UDS NRC, a DoIP NACK code).
 */
export class OtaError extends Error {
  readonly code: string;
  /** The code this refusal has on the wire, when it has one (UDS NRC, DoIP NACK code). */
  readonly wireCode: number | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; wireCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.wireCode = options.wireCode;
  }
}

/** Malformed or out-of-range bytes handed to a decoder, or a value an encoder cannot represent. */
export class DecodeError extends OtaError {}

/** A protocol-level refusal that has a code on the wire (NRC, NACK). */
export class ProtocolError extends OtaError {}

/** A timer expired (ISO-TP N_Bs/N_Cr, UDS P2/P2*, DoIP timeouts). */
export class TimeoutError extends OtaError {}

/** True when `e` is one of ours, with a stable code. */
export function isOtaError(e: unknown): e is OtaError {
  return e instanceof OtaError;
}
