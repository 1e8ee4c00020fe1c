/**
 * The data directory of `ota up` on first start and after (docs/connected-system.md, "Data directory"):
 *
 *   fleet.json   the simulated vehicles' ids (VINs), in order, so a restart runs the same vehicles
 *   pki/         the fleet PKI: CA and CRL, `broker` (SANs 127.0.0.1, localhost, ::1), `manager`, one
 *                certificate per simulated vehicle (CN = its VIN), and `release`
 *
 * `release` is a DEMO CONVENIENCE: a release key in the same directory as the online manager's key
 * contradicts ARCHITECTURE.md §2.3 (the manager must not hold the release key). It lets one machine
 * sign firmware for the demo fleet; a real deployment keeps the release key offline.
 *
 * Certificates are issued when missing or expiring within a day; nothing that exists is replaced
 * otherwise, so VINs, keys and ECU state survive restarts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../platform/atomic-write.js';
import { join } from 'node:path';
import { ensureBrokerCertificate } from '../../broker/index.js';
import { OtaError } from '../../protocol/errors.js';
import { isValidVin, simulatorVin } from '../../protocol/vin.js';
import { initPki, issueToDir, listPki, type Role } from '../../security/pki/index.js';
import { pathExists } from '../../platform/exists.js';

export const FLEET_FILE = 'fleet.json';
export const DEFAULT_VEHICLES = 3;
export const MAX_VEHICLES = 100;
/** The CA name of a PKI that `ota up` made. */
export const UP_CA_NAME = 'OTA Demo Fleet CA';
/** The manager's and the demo release key's certificate names. */
export const MANAGER_CERT = 'manager';
export const RELEASE_CERT = 'release';

const RENEW_BEFORE_MS = 86_400_000;

interface FleetFile {
  version: 1;
  vehicles: string[];
}


/** The vehicle ids recorded in `<data>/fleet.json` ([] when there is none). Throws UP_FLEET_FILE when it is unusable. */
export async function loadFleet(dataDir: string): Promise<string[]> {
  const file = join(dataDir, FLEET_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  let parsed: Partial<FleetFile>;
  try {
    parsed = JSON.parse(text) as Partial<FleetFile>;
  } catch (e) {
    throw new OtaError('UP_FLEET_FILE', `${file} is not JSON; fix or remove it`, { cause: e });
  }
  const vehicles = parsed.vehicles;
  if (!Array.isArray(vehicles) || !vehicles.every((v): v is string => typeof v === 'string' && isValidVin(v)) || new Set(vehicles).size !== vehicles.length) {
    throw new OtaError('UP_FLEET_FILE', `${file} must hold { "version": 1, "vehicles": [distinct VINs] }`);
  }
  return vehicles;
}

/**
 * The first `count` vehicles of the fleet (default: all recorded, or DEFAULT_VEHICLES for a new one),
 * adding deterministic VINs (`simulatorVin(n)`) when the record has fewer; writes fleet.json if it grew.
 */
export async function ensureFleet(dataDir: string, count?: number): Promise<{ vehicles: string[]; added: string[] }> {
  const recorded = await loadFleet(dataDir);
  const want = count ?? (recorded.length > 0 ? recorded.length : DEFAULT_VEHICLES);
  if (!Number.isInteger(want) || want < 0 || want > MAX_VEHICLES) throw new OtaError('UP_BAD_OPTION', `--vehicles must be 0-${MAX_VEHICLES}`);
  const all = [...recorded];
  const added: string[] = [];
  for (let n = 1; all.length < want; n++) {
    const vin = simulatorVin(n);
    if (all.includes(vin)) continue;
    all.push(vin);
    added.push(vin);
  }
  if (added.length > 0) {
    await mkdir(dataDir, { recursive: true });
    const file = join(dataDir, FLEET_FILE);
    await writeFileAtomic(file, JSON.stringify({ version: 1, vehicles: all } satisfies FleetFile, null, 2) + '\n', { mode: 0o644 });
  }
  return { vehicles: all.slice(0, want), added };
}

/** What ensurePki did. */
export interface PkiSetup {
  createdCa: boolean;
  issued: string[];
}

/** Makes sure `pkiDir` holds the CA, broker, manager, release and each vehicle's certificate (see the module comment). */
export async function ensurePki(pkiDir: string, vehicles: readonly string[], now = new Date()): Promise<PkiSetup> {
  let createdCa = false;
  if (!(await pathExists(join(pkiDir, 'ca.pem')))) {
    await initPki(pkiDir, { name: UP_CA_NAME });
    createdCa = true;
  }
  const issued: string[] = [];
  if (await ensureBrokerCertificate(pkiDir)) issued.push('broker');
  const index = await listPki(pkiDir);
  const wanted: Array<[string, Role]> = [[MANAGER_CERT, 'manager'], [RELEASE_CERT, 'release'], ...vehicles.map((v): [string, Role] => [v, 'vehicle'])];
  for (const [name, role] of wanted) {
    const current = index.certificates.filter((c) => c.name === name && !c.revoked).at(-1);
    const files = (await pathExists(join(pkiDir, `${name}.pem`))) && (await pathExists(join(pkiDir, `${name}.key`)));
    if (current !== undefined && current.role !== role) {
      throw new OtaError('UP_PKI_CONFLICT', `${pkiDir}: '${name}' is a ${current.role} certificate, expected ${role}`);
    }
    const fresh = current !== undefined && Date.parse(current.notAfter) - now.getTime() > RENEW_BEFORE_MS;
    if (files && fresh) continue;
    // Missing files or an expiring certificate: issue anew (force revokes what the index still lists as superseded).
    await issueToDir(pkiDir, { role, name, force: true });
    issued.push(name);
  }
  return { createdCa, issued };
}
