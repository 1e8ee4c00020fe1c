/** The fleet PKI: roles, CA and issuance, verification, the on-disk PKI directory. */
export { PKI_CODES, PkiError, type PkiCode } from './errors.js';
export { EKU_OID, OTA_OID_ARC, ROLES, ROLE_EKU, ROLE_POLICY_OID, isRole, roleForPolicy, type Role } from './roles.js';
export { createCa, createCrl, issueCertificate, randomSerial, type Issued, type RevokedEntry } from './ca.js';
export {
  CERT_MAX_BYTES,
  normalizeSerial,
  trustStoreFromPem,
  verifyCertificate,
  type TrustStore,
  type VerifiedIdentity,
} from './verify.js';
export { CRL_MAX_BYTES, checkCrl, crlPem, newerTrust, type CheckedCrl } from './crl.js';
export { watchTrustDir, type LiveTrust } from './live.js';
export { DEFAULT_CA_NAME, initPki, issueToDir, listPki, loadIssued, loadTrustStore, revoke, rewriteCrl, type PkiEntry, type PkiIndex } from './store.js';
export { x509 } from './x509.js';
