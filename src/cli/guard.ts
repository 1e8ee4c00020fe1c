/**
 * The last line of defence of the long-running commands (`ota up`, `ota manager`, `ota broker`,
 * `ota vehicle`): a promise that rejects with nobody listening is a bug, but one lost request must not
 * take the broker, the manager and a whole simulated fleet down with it. The guard logs it (one JSON
 * line, `process.unhandled_rejection`, code and message only: never a stack with data in it) and keeps
 * serving, counting them (`unhandledRejections()`).
 *
 * It never hides a crash in tests: under the node test runner (NODE_TEST_CONTEXT, inherited by every
 * process a test spawns) or with OTA_STRICT_REJECTIONS=1, it logs the same line and then exits with
 * status 70 (EX_SOFTWARE), so a test sees a dead process, not a quiet one. Uncaught exceptions are not
 * guarded: Node's default (print, exit 1) stands, since the state they leave behind is unknown.
 */
import { errorFields, type ManagerLog } from '../manager/log.js';

export const UNHANDLED_EXIT_CODE = 70;

let installed = false;
let count = 0;

/** Whether an unhandled rejection ends the process (tests, OTA_STRICT_REJECTIONS=1). */
export function strictRejections(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['OTA_STRICT_REJECTIONS'] === '1' || (env['NODE_TEST_CONTEXT'] !== undefined && env['OTA_STRICT_REJECTIONS'] !== '0');
}

/** Install the guard once per process (later calls do nothing). */
export function installRejectionGuard(log: ManagerLog, env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  const strict = strictRejections(env);
  process.on('unhandledRejection', (reason: unknown) => {
    count++;
    log('error', 'process.unhandled_rejection', { ...errorFields(reason), count, exiting: strict });
    if (strict) process.exit(UNHANDLED_EXIT_CODE);
  });
}

/** Unhandled rejections seen since start (0 unless there is a bug). */
export function unhandledRejections(): number {
  return count;
}
