/**
 * Application messages between manager and gateway, carried as the plaintext of secure-channel records
 * (never on the broker in the clear). Byte 0 is the message class:
 *
 *   0x01 ‖ UTF-8 JSON   a control message (below), at most `MAX_CONTROL_BYTES`
 *   0x02 ‖ binary       bulk data: firmware chunks (`encodeChunk` in update-messages.ts)
 *
 * Control messages are JSON objects with a `type`. Byte strings (UDS requests and responses) are upper-
 * or lower-case hex without spaces. Decoding checks every field's type and range and throws
 * `DecodeError('OTA_MSG_…')`; unknown fields are ignored (forward compatibility), unknown types refused.
 */
import { DecodeError } from '../errors.js';
import { checkUpdateMessage, isUpdateMessageType, type UpdateMessage } from './update-messages.js';

export const MESSAGE_CLASS = { control: 0x01, bulk: 0x02 } as const;
export const MAX_CONTROL_BYTES = 256 * 1024;
/** Largest UDS message a diagnostic request or response may carry (ISO-TP FF escape allows more; we do not). */
export const MAX_UDS_BYTES = 65_535;

/** One ECU as the gateway reports it (versions read over UDS: DIDs 0xF189 and 0xF180). */
export interface EcuInventory {
  name: string;
  /** `can` (ISO-TP on the vehicle bus) or `doip`. */
  link: 'can' | 'doip';
  /** CAN request id or DoIP logical address, e.g. `0x7E0` / `0x0010`. */
  address: string;
  appVersion: string | null;
  bootVersion: string | null;
  /** What the ECU runs, when the gateway could tell (bootloader when no valid application). */
  mode: 'application' | 'bootloader' | 'unknown';
  serial?: string | null;
  hardwareId?: string | null;
}

export interface AnnounceMessage {
  type: 'announce';
  vehicleId: string;
  gateway: { version: string; suites: string[]; capabilities: string[] };
  ecus: EcuInventory[];
}

/** Manager → gateway: send one UDS request to one ECU and return the final response. */
export interface DiagRequestMessage {
  type: 'diag.request';
  id: string;
  ecu: string;
  request: string;
  /** How long the gateway waits for the final response, including response-pending extensions. */
  timeoutMs?: number;
}

/** Gateway → manager: the final response (positive or negative), or an error the gateway hit. */
export interface DiagResponseMessage {
  type: 'diag.response';
  id: string;
  ecu: string;
  /** Final response hex; null when the request suppressed its positive response and none came. */
  response?: string | null;
  /** How many `7F xx 78` response-pending messages preceded the final response. */
  pending?: number;
  elapsedMs?: number;
  error?: { code: string; message: string };
}

/**
 * Manager → gateway: the fleet CA's current CRL (DER, base64), sent after every handshake and whenever it
 * changes. The gateway checks the CA's signature and that `number` (the CRL's cRLNumber, which the
 * gateway reads from the CRL itself) is above the one it holds before it persists and uses it.
 */
export interface CrlUpdateMessage {
  type: 'crl.update';
  number: number;
  crl: string;
}

/** Longest base64 CRL a crl.update carries (≈ 150 KB of DER). */
export const MAX_CRL_BASE64 = 200_000;

export type ControlMessage = AnnounceMessage | DiagRequestMessage | DiagResponseMessage | CrlUpdateMessage | UpdateMessage;
export type ControlType = ControlMessage['type'];

export function encodeControl(msg: ControlMessage): Uint8Array {
  const text = JSON.stringify(msg);
  // One buffer, no intermediate copy: class byte, then the UTF-8 JSON written in place.
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_CONTROL_BYTES) throw fail('OTA_MSG_TOO_LARGE', `control message of ${size} bytes`);
  const out = Buffer.allocUnsafe(1 + size);
  out[0] = MESSAGE_CLASS.control;
  out.write(text, 1, 'utf8');
  return out;
}

/** Which class a record's plaintext is, without decoding it. */
export function messageClass(bytes: Uint8Array): 'control' | 'bulk' {
  if (bytes[0] === MESSAGE_CLASS.control) return 'control';
  if (bytes[0] === MESSAGE_CLASS.bulk) return 'bulk';
  throw fail('OTA_MSG_CLASS', bytes.length === 0 ? 'empty message' : `unknown message class 0x${(bytes[0] as number).toString(16)}`);
}

/** Shared strict decoder: invalid UTF-8 throws (fatal), never becomes U+FFFD; stateless per `decode()` call. */
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function decodeControl(bytes: Uint8Array): ControlMessage {
  if (messageClass(bytes) !== 'control') throw fail('OTA_MSG_CLASS', 'not a control message');
  if (bytes.length - 1 > MAX_CONTROL_BYTES) throw fail('OTA_MSG_TOO_LARGE', `control message of ${bytes.length - 1} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(UTF8_STRICT.decode(bytes.subarray(1)));
  } catch (cause) {
    throw new DecodeError('OTA_MSG_JSON', 'control message is not valid UTF-8 JSON', { cause });
  }
  if (!isObject(value)) throw fail('OTA_MSG_SHAPE', 'control message is not a JSON object');
  switch (value['type']) {
    case 'announce':
      return checkAnnounce(value);
    case 'diag.request':
      return checkDiagRequest(value);
    case 'diag.response':
      return checkDiagResponse(value);
    case 'crl.update':
      return checkCrlUpdate(value);
    default:
      if (isUpdateMessageType(value['type'])) return checkUpdateMessage(value);
      throw fail('OTA_MSG_TYPE', `unknown control message type ${JSON.stringify(value['type'])}`);
  }
}

function checkAnnounce(v: Record<string, unknown>): AnnounceMessage {
  const gateway = v['gateway'];
  if (!isObject(gateway)) throw fail('OTA_MSG_SHAPE', 'announce.gateway is not an object');
  const ecus = v['ecus'];
  if (!Array.isArray(ecus) || ecus.length > 64) throw fail('OTA_MSG_SHAPE', 'announce.ecus is not a list of at most 64 ECUs');
  return {
    type: 'announce',
    vehicleId: str(v, 'vehicleId', 64),
    gateway: {
      version: str(gateway, 'version', 64),
      suites: strList(gateway, 'suites'),
      capabilities: strList(gateway, 'capabilities'),
    },
    ecus: ecus.map(checkEcu),
  };
}

function checkEcu(e: unknown): EcuInventory {
  if (!isObject(e)) throw fail('OTA_MSG_SHAPE', 'an ECU entry is not an object');
  const link = e['link'];
  if (link !== 'can' && link !== 'doip') throw fail('OTA_MSG_FIELD', `ecu.link ${JSON.stringify(link)} is not can or doip`);
  const mode = e['mode'];
  if (mode !== 'application' && mode !== 'bootloader' && mode !== 'unknown') throw fail('OTA_MSG_FIELD', 'ecu.mode is invalid');
  return {
    name: str(e, 'name', 32),
    link,
    address: str(e, 'address', 16),
    appVersion: nullableStr(e, 'appVersion'),
    bootVersion: nullableStr(e, 'bootVersion'),
    mode,
    serial: nullableStr(e, 'serial'),
    hardwareId: nullableStr(e, 'hardwareId'),
  };
}

function checkDiagRequest(v: Record<string, unknown>): DiagRequestMessage {
  const msg: DiagRequestMessage = { type: 'diag.request', id: str(v, 'id', 64), ecu: str(v, 'ecu', 32), request: hexField(v, 'request', false) };
  if (v['timeoutMs'] !== undefined) msg.timeoutMs = intField(v, 'timeoutMs', 1, 600_000);
  return msg;
}

function checkDiagResponse(v: Record<string, unknown>): DiagResponseMessage {
  const msg: DiagResponseMessage = { type: 'diag.response', id: str(v, 'id', 64), ecu: str(v, 'ecu', 32) };
  if (v['response'] === null) msg.response = null;
  else if (v['response'] !== undefined) msg.response = hexField(v, 'response', false);
  if (v['pending'] !== undefined) msg.pending = intField(v, 'pending', 0, 1_000_000);
  if (v['elapsedMs'] !== undefined) msg.elapsedMs = intField(v, 'elapsedMs', 0, 86_400_000);
  const error = v['error'];
  if (error !== undefined) {
    if (!isObject(error)) throw fail('OTA_MSG_SHAPE', 'diag.response.error is not an object');
    msg.error = { code: str(error, 'code', 64), message: str(error, 'message', 1024) };
  }
  if (msg.error === undefined && msg.response === undefined) throw fail('OTA_MSG_SHAPE', 'diag.response has neither response nor error');
  return msg;
}

function checkCrlUpdate(v: Record<string, unknown>): CrlUpdateMessage {
  const crl = str(v, 'crl', MAX_CRL_BASE64);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(crl) || crl.length % 4 !== 0) throw fail('OTA_MSG_FIELD', 'crl is not base64');
  return { type: 'crl.update', number: intField(v, 'number', 0, Number.MAX_SAFE_INTEGER), crl };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw fail('OTA_MSG_FIELD', `${key} is not a string of 1..${max} characters`);
  return v;
}

function nullableStr(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string' || v.length > 256) throw fail('OTA_MSG_FIELD', `${key} is not a string or null`);
  return v;
}

function strList(o: Record<string, unknown>, key: string): string[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length > 32 || !v.every((s) => typeof s === 'string' && s.length <= 64)) {
    throw fail('OTA_MSG_FIELD', `${key} is not a list of strings`);
  }
  return v as string[];
}

function intField(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw fail('OTA_MSG_FIELD', `${key} is not an integer in ${min}..${max}`);
  return v;
}

function hexField(o: Record<string, unknown>, key: string, allowEmpty: boolean): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length % 2 !== 0 || v.length > 2 * MAX_UDS_BYTES || !/^[0-9a-fA-F]*$/.test(v) || (!allowEmpty && v.length === 0)) {
    throw fail('OTA_MSG_FIELD', `${key} is not an even-length hex string`);
  }
  return v.toUpperCase();
}

function fail(code: string, message: string): DecodeError {
  return new DecodeError(code, message);
}
