/**
 * The PKI directory made by `ota pki` (one writer at a time):
 *
 * | file          | mode | content                                                                  |
 * |---------------|------|--------------------------------------------------------------------------|
 * | `ca.pem`      | 0644 | the fleet CA certificate (the trust anchor every part is given)          |
 * | `ca.key`      | 0600 | the CA private key, PKCS#8 PEM (keep offline in production)              |
 * | `crl.pem`     | 0644 | X.509 v2 CRL signed by the CA; rewritten by every revocation             |
 * | `<name>.pem`  | 0644 | a leaf certificate (broker, manager, vehicle id, release key name)       |
 * | `<name>.key`  | 0600 | its private key, PKCS#8 PEM                                              |
 * | `index.json`  | 0644 | `{ version: 1, ca: {name, serial, notAfter}, crlNumber, certificates: [  |
 * |               |      |   {name, role, serial, notAfter, revoked, revokedAt?, reason?} ] }`       |
 *
 * The index keeps every certificate ever issued; a name re-issued with `force` has its previous
 * certificate revoked as `superseded`. Files are written to a temporary name and renamed into place.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/atomic-write.js';
import { assertLeafName, createCa, createCrl, issueCertificate, type Issued } from './ca.js';
import { PkiError } from './errors.js';
import { isRole, type Role } from './roles.js';
import { normalizeSerial, trustStoreFromPem, type TrustStore } from './verify.js';
import { x509 } from './x509.js';
import { pathExists } from '../../platform/exists.js';

/** One certificate in the PKI index. Dates are ISO 8601 strings. */
export interface PkiEntry {
  name: string;
  role: Role;
  serial: string;
  notAfter: string;
  revoked: boolean;
  revokedAt?: string;
  reason?: 'unspecified' | 'superseded';
}

/** The content of `index.json`. */
export interface PkiIndex {
  version: 1;
  ca: { name: string; serial: string; notAfter: string };
  crlNumber: number;
  certificates: PkiEntry[];
}

export const DEFAULT_CA_NAME = 'OTA Fleet CA';
const RESERVED = new Set(['ca', 'crl', 'index']);

/** Create a fleet CA, an empty CRL and the index in `dir` (PKI_EXISTS if a CA is there, unless `force`). */
export async function initPki(
  dir: string,
  opts: { name?: string; validityDays?: number; force?: boolean; now?: Date } = {},
): Promise<PkiIndex> {
  if (!opts.force && ((await pathExists(join(dir, 'ca.pem'))) || (await pathExists(join(dir, 'ca.key'))))) {
    throw new PkiError('PKI_EXISTS', `${dir} already holds a CA (use --force to replace it and every certificate it issued)`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa({ name: opts.name ?? DEFAULT_CA_NAME, validityDays: opts.validityDays, now: opts.now });
  const caCert = new x509.X509Certificate(ca.certPem);
  const index: PkiIndex = {
    version: 1,
    ca: { name: opts.name ?? DEFAULT_CA_NAME, serial: normalizeSerial(caCert.serialNumber), notAfter: caCert.notAfter.toISOString() },
    crlNumber: 1,
    certificates: [],
  };
  await writeAtomic(join(dir, 'ca.key'), ca.keyPem, 0o600);
  await writeAtomic(join(dir, 'ca.pem'), ca.certPem, 0o644);
  await writeAtomic(join(dir, 'crl.pem'), await createCrl(ca, [], { crlNumber: index.crlNumber, now: opts.now }), 0o644);
  await writeIndex(dir, index);
  return index;
}

/**
 * Issue a `role` certificate named `name` into `dir` as `<name>.pem` / `<name>.key`. PKI_EXISTS if the
 * name is taken; with `force` the old certificate is revoked (superseded) and replaced.
 */
export async function issueToDir(
  dir: string,
  opts: { role: Role; name: string; san?: string[]; validityDays?: number; notBefore?: Date; notAfter?: Date; force?: boolean },
): Promise<PkiEntry> {
  if (!isRole(opts.role)) throw new PkiError('PKI_WRONG_ROLE', `unknown role '${String(opts.role)}'`);
  assertLeafName(opts.name);
  if (RESERVED.has(opts.name.toLowerCase())) throw new PkiError('PKI_BAD_NAME', `'${opts.name}' is a reserved name`);
  const ca = await loadCa(dir);
  const index = await readIndex(dir);
  const taken =
    index.certificates.some((c) => c.name === opts.name && !c.revoked) ||
    (await pathExists(join(dir, `${opts.name}.pem`))) ||
    (await pathExists(join(dir, `${opts.name}.key`)));
  if (taken && !opts.force) {
    throw new PkiError('PKI_EXISTS', `'${opts.name}' is already issued (use --force to re-issue and revoke the old one)`);
  }
  const issued = await issueCertificate(ca, opts);
  const cert = new x509.X509Certificate(issued.certPem);
  const entry: PkiEntry = {
    name: opts.name,
    role: opts.role,
    serial: normalizeSerial(cert.serialNumber),
    notAfter: cert.notAfter.toISOString(),
    revoked: false,
  };
  const superseded = markRevoked(index, opts.name, new Date(), 'superseded');
  index.certificates.push(entry);
  await writeAtomic(join(dir, `${opts.name}.key`), issued.keyPem, 0o600);
  await writeAtomic(join(dir, `${opts.name}.pem`), issued.certPem, 0o644);
  if (superseded > 0) await writeCrl(dir, ca, index);
  await writeIndex(dir, index);
  return entry;
}

/** Revoke the current certificate named `name` and rewrite `crl.pem` (PKI_NOT_FOUND if never issued). */
export async function revoke(dir: string, name: string, opts: { now?: Date } = {}): Promise<PkiEntry> {
  const ca = await loadCa(dir);
  const index = await readIndex(dir);
  const entries = index.certificates.filter((c) => c.name === name);
  const current = entries[entries.length - 1];
  if (current === undefined) throw new PkiError('PKI_NOT_FOUND', `no certificate named '${name}' in ${dir}`);
  markRevoked(index, name, opts.now ?? new Date(), 'unspecified');
  await writeCrl(dir, ca, index, opts.now);
  await writeIndex(dir, index);
  return current;
}

/**
 * Write `crl.pem` again from the index (every certificate it lists as revoked, a new CRL number): how a
 * lost or damaged CRL is restored on the machine that holds the CA key.
 */
export async function rewriteCrl(dir: string, opts: { now?: Date } = {}): Promise<PkiIndex> {
  const ca = await loadCa(dir);
  const index = await readIndex(dir);
  await writeCrl(dir, ca, index, opts.now);
  await writeIndex(dir, index);
  return index;
}

/** The index of `dir`: the CA and every certificate issued, with expiry and revocation. */
export async function listPki(dir: string): Promise<PkiIndex> {
  return readIndex(dir);
}

/**
 * The trust store of `dir`: `ca.pem` and `crl.pem` (whose CA signature is checked). A missing CRL is
 * PKI_NOT_FOUND, not an empty list: a verifier without it would accept revoked certificates (fail closed).
 */
export async function loadTrustStore(dir: string): Promise<TrustStore> {
  const caPem = await readText(join(dir, 'ca.pem'));
  const crlPath = join(dir, 'crl.pem');
  if (!(await pathExists(crlPath))) {
    throw new PkiError('PKI_NOT_FOUND', `${crlPath} is missing: restore the fleet CRL, or rewrite it from the index (ota pki crl --dir ${dir})`);
  }
  return trustStoreFromPem(caPem, await readText(crlPath));
}

/** The certificate and key named `name` in `dir` (`ca` for the CA itself). */
export async function loadIssued(dir: string, name: string): Promise<Issued> {
  if (name !== 'ca') assertLeafName(name);
  return { certPem: await readText(join(dir, `${name}.pem`)), keyPem: await readText(join(dir, `${name}.key`)) };
}

function markRevoked(index: PkiIndex, name: string, at: Date, reason: 'unspecified' | 'superseded'): number {
  let n = 0;
  for (const c of index.certificates) {
    if (c.name === name && !c.revoked) {
      c.revoked = true;
      c.revokedAt = at.toISOString();
      c.reason = reason;
      n++;
    }
  }
  return n;
}

async function writeCrl(dir: string, ca: Issued, index: PkiIndex, now?: Date): Promise<void> {
  index.crlNumber += 1;
  const revoked = index.certificates
    .filter((c) => c.revoked)
    .map((c) => ({ serial: c.serial, revokedAt: new Date(c.revokedAt ?? Date.now()), reason: c.reason }));
  await writeAtomic(join(dir, 'crl.pem'), await createCrl(ca, revoked, { crlNumber: index.crlNumber, now }), 0o644);
}

async function loadCa(dir: string): Promise<Issued> {
  return loadIssued(dir, 'ca');
}

async function readIndex(dir: string): Promise<PkiIndex> {
  const text = await readText(join(dir, 'index.json'));
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (err) {
    throw new PkiError('PKI_MALFORMED', `${dir}/index.json is not JSON`, { cause: err });
  }
  if (!isIndex(index)) throw new PkiError('PKI_MALFORMED', `${dir}/index.json is not a PKI index`);
  return index;
}

function isIndex(v: unknown): v is PkiIndex {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Partial<PkiIndex>;
  return (
    o.version === 1 &&
    typeof o.ca === 'object' &&
    o.ca !== null &&
    typeof o.crlNumber === 'number' &&
    Array.isArray(o.certificates) &&
    o.certificates.every(
      (c: Partial<PkiEntry>) => typeof c.name === 'string' && isRole(c.role) && typeof c.serial === 'string' && typeof c.revoked === 'boolean',
    )
  );
}

async function writeIndex(dir: string, index: PkiIndex): Promise<void> {
  await writeAtomic(join(dir, 'index.json'), JSON.stringify(index, null, 2) + '\n', 0o644);
}

function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  return writeFileAtomic(path, content, { mode }); // src/platform: exact mode, fsync, rename, fsync of the directory
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new PkiError('PKI_NOT_FOUND', `cannot read ${path}`, { cause: err });
  }
}

