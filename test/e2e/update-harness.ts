/**
 * What the update end-to-end tests add to harness.ts: the CLI run asynchronously (so a test can restart
 * the broker, the manager or the vehicle while `ota flash` waits), long-running `ota broker|manager|
 * vehicle` processes that a test kills and restarts, and bounded polling. Every child is killed by
 * `killUpdateChildren()`.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { spawnOta } from '../helpers/ota-cli.js';
import { childEnv, CLI_MS } from './harness.js';

const children = new Set<ChildProcessWithoutNullStreams>();

/** SIGKILLs every child these helpers started that still runs. */
export function killUpdateChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `ota <args>` in the background; resolves when it exits (SIGKILL after `timeoutMs`). */
export function otaAsync(args: string[], timeoutMs = CLI_MS): Promise<CliResult> {
  const child = spawnOta(args, { env: childEnv });
  children.add(child);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (status) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ status, stdout, stderr });
    });
  });
}

/** A long-running `ota` process (broker, manager, vehicle). */
export interface Daemon {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `ota <args>` and waits until its stdout matches `ready` (within `readyMs`). */
export async function startDaemon(args: string[], ready: RegExp, readyMs = 30_000): Promise<Daemon> {
  const child = spawnOta(args, { env: childEnv });
  children.add(child);
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + readyMs;
  while (!ready.test(out)) {
    if (child.exitCode !== null) throw new Error(`ota ${args.join(' ')} exited with ${child.exitCode}:\n${out}\n${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ota ${args.join(' ')} did not print ${String(ready)} within ${readyMs} ms:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
}

/** A TCP port free on 127.0.0.1 right now (for a broker that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Polls `check` every `everyMs` until it returns a value (not undefined/false); throws after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
