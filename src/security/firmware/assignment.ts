/**
 * The update assignment: the manager's signed statement "vehicle V's ECU E may install manifest M,
 * once (nonce), until T" (ARCHITECTURE.md §2.3).
 *
 * Canonical assignment (`OTAA` v1), the bytes the manager key signs; same TLV rules as the manifest
 * (every field, once, in order, nothing after; integers big-endian):
 *
 * | offset | bytes | content                                                                 |
 * |--------|-------|-------------------------------------------------------------------------|
 * | 0      | 4     | magic `OTAA` = 4F 54 41 41                                              |
 * | 4      | 1     | encoding version 0x01                                                   |
 * | 5      | 2+n   | 0x01 n vehicleId: ASCII [A-Za-z0-9][A-Za-z0-9._-]*, n = 1..64 (the vehicle cert CN) |
 * |        | 2+n   | 0x02 n ecu: same alphabet, n = 1..32                                     |
 * |        | 2+32  | 0x03 20 manifestDigest: SHA-256 of the whole signed manifest (`OTSM…`)   |
 * |        | 2+16  | 0x04 10 nonce: 16 random bytes                                          |
 * |        | 2+8   | 0x05 08 issuedAt: uint64 milliseconds since 1970-01-01T00:00:00Z        |
 * |        | 2+8   | 0x06 08 expiresAt: uint64 milliseconds, > issuedAt                      |
 *
 * The signed assignment is the `OTSA` container of envelope.ts (body ‖ manager certificate ‖ r‖s).
 */
import { randomBytes } from 'node:crypto';
import { decodeSigned, encodeSigned, readTlv, readUint, signBody, TlvWriter, uintBytes } from './envelope.js';
import { FirmwareRefusal } from './errors.js';
import { manifestDigest, signerParts } from './manifest.js';

/** One update of one ECU of one vehicle. `manifestDigest` and `nonce` are lower-case hex. */
export interface Assignment {
  vehicleId: string;
  ecu: string;
  manifestDigest: string;
  nonce: string;
  issuedAt: Date;
  expiresAt: Date;
}

/** A signed assignment split into its parts (structure checked, signature NOT verified). */
export interface SignedAssignment {
  assignment: Assignment;
  assignmentBytes: Uint8Array;
  certDer: Uint8Array;
  signature: Uint8Array;
}

export const ASSIGNMENT_MAGIC = 'OTAA';
export const SIGNED_ASSIGNMENT_MAGIC = 'OTSA';
export const ASSIGNMENT_VERSION = 0x01;
export const ASSIGNMENT_TAG = {
  vehicleId: 0x01,
  ecu: 0x02,
  manifestDigest: 0x03,
  nonce: 0x04,
  issuedAt: 0x05,
  expiresAt: 0x06,
} as const;
export const SIGNED_ASSIGNMENT_MAX_BYTES = 4096;
export const NONCE_BYTES = 16;

const TAGS = Object.values(ASSIGNMENT_TAG);
const VEHICLE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ECU_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const bad = (msg: string): FirmwareRefusal => new FirmwareRefusal('FW_MALFORMED', `assignment: ${msg}`);

/** Throws FW_MALFORMED unless every field of `a` is in range. */
export function assertAssignment(a: Assignment): void {
  if (typeof a.vehicleId !== 'string' || !VEHICLE_ID.test(a.vehicleId)) throw bad('vehicleId must be 1-64 of A-Z a-z 0-9 . _ -');
  if (typeof a.ecu !== 'string' || !ECU_NAME.test(a.ecu)) throw bad('ecu must be 1-32 of A-Z a-z 0-9 . _ -');
  if (typeof a.manifestDigest !== 'string' || !/^[0-9a-f]{64}$/.test(a.manifestDigest)) throw bad('manifestDigest must be 64 lower-case hex digits');
  if (typeof a.nonce !== 'string' || !/^[0-9a-f]{32}$/.test(a.nonce)) throw bad('nonce must be 32 lower-case hex digits');
  const issued = timeOf(a.issuedAt);
  const expires = timeOf(a.expiresAt);
  if (issued === undefined || expires === undefined) throw bad('issuedAt and expiresAt must be dates at or after 1970');
  if (!(expires > issued)) throw bad('expiresAt must be after issuedAt');
}

/** The canonical bytes of `a` (the bytes the manager key signs). */
export function encodeAssignment(a: Assignment): Uint8Array {
  assertAssignment(a);
  return new TlvWriter(ASSIGNMENT_MAGIC, ASSIGNMENT_VERSION)
    .field(ASSIGNMENT_TAG.vehicleId, Buffer.from(a.vehicleId, 'latin1'))
    .field(ASSIGNMENT_TAG.ecu, Buffer.from(a.ecu, 'latin1'))
    .field(ASSIGNMENT_TAG.manifestDigest, Buffer.from(a.manifestDigest, 'hex'))
    .field(ASSIGNMENT_TAG.nonce, Buffer.from(a.nonce, 'hex'))
    .field(ASSIGNMENT_TAG.issuedAt, uintBytes(a.issuedAt.getTime(), 8))
    .field(ASSIGNMENT_TAG.expiresAt, uintBytes(a.expiresAt.getTime(), 8))
    .bytes();
}

/** Decode canonical assignment bytes; anything non-canonical or out of range is FW_MALFORMED. */
export function decodeAssignment(bytes: Uint8Array): Assignment {
  const [vehicle, ecu, digest, nonce, issued, expires] = readTlv('assignment', bytes, ASSIGNMENT_MAGIC, ASSIGNMENT_VERSION, TAGS) as [
    Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array,
  ];
  if (digest.length !== 32) throw bad('manifestDigest must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw bad('nonce must be 16 bytes');
  const a: Assignment = {
    vehicleId: Buffer.from(vehicle).toString('latin1'),
    ecu: Buffer.from(ecu).toString('latin1'),
    manifestDigest: Buffer.from(digest).toString('hex'),
    nonce: Buffer.from(nonce).toString('hex'),
    issuedAt: new Date(readUint('assignment', 'issuedAt', issued, 8)),
    expiresAt: new Date(readUint('assignment', 'expiresAt', expires, 8)),
  };
  assertAssignment(a);
  return a;
}

/** A fresh assignment of `signedManifest` to one ECU of one vehicle, with a random nonce. */
export function newAssignment(opts: { vehicleId: string; ecu: string; signedManifest: Uint8Array; ttlMs: number; now?: Date }): Assignment {
  const issuedAt = opts.now ?? new Date();
  return {
    vehicleId: opts.vehicleId,
    ecu: opts.ecu,
    manifestDigest: manifestDigest(opts.signedManifest),
    nonce: randomBytes(NONCE_BYTES).toString('hex'),
    issuedAt,
    expiresAt: new Date(issuedAt.getTime() + opts.ttlMs),
  };
}

/** Sign `assignment` with the manager key: the `OTSA` container (assignment ‖ manager cert DER ‖ r‖s). */
export function signAssignment(assignment: Assignment, signer: { keyPem: string; certPem: string }): Uint8Array {
  const body = encodeAssignment(assignment);
  const { key, certDer } = signerParts(signer, 'manager');
  return encodeSigned(SIGNED_ASSIGNMENT_MAGIC, { body, certDer, signature: signBody(body, key) });
}

/** Split and structurally check a signed assignment (≤ SIGNED_ASSIGNMENT_MAX_BYTES); verifies nothing. */
export function decodeSignedAssignment(bytes: Uint8Array): SignedAssignment {
  const parts = decodeSigned(SIGNED_ASSIGNMENT_MAGIC, bytes, SIGNED_ASSIGNMENT_MAX_BYTES);
  return { assignment: decodeAssignment(parts.body), assignmentBytes: parts.body, certDer: parts.certDer, signature: parts.signature };
}

function timeOf(d: unknown): number | undefined {
  if (!(d instanceof Date)) return undefined;
  const t = d.getTime();
  return Number.isSafeInteger(t) && t >= 0 ? t : undefined;
}
