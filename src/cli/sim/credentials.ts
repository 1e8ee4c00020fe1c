/**
 * The files one simulated vehicle starts from, checked before anything runs, so that a damaged one is
 * reported as "this file of this vehicle, do this" instead of a raw OpenSSL string, a silent endless
 * reconnect (an empty key), or a crash of the whole fleet (`ota up`):
 *
 *   <pki>/<V>.pem   its certificate: a PEM X.509 certificate whose CN is the vehicle id
 *   <pki>/<V>.key   its private key: a PEM private key that belongs to that certificate
 *   <pki>/ca.pem    the fleet CA
 *   <pki>/crl.pem   the fleet CRL: required (a missing CRL would let a revoked manager through)
 *
 * Every refusal is a `VehicleFileError`: the vehicle, the path, what is wrong and what to do.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EcuFileError } from '../../ecu/errors.js';
import { OtaError } from '../../protocol/errors.js';

/** The vehicle's certificate material (PEM). */
export interface VehicleCredentials {
  certPem: string;
  keyPem: string;
  caPem: string;
  crlPem: string;
}

/** One file of one simulated vehicle that keeps it from starting: which, why, and what the operator does. */
export class VehicleFileError extends OtaError {
  readonly vehicleId: string;
  readonly path: string;
  /** What is wrong with the file. */
  readonly problem: string;
  /** What to do about it, one sentence. */
  readonly remedy: string;

  constructor(code: string, vehicleId: string, path: string, problem: string, remedy: string, options: { cause?: unknown } = {}) {
    super(code, `vehicle ${vehicleId}: ${path}: ${problem}; ${remedy}`, options);
    this.vehicleId = vehicleId;
    this.path = path;
    this.problem = problem;
    this.remedy = remedy;
  }
}

const reissue = (pkiDir: string, vehicleId: string): string =>
  `issue it again: ota pki issue --dir ${pkiDir} --role vehicle --name ${vehicleId} --force`;

function readText(path: string, vehicleId: string, code: string, remedy: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new VehicleFileError(code, vehicleId, path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, remedy, { cause: e });
  }
}

function commonName(cert: X509Certificate): string | undefined {
  return cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3);
}

/** The public key of `key` in one comparable form (SPKI DER). */
const spki = (key: KeyObject): Buffer => (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });

/**
 * Reads and checks the vehicle's certificate, key, CA and CRL from an `ota pki` directory. Throws
 * SIM_NO_PKI / SIM_NO_CERTIFICATE (nothing there: the command to run), SIM_NO_CRL, SIM_BAD_CERTIFICATE,
 * SIM_BAD_KEY (a `VehicleFileError` naming the file and what to do).
 */
export function loadVehicleCredentials(pkiDir: string, vehicleId: string): VehicleCredentials {
  const certPath = join(pkiDir, `${vehicleId}.pem`);
  const keyPath = join(pkiDir, `${vehicleId}.key`);
  const caPath = join(pkiDir, 'ca.pem');
  const crlPath = join(pkiDir, 'crl.pem');
  if (!existsSync(caPath)) throw new OtaError('SIM_NO_PKI', `no fleet CA in ${pkiDir} (run: ota pki init --dir ${pkiDir})`);
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    throw new OtaError('SIM_NO_CERTIFICATE', `no certificate for vehicle '${vehicleId}' in ${pkiDir} (run: ota pki issue --dir ${pkiDir} --role vehicle --name ${vehicleId})`);
  }
  const remedy = reissue(pkiDir, vehicleId);
  const certPem = readText(certPath, vehicleId, 'SIM_BAD_CERTIFICATE', remedy);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new VehicleFileError('SIM_BAD_CERTIFICATE', vehicleId, certPath, 'is not a PEM X.509 certificate', remedy, { cause: e });
  }
  const cn = commonName(cert);
  if (cn !== vehicleId) throw new VehicleFileError('SIM_BAD_CERTIFICATE', vehicleId, certPath, `is the certificate of '${cn ?? '?'}', not of this vehicle`, remedy);
  const keyPem = readText(keyPath, vehicleId, 'SIM_BAD_KEY', remedy);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    const problem = keyPem.trim().length === 0 ? 'is empty' : 'is not a PEM private key';
    throw new VehicleFileError('SIM_BAD_KEY', vehicleId, keyPath, problem, remedy, { cause: e });
  }
  if (!spki(key).equals(spki(cert.publicKey))) {
    throw new VehicleFileError('SIM_BAD_KEY', vehicleId, keyPath, `is not the key of the certificate ${certPath}`, remedy);
  }
  if (!existsSync(crlPath)) {
    throw new VehicleFileError('SIM_NO_CRL', vehicleId, crlPath, 'is missing: without the fleet CRL the vehicle cannot tell a revoked manager', `copy the fleet's crl.pem there, or rewrite it from the PKI index: ota pki crl --dir ${pkiDir}`);
  }
  return {
    certPem,
    keyPem,
    caPem: readFileSync(caPath, 'utf8'),
    crlPem: readText(crlPath, vehicleId, 'SIM_NO_CRL', `copy the fleet's crl.pem there, or rewrite it: ota pki crl --dir ${pkiDir}`),
  };
}

/**
 * A damaged ECU state file (flash, wear counters, state.json) as a `VehicleFileError` of the vehicle,
 * keeping the ECU's code (FLASH_STATE_CORRUPT, ECU_STATE_CORRUPT); other errors pass through.
 */
export function ecuFileFault(e: unknown, vehicleId: string): unknown {
  if (!(e instanceof EcuFileError)) return e;
  const ecuDir = dirname(e.path);
  const problem = e.message.startsWith(`${e.path}: `) ? e.message.slice(e.path.length + 2) : e.message;
  return new VehicleFileError(
    e.code,
    vehicleId,
    e.path,
    problem,
    `restore it from a backup, or remove it and start once with --reprovision-ecus (ota up or ota vehicle): the ECU in ${ecuDir} is re-provisioned with its rollback floor kept from option-bytes.bin (what the removed file held is lost)`,
    { cause: e },
  );
}
