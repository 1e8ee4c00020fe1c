/** Where the manager's files live in the data directory (docs/connected-system.md, "Data directory"). */
import { join, resolve } from 'node:path';

export const DEFAULT_BROKER_URL = 'mqtts://127.0.0.1:8883';
export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 8080;

export interface ManagerPaths {
  dataDir: string;
  pkiDir: string;
  database: string;
  apiToken: string;
  /** Content-addressed firmware images: `<blobs>/sha256/<hex>`. */
  blobsDir: string;
  /** `{ api, broker, pid }` while a manager runs: how the CLI finds it. */
  managerJson: string;
  /** The manager's own directory, `<data>/manager` (database, token, blobs, ECU secret key store). */
  managerDir: string;
}

/** The data directory: `--data`, else `$OTA_HOME`, else `./.ota`. */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env['OTA_HOME'] ?? '.ota');
}

export function managerPaths(dataDir: string): ManagerPaths {
  const d = resolve(dataDir);
  return {
    dataDir: d,
    pkiDir: join(d, 'pki'),
    database: join(d, 'manager', 'ota.db'),
    apiToken: join(d, 'manager', 'api-token'),
    blobsDir: join(d, 'manager', 'blobs'),
    managerJson: join(d, 'manager.json'),
    managerDir: join(d, 'manager'),
  };
}
