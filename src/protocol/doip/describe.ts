/**
 * `describeDoip` for `ota decode doip`: one or several concatenated DoIP messages (as copied from a trace) into
 * named fields — header fields, addresses as hex, codes with their names, byte fields as hex, and for diagnostic
 * messages the UDS bytes as `userData` hex.
 */
import { DecodeError } from '../errors.js';
import { hexNum, toHex } from '../hex.js';
import { DOIP_HEADER_LENGTH, doipCodeName, type DoipCodeKind } from './constants.js';
import { decodeDoipMessage } from './codec.js';
import { DoipError } from './errors.js';
import { readDoipHeader, type DoipHeader } from './header.js';
import type { DoipMessage } from './messages.js';

const ADDRESS_FIELDS = new Set(['sourceAddress', 'targetAddress', 'testerAddress', 'entityAddress', 'logicalAddress']);
const ID_FIELDS = new Set(['eid', 'gid']);
const HEX_BYTES_FIELDS = new Set(['userData', 'previousData']);
const U32_HEX_FIELDS = new Set(['reserved', 'oemSpecific']);
const CODE_FIELDS: Readonly<Record<string, DoipCodeKind>> = {
  activationType: 'activationType',
  responseCode: 'routingActivationResponse',
  furtherAction: 'furtherAction',
  syncStatus: 'syncStatus',
  nodeType: 'nodeType',
  powerMode: 'powerMode',
  ackCode: 'diagnosticAck',
};

/** `0x10 successfullyActivated`: a code with its name from the table of `kind`. */
function code(kind: DoipCodeKind, value: number, width = 2): string {
  return `${hexNum(value, width)} ${doipCodeName(kind, value)}`;
}

function describeVin(vin: string): Record<string, unknown> {
  // Table 1: a VIN not (yet) configured is sent as 0x00 or 0xFF bytes; show raw bytes when not printable.
  if (/^[\x20-\x7e]*$/.test(vin)) return { vin };
  return { vin: null, vinBytes: toHex(Uint8Array.from(vin, (c) => c.charCodeAt(0))) };
}

function describeField(msg: DoipMessage, key: string, value: unknown): Record<string, unknown> {
  if (key === 'vin' && typeof value === 'string') return describeVin(value);
  if (value instanceof Uint8Array) {
    return { [key]: ID_FIELDS.has(key) ? toHex(value, ':') : HEX_BYTES_FIELDS.has(key) ? toHex(value) : value };
  }
  if (typeof value !== 'number') return { [key]: value };
  if (ADDRESS_FIELDS.has(key)) return { [key]: hexNum(value, 4) };
  if (U32_HEX_FIELDS.has(key)) return { [key]: hexNum(value, 8) };
  if (key === 'nackCode') return { [key]: code(msg.type === 'genericNack' ? 'genericNack' : 'diagnosticNack', value) };
  if (key === 'activationType') return { [key]: code('activationType', value, msg.protocolVersion === 1 ? 4 : 2) };
  const kind = CODE_FIELDS[key];
  return { [key]: kind === undefined ? value : code(kind, value) };
}

function describeHeader(header: DoipHeader): Record<string, unknown> {
  return {
    protocolVersion: code('protocolVersion', header.protocolVersion),
    inverseProtocolVersion: hexNum(header.inverseProtocolVersion),
    payloadType: hexNum(header.payloadType, 4),
    payloadLength: header.payloadLength,
  };
}

function describeFrame(frame: Uint8Array, header: DoipHeader): Record<string, unknown> {
  let msg: DoipMessage;
  try {
    // The bytes are already in memory, so the trace decoder imposes no maximum payload length.
    msg = decodeDoipMessage(frame, { maxPayloadLength: 0xffffffff });
  } catch (error) {
    // A payload type ISO 13400-2 does not define (e.g. a VM-specific one) is shown raw rather than refused.
    if (error instanceof DoipError && error.code === 'DOIP_UNKNOWN_PAYLOAD_TYPE') {
      return { type: 'unknown', ...describeHeader(header), payload: toHex(frame.subarray(DOIP_HEADER_LENGTH)) };
    }
    throw error;
  }
  const out: Record<string, unknown> = { type: msg.type, ...describeHeader(header) };
  for (const [key, value] of Object.entries(msg)) {
    if (key !== 'type' && key !== 'protocolVersion') Object.assign(out, describeField(msg, key, value));
  }
  return out;
}

/**
 * Describe one or several concatenated DoIP messages: an object for one message, an array for several.
 * Throws the decoder's error (`DOIP_TRUNCATED`, `DOIP_HEADER_PATTERN`, `DOIP_INVALID_PAYLOAD_LENGTH`, …) otherwise.
 */
export function describeDoip(bytes: Uint8Array): unknown {
  const out: Record<string, unknown>[] = [];
  let offset = 0;
  do {
    const header = readDoipHeader(bytes, offset);
    const end = offset + DOIP_HEADER_LENGTH + header.payloadLength;
    if (end > bytes.length) {
      throw new DecodeError(
        'DOIP_TRUNCATED',
        `message at byte ${offset} announces ${header.payloadLength} payload bytes, ${bytes.length - offset - DOIP_HEADER_LENGTH} present`,
      );
    }
    out.push(describeFrame(bytes.subarray(offset, end), header));
    offset = end;
  } while (offset < bytes.length);
  return out.length === 1 ? out[0] : out;
}
