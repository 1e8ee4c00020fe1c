/**
 * UDS (ISO 14229-1) codec: requests and responses of the services the flash sequence and the
 * diagnostics console use, negative responses with the full NRC table, DTC and DID models, and
 * `describeUds` for `ota decode uds`. Pure code, no I/O. See types.ts for the message shapes.
 */
export * from './constants.js';
export * from './nrc.js';
export { UDS_ERROR, type UdsErrorCode } from './bytes.js';
export * from './did.js';
export * from './dtc.js';
export {
  MAX_MEMORY_FIELD_LENGTH,
  decodeAlfid,
  encodeAlfid,
  decodeDfi,
  encodeDfi,
  decodeLfi,
  encodeLfi,
  minimalLength,
  decodeMemoryRange,
  encodeMemoryRange,
  type MemoryRange,
  type DataFormat,
} from './memory.js';
export type * from './types.js';
export { decodeRequest, encodeRequest } from './request.js';
export { decodeResponse, encodeResponse } from './response.js';
export { describeUds } from './describe.js';
export { REDACTED_HEX_BYTE, isRedactedUdsHex, redactDescription, redactUds, redactUdsHex, udsVisibleLength, type RedactedUds } from './redact.js';
