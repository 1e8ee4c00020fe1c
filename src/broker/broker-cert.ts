/**
 * The broker's own certificate in the PKI directory: `broker.pem` / `broker.key`, role broker, with the
 * loopback names as subject alternative names so clients that connect to 127.0.0.1, localhost or ::1
 * can check the server's identity.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { issueToDir } from '../security/pki/index.js';
import { pathExists } from '../platform/exists.js';

/** The name (file name and CN) of the broker certificate in a PKI directory. */
export const BROKER_CERT_NAME = 'broker';
/** The subject alternative names every broker certificate we issue carries. */
export const BROKER_DEFAULT_SANS = ['127.0.0.1', 'localhost', '::1'] as const;

/**
 * Issue `broker.pem`/`broker.key` into `pkiDir` (the CA must exist) unless both are there; `hosts` adds
 * names the broker is reached by (wildcard listen addresses are skipped). Returns true when it issued.
 */
export async function ensureBrokerCertificate(pkiDir: string, opts: { hosts?: readonly string[] } = {}): Promise<boolean> {
  const pem = join(pkiDir, `${BROKER_CERT_NAME}.pem`);
  const key = join(pkiDir, `${BROKER_CERT_NAME}.key`);
  const [hasPem, hasKey] = await Promise.all([pathExists(pem), pathExists(key)]);
  if (hasPem && hasKey) return false;
  const san: string[] = [...BROKER_DEFAULT_SANS];
  for (const h of opts.hosts ?? []) {
    if (h === '0.0.0.0' || h === '::' || san.includes(h)) continue;
    san.push(isIP(h) === 0 ? `DNS:${h}` : `IP:${h}`);
  }
  // Without both halves the old certificate is unusable (its key is lost, or it never existed): force
  // revokes whatever the index still lists under the name as superseded.
  await issueToDir(pkiDir, { role: 'broker', name: BROKER_CERT_NAME, san, force: true });
  return true;
}

