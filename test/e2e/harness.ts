/**
 * End-to-end harness: `ota up` as a real child process on free ports (0), the real `ota` CLI for every
 * command (test/helpers/ota-cli.ts), bounded waits, and every child killed when a suite ends.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOta, spawnOta } from '../helpers/ota-cli.js';

/** How long `ota up` may take to print `ready` (PKI creation, broker, manager, three vehicles). */
export const UP_READY_MS = 45_000;
/** One CLI command (a tsx start costs ~1.5 s on a busy machine). */
export const CLI_MS = 30_000;

/** The environment for children: no OTA_HOME from the developer's shell, no colours. */
export const childEnv: NodeJS.ProcessEnv = (() => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env['OTA_HOME'];
  delete env['OTA_API_URL'];
  delete env['OTA_API_TOKEN'];
  return env;
})();

/** Runs `ota <args>` to completion. */
export function ota(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = runOta(args, { env: childEnv, timeoutMs: CLI_MS, ...(input === undefined ? {} : { input }) });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `ota <args> --json` and parses its stdout. */
export function otaJson<T>(args: string[]): { status: number | null; json: T; stderr: string } {
  const r = ota([...args, '--json']);
  try {
    return { status: r.status, json: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`ota ${args.join(' ')} --json printed no JSON (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** A running `ota up`. */
export interface UpProcess {
  child: ChildProcessWithoutNullStreams;
  dataDir: string;
  /** `<data>/manager.json` as the running manager wrote it. */
  manager: { api: string; broker: string; pid: number };
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
}

const children = new Set<ChildProcessWithoutNullStreams>();

/** Kills every child this harness started that is still running. */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

/** Starts `ota up --data <dir> --port 0 --broker-port 0 <extra>` and waits until it prints `ready`. */
export async function startUp(dataDir: string, extra: string[] = []): Promise<UpProcess> {
  const child = spawnOta(['up', '--data', dataDir, '--port', '0', '--broker-port', '0', ...extra], { env: childEnv });
  children.add(child);
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + UP_READY_MS;
  while (!out.includes('\nready (')) {
    if (child.exitCode !== null) throw new Error(`ota up exited with ${child.exitCode}:\n${out}\n${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ota up did not print ready within ${UP_READY_MS} ms:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const manager = JSON.parse(await readFile(join(dataDir, 'manager.json'), 'utf8')) as UpProcess['manager'];
  return {
    child,
    dataDir,
    manager,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(timer);
        children.delete(child);
        return code;
      }
      children.delete(child);
      return child.exitCode;
    },
  };
}

/** A fresh temporary data directory. */
export async function tempDataDir(prefix: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
