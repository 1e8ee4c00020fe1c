/**
 * Runs the real `ota` command as a child process: the compiled `dist/src/cli/main.js` when the tests
 * themselves run compiled (npm test), else `src/cli/main.ts` through tsx (running one test file by hand).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
/** The repository root, whichever way the tests run. */
export const repoRoot = compiled ? resolve(here, '..', '..', '..') : resolve(here, '..', '..');

/** The argv prefix that starts `ota`. */
export function otaCommand(): { cmd: string; args: string[] } {
  const main = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  if (compiled && existsSync(main)) return { cmd: process.execPath, args: ['--enable-source-maps', main] };
  return { cmd: process.execPath, args: ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts')] };
}

/** Run `ota <args>` to completion (bounded by `timeoutMs`). */
export function runOta(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): SpawnSyncReturns<string> {
  const { cmd, args: prefix } = otaCommand();
  return spawnSync(cmd, [...prefix, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 30_000,
    input: options.input,
  });
}

/** Start `ota <args>` in the background; the caller must kill it. */
export function spawnOta(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcessWithoutNullStreams {
  const { cmd, args: prefix } = otaCommand();
  return spawn(cmd, [...prefix, ...args], { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
}
