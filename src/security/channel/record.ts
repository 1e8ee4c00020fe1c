/**
 * Record protection of OTA-SC/1 — pure functions, no session state (docs/test-vectors/channel-records.md).
 *
 * Header (24 bytes, authenticated: GCM AAD / covered by the HMAC):
 *   0 version 0x01 | 1 type 0x17 | 2 suite id | 3 key epoch (generation mod 256)
 *   4..12 session id | 12..20 sequence number (u64 BE) | 20..24 body length (u32 BE)
 * Body:
 *   aes-256-gcm:          ciphertext (= plaintext length) ‖ tag(16); nonce = iv XOR (0^32 ‖ seq64); AAD = header
 *   3des-cbc-hmac-sha256: IV(8) ‖ 3DES-EDE3-CBC(PKCS#7(plaintext)) ‖ HMAC-SHA256(macKey, header ‖ IV ‖ ct) (full 32 bytes)
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LIMITS, MessageType, PROTOCOL_VERSION, SIZES, SUITE_IDS, suiteById, type SuiteName } from './constants.js';
import { decodeFail, refuse } from './errors.js';
import type { RecordKeys } from './keys.js';

/** The decoded, not yet authenticated, record header. */
export interface RecordHeader {
  readonly suite: SuiteName;
  /** Key generation modulo 256. */
  readonly epoch: number;
  readonly sessionId: Uint8Array;
  readonly seq: number;
  /** Body length: everything after the header. */
  readonly length: number;
}

/** What the sender puts into a header besides suite and length. */
export interface RecordFields {
  readonly sessionId: Uint8Array;
  readonly epoch: number;
  readonly seq: number;
}

const H = SIZES.recordHeader;
const DES_OVERHEAD = SIZES.desIv + SIZES.hmacTag;
const TWO_32 = 2 ** 32;

/** Largest body a record of `suite` may have (plaintext limit plus IV, padding and tag). */
export function maxBodyLength(suite: SuiteName, maxPlaintext: number = LIMITS.maxPlaintext): number {
  return suite === 'aes-256-gcm' ? maxPlaintext + SIZES.gcmTag : DES_OVERHEAD + (Math.floor(maxPlaintext / 8) + 1) * 8;
}

/** Cipher blocks one record of `plaintextLength` bytes spends under its key (3DES: ciphertext blocks; GCM: CTR blocks + tag mask). */
export function blocksFor(suite: SuiteName, plaintextLength: number): number {
  return suite === 'aes-256-gcm' ? Math.ceil(plaintextLength / 16) + 1 : Math.floor(plaintextLength / 8) + 1;
}

/** Decode and structurally check a record header against the record's actual size. */
export function decodeRecordHeader(record: Uint8Array, maxPlaintext: number = LIMITS.maxPlaintext): RecordHeader {
  if (record.length < H) throw decodeFail('SC_TRUNCATED', `record of ${record.length} bytes is shorter than its ${H}-byte header`);
  if (record[0] !== PROTOCOL_VERSION) throw decodeFail('SC_BAD_VERSION', `record version 0x${record[0]?.toString(16)} is not 0x01`);
  if (record[1] !== MessageType.record) {
    throw decodeFail('SC_UNEXPECTED_MESSAGE', `message type 0x${record[1]?.toString(16)} is not a record (0x17)`);
  }
  const suite = suiteById(record[2] as number);
  if (suite === undefined) throw decodeFail('SC_MALFORMED', `unknown suite id 0x${record[2]?.toString(16)}`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const seqHi = view.getUint32(12);
  if (seqHi > 0x1fffff) throw decodeFail('SC_MALFORMED', 'sequence number above 2^53 - 1');
  const seq = seqHi * TWO_32 + view.getUint32(16);
  const length = view.getUint32(20);
  if (length > maxBodyLength(suite, maxPlaintext)) throw decodeFail('SC_TOO_LARGE', `record body of ${length} bytes exceeds the limit`);
  if (H + length > record.length) throw decodeFail('SC_TRUNCATED', `record body needs ${length} bytes, has ${record.length - H}`);
  if (H + length < record.length) throw decodeFail('SC_MALFORMED', `${record.length - H - length} trailing bytes after the record`);
  // A GCM body holds at least the tag; a 3DES body holds IV, at least one padded block and the tag.
  if (suite === 'aes-256-gcm' ? length < SIZES.gcmTag : length < DES_OVERHEAD + 8 || (length - DES_OVERHEAD) % 8 !== 0) {
    throw decodeFail('SC_MALFORMED', `body length ${length} is impossible for ${suite}`);
  }
  return { suite, epoch: record[3] as number, sessionId: record.subarray(4, 12), seq, length };
}

function writeHeader(out: Buffer, suite: SuiteName, f: RecordFields, length: number): void {
  if (f.sessionId.length !== SIZES.sessionId) throw refuse('SC_MALFORMED', 'session id must be 8 bytes');
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw refuse('SC_SEQ_EXHAUSTED', `sequence number ${f.seq} out of range`);
  out[0] = PROTOCOL_VERSION;
  out[1] = MessageType.record;
  out[2] = SUITE_IDS[suite];
  out[3] = f.epoch & 0xff;
  out.set(f.sessionId, 4);
  out.writeUInt32BE(Math.floor(f.seq / TWO_32), 12);
  out.writeUInt32BE(f.seq >>> 0, 16);
  out.writeUInt32BE(length, 20);
}

/** TLS 1.3 style per-record nonce: the direction IV XOR the 64-bit sequence number, right-aligned. */
export function gcmNonce(iv: Uint8Array, seq: number): Buffer {
  const nonce = Buffer.allocUnsafe(SIZES.gcmIv);
  const hi = Math.floor(seq / TWO_32);
  const lo = seq >>> 0;
  for (let i = 0; i < 4; i++) nonce[i] = iv[i] as number;
  for (let i = 0; i < 4; i++) {
    const shift = 24 - 8 * i;
    nonce[4 + i] = (iv[4 + i] as number) ^ ((hi >>> shift) & 0xff);
    nonce[8 + i] = (iv[8 + i] as number) ^ ((lo >>> shift) & 0xff);
  }
  return nonce;
}

/**
 * Protect one plaintext. `iv` (3DES only, 8 bytes) is for test vectors; otherwise a fresh random IV is drawn.
 */
export function sealRecord(keys: RecordKeys, fields: RecordFields, plaintext: Uint8Array, iv?: Uint8Array): Buffer {
  if (plaintext.length > LIMITS.maxPlaintext) throw refuse('SC_TOO_LARGE', `plaintext of ${plaintext.length} bytes exceeds 64 KiB`);
  if (keys.suite === 'aes-256-gcm') {
    const n = plaintext.length;
    const out = Buffer.allocUnsafe(H + n + SIZES.gcmTag);
    writeHeader(out, keys.suite, fields, n + SIZES.gcmTag);
    const cipher = createCipheriv('aes-256-gcm', keys.key, gcmNonce(keys.iv, fields.seq), { authTagLength: SIZES.gcmTag });
    cipher.setAAD(out.subarray(0, H));
    out.set(cipher.update(plaintext), H);
    cipher.final();
    out.set(cipher.getAuthTag(), H + n);
    return out;
  }
  const recordIv = iv ?? randomBytes(SIZES.desIv);
  if (recordIv.length !== SIZES.desIv) throw refuse('SC_MALFORMED', '3DES IV must be 8 bytes');
  const ctLen = (Math.floor(plaintext.length / 8) + 1) * 8;
  const macEnd = H + SIZES.desIv + ctLen;
  const out = Buffer.allocUnsafe(macEnd + SIZES.hmacTag);
  writeHeader(out, keys.suite, fields, SIZES.desIv + ctLen + SIZES.hmacTag);
  out.set(recordIv, H);
  const cipher = createCipheriv('des-ede3-cbc', keys.encKey, recordIv); // PKCS#7 padding (OpenSSL default)
  const head = cipher.update(plaintext);
  out.set(head, H + SIZES.desIv);
  out.set(cipher.final(), H + SIZES.desIv + head.length);
  // Encrypt-then-MAC over header ‖ IV ‖ ciphertext.
  createHmac('sha256', keys.macKey).update(out.subarray(0, macEnd)).digest().copy(out, macEnd);
  return out;
}

/** Authenticate and decrypt the body of a record whose header `decodeRecordHeader` already accepted. */
export function openRecordBody(keys: RecordKeys, record: Uint8Array, header: RecordHeader): Buffer {
  if (header.suite !== keys.suite) throw refuse('SC_WRONG_SUITE', `record suite ${header.suite} is not ${keys.suite}`);
  const end = H + header.length;
  if (keys.suite === 'aes-256-gcm') {
    const tagAt = end - SIZES.gcmTag;
    const decipher = createDecipheriv('aes-256-gcm', keys.key, gcmNonce(keys.iv, header.seq), { authTagLength: SIZES.gcmTag });
    decipher.setAAD(record.subarray(0, H));
    decipher.setAuthTag(record.subarray(tagAt, end));
    const plaintext = decipher.update(record.subarray(H, tagAt));
    try {
      decipher.final();
    } catch (e) {
      throw refuse('SC_BAD_TAG', 'GCM tag does not verify', e);
    }
    return plaintext;
  }
  const macEnd = end - SIZES.hmacTag;
  const expected = createHmac('sha256', keys.macKey).update(record.subarray(0, macEnd)).digest();
  // Constant-time tag check BEFORE any decryption: no padding oracle.
  if (!timingSafeEqual(expected, record.subarray(macEnd, end))) throw refuse('SC_BAD_TAG', 'HMAC tag does not verify');
  const decipher = createDecipheriv('des-ede3-cbc', keys.encKey, record.subarray(H, H + SIZES.desIv));
  decipher.setAutoPadding(false);
  const padded = decipher.update(record.subarray(H + SIZES.desIv, macEnd));
  decipher.final();
  return stripPkcs7(padded);
}

/** Remove PKCS#7 padding (RFC 5652 §6.3). Reached only after the tag verified, so not an oracle. */
function stripPkcs7(padded: Buffer): Buffer {
  const pad = padded[padded.length - 1] as number;
  let bad = pad === 0 || pad > 8 ? 1 : 0;
  for (let i = 1; i <= 8 && bad === 0; i++) {
    if (i <= pad && padded[padded.length - i] !== pad) bad = 1;
  }
  if (bad) throw refuse('SC_BAD_PADDING', 'PKCS#7 padding is invalid');
  return padded.subarray(0, padded.length - pad);
}

/** Pure: decode, authenticate and decrypt one record with the given keys (no replay window, no session check). */
export function openRecord(keys: RecordKeys, record: Uint8Array): { header: RecordHeader; plaintext: Buffer } {
  const header = decodeRecordHeader(record);
  return { header, plaintext: openRecordBody(keys, record, header) };
}
