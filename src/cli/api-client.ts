/**
 * The CLI's client of the manager's HTTP API (src/manager/README.md). It finds the manager through the
 * data directory — `<data>/manager.json` (the API URL a running manager wrote) and
 * `<data>/manager/api-token` (the bearer token) — and turns every failure into an `ApiError` whose code
 * says what to do: MANAGER_NOT_RUNNING, UNAUTHORIZED, VEHICLE_UNKNOWN, VEHICLE_OFFLINE, MANAGER_TIMEOUT,
 * or the API's own code (DIAG_TIMEOUT, ECU_UNKNOWN, …) with its message.
 *
 * A manager elsewhere: `OTA_API_URL=http://host:8080` and `OTA_API_TOKEN=<token>` (or the token file in
 * the data directory) take the place of manager.json.
 */
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { OtaError } from '../protocol/errors.js';
import type { DiagResult, ManagerStats, VehicleView } from '../manager/index.js';

export const API_PREFIX = '/api/v1';
/** Wait for API calls other than diagnostics (which wait for their own timeout plus this). */
export const DEFAULT_API_TIMEOUT_MS = 10_000;
const NOT_RUNNING_HINT = 'start it with `ota up` or `ota manager`';

/** A refusal or failure of an API call, with a stable code and a message a person can act on. */
export class ApiError extends OtaError {
  constructor(
    code: string,
    message: string,
    readonly status?: number,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** Where the manager of a data directory is and how to authenticate to it. */
export interface ManagerLocation {
  api: string;
  broker?: string;
  pid?: number;
  token: string;
  dataDir: string;
  /** For an https:// API: the fleet CA (PEM) its certificate must chain to (`<data>/pki/ca.pem`). */
  ca?: string;
}

interface ManagerJson {
  api?: unknown;
  broker?: unknown;
  pid?: unknown;
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/** True unless the process certainly does not exist (EPERM: it exists under another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readToken(dataDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env['OTA_API_TOKEN'];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv.trim();
  const file = join(dataDir, 'manager', 'api-token');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new ApiError('UNAUTHORIZED', `no API token at ${file} (the manager writes it at its first start; or set OTA_API_TOKEN)`, undefined, { cause: e });
  }
}

/** The fleet CA of the data directory for an https:// API (a manager on a non-loopback address serves HTTPS with a fleet certificate). */
async function fleetCa(api: string, dataDir: string): Promise<string | undefined> {
  if (!api.startsWith('https://')) return undefined;
  try {
    return await readFile(join(dataDir, 'pki', 'ca.pem'), 'utf8');
  } catch {
    return undefined; // then the system's CAs (or NODE_EXTRA_CA_CERTS) must know the server's
  }
}

/** Finds the manager of `dataDir`: `OTA_API_URL`, else `<data>/manager.json` of a live manager. Throws MANAGER_NOT_RUNNING. */
export async function locateManager(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ManagerLocation> {
  const fromEnv = env['OTA_API_URL'];
  if (fromEnv !== undefined && fromEnv.length > 0) {
    const api = fromEnv.replace(/\/+$/, '');
    const ca = await fleetCa(api, dataDir);
    return { api, token: await readToken(dataDir, env), dataDir, ...(ca === undefined ? {} : { ca }) };
  }
  const file = join(dataDir, 'manager.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ApiError('MANAGER_NOT_RUNNING', `no manager is running for ${dataDir} (no manager.json): ${NOT_RUNNING_HINT}`);
  }
  let json: ManagerJson;
  try {
    json = JSON.parse(text) as ManagerJson;
  } catch {
    throw new ApiError('MANAGER_NOT_RUNNING', `${file} is unreadable: ${NOT_RUNNING_HINT}`);
  }
  if (typeof json.api !== 'string' || !/^https?:\/\//.test(json.api)) throw new ApiError('MANAGER_NOT_RUNNING', `${file} names no API URL: ${NOT_RUNNING_HINT}`);
  const pid = typeof json.pid === 'number' && Number.isInteger(json.pid) && json.pid > 0 ? json.pid : undefined;
  // manager.json is written on the manager's own machine: a dead pid there means it crashed.
  if (pid !== undefined && isLoopback(json.api) && !processAlive(pid)) {
    throw new ApiError('MANAGER_NOT_RUNNING', `the manager that wrote ${file} (pid ${pid}) is not running any more: ${NOT_RUNNING_HINT}`);
  }
  const api = json.api.replace(/\/+$/, '');
  const ca = await fleetCa(api, dataDir);
  return {
    api,
    ...(typeof json.broker === 'string' ? { broker: json.broker } : {}),
    ...(pid === undefined ? {} : { pid }),
    token: await readToken(dataDir, env),
    dataDir,
    ...(ca === undefined ? {} : { ca }),
  };
}

/** What the CLI adds to an API error so the reader knows the next step. */
function hintFor(code: string, location: ManagerLocation): string {
  switch (code) {
    case 'UNAUTHORIZED':
      return ` (the token in ${join(location.dataDir, 'manager', 'api-token')} was not accepted: is this the manager of that data directory?)`;
    case 'VEHICLE_UNKNOWN':
      return ' (list the vehicles with `ota fleet`)';
    case 'VEHICLE_OFFLINE':
      return ' (`ota fleet` shows which vehicles are online)';
    case 'ECU_UNKNOWN':
    case 'GW_UNKNOWN_ECU':
      return ' (`ota fleet` lists each vehicle\'s ECUs)';
    case 'BROKER_DISCONNECTED':
      return ' (is the broker running?)';
    default:
      return '';
  }
}

/**
 * A `fetch` for an https:// manager whose certificate chains to `ca` (node's fetch takes no CA option):
 * node:https with that CA, answering a Response. Only what ApiClient uses: method, headers, body, signal.
 */
function httpsFetch(ca: string): (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal }) => Promise<Response> {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method, headers: init.headers, ca, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502 })));
      });
      req.on('error', (e) => reject(init.signal.aborted ? init.signal.reason : e));
      req.end(init.body);
    });
}

/** A typed client of one manager. */
export class ApiClient {
  constructor(
    readonly location: ManagerLocation,
    private readonly actor = 'cli',
  ) {}

  /** Locate the manager of `dataDir` and make a client for it. */
  static async open(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    return new ApiClient(await locateManager(dataDir, env));
  }

  /** One request; resolves with the JSON body of a 2xx answer, throws ApiError otherwise. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = DEFAULT_API_TIMEOUT_MS): Promise<T> {
    try {
      return await this.attempt<T>(method, path, body, timeoutMs);
    } catch (e) {
      // A kept-alive connection the manager closed meanwhile (it restarted): a GET is safe to send again.
      if (method === 'GET' && e instanceof ApiError && e.code === 'MANAGER_CONNECTION_LOST') return this.attempt<T>(method, path, body, timeoutMs);
      throw e;
    }
  }

  private async attempt<T>(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
    const url = `${this.location.api}${API_PREFIX}${path}`;
    let res: Response;
    try {
      res = await (this.location.ca === undefined ? fetch : httpsFetch(this.location.ca))(url, {
        method,
        headers: {
          authorization: `Bearer ${this.location.token}`,
          'x-ota-actor': this.actor,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw this.networkError(e, timeoutMs);
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (e) {
      throw new ApiError('MANAGER_BAD_RESPONSE', `${method} ${url}: HTTP ${res.status} without a JSON body`, res.status, { cause: e });
    }
    if (res.ok) return parsed as T;
    const err = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof err?.code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(err.code) ? err.code : `HTTP_${res.status}`;
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
    throw new ApiError(code, message + hintFor(code, this.location), res.status);
  }

  private networkError(e: unknown, timeoutMs: number): ApiError {
    const err = e as { name?: string; cause?: { code?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      return new ApiError('MANAGER_TIMEOUT', `the manager at ${this.location.api} did not answer within ${timeoutMs} ms`, undefined, { cause: e });
    }
    const code = err.cause?.code ?? (e as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND') {
      return new ApiError('MANAGER_NOT_RUNNING', `nothing answers at ${this.location.api} (${code}): ${NOT_RUNNING_HINT}`, undefined, { cause: e });
    }
    if (code === 'UND_ERR_SOCKET') {
      return new ApiError('MANAGER_CONNECTION_LOST', `the connection to the manager at ${this.location.api} closed before it answered (did it stop?)`, undefined, { cause: e });
    }
    return new ApiError('MANAGER_UNREACHABLE', `cannot reach the manager at ${this.location.api}: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
  }

  health(): Promise<{ status: string; version: string; broker: { url: string; connected: boolean }; uptimeS: number }> {
    return this.request('GET', '/health');
  }

  async vehicles(): Promise<VehicleView[]> {
    return (await this.request<{ vehicles: VehicleView[] }>('GET', '/vehicles')).vehicles;
  }

  vehicle(id: string): Promise<VehicleView> {
    return this.request('GET', `/vehicles/${encodeURIComponent(id)}`);
  }

  stats(): Promise<ManagerStats> {
    return this.request('GET', '/stats');
  }

  /** One UDS request (hex) to one ECU; a negative response is a result, not an error. */
  diag(vehicleId: string, ecu: string, request: string, timeoutMs?: number): Promise<DiagResult> {
    const wait = (timeoutMs ?? 10_000) + 5_000;
    return this.request('POST', `/vehicles/${encodeURIComponent(vehicleId)}/diag`, { ecu, request, ...(timeoutMs === undefined ? {} : { timeoutMs }) }, wait);
  }

  /**
   * The registered id a person meant: `arg` itself, else the one vehicle whose id ends with `arg`
   * (case-insensitive), so `ota diag 000001 …` finds `ZZSVECU1?SA000001`. Throws VEHICLE_UNKNOWN.
   */
  async resolveVehicle(arg: string): Promise<string> {
    const all = await this.vehicles();
    if (all.some((v) => v.id === arg)) return arg;
    const matches = all.filter((v) => v.id.toUpperCase().endsWith(arg.toUpperCase()));
    if (matches.length === 1) return (matches[0] as VehicleView).id;
    if (matches.length > 1) throw new ApiError('VEHICLE_AMBIGUOUS', `'${arg}' ends ${matches.length} vehicle ids (${matches.map((v) => v.id).join(', ')}): give more of it`);
    throw new ApiError('VEHICLE_UNKNOWN', `no vehicle '${arg}'${hintFor('VEHICLE_UNKNOWN', this.location)}`, 404);
  }
}
