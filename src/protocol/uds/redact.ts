/**
 * The one redaction rule for UDS bytes that are stored or shown (diag_log, `GET /diag-log`, the
 * dashboard, the CLI, every log): SecurityAccess seeds and keys and Authentication (0x29) proofs never
 * leave the exchange that needs them. The service id and sub-function stay visible (and, for a 0x69
 * response, the authenticationReturnParameter); every byte after them is replaced.
 *
 *   27 <level> <securityAccessDataRecord>   request: requestSeed's record, sendKey's key    → 27 <level> XX…
 *   67 <level> <seed>                        positive response to requestSeed                 → 67 <level> XX…
 *   29 <sub-function> <certificate / proof / challenge …>                                    → 29 <sf> XX…
 *   69 <sub-function> <returnValue> <challenge / proof …>                                    → 69 <sf> <rv> XX…
 *
 * Negative responses (7F 27 35) carry no secret and stay as they are. Stored hex keeps one `XX` per
 * redacted byte (the length stays visible; `XX` is not hex, so nobody mistakes it for the value).
 *
 * This file imports nothing: the dashboard bundles it too (web/src/lib/uds.ts), so every place applies
 * exactly this rule.
 */

/** ISO 14229-1 §10.4 SecurityAccess and §10.6 Authentication, request and positive response SIDs. */
const SECRET_SIDS: Readonly<Record<number, number>> = {
  0x27: 2, // SecurityAccess request: SID, securityAccessType
  0x67: 2, // SecurityAccess response: SID, securityAccessType
  0x29: 2, // Authentication request: SID, authenticationTask
  0x69: 3, // Authentication response: SID, authenticationTask, authenticationReturnParameter
};

/** What a redacted byte looks like in stored or shown hex. */
export const REDACTED_HEX_BYTE = 'XX';

/** How many leading bytes of `bytes` may be stored or shown; the rest (if any) is secret. */
export function udsVisibleLength(bytes: ArrayLike<number>): number {
  const sid = bytes[0];
  const keep = sid === undefined ? undefined : SECRET_SIDS[sid];
  return keep === undefined ? bytes.length : Math.min(keep, bytes.length);
}

/** A UDS message as it may be shown: the visible bytes, and how many secret bytes followed them. */
export interface RedactedUds {
  visible: Uint8Array;
  redacted: number;
}

/** Splits `bytes` into what may be shown and the count of secret bytes. */
export function redactUds(bytes: Uint8Array): RedactedUds {
  const n = udsVisibleLength(bytes);
  return { visible: bytes.slice(0, n), redacted: bytes.length - n };
}

/**
 * Hex text of a UDS message (upper or lower case, no separators, as diag_log stores it) with its secret
 * bytes replaced by `XX` each. Text that is not whole hex byte pairs is returned unchanged.
 */
export function redactUdsHex(hex: string): string {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return hex;
  const sid = hex.length >= 2 ? parseInt(hex.slice(0, 2), 16) : undefined;
  const keep = sid === undefined ? undefined : SECRET_SIDS[sid];
  if (keep === undefined || hex.length <= 2 * keep) return hex;
  return hex.slice(0, 2 * keep) + REDACTED_HEX_BYTE.repeat(hex.length / 2 - keep);
}

/** True when `hex` (as redactUdsHex returns it) already has its secret bytes replaced. */
export function isRedactedUdsHex(hex: string): boolean {
  return redactUdsHex(hex) === hex;
}

/**
 * A `describeUds` description of a message the rule redacts, as it may be shown: its scalar fields
 * (service, direction, sub-function, security level…) and `redactedBytes`; every byte field (seed,
 * key, certificate, proof) is dropped. Descriptions of other messages are returned as they are.
 */
export function redactDescription(described: unknown, messageHex: string): unknown {
  if (described === null || typeof described !== 'object' || Array.isArray(described)) return described;
  const redacted = redactUdsHex(messageHex).split(REDACTED_HEX_BYTE).length - 1;
  if (redacted === 0) return described;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(described)) if (v === null || typeof v !== 'object') out[k] = v;
  out.redactedBytes = redacted;
  return out;
}
