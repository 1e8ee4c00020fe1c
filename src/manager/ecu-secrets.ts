/**
 * The manager's key store of ECU SecurityAccess secrets, by vehicle id and ECU name. Today `ota up`
 * puts the secrets of the ECUs it simulates here and `ota diag unlock` reads them on the same machine;
 * a later step moves the key computation itself into the manager, behind this same interface.
 *
 * At rest: `<data>/manager/ecu-secrets.json` (0600) holds each secret encrypted with AES-256-GCM under
 * the key in `<data>/manager/ecu-secrets.key` (32 random bytes as hex, 0600), a fresh 12-byte nonce per
 * entry, and `ota-ecu-secret/v1 \0 <vehicle> \0 <ecu>` as additional data, so an entry copied to
 * another vehicle or ECU does not decrypt. A copy of the JSON file alone (a backup, a support bundle)
 * reveals no secret. Both files are replaced atomically (temp file, fsync, rename).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createFileExclusiveSync, writeFileAtomicSync } from '../platform/atomic-write.js';
import { ManagerError } from './errors.js';

/** Get and put ECU secrets by vehicle id and ECU name. */
export interface EcuSecretStore {
  /** The secret of `ecu` of `vehicleId`, or undefined when the store has none. MGR_SECRET_STORE when unreadable. */
  get(vehicleId: string, ecu: string): Promise<Uint8Array | undefined>;
  /** Store (or replace) the secret of `ecu` of `vehicleId`. */
  put(vehicleId: string, ecu: string, secret: Uint8Array): Promise<void>;
  /** The store's file (what `ota up` prints and the docs name). */
  readonly file: string;
}

export const ECU_SECRETS_FILE = 'ecu-secrets.json';
export const ECU_SECRETS_KEY_FILE = 'ecu-secrets.key';

interface StoreFile {
  version: 1;
  /** vehicle id → ECU name → `<nonce hex>.<ciphertext hex>.<tag hex>`. */
  secrets: Record<string, Record<string, string>>;
}

const AAD_LABEL = 'ota-ecu-secret/v1';

function storeError(message: string, cause?: unknown): ManagerError {
  return new ManagerError('MGR_SECRET_STORE', message, cause === undefined ? {} : { cause });
}

/** Writes a 0600 file in a 0700 directory, atomically and durably; `once`: only if it does not exist yet (then false). */
function writePrivate(file: string, text: string, once = false): boolean {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (once) return createFileExclusiveSync(file, text, { mode: 0o600 });
  writeFileAtomicSync(file, text, { mode: 0o600 });
  return true;
}

function readPrivate(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storeError(`cannot read ${file}`, e);
  }
  // Readable by others is no secret: tighten it rather than refuse.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return text;
}

function aad(vehicleId: string, ecu: string): Buffer {
  return Buffer.from(`${AAD_LABEL}\0${vehicleId}\0${ecu}`, 'utf8');
}

/** The key store in `managerDir` (`<data>/manager`). Nothing is created until the first put. */
export function openEcuSecretStore(managerDir: string): EcuSecretStore {
  const file = join(managerDir, ECU_SECRETS_FILE);
  const keyFile = join(managerDir, ECU_SECRETS_KEY_FILE);

  const key = (create: boolean): Buffer | undefined => {
    const text = readPrivate(keyFile);
    if (text === undefined) {
      if (!create) return undefined;
      writePrivate(keyFile, randomBytes(32).toString('hex') + '\n', true); // false: another process made it first
      return key(false);
    }
    if (!/^[0-9a-f]{64}$/.test(text.trim())) throw storeError(`${keyFile} does not hold a 32-byte hex key`);
    return Buffer.from(text.trim(), 'hex');
  };

  const load = (): StoreFile => {
    const text = readPrivate(file);
    if (text === undefined) return { version: 1, secrets: {} };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw storeError(`${file} is not JSON`, e);
    }
    const p = parsed as Partial<StoreFile> | null;
    const ok =
      p !== null && typeof p === 'object' && p.version === 1 && typeof p.secrets === 'object' && p.secrets !== null &&
      Object.values(p.secrets).every((ecus) => typeof ecus === 'object' && ecus !== null && Object.values(ecus).every((v) => typeof v === 'string'));
    if (!ok) throw storeError(`${file} does not have the expected fields`);
    return p as StoreFile;
  };

  return {
    file,
    async get(vehicleId, ecu) {
      const sealed = load().secrets[vehicleId]?.[ecu];
      if (sealed === undefined) return undefined;
      const k = key(false);
      if (k === undefined) throw storeError(`${file} holds secrets but ${keyFile} is missing`);
      const m = /^([0-9a-f]{24})\.([0-9a-f]{2,256})\.([0-9a-f]{32})$/.exec(sealed);
      if (m === null) throw storeError(`${file}: the entry of ${vehicleId}/${ecu} is malformed`);
      try {
        const d = createDecipheriv('aes-256-gcm', k, Buffer.from(m[1] as string, 'hex'));
        d.setAAD(aad(vehicleId, ecu));
        d.setAuthTag(Buffer.from(m[3] as string, 'hex'));
        return Uint8Array.from(Buffer.concat([d.update(Buffer.from(m[2] as string, 'hex')), d.final()]));
      } catch (e) {
        throw storeError(`${file}: the entry of ${vehicleId}/${ecu} does not decrypt with ${keyFile}`, e);
      }
    },
    async put(vehicleId, ecu, secret) {
      const k = key(true) as Buffer;
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', k, nonce);
      c.setAAD(aad(vehicleId, ecu));
      const ct = Buffer.concat([c.update(secret), c.final()]);
      const content = load();
      content.secrets[vehicleId] = { ...content.secrets[vehicleId], [ecu]: `${nonce.toString('hex')}.${ct.toString('hex')}.${c.getAuthTag().toString('hex')}` };
      writePrivate(file, JSON.stringify(content, null, 2) + '\n');
    },
  };
}
