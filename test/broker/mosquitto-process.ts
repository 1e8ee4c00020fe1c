// Running real Mosquitto with the configuration `ota broker mosquitto-config` writes (tests only).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { writeMosquittoConfig } from '../../src/broker/mosquitto.js';
import { WAIT_MS } from './helpers.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
/** Why Mosquitto tests are skipped here, or undefined when they can run. */
export const MOSQUITTO_SKIP = existsSync(MOSQUITTO)
  ? undefined
  : `${MOSQUITTO} is not installed (apt-get install -y mosquitto); the Mosquitto configuration is not exercised`;

/** A free TCP port on 127.0.0.1 (closed again before Mosquitto binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A Mosquitto process and its output so far. */
export interface MosquittoProcess {
  url: string;
  output(): string;
  /** SIGHUP: Mosquitto reloads what its manual says it reloads (ACL, certfile, keyfile). */
  reload(): void;
  stop(): Promise<void>;
}

/**
 * Write the configuration for `pkiDir` into `outDir` and start Mosquitto on a free port. As root, the
 * config says `user root`: Mosquitto would otherwise drop to the `mosquitto` account, which cannot
 * read the 0600 keys of a PKI directory owned by root.
 */
export async function startMosquitto(pkiDir: string, outDir: string): Promise<MosquittoProcess> {
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const { confPath } = await writeMosquittoConfig({ pkiDir, outDir, port, ...(asRoot ? { user: 'root' } : {}) });
  const child = spawn(MOSQUITTO, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  await waitRunning(child, port, () => out);
  return {
    url: `mqtts://127.0.0.1:${port}`,
    output: () => out,
    reload: () => void child.kill('SIGHUP'),
    stop: () => stopChild(child),
  };
}

/** Mosquitto's stdout is block-buffered in a pipe, so readiness is the port accepting a TCP connection. */
async function waitRunning(child: ChildProcess, port: number, out: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${out()}`);
    if (await accepts(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`mosquitto did not listen within ${WAIT_MS} ms:\n${out()}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
  await exited;
  clearTimeout(timer);
}

/** The config directory next to a PKI directory. */
export const confDirFor = (pkiDir: string): string => join(pkiDir, '..', 'mosquitto');
