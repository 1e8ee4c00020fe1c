import { OtaError } from '../../protocol/errors.js';

/**
 * Stable codes of a firmware refusal (ARCHITECTURE.md §2.3). Signer-certificate problems are reported
 * with FW_ codes (the PkiError is kept as `cause`): PKI_REVOKED → FW_REVOKED_SIGNER, PKI_MALFORMED →
 * FW_MALFORMED, every other PKI refusal (another CA, expired, wrong role, …) → FW_UNTRUSTED_SIGNER.
 */
export const FW_CODES = {
  malformed: 'FW_MALFORMED', // bytes that are not a canonical (signed) manifest/assignment, or over the size limit
  badSignature: 'FW_BAD_SIGNATURE', // the ECDSA signature does not verify (or is not canonical low-S)
  untrustedSigner: 'FW_UNTRUSTED_SIGNER', // signer certificate not a valid fleet cert of the needed role
  revokedSigner: 'FW_REVOKED_SIGNER', // signer certificate revoked by the fleet CRL
  wrongManifest: 'FW_WRONG_MANIFEST', // the assignment names another manifest digest
  missingAssignment: 'FW_MISSING_ASSIGNMENT', // a vehicle/ECU was expected but no assignment was given
  wrongVehicle: 'FW_WRONG_VEHICLE', // assignment for another vehicle (or the caller named none)
  wrongEcu: 'FW_WRONG_ECU', // assignment for another ECU (or the caller named none)
  notYetValid: 'FW_NOT_YET_VALID', // assignment issued in the future (beyond the clock-skew allowance)
  expired: 'FW_EXPIRED', // assignment past its expiresAt
  replayedNonce: 'FW_REPLAYED_NONCE', // assignment nonce already used
  wrongHardware: 'FW_WRONG_HARDWARE', // manifest hardware id is not the installed hardware's
  rollback: 'FW_ROLLBACK', // release counter not above the installed one
  lengthMismatch: 'FW_LENGTH_MISMATCH', // image length differs from the manifest
  digestMismatch: 'FW_DIGEST_MISMATCH', // image SHA-256 differs from the manifest
  addressMismatch: 'FW_ADDRESS_MISMATCH', // image file starts elsewhere than the manifest's loadAddress (CLI)
  keyMismatch: 'FW_KEY_MISMATCH', // signing key does not belong to the signer certificate
} as const;

export type FirmwareCode = (typeof FW_CODES)[keyof typeof FW_CODES];

/** A refusal to accept (or produce) a manifest, an assignment, or an update. */
export class FirmwareRefusal extends OtaError {
  declare readonly code: FirmwareCode;
  constructor(code: FirmwareCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
