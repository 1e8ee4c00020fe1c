/**
 * HTTPS for an API reachable from the network. Bound to a loopback address the API speaks plain HTTP
 * (only this machine reaches it, and the dashboard and the CLI need no certificate). Bound to any other
 * address it serves HTTPS with a certificate of the fleet PKI, `<pki>/api.pem` + `api.key` (issued here
 * from the CA in the PKI directory when missing: a server certificate, serverAuth, with the loopback
 * names and the bound host as subject alternative names) — or refuses to start (MGR_API_TLS) unless the
 * operator asked for plain HTTP with `insecureHttp` (`--insecure-http`): a bearer token over plain HTTP
 * is readable by anyone on the path.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { issueToDir } from '../../security/pki/index.js';
import { ManagerError } from '../errors.js';
import { pathExists } from '../../platform/exists.js';

/** The name (file name and CN) of the API's certificate in the PKI directory. */
export const API_CERT_NAME = 'api';
const LOOPBACK_SANS = ['127.0.0.1', 'localhost', '::1'] as const;

/** A certificate and key (PEM) for the HTTPS server. */
export interface ApiTls {
  certPem: string;
  keyPem: string;
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}


/**
 * What the API on `host` serves: undefined = plain HTTP (loopback, or `insecureHttp`), else the TLS
 * certificate from `pkiDir` (issued when missing). MGR_API_TLS when neither is possible.
 */
export async function apiTlsFor(host: string, pkiDir: string, insecureHttp: boolean): Promise<ApiTls | undefined> {
  if (isLoopbackHost(host) || insecureHttp) return undefined;
  const pem = join(pkiDir, `${API_CERT_NAME}.pem`);
  const key = join(pkiDir, `${API_CERT_NAME}.key`);
  try {
    if (!((await pathExists(pem)) && (await pathExists(key)))) {
      const san: string[] = [...LOOPBACK_SANS];
      if (host !== '0.0.0.0' && host !== '::') san.push(isIP(host) === 0 ? `DNS:${host}` : `IP:${host}`);
      // The broker role is the PKI's server role (serverAuth); the certificate is named `api`.
      await issueToDir(pkiDir, { role: 'broker', name: API_CERT_NAME, san, force: true });
    }
    return { certPem: await readFile(pem, 'utf8'), keyPem: await readFile(key, 'utf8') };
  } catch (e) {
    throw new ManagerError(
      'MGR_API_TLS',
      `the API on ${host} is reachable from the network and needs HTTPS, but there is no certificate ${pem} and none can be issued from ${pkiDir} (${e instanceof Error ? e.message : String(e)}): issue one (ota pki issue --role broker --name ${API_CERT_NAME} --san ${host} 127.0.0.1 localhost ::1), bind to 127.0.0.1, or accept plain HTTP with --insecure-http`,
      { cause: e },
    );
  }
}
