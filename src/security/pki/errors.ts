import { OtaError } from '../../protocol/errors.js';

/**
 * Stable codes of the fleet PKI. Verification codes (what a peer's certificate can fail on) and
 * PKI-directory codes (what `ota pki` can refuse).
 */
export const PKI_CODES = {
  malformed: 'PKI_MALFORMED', // not a DER/PEM X.509 v3 certificate we can parse, or not ECDSA P-256
  untrusted: 'PKI_UNTRUSTED', // not signed by the fleet CA (another CA, tampered, bad signature, bad CRL)
  expired: 'PKI_EXPIRED', // now > notAfter
  notYetValid: 'PKI_NOT_YET_VALID', // now < notBefore
  revoked: 'PKI_REVOKED', // serial listed in the CA's CRL
  wrongRole: 'PKI_WRONG_ROLE', // role policy / EKU / key usage not those of the expected role, or a CA cert
  wrongCn: 'PKI_WRONG_CN', // subject CN is not the expected one
  exists: 'PKI_EXISTS', // would overwrite a CA or certificate without --force
  notFound: 'PKI_NOT_FOUND', // no such PKI directory entry (CA, name)
  badName: 'PKI_BAD_NAME', // a name that is not a safe file name / CN
  badSan: 'PKI_BAD_SAN', // a --san that is neither a DNS name nor an IP address
  badValidity: 'PKI_BAD_VALIDITY', // notAfter not after notBefore, or outside the CA's validity
  crlStale: 'PKI_CRL_STALE', // a CRL whose number is not above the one held (replayed or older)
  trustUnavailable: 'PKI_TRUST_UNAVAILABLE', // the CRL on disk is unreadable, unsigned or gone: fail closed
} as const;

export type PkiCode = (typeof PKI_CODES)[keyof typeof PKI_CODES];

/** A refusal of the fleet PKI (certificate verification or PKI directory operation). */
export class PkiError extends OtaError {
  declare readonly code: PkiCode;
  constructor(code: PkiCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
