/**
 * The one place a firmware update is accepted or refused (ARCHITECTURE.md §2.3), used by the gateway
 * (with an assignment) and by the ECU bootloader (manifest, written image and installed state).
 */
import { timingSafeEqual } from 'node:crypto';
import { PkiError } from '../pki/errors.js';
import { verifyCertificate, type TrustStore, type VerifiedIdentity } from '../pki/verify.js';
import { decodeSignedAssignment, type Assignment } from './assignment.js';
import { sha256Hex, verifyBody } from './envelope.js';
import { FirmwareRefusal } from './errors.js';
import { decodeSignedManifest, type Manifest } from './manifest.js';

/** How far in the future an assignment's issuedAt may be (clocks of vehicles drift). */
export const ASSIGNMENT_CLOCK_SKEW_MS = 5 * 60_000;

/** What verifyUpdate hands back when it accepts. */
export interface VerifiedUpdate {
  manifest: Manifest;
  /** SHA-256 of the signed manifest (what the assignment named). */
  manifestDigest: string;
  releaseSigner: VerifiedIdentity;
  assignment?: Assignment;
  assignmentSigner?: VerifiedIdentity;
}

/** Input of verifyUpdate; see there. */
export interface UpdateInput {
  signedManifest: Uint8Array;
  assignment?: Uint8Array;
  /** The image as contiguous bytes from manifest.loadAddress. */
  image?: Uint8Array;
  installed?: { counter: number; hardwareId: string };
  expect: { vehicleId?: string; ecu?: string };
  trust: TrustStore;
  seenNonces?: { has(n: string): boolean };
  now?: Date;
}

/**
 * Accept an update or refuse it with a FirmwareRefusal. Checks, in order: manifest structure, release
 * signer (fleet CA, role release, CRL), manifest signature; if an assignment is given (required when
 * `expect` names a vehicle or ECU): its structure, manager signer, signature, manifest digest, vehicle,
 * ECU, validity window, nonce; then hardware id and rollback against `installed`; then image length
 * and SHA-256. Changes no state: the caller records the nonce and counter after it accepts.
 */
export async function verifyUpdate(input: UpdateInput): Promise<VerifiedUpdate> {
  const now = input.now ?? new Date();
  const signed = decodeSignedManifest(input.signedManifest);
  const releaseSigner = await signer(signed.certDer, 'release', input.trust, now);
  if (!verifyBody(signed.manifestBytes, signed.signature, releaseSigner.publicKey)) {
    throw new FirmwareRefusal('FW_BAD_SIGNATURE', 'the manifest signature does not verify');
  }
  const { manifest } = signed;
  const result: VerifiedUpdate = { manifest, manifestDigest: signed.digest, releaseSigner };

  if (input.assignment !== undefined) {
    Object.assign(result, await checkAssignment(input, input.assignment, signed.digest, now));
  } else if (input.expect.vehicleId !== undefined || input.expect.ecu !== undefined) {
    throw new FirmwareRefusal('FW_MISSING_ASSIGNMENT', 'an update for a named vehicle/ECU needs a signed assignment');
  }

  if (input.installed !== undefined) {
    if (manifest.hardwareId !== input.installed.hardwareId) {
      throw new FirmwareRefusal('FW_WRONG_HARDWARE', `image is for ${manifest.hardwareId}, this is ${input.installed.hardwareId}`);
    }
    // Anti-rollback: the release counter must strictly increase.
    if (!(manifest.counter > input.installed.counter)) {
      throw new FirmwareRefusal('FW_ROLLBACK', `release counter ${manifest.counter} is not above the installed ${input.installed.counter}`);
    }
  }

  if (input.image !== undefined) {
    if (input.image.length !== manifest.length) {
      throw new FirmwareRefusal('FW_LENGTH_MISMATCH', `image is ${input.image.length} bytes, the manifest says ${manifest.length}`);
    }
    const actual = Buffer.from(sha256Hex(input.image), 'hex');
    if (!timingSafeEqual(actual, Buffer.from(manifest.sha256, 'hex'))) {
      throw new FirmwareRefusal('FW_DIGEST_MISMATCH', 'the image SHA-256 differs from the manifest');
    }
  }
  return result;
}

async function checkAssignment(
  input: UpdateInput,
  bytes: Uint8Array,
  digest: string,
  now: Date,
): Promise<{ assignment: Assignment; assignmentSigner: VerifiedIdentity }> {
  const signed = decodeSignedAssignment(bytes);
  const assignmentSigner = await signer(signed.certDer, 'manager', input.trust, now);
  if (!verifyBody(signed.assignmentBytes, signed.signature, assignmentSigner.publicKey)) {
    throw new FirmwareRefusal('FW_BAD_SIGNATURE', 'the assignment signature does not verify');
  }
  const a = signed.assignment;
  if (!timingSafeEqual(Buffer.from(a.manifestDigest, 'hex'), Buffer.from(digest, 'hex'))) {
    throw new FirmwareRefusal('FW_WRONG_MANIFEST', 'the assignment is for another manifest');
  }
  // Fail closed: an assignment is only accepted by a caller that says which vehicle and ECU it is.
  if (input.expect.vehicleId === undefined || a.vehicleId !== input.expect.vehicleId) {
    throw new FirmwareRefusal('FW_WRONG_VEHICLE', `assignment is for vehicle ${a.vehicleId}`);
  }
  if (input.expect.ecu === undefined || a.ecu !== input.expect.ecu) {
    throw new FirmwareRefusal('FW_WRONG_ECU', `assignment is for ECU ${a.ecu}`);
  }
  if (a.issuedAt.getTime() > now.getTime() + ASSIGNMENT_CLOCK_SKEW_MS) {
    throw new FirmwareRefusal('FW_NOT_YET_VALID', `assignment issued at ${a.issuedAt.toISOString()}, in the future`);
  }
  if (now.getTime() >= a.expiresAt.getTime()) {
    throw new FirmwareRefusal('FW_EXPIRED', `assignment expired at ${a.expiresAt.toISOString()}`);
  }
  if (input.seenNonces?.has(a.nonce)) {
    throw new FirmwareRefusal('FW_REPLAYED_NONCE', `assignment nonce ${a.nonce} was already used`);
  }
  return { assignment: a, assignmentSigner };
}

/** Verify a signer certificate, translating PKI refusals into firmware refusals (cause kept). */
async function signer(certDer: Uint8Array, role: 'release' | 'manager', trust: TrustStore, now: Date): Promise<VerifiedIdentity> {
  try {
    return await verifyCertificate(certDer, trust, { role, now });
  } catch (err) {
    if (!(err instanceof PkiError)) throw err;
    const what = role === 'release' ? 'release signer' : 'assignment signer';
    if (err.code === 'PKI_REVOKED') throw new FirmwareRefusal('FW_REVOKED_SIGNER', `${what} is revoked`, { cause: err });
    if (err.code === 'PKI_MALFORMED') throw new FirmwareRefusal('FW_MALFORMED', `${what} certificate is malformed`, { cause: err });
    throw new FirmwareRefusal('FW_UNTRUSTED_SIGNER', `${what} not trusted (${err.code})`, { cause: err });
  }
}
