/** Start-up checks of `ota up`: is a manager already running on the data directory, is the fleet connected. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manager, VehicleView } from '../../manager/index.js';

/** The manager that `<data>/manager.json` names, if its process is alive (and is not this one). */
export async function readRunningManager(dataDir: string): Promise<{ pid: number; api: string } | undefined> {
  let json: { pid?: unknown; api?: unknown };
  try {
    json = JSON.parse(await readFile(join(dataDir, 'manager.json'), 'utf8')) as typeof json;
  } catch {
    return undefined;
  }
  const pid = json.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // a stale file of a crashed manager
  }
  return { pid, api: typeof json.api === 'string' ? json.api : '?' };
}

const ready = (v: VehicleView | undefined): v is VehicleView => v !== undefined && v.reachable && v.ecus.length > 0;

function describe(v: VehicleView): string {
  const ecus = v.ecus.map((e) => `${e.name} ${e.appVersion ?? e.mode}`).join(', ');
  return `${v.id}  ${v.channelSuite ?? '?'}  ${ecus}`;
}

/**
 * Waits until every vehicle of `ids` is online with a secure session and has announced its ECUs, at
 * most `timeoutMs` (or until `signal` aborts). Returns a line per ready vehicle and the ids still missing.
 */
export async function waitForFleet(manager: Manager, ids: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<{ lines: string[]; missing: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const byId = new Map((await manager.vehicles()).map((v) => [v.id, v]));
    const missing = ids.filter((id) => !ready(byId.get(id)));
    if (missing.length === 0 || Date.now() >= deadline || signal.aborted) {
      const lines = ids.map((id) => byId.get(id)).filter(ready).map(describe);
      return { lines, missing };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
