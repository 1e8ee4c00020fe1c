/**
 * Making the fleet CA, issuing role certificates and signing the CRL (ARCHITECTURE.md §2.1).
 * Pure with respect to the file system: PEM in, PEM out (the PKI directory lives in store.ts).
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { PkiError } from './errors.js';
import { ROLE_EKU, ROLE_POLICY_OID, isRole, type Role } from './roles.js';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, x509 } from './x509.js';

/** A certificate and its private key, both PEM (the key as PKCS#8 `PRIVATE KEY`). */
export type Issued = { certPem: string; keyPem: string };

const DAY_MS = 86_400_000;
/** Certificates are back-dated by this much so a vehicle whose clock lags a little accepts them. */
export const BACKDATE_MS = 3_600_000;
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_LEAF_VALIDITY_DAYS = 365;

/** A leaf name is also a file name in the PKI directory and the subject CN (vehicle id for vehicles). */
const LEAF_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CA_NAME = /^[\x20-\x7e]{1,64}$/;
const DNS_NAME = /^(\*\.)?(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

/** Throws PKI_BAD_NAME unless `name` is usable as a certificate name and a file name. */
export function assertLeafName(name: string): void {
  if (!LEAF_NAME.test(name)) {
    throw new PkiError('PKI_BAD_NAME', `name '${name}' must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit`);
  }
}

/** RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 16 random bytes, first octet 0x01–0x7F. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) % 0x7f) + 1;
  return bytes.toString('hex');
}

/** Make a self-signed fleet CA: ECDSA P-256, basicConstraints CA (pathLen 0), keyCertSign|cRLSign. */
export async function createCa(opts: { name: string; validityDays?: number; now?: Date }): Promise<Issued> {
  if (!CA_NAME.test(opts.name) || opts.name.trim() !== opts.name) {
    throw new PkiError('PKI_BAD_NAME', 'a CA name is 1-64 printable ASCII characters without surrounding spaces');
  }
  const now = opts.now ?? new Date();
  const days = opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS;
  assertDays(days);
  const keys = (await webcrypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [opts.name] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [
      // RFC 5280 §4.2.1.9: CA certificates MUST mark basicConstraints critical; pathLen 0 = chain of one.
      new x509.BasicConstraintsExtension(true, 0, true),
      // RFC 5280 §4.2.1.3: keyCertSign and cRLSign, critical.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Issue a leaf certificate of `role` signed by `ca`. The CN is `name` (the vehicle id for vehicles);
 * `san` (DNS names / IP addresses, `DNS:`/`IP:` prefixes allowed) defaults to [name] for brokers.
 */
export async function issueCertificate(
  ca: Issued,
  opts: { role: Role; name: string; san?: string[]; validityDays?: number; notBefore?: Date; notAfter?: Date },
): Promise<Issued> {
  if (!isRole(opts.role)) throw new PkiError('PKI_WRONG_ROLE', `unknown role '${String(opts.role)}'`);
  assertLeafName(opts.name);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const { notBefore, notAfter } = leafValidity(caCert, opts);
  const san = parseSans(opts.san ?? (opts.role === 'broker' ? [opts.name] : []));

  const keys = (await webcrypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = caSki
    ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([ROLE_EKU[opts.role]], false),
    new x509.CertificatePolicyExtension([ROLE_POLICY_OID[opts.role]], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    aki,
  ];
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [opts.name] }],
    issuer: caCert.subjectName.toJSON(),
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** One revoked certificate for the CRL. */
export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  /** RFC 5280 §5.3.1 reasonCode; `superseded` when a name was re-issued with --force. */
  reason?: 'unspecified' | 'superseded';
}

/**
 * Sign an X.509 v2 CRL (RFC 5280 §5) listing `revoked`, with cRLNumber and authorityKeyIdentifier.
 * nextUpdate defaults to the CA's notAfter: the CRL is reissued on every revocation, not on a schedule.
 */
export async function createCrl(
  ca: Issued,
  revoked: readonly RevokedEntry[],
  opts: { crlNumber: number; now?: Date; nextUpdate?: Date },
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const extensions: x509.Extension[] = [
    // RFC 5280 §5.2.3: cRLNumber, a monotonically increasing sequence number, non-critical.
    new x509.Extension('2.5.29.20', false, derPositiveInteger(opts.crlNumber)),
  ];
  if (caSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki.keyId));
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName.toJSON(),
    thisUpdate: opts.now ?? new Date(),
    nextUpdate: opts.nextUpdate ?? caCert.notAfter,
    entries: revoked.map((r) => ({
      serialNumber: r.serial,
      revocationDate: r.revokedAt,
      reason: r.reason === 'superseded' ? x509.X509CrlReason.superseded : x509.X509CrlReason.unspecified,
    })),
    extensions,
    signingKey: caKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
  });
  // RFC 7468 §5: the PEM label of a CRL is `X509 CRL` (OpenSSL reads nothing else).
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

function assertDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new PkiError('PKI_BAD_VALIDITY', `validity must be 1-36500 days, got ${days}`);
  }
}

function leafValidity(
  caCert: x509.X509Certificate,
  opts: { validityDays?: number; notBefore?: Date; notAfter?: Date },
): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  let notAfter = opts.notAfter;
  if (notAfter === undefined) {
    const days = opts.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS;
    assertDays(days);
    // A leaf never outlives its CA; a derived notAfter is clamped, an explicit one refused below.
    const from = opts.notBefore ? notBefore.getTime() : now;
    notAfter = new Date(Math.min(from + days * DAY_MS, caCert.notAfter.getTime()));
  } else if (notAfter.getTime() > caCert.notAfter.getTime()) {
    throw new PkiError('PKI_BAD_VALIDITY', 'a certificate cannot outlive the CA that issues it');
  }
  if (!(notAfter.getTime() > notBefore.getTime())) {
    throw new PkiError('PKI_BAD_VALIDITY', 'notAfter must be after notBefore');
  }
  return { notBefore, notAfter };
}

/** `DNS:x`, `IP:x` or a bare value (an IP address if it parses as one, else a DNS name). */
function parseSans(values: readonly string[]): x509.JsonGeneralNames {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
    .map((v): x509.JsonGeneralName => {
      const m = /^(dns|ip):(.*)$/i.exec(v);
      const kind = m?.[1]?.toLowerCase();
      const value = m?.[2] ?? v;
      if (kind !== 'dns' && isIP(value) !== 0) return { type: 'ip', value };
      if (kind !== 'ip' && value.length <= 253 && DNS_NAME.test(value)) return { type: 'dns', value };
      throw new PkiError('PKI_BAD_SAN', `'${v}' is neither a DNS name nor an IP address`);
    });
}

async function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  let der: Buffer;
  try {
    der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'the CA key is not a PKCS#8 private key', { cause: err });
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, EC_KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'the CA key is not an ECDSA P-256 key', { cause: err });
  }
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** DER INTEGER of a non-negative safe integer (for cRLNumber). */
function derPositiveInteger(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new PkiError('PKI_MALFORMED', `bad CRL number ${n}`);
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) > 0x7f) hex = '00' + hex;
  const body = Buffer.from(hex, 'hex');
  return Uint8Array.from([0x02, body.length, ...body]);
}
