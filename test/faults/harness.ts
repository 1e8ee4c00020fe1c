/**
 * Real processes for the fault tests: `ota broker`, `ota manager`, `ota vehicle` started from a data
 * directory made by `ota up --init-only`, an HTTP client with enough sockets for thousands of requests
 * at once, and a read-only look at the manager's ota.db. Every process started here is killed by stopAll().
 */
import { request as httpRequest, Agent } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { runOta, spawnOta } from '../helpers/ota-cli.js';

export interface Proc {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Poll until `check` is truthy (every 50 ms) or fail naming `what` after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Rig {
  readonly procs: Proc[] = [];
  private constructor(
    readonly dataDir: string,
    readonly vehicles: string[],
  ) {}

  /** A data directory with the PKI and `n` vehicle ids (`ota up --init-only`). */
  static async create(n: number): Promise<Rig> {
    const dataDir = await mkdtemp(join(tmpdir(), 'ota-faults-'));
    const r = runOta(['up', '--init-only', '--vehicles', String(n), '--data', dataDir], { timeoutMs: 60_000 });
    if (r.status !== 0) throw new Error(`ota up --init-only failed: ${r.stderr}`);
    const vehicles = JSON.parse(await readFile(join(dataDir, 'fleet.json'), 'utf8')) as { vehicles: string[] } | string[];
    return new Rig(dataDir, Array.isArray(vehicles) ? vehicles : vehicles.vehicles);
  }

  spawn(args: string[]): Proc {
    const child = spawnOta(args);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const p = { child, out: () => out, err: () => err, exited };
    this.procs.push(p);
    return p;
  }

  /** `ota broker` on a free port; resolves with the process and its URL. */
  async broker(): Promise<{ proc: Proc; url: string }> {
    const proc = this.spawn(['broker', '--pki', join(this.dataDir, 'pki'), '--port', '0']);
    const url = await until('broker listening', () => /broker listening on (mqtts:\/\/\S+)/.exec(proc.out())?.[1], 60_000);
    return { proc, url };
  }

  /** `ota manager` against `brokerUrl`; resolves with its API base URL and token once it serves. */
  async manager(brokerUrl: string): Promise<{ proc: Proc; api: string; token: string }> {
    const proc = this.spawn(['manager', '--data', this.dataDir, '--broker', brokerUrl, '--port', '0']);
    const api = await until('manager API', () => /manager: API (http:\/\/\S+)\/api\/v1/.exec(proc.out())?.[1], 60_000);
    const token = (await readFile(join(this.dataDir, 'manager', 'api-token'), 'utf8')).trim();
    return { proc, api, token };
  }

  /** `ota vehicle --id <id>`; resolves once its secure session with the manager is up. */
  async vehicle(id: string, brokerUrl: string): Promise<Proc> {
    const proc = this.spawn(['vehicle', '--id', id, '--data', this.dataDir, '--broker', brokerUrl]);
    await until(`${id} session`, () => proc.out().includes('secure session'), 60_000);
    return proc;
  }

  /** Rows in diag_log, read from the file (WAL: a reader beside a running or killed manager). */
  diagRows(): Array<{ id: number; error_code: string | null }> {
    const db = new BetterSqlite3(join(this.dataDir, 'manager', 'ota.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT id, error_code FROM diag_log ORDER BY id').all() as Array<{ id: number; error_code: string | null }>;
    } finally {
      db.close();
    }
  }

  /** Kill every process started here (SIGKILL) and wait for their exits. */
  async killAll(): Promise<void> {
    for (const p of this.procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGCONT');
        p.child.kill('SIGKILL');
      }
    }
    await Promise.all(this.procs.map((p) => p.exited));
  }

  async stopAll(): Promise<void> {
    await this.killAll();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** An HTTP client for the manager API with room for thousands of requests in flight. */
export class Api {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4096 });
  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  /** One request; resolves with status and parsed body, or { status: 0, error } if the connection failed. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; error?: string }> {
    const url = new URL(this.base + '/api/v1' + path);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      const req = httpRequest(
        url,
        {
          method,
          agent: this.agent,
          timeout: 60_000,
          headers: { authorization: `Bearer ${this.token}`, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              // not JSON: left empty
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', (e) => resolve({ status: 0, body: {}, error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (e) => resolve({ status: 0, body: {}, error: e.message }));
      req.end(data);
    });
  }

  diag(vehicleId: string, timeoutMs: number): ReturnType<Api['call']> {
    return this.call('POST', `/vehicles/${vehicleId}/diag`, { ecu: 'engine', request: '22F190', timeoutMs });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The error code of an API answer (null for a 200 result). */
export function codeOf(r: { status: number; body: Record<string, unknown> }): string | null {
  const e = r.body['error'] as { code?: string } | undefined;
  return r.status === 200 ? null : (e?.code ?? `HTTP_${r.status}`);
}
