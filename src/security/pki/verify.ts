/**
 * Verifying a peer's certificate against the fleet CA (ARCHITECTURE.md §2.1): the one function the
 * broker, the secure channel, and firmware verification call. Chain of exactly one: leaf ← fleet CA.
 */
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.js';
import { EKU_OID, ROLE_EKU, roleForPolicy, type Role } from './roles.js';
import { checkCrl, normalizeSerial } from './crl.js';
import { x509 } from './x509.js';

/** What a verifier trusts: the fleet CA and the serials its CRL revokes. */
export interface TrustStore {
  ca: x509.X509Certificate;
  caPem: string;
  /** Serial numbers (hex, lower case, no leading zero octets) listed in the CA's CRL. */
  revoked: ReadonlySet<string>;
  /** The CRL's cRLNumber (RFC 5280 §5.2.3) and DER, when the store was built with a CRL. */
  crl?: { number: number; der: Uint8Array };
}

/** Who a verified certificate names, and the key to check its signatures with. */
export type VerifiedIdentity = {
  cn: string;
  role: Role;
  serial: string;
  notAfter: Date;
  publicKey: KeyObject;
  certDer: Uint8Array;
};

/** Certificates larger than this are refused before parsing (ours are about 600 bytes). */
export const CERT_MAX_BYTES = 16_384;

const caKeys = new WeakMap<x509.X509Certificate, { node: NodeX509; key: KeyObject }>();

export { normalizeSerial };

/**
 * Build a trust store from the CA certificate and, optionally, its CRL. The CRL must be issued and
 * signed by that CA (else PKI_UNTRUSTED): a verifier never honours or ignores an unauthenticated list.
 */
export async function trustStoreFromPem(caPem: string, crl?: string | Uint8Array): Promise<TrustStore> {
  let ca: x509.X509Certificate;
  try {
    ca = new x509.X509Certificate(caPem);
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'the CA certificate is not a PEM X.509 certificate', { cause: err });
  }
  const bc = ca.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new PkiError('PKI_UNTRUSTED', 'the trust anchor is not a CA certificate');
  caNode(ca);
  if (crl === undefined) return { ca, caPem, revoked: new Set<string>() };
  const checked = await checkCrl(ca, crl);
  return { ca, caPem, revoked: checked.revoked, crl: { number: checked.number, der: checked.der } };
}

/**
 * Verify `cert` (PEM or DER) for `expect.role` (and `expect.cn`): signed by the fleet CA, not revoked,
 * within its validity at `now`, stating the role by policy OID and EKU, with the expected CN.
 * Refuses with PkiError: PKI_MALFORMED, PKI_UNTRUSTED, PKI_REVOKED, PKI_NOT_YET_VALID, PKI_EXPIRED,
 * PKI_WRONG_ROLE, PKI_WRONG_CN (checked in that order).
 */
export async function verifyCertificate(
  cert: string | Uint8Array,
  trust: TrustStore,
  expect: { role: Role; cn?: string; now?: Date },
): Promise<VerifiedIdentity> {
  const { node, parsed, key } = parse(cert);
  const now = expect.now ?? new Date();

  // RFC 5280 §6.1.3 (a)(1)-(a)(4): signature by the trust anchor, issuer name chaining.
  const anchor = caNode(trust.ca);
  if (!isSha256Ecdsa(parsed)) throw new PkiError('PKI_UNTRUSTED', 'certificate is not signed with ecdsa-with-SHA256');
  let signedByCa = false;
  try {
    signedByCa = node.checkIssued(anchor.node) && node.verify(anchor.key);
  } catch (err) {
    throw new PkiError('PKI_UNTRUSTED', 'certificate signature cannot be checked', { cause: err });
  }
  if (!signedByCa) throw new PkiError('PKI_UNTRUSTED', 'certificate is not issued by the fleet CA');

  const serial = normalizeSerial(parsed.serialNumber);
  if (trust.revoked.has(serial)) throw new PkiError('PKI_REVOKED', `certificate ${serial} is revoked`);

  // RFC 5280 §6.1.3 (a)(2): the validity period includes the current time (both bounds inclusive).
  if (now.getTime() < parsed.notBefore.getTime()) {
    throw new PkiError('PKI_NOT_YET_VALID', `certificate is valid from ${parsed.notBefore.toISOString()}`);
  }
  if (now.getTime() > parsed.notAfter.getTime()) {
    throw new PkiError('PKI_EXPIRED', `certificate expired at ${parsed.notAfter.toISOString()}`);
  }
  // As OpenSSL does, the CA's own validity bounds the chain too.
  if (now.getTime() < trust.ca.notBefore.getTime()) {
    throw new PkiError('PKI_NOT_YET_VALID', `the fleet CA is valid from ${trust.ca.notBefore.toISOString()}`);
  }
  if (now.getTime() > trust.ca.notAfter.getTime()) {
    throw new PkiError('PKI_EXPIRED', `the fleet CA expired at ${trust.ca.notAfter.toISOString()}`);
  }

  assertRole(parsed, expect.role);

  const cns = parsed.subjectName.getField('CN');
  const cn = cns[0];
  if (cns.length !== 1 || cn === undefined) throw new PkiError('PKI_WRONG_CN', 'certificate must name exactly one CN');
  if (expect.cn !== undefined && cn !== expect.cn) {
    throw new PkiError('PKI_WRONG_CN', `certificate is for '${cn}', expected '${expect.cn}'`);
  }

  return { cn, role: expect.role, serial, notAfter: parsed.notAfter, publicKey: key, certDer: Uint8Array.from(node.raw) };
}

function parse(cert: string | Uint8Array): { node: NodeX509; parsed: x509.X509Certificate; key: KeyObject } {
  const size = typeof cert === 'string' ? cert.length : cert.byteLength;
  if (size === 0 || size > CERT_MAX_BYTES * 2) throw new PkiError('PKI_MALFORMED', `certificate of ${size} bytes`);
  let node: NodeX509;
  try {
    node = new NodeX509(typeof cert === 'string' ? cert : Buffer.from(cert.buffer, cert.byteOffset, cert.byteLength));
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'not an X.509 certificate', { cause: err });
  }
  // DER input must be exactly one certificate: OpenSSL would ignore trailing bytes.
  if (node.raw.length > CERT_MAX_BYTES || (typeof cert !== 'string' && node.raw.length !== cert.byteLength)) {
    throw new PkiError('PKI_MALFORMED', 'certificate has trailing bytes or is too large');
  }
  let parsed: x509.X509Certificate;
  try {
    parsed = parsedCertificate(node.raw);
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'certificate cannot be parsed', { cause: err });
  }
  let key: KeyObject;
  try {
    key = node.publicKey;
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'certificate public key cannot be decoded', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('PKI_MALFORMED', 'certificate key is not ECDSA P-256');
  }
  return { node, parsed, key };
}

function assertRole(cert: x509.X509Certificate, role: Role): void {
  // A CA certificate is never a peer, whatever it claims (RFC 5280 §4.2.1.9).
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new PkiError('PKI_WRONG_ROLE', 'a CA certificate cannot act as a peer');
  }
  const roles = (cert.getExtension(x509.CertificatePolicyExtension)?.policies ?? [])
    .map(roleForPolicy)
    .filter((r) => r !== undefined);
  if (roles.length !== 1 || roles[0] !== role) {
    throw new PkiError('PKI_WRONG_ROLE', `certificate role is ${roles.join('+') || 'none'}, expected ${role}`);
  }
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  if (!eku.includes(ROLE_EKU[role])) {
    const names = Object.entries(EKU_OID).filter(([, o]) => eku.includes(o)).map(([n]) => n);
    throw new PkiError('PKI_WRONG_ROLE', `certificate EKU is ${names.join('+') || 'none'}, ${role} needs ${ROLE_EKU[role]}`);
  }
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    throw new PkiError('PKI_WRONG_ROLE', 'certificate key usage lacks digitalSignature');
  }
}

function isSha256Ecdsa(cert: x509.X509Certificate): boolean {
  const alg = cert.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  return alg.name === 'ECDSA' && alg.hash?.name === 'SHA-256';
}

/**
 * @peculiar/x509's parse of a DER certificate, remembered by its bytes: parsing costs ≈ 0.7 ms and the same
 * few certificates (manager, release signers) are checked again and again. Only the parse is cached — a
 * pure function of the bytes; every check (signature, validity, revocation, role, CN) runs on every call.
 */
const parsedByDer = new Map<string, x509.X509Certificate>();
const PARSED_CACHE_LIMIT = 256;

function parsedCertificate(der: Buffer): x509.X509Certificate {
  const key = der.toString('base64');
  let parsed = parsedByDer.get(key);
  if (parsed === undefined) {
    parsed = new x509.X509Certificate(der);
    if (parsedByDer.size >= PARSED_CACHE_LIMIT) parsedByDer.clear();
    parsedByDer.set(key, parsed);
  }
  return parsed;
}

function caNode(ca: x509.X509Certificate): { node: NodeX509; key: KeyObject } {
  let entry = caKeys.get(ca);
  if (!entry) {
    try {
      const node = new NodeX509(Buffer.from(ca.rawData));
      entry = { node, key: node.publicKey };
    } catch (err) {
      throw new PkiError('PKI_MALFORMED', 'the CA certificate cannot be parsed', { cause: err });
    }
    caKeys.set(ca, entry);
  }
  return entry;
}
