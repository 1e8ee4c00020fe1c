/**
 * The byte-level pieces shared by signed manifests and signed assignments: a TLV body reader/writer,
 * the signed container, and ECDSA P-256 signatures in fixed 64-byte r‖s form with low S.
 *
 * Signed container (all integers big-endian):
 *
 * | offset   | size | field                                                              |
 * |----------|------|--------------------------------------------------------------------|
 * | 0        | 4    | magic: `OTSM` (signed manifest) or `OTSA` (signed assignment)       |
 * | 4        | 1    | container version, 0x01                                            |
 * | 5        | 2    | body length B (1..65535)                                           |
 * | 7        | B    | body: the canonical manifest (`OTAM…`) or assignment (`OTAA…`)     |
 * | 7+B      | 2    | certificate length C (1..CERT_MAX)                                 |
 * | 9+B      | C    | signer certificate, DER                                            |
 * | 9+B+C    | 64   | signature: r ‖ s (32 bytes each), ECDSA P-256 over SHA-256(body)   |
 *
 * Nothing follows the signature. The signature covers the body only; the certificate is carried so a
 * verifier holding just the fleet CA can check it.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { FirmwareRefusal } from './errors.js';

export const CONTAINER_VERSION = 0x01;
export const SIGNATURE_BYTES = 64;
/** Signer certificates larger than this are refused structurally (ours are about 600 bytes). */
export const SIGNER_CERT_MAX_BYTES = 2048;

// SEC 2 §2.4.2: the order n of the P-256 base point.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

/** The three parts of a signed container. */
export interface SignedParts {
  body: Uint8Array;
  certDer: Uint8Array;
  signature: Uint8Array;
}

const malformed = (what: string, msg: string): FirmwareRefusal => new FirmwareRefusal('FW_MALFORMED', `${what}: ${msg}`);

/** Encode a signed container with `magic` (4 ASCII bytes). */
export function encodeSigned(magic: string, parts: SignedParts): Uint8Array {
  if (parts.body.length < 1 || parts.body.length > 0xffff) throw malformed(magic, 'body length out of range');
  if (parts.certDer.length < 1 || parts.certDer.length > SIGNER_CERT_MAX_BYTES) throw malformed(magic, 'certificate length out of range');
  if (parts.signature.length !== SIGNATURE_BYTES) throw malformed(magic, 'signature must be 64 bytes');
  const out = new Uint8Array(4 + 1 + 2 + parts.body.length + 2 + parts.certDer.length + SIGNATURE_BYTES);
  const view = new DataView(out.buffer);
  let o = 0;
  out.set(Buffer.from(magic, 'latin1'), o);
  o += 4;
  out[o++] = CONTAINER_VERSION;
  view.setUint16(o, parts.body.length);
  o += 2;
  out.set(parts.body, o);
  o += parts.body.length;
  view.setUint16(o, parts.certDer.length);
  o += 2;
  out.set(parts.certDer, o);
  o += parts.certDer.length;
  out.set(parts.signature, o);
  return out;
}

/** Split a signed container, checking every length and that nothing trails (no crypto here). */
export function decodeSigned(magic: string, bytes: Uint8Array, maxBytes: number): SignedParts {
  if (!(bytes instanceof Uint8Array)) throw malformed(magic, 'not bytes');
  if (bytes.length > maxBytes) throw malformed(magic, `${bytes.length} bytes exceed the ${maxBytes}-byte limit`);
  if (bytes.length < 4 + 1 + 2 + 1 + 2 + 1 + SIGNATURE_BYTES) throw malformed(magic, `truncated (${bytes.length} bytes)`);
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== magic) throw malformed(magic, 'wrong magic');
  if (bytes[4] !== CONTAINER_VERSION) throw malformed(magic, `unsupported container version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLen = view.getUint16(5);
  const certLenAt = 7 + bodyLen;
  if (bodyLen < 1 || certLenAt + 2 > bytes.length) throw malformed(magic, 'body length runs past the end');
  const certLen = view.getUint16(certLenAt);
  const sigAt = certLenAt + 2 + certLen;
  if (certLen < 1 || certLen > SIGNER_CERT_MAX_BYTES) throw malformed(magic, `certificate length ${certLen} out of range`);
  if (sigAt + SIGNATURE_BYTES !== bytes.length) throw malformed(magic, 'lengths do not add up to the container size');
  return {
    body: bytes.slice(7, certLenAt),
    certDer: bytes.slice(certLenAt + 2, sigAt),
    signature: bytes.slice(sigAt),
  };
}

/** ECDSA P-256 / SHA-256 signature of `body`, r ‖ s, normalised to low S (s ≤ n/2). */
export function signBody(body: Uint8Array, key: KeyObject): Uint8Array {
  const sig = sign('sha256', body, { key, dsaEncoding: 'ieee-p1363' });
  const s = BigInt('0x' + sig.subarray(32).toString('hex'));
  if (s > P256_HALF_N) sig.set(Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  return Uint8Array.from(sig);
}

/**
 * True when `signature` (r ‖ s) is a valid low-S ECDSA P-256 signature of SHA-256(`body`) by `key`.
 * High-S signatures are refused so a signed container has one encoding (its digest names it).
 */
export function verifyBody(body: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const r = BigInt('0x' + Buffer.from(signature.subarray(0, 32)).toString('hex'));
  const s = BigInt('0x' + Buffer.from(signature.subarray(32)).toString('hex'));
  if (r === 0n || r >= P256_N || s === 0n || s > P256_HALF_N) return false;
  try {
    return verify('sha256', body, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** SHA-256 of `bytes`, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Appends tag ‖ length(1) ‖ value fields after a 5-byte header (magic ‖ version). */
export class TlvWriter {
  private readonly parts: Uint8Array[] = [];
  constructor(magic: string, version: number) {
    this.parts.push(Uint8Array.from([...Buffer.from(magic, 'latin1'), version]));
  }
  field(tag: number, value: Uint8Array): this {
    if (value.length > 0xff) throw new FirmwareRefusal('FW_MALFORMED', `field 0x${tag.toString(16)} longer than 255 bytes`);
    this.parts.push(Uint8Array.from([tag, value.length]), value);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(Buffer.concat(this.parts));
  }
}

/**
 * Read a TLV body whose fields must be exactly `tags`, in that order, each once, nothing trailing:
 * the canonical form, so equal content always has equal bytes (and equal digests).
 */
export function readTlv(what: string, bytes: Uint8Array, magic: string, version: number, tags: readonly number[]): Uint8Array[] {
  if (bytes.length < 5 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== magic) throw malformed(what, 'wrong magic');
  if (bytes[4] !== version) throw malformed(what, `unsupported version ${bytes[4]}`);
  const values: Uint8Array[] = [];
  let o = 5;
  for (const tag of tags) {
    if (o + 2 > bytes.length) throw malformed(what, `truncated before field 0x${tag.toString(16)}`);
    if (bytes[o] !== tag) throw malformed(what, `expected field 0x${tag.toString(16)} at offset ${o}, got 0x${(bytes[o] as number).toString(16)}`);
    const len = bytes[o + 1] as number;
    if (o + 2 + len > bytes.length) throw malformed(what, `field 0x${tag.toString(16)} runs past the end`);
    values.push(bytes.slice(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (o !== bytes.length) throw malformed(what, `${bytes.length - o} trailing bytes`);
  return values;
}

/** A fixed-size big-endian unsigned integer field. */
export function uintBytes(value: number, size: 4 | 8): Uint8Array {
  const out = new Uint8Array(size);
  const v = BigInt(value);
  for (let i = 0; i < size; i++) out[size - 1 - i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Read a fixed-size big-endian unsigned integer field (as a safe integer). */
export function readUint(what: string, field: string, value: Uint8Array, size: 4 | 8): number {
  if (value.length !== size) throw malformed(what, `${field} must be ${size} bytes`);
  let v = 0n;
  for (const b of value) v = (v << 8n) | BigInt(b);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(what, `${field} out of range`);
  return Number(v);
}
