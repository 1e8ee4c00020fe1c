// Test fixtures for the PKI and firmware tests: made at test time, never committed.
import { createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate, type Issued } from '../../../src/security/pki/ca.js';
import { type Role } from '../../../src/security/pki/roles.js';
import { x509 } from '../../../src/security/pki/x509.js';

/** A temp dir and its removal. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `ota-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A CA and one certificate per role (vehicle CN `VIN0001`, broker SANs localhost and 127.0.0.1). */
export interface Fleet {
  ca: Issued;
  broker: Issued;
  manager: Issued;
  vehicle: Issued;
  release: Issued;
}

export async function makeFleet(name = 'Test Fleet CA'): Promise<Fleet> {
  const ca = await createCa({ name });
  const issue = (role: Role, n: string, san?: string[]): Promise<Issued> => issueCertificate(ca, { role, name: n, san });
  return {
    ca,
    broker: await issue('broker', 'broker', ['localhost', '127.0.0.1']),
    manager: await issue('manager', 'manager-1'),
    vehicle: await issue('vehicle', 'VIN0001'),
    release: await issue('release', 'release-2026'),
  };
}

/**
 * A certificate signed by `ca` with arbitrary extensions and key: for certificates our issuer refuses
 * to make (no role, two roles, wrong EKU, P-384 key, …).
 */
export async function craftCertificate(
  ca: Issued,
  opts: { cn: string; extensions: x509.Extension[]; curve?: 'P-256' | 'P-384'; notBefore?: Date; notAfter?: Date },
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' }),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: opts.curve ?? 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex'),
    subject: [{ CN: [opts.cn] }],
    issuer: caCert.subjectName.toJSON(),
    notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [...opts.extensions, ...(ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : [])],
  });
  return cert.toString('pem');
}

/** DER bytes of a PEM certificate. */
export function derOf(pem: string): Uint8Array {
  return new Uint8Array(new x509.X509Certificate(pem).rawData);
}

/** A copy of `bytes` with bit `bit` of byte `index` flipped. */
export function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] as number) ^ (1 << bit);
  return copy;
}
