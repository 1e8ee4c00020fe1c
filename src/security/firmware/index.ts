/** Signed firmware: manifests, assignments, and the one verification entry point. */
export { FW_CODES, FirmwareRefusal, type FirmwareCode } from './errors.js';
export { SIGNATURE_BYTES, SIGNER_CERT_MAX_BYTES } from './envelope.js';
export {
  FORMAT_CODE,
  MANIFEST_TAG,
  SIGNED_MANIFEST_MAX_BYTES,
  decodeManifest,
  decodeSignedManifest,
  encodeManifest,
  manifestDigest,
  signManifest,
  type FirmwareFormat,
  type Manifest,
  type SignedManifest,
} from './manifest.js';
export {
  ASSIGNMENT_TAG,
  SIGNED_ASSIGNMENT_MAX_BYTES,
  decodeAssignment,
  decodeSignedAssignment,
  encodeAssignment,
  newAssignment,
  signAssignment,
  type Assignment,
  type SignedAssignment,
} from './assignment.js';
export { ASSIGNMENT_CLOCK_SKEW_MS, verifyUpdate, type UpdateInput, type VerifiedUpdate } from './verify.js';
