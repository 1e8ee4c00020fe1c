/**
 * Control messages of the firmware update flow (docs/update-flow.md) and the bulk chunk codec. Byte
 * strings that are not UDS (signed assignment, signed manifest, chunk bitmap) travel as base64.
 */
import { DecodeError } from '../errors.js';

/** Phases a job reports, in order; `done` and `failed` are final. */
export const UPDATE_PHASES = ['queued', 'downloading', 'verifying', 'erasing', 'programming', 'checking', 'rebooting', 'done', 'failed'] as const;
export type UpdatePhase = (typeof UPDATE_PHASES)[number];

/** Largest chunk and chunk count a job may use (16 MiB images at 1 KiB chunks at most). */
export const MAX_CHUNK_SIZE = 60 * 1024;
export const MAX_CHUNKS = 16_384;
export const MAX_WINDOW = 1024;
/** A job id is 1..64 UTF-8 bytes of well-formed Unicode: the same id must fit a chunk header (encodeChunk). */
export const MAX_JOB_ID_BYTES = 64;

/** Whether `id` can name a job in control messages and chunks alike (no lone surrogates, ≤ 64 UTF-8 bytes). */
export function isJobId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && !/\p{Cs}/u.test(id) && Buffer.byteLength(id, 'utf8') <= MAX_JOB_ID_BYTES;
}

export interface UpdateOfferMessage {
  type: 'update.offer';
  jobId: string;
  ecu: string;
  /** Base64 of the signed assignment (src/security/firmware). */
  assignment: string;
  /** Base64 of the signed manifest, exactly as `ota firmware sign` wrote it. */
  manifest: string;
  chunkSize: number;
  chunks: number;
}

export interface UpdateAcceptMessage {
  type: 'update.accept';
  jobId: string;
  /** Base64 bitmap of chunks already held: bit i (LSB first in byte i>>3) = chunk i. */
  have: string;
  /** Chunks the gateway lets the manager keep unacknowledged. */
  window: number;
}

export interface UpdateAckMessage {
  type: 'update.ack';
  jobId: string;
  /** Lowest chunk index not yet held (= chunks when complete). */
  next: number;
  received: number;
  window: number;
  /** Optional base64 bitmap of held chunks, sent when chunks are missing out of order. */
  have?: string;
}

export interface UpdateStatusMessage {
  type: 'update.status';
  jobId: string;
  phase: UpdatePhase;
  percent: number;
  version?: string;
  error?: { code: string; message: string };
}

export interface UpdateCancelMessage {
  type: 'update.cancel';
  jobId: string;
}

export type UpdateMessage = UpdateOfferMessage | UpdateAcceptMessage | UpdateAckMessage | UpdateStatusMessage | UpdateCancelMessage;
export type UpdateMessageType = UpdateMessage['type'];

export function isUpdateMessageType(t: unknown): t is UpdateMessageType {
  return t === 'update.offer' || t === 'update.accept' || t === 'update.ack' || t === 'update.status' || t === 'update.cancel';
}

/** Check the fields of an update control message (already parsed JSON with a known `type`). */
export function checkUpdateMessage(v: Record<string, unknown>): UpdateMessage {
  const jobId = v['jobId'];
  // A job id the chunk header could not carry (over 64 UTF-8 bytes, or not encodable as UTF-8) would make the job undownloadable.
  if (!isJobId(jobId)) throw fail('OTA_MSG_FIELD', `jobId is not 1..${MAX_JOB_ID_BYTES} UTF-8 bytes of well-formed text`);
  switch (v['type']) {
    case 'update.offer': {
      const chunkSize = int(v, 'chunkSize', 1, MAX_CHUNK_SIZE);
      const chunks = int(v, 'chunks', 1, MAX_CHUNKS);
      return { type: 'update.offer', jobId, ecu: str(v, 'ecu', 32), assignment: b64(v, 'assignment', 8192), manifest: b64(v, 'manifest', 8192), chunkSize, chunks };
    }
    case 'update.accept':
      return { type: 'update.accept', jobId, have: b64(v, 'have', MAX_CHUNKS / 8, true), window: int(v, 'window', 1, MAX_WINDOW) };
    case 'update.ack': {
      const msg: UpdateAckMessage = { type: 'update.ack', jobId, next: int(v, 'next', 0, MAX_CHUNKS), received: int(v, 'received', 0, MAX_CHUNKS), window: int(v, 'window', 1, MAX_WINDOW) };
      if (v['have'] !== undefined) msg.have = b64(v, 'have', MAX_CHUNKS / 8, true);
      return msg;
    }
    case 'update.status': {
      const phase = v['phase'];
      if (typeof phase !== 'string' || !(UPDATE_PHASES as readonly string[]).includes(phase)) throw fail('OTA_MSG_FIELD', `phase ${JSON.stringify(phase)} is not a known phase`);
      const msg: UpdateStatusMessage = { type: 'update.status', jobId, phase: phase as UpdatePhase, percent: int(v, 'percent', 0, 100) };
      if (v['version'] !== undefined) msg.version = str(v, 'version', 64);
      const error = v['error'];
      if (error !== undefined) {
        if (typeof error !== 'object' || error === null || Array.isArray(error)) throw fail('OTA_MSG_SHAPE', 'update.status.error is not an object');
        const e = error as Record<string, unknown>;
        msg.error = { code: str(e, 'code', 64), message: str(e, 'message', 1024) };
      }
      return msg;
    }
    case 'update.cancel':
      return { type: 'update.cancel', jobId };
    default:
      throw fail('OTA_MSG_TYPE', `unknown update message type ${JSON.stringify(v['type'])}`);
  }
}

/** Bulk message kinds (byte 1 after the class byte 0x02). */
export const BULK_KIND = { chunk: 0x01 } as const;

export interface ChunkMessage {
  jobId: string;
  index: number;
  data: Uint8Array;
}

/** `02 ‖ 01 ‖ jobId length (1) ‖ jobId (UTF-8) ‖ index (u32 BE) ‖ data`. */
export function encodeChunk(chunk: ChunkMessage): Uint8Array {
  if (!isJobId(chunk.jobId)) throw fail('OTA_CHUNK_JOB_ID', `job id must be 1..${MAX_JOB_ID_BYTES} UTF-8 bytes of well-formed text`);
  const id = Buffer.from(chunk.jobId, 'utf8');
  if (!Number.isInteger(chunk.index) || chunk.index < 0 || chunk.index >= MAX_CHUNKS) throw fail('OTA_CHUNK_INDEX', `chunk index ${chunk.index} out of range`);
  if (chunk.data.length === 0 || chunk.data.length > MAX_CHUNK_SIZE) throw fail('OTA_CHUNK_SIZE', `chunk of ${chunk.data.length} bytes`);
  const out = Buffer.allocUnsafe(3 + id.length + 4 + chunk.data.length);
  out[0] = 0x02;
  out[1] = BULK_KIND.chunk;
  out[2] = id.length;
  id.copy(out, 3);
  out.writeUInt32BE(chunk.index, 3 + id.length);
  out.set(chunk.data, 7 + id.length);
  return out;
}

/** Decode a chunk; `data` is a view into `bytes`. */
export function decodeChunk(bytes: Uint8Array): ChunkMessage {
  if (bytes.length < 3 || bytes[0] !== 0x02) throw fail('OTA_MSG_CLASS', 'not a bulk message');
  if (bytes[1] !== BULK_KIND.chunk) throw fail('OTA_CHUNK_KIND', `unknown bulk kind 0x${(bytes[1] as number).toString(16)}`);
  const idLength = bytes[2] as number;
  if (idLength === 0 || idLength > 64) throw fail('OTA_CHUNK_JOB_ID', `job id length ${idLength}`);
  if (bytes.length < 3 + idLength + 4 + 1) throw fail('OTA_CHUNK_TRUNCATED', 'chunk shorter than its header and one data byte');
  let jobId: string;
  try {
    jobId = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(3, 3 + idLength));
  } catch (cause) {
    throw new DecodeError('OTA_CHUNK_JOB_ID', 'job id is not UTF-8', { cause });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index = view.getUint32(3 + idLength);
  if (index >= MAX_CHUNKS) throw fail('OTA_CHUNK_INDEX', `chunk index ${index} out of range`);
  const data = bytes.subarray(7 + idLength);
  if (data.length > MAX_CHUNK_SIZE) throw fail('OTA_CHUNK_SIZE', `chunk of ${data.length} bytes`);
  return { jobId, index, data };
}

/** A chunk bitmap: bit i (LSB first within byte i >> 3) says whether chunk i is held. */
export function bitmapToBase64(bits: Uint8Array): string {
  return Buffer.from(bits).toString('base64');
}

export function bitmapFromBase64(text: string, chunks: number): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Uint8Array(Math.ceil(chunks / 8));
  out.set(bytes.subarray(0, out.length));
  // Bits past the last chunk mean nothing; clear them so counts stay honest.
  if (chunks % 8 !== 0 && out.length > 0) out[out.length - 1] = (out[out.length - 1] as number) & ((1 << chunks % 8) - 1);
  return out;
}

function str(o: Record<string, unknown>, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw fail('OTA_MSG_FIELD', `${key} is not a string of 1..${max} characters`);
  return v;
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw fail('OTA_MSG_FIELD', `${key} is not an integer in ${min}..${max}`);
  return v;
}

function b64(o: Record<string, unknown>, key: string, maxBytes: number, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0) || v.length > Math.ceil(maxBytes / 3) * 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw fail('OTA_MSG_FIELD', `${key} is not base64 of at most ${maxBytes} bytes`);
  }
  return v;
}

function fail(code: string, message: string): DecodeError {
  return new DecodeError(code, message);
}
