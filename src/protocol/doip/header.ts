/**
 * The generic DoIP header (ISO 13400-2:2019 Table 16) and the generic header handler that checks it before any
 * payload is read, in the order the standard lays out: pattern ([DoIP-041]), payload type ([DoIP-042]),
 * maximum length ([DoIP-043]), available memory ([DoIP-044]), length valid for the type ([DoIP-045]).
 * Every check needs the 8 header bytes only, so a stream reader can refuse a frame before buffering it.
 */
import { DecodeError } from '../errors.js';
import { hexNum } from '../hex.js';
import {
  DOIP_DEFAULT_MAX_PAYLOAD_LENGTH,
  DOIP_HEADER_LENGTH,
  DOIP_PROTOCOL_VERSION,
  DOIP_SUPPORTED_PROTOCOL_VERSIONS,
  doipMessageTypeOf,
  isVehicleIdentificationRequest,
  type DoipMessageType,
} from './constants.js';
import { DoipError } from './errors.js';

/** The four fields of a generic DoIP header, as read (unchecked). */
export interface DoipHeader {
  readonly protocolVersion: number;
  readonly inverseProtocolVersion: number;
  readonly payloadType: number;
  readonly payloadLength: number;
}

/** Limits of the generic header handler; every field has a default. */
export interface DoipDecodeOptions {
  /** Largest payload length accepted, header excluded ([DoIP-043] → NACK 0x02). Default 4100 (4 KiB UDS + 4). */
  readonly maxPayloadLength?: number;
  /** Protocol versions accepted (default 0x01, 0x02, 0x03); 0xFF is accepted on identification requests anyway. */
  readonly protocolVersions?: readonly number[];
  /** [DoIP-044]: false when a payload of this length cannot be held right now → NACK 0x03. Default: always true. */
  readonly hasMemoryFor?: (payloadLength: number) => boolean;
}

/** Read the 8 header bytes at `offset` without judging them; DOIP_TRUNCATED when fewer than 8 remain. */
export function readDoipHeader(bytes: Uint8Array, offset = 0): DoipHeader {
  if (bytes.length - offset < DOIP_HEADER_LENGTH) {
    throw new DecodeError(
      'DOIP_TRUNCATED',
      `a DoIP header needs ${DOIP_HEADER_LENGTH} bytes, ${Math.max(0, bytes.length - offset)} present`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, DOIP_HEADER_LENGTH);
  return {
    protocolVersion: view.getUint8(0),
    inverseProtocolVersion: view.getUint8(1),
    payloadType: view.getUint16(2),
    payloadLength: view.getUint32(4),
  };
}

/** Write a generic header for `payloadType` and `payloadLength` into `out` at `offset`. */
export function writeDoipHeader(
  out: Uint8Array,
  offset: number,
  protocolVersion: number,
  payloadType: number,
  payloadLength: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, DOIP_HEADER_LENGTH);
  view.setUint8(0, protocolVersion);
  // Table 16: the inverse protocol version is the bit-wise inverse of the version, the synchronization pattern.
  view.setUint8(1, ~protocolVersion & 0xff);
  view.setUint16(2, payloadType);
  view.setUint32(4, payloadLength);
}

/** True when `version` may appear in a header of `payloadType` under `accepted` versions (Table 16). */
export function isAcceptedVersion(version: number, payloadType: number, accepted: readonly number[]): boolean {
  if (version === DOIP_PROTOCOL_VERSION.vehicleIdentificationDefault) return isVehicleIdentificationRequest(payloadType);
  return accepted.includes(version);
}

/**
 * The payload lengths ISO 13400-2 allows for each type (from the message tables, optional tails included).
 * A diagnostic message needs at least one byte of user data: no UDS message is shorter than its service id.
 */
export function isValidPayloadLength(type: DoipMessageType, length: number, protocolVersion: number): boolean {
  switch (type) {
    case 'genericNack':
    case 'powerModeResponse':
      return length === 1;
    case 'vehicleIdentificationRequest':
    case 'aliveCheckRequest':
    case 'entityStatusRequest':
    case 'powerModeRequest':
      return length === 0;
    case 'vehicleIdentificationRequestEid':
      return length === 6;
    case 'vehicleIdentificationRequestVin':
      return length === 17;
    case 'vehicleAnnouncement':
      return length === 32 || length === 33;
    case 'routingActivationRequest':
      // ISO/DIS 13400-2:2010 (version 0x01) had a 2-byte activation type, so each form is one byte longer.
      return protocolVersion === DOIP_PROTOCOL_VERSION.iso13400_2_2010
        ? length === 8 || length === 12
        : length === 7 || length === 11;
    case 'routingActivationResponse':
      return length === 9 || length === 13;
    case 'aliveCheckResponse':
      return length === 2;
    case 'entityStatusResponse':
      return length === 3 || length === 7;
    case 'diagnosticMessage':
    case 'diagnosticAck':
    case 'diagnosticNack':
      return length >= 5;
  }
}

/**
 * The generic header handler: the message type of an acceptable header, or a `DoipError` whose `wireCode` is the
 * generic NACK to answer with and whose `closeConnection` says whether the socket must then be closed.
 */
export function checkDoipHeader(header: DoipHeader, options: DoipDecodeOptions = {}): DoipMessageType {
  const { protocolVersion: version, inverseProtocolVersion: inverse, payloadType, payloadLength } = header;
  // ISO 13400-2 [DoIP-041]: version and inverse version must form the synchronization pattern → else NACK 0x00, close.
  if (inverse !== (~version & 0xff)) {
    throw new DoipError(
      'DOIP_HEADER_PATTERN',
      `inverse protocol version ${hexNum(inverse, 2)} is not the inverse of ${hexNum(version, 2)}`,
      header,
    );
  }
  // ISO 13400-2 [DoIP-041]: an unsupported version (0xFF outside identification requests) → NACK 0x00, close.
  if (!isAcceptedVersion(version, payloadType, options.protocolVersions ?? DOIP_SUPPORTED_PROTOCOL_VERSIONS)) {
    throw new DoipError(
      'DOIP_HEADER_VERSION',
      `protocol version ${hexNum(version, 2)} is not accepted for payload type ${hexNum(payloadType, 4)}`,
      header,
    );
  }
  // ISO 13400-2 [DoIP-042]: unknown payload type → NACK 0x01, discard the message.
  const type = doipMessageTypeOf(payloadType);
  if (type === undefined) {
    throw new DoipError('DOIP_UNKNOWN_PAYLOAD_TYPE', `unknown payload type ${hexNum(payloadType, 4)}`, header);
  }
  // ISO 13400-2 [DoIP-043]: payload length above the maximum the entity processes → NACK 0x02, discard.
  const max = options.maxPayloadLength ?? DOIP_DEFAULT_MAX_PAYLOAD_LENGTH;
  if (payloadLength > max) {
    throw new DoipError('DOIP_MESSAGE_TOO_LARGE', `payload length ${payloadLength} exceeds the maximum ${max}`, header);
  }
  // ISO 13400-2 [DoIP-044]: payload length above the memory available now → NACK 0x03, discard.
  if (options.hasMemoryFor !== undefined && !options.hasMemoryFor(payloadLength)) {
    throw new DoipError('DOIP_OUT_OF_MEMORY', `no memory for a payload of ${payloadLength} bytes`, header);
  }
  // ISO 13400-2 [DoIP-045]: payload length impossible for the payload type → NACK 0x04, close.
  if (!isValidPayloadLength(type, payloadLength, version)) {
    throw new DoipError(
      'DOIP_INVALID_PAYLOAD_LENGTH',
      `payload length ${payloadLength} is invalid for ${type} (${hexNum(payloadType, 4)})`,
      header,
    );
  }
  return type;
}
