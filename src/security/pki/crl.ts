/**
 * The fleet CA's certificate revocation list as the parts pass it on (docs/operations.md, "Revocation"):
 * authenticated (issued and signed by the fleet CA, RFC 5280 §6.3.3 (f)) and ordered by its cRLNumber
 * (RFC 5280 §5.2.3, "monotonically increasing"), so a part that holds one CRL accepts only a newer one
 * from the same CA. A foreign list is PKI_UNTRUSTED, an older (or a different one under the same number)
 * PKI_CRL_STALE; neither changes what the part trusts.
 */
import { PkiError } from './errors.js';
import type { TrustStore } from './verify.js';
import { x509 } from './x509.js';

/** CRLs larger than this are refused before parsing (one entry is ≈ 35 bytes). */
export const CRL_MAX_BYTES = 256 * 1024;

/** Canonical form of a serial number: lower-case hex without leading zero octets. */
export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^(00)+(?=..)/, '');
}

/** What an authenticated CRL says. */
export interface CheckedCrl {
  number: number;
  der: Uint8Array;
  revoked: Set<string>;
}

/** Parse `crl` (PEM or DER) and check that `ca` issued and signed it; PKI_MALFORMED / PKI_UNTRUSTED otherwise. */
export async function checkCrl(ca: x509.X509Certificate, crl: string | Uint8Array): Promise<CheckedCrl> {
  const size = typeof crl === 'string' ? crl.length : crl.byteLength;
  if (size === 0 || size > CRL_MAX_BYTES * 2) throw new PkiError('PKI_MALFORMED', `CRL of ${size} bytes`);
  let parsed: x509.X509Crl;
  try {
    parsed = new x509.X509Crl(typeof crl === 'string' ? crl : Uint8Array.from(crl));
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', 'not an X.509 CRL', { cause: err });
  }
  const der = new Uint8Array(parsed.rawData);
  // DER input must be exactly one CRL (the parser would ignore trailing bytes).
  if (typeof crl !== 'string' && derLength(crl) !== crl.byteLength) throw new PkiError('PKI_MALFORMED', 'CRL has trailing bytes');
  // RFC 5280 §6.3.3 (f): the CRL issuer must be the certificate issuer and its signature must verify.
  let ok = false;
  try {
    ok = parsed.issuerName.toString() === ca.subjectName.toString() && (await parsed.verify({ publicKey: ca }));
  } catch (err) {
    throw new PkiError('PKI_UNTRUSTED', 'the CRL signature cannot be checked', { cause: err });
  }
  if (!ok) throw new PkiError('PKI_UNTRUSTED', 'the CRL is not signed by the fleet CA');
  const revoked = new Set<string>();
  for (const entry of parsed.entries) revoked.add(normalizeSerial(entry.serialNumber));
  return { number: crlNumberOf(parsed), der, revoked };
}

/**
 * Whether `crl` may replace the CRL of `current`: the trust store it gives when it is newer, `undefined`
 * when it is the very CRL `current` holds. PKI_UNTRUSTED (another CA, tampered), PKI_CRL_STALE (a number
 * not above the held one), PKI_MALFORMED.
 */
export async function newerTrust(current: TrustStore, crl: string | Uint8Array): Promise<TrustStore | undefined> {
  const checked = await checkCrl(current.ca, crl);
  const held = current.crl;
  if (held !== undefined) {
    if (checked.number === held.number && Buffer.from(checked.der).equals(Buffer.from(held.der))) return undefined;
    if (checked.number <= held.number) {
      throw new PkiError('PKI_CRL_STALE', `CRL number ${checked.number} is not above the held ${held.number}`);
    }
  }
  return { ca: current.ca, caPem: current.caPem, revoked: checked.revoked, crl: { number: checked.number, der: checked.der } };
}

/** Length of the outer DER SEQUENCE (tag, length octets, content); -1 when it is not one. */
function derLength(b: Uint8Array): number {
  if (b[0] !== 0x30 || b.length < 2) return -1;
  const first = b[1] as number;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (b[2 + i] as number);
  return 2 + n + len;
}

/** PEM text of a DER CRL (RFC 7468 §5 label `X509 CRL`). */
export function crlPem(der: Uint8Array): string {
  return x509.PemConverter.encode(Uint8Array.from(der), 'X509 CRL');
}

/** RFC 5280 §5.2.3: cRLNumber ::= INTEGER (0..MAX); required here, a CRL without one cannot be ordered. */
function crlNumberOf(crl: x509.X509Crl): number {
  const ext = crl.extensions.find((e) => e.type === '2.5.29.20');
  if (ext === undefined) throw new PkiError('PKI_MALFORMED', 'the CRL has no cRLNumber');
  const v = new Uint8Array(ext.value);
  const len = v[1] ?? 0;
  if (v[0] !== 0x02 || len < 1 || len > 7 || v.length !== 2 + len || (v[2] as number) > 0x7f) {
    throw new PkiError('PKI_MALFORMED', 'the CRL number is not a small positive INTEGER');
  }
  let n = 0;
  for (const b of v.subarray(2)) n = n * 256 + b;
  return n;
}
