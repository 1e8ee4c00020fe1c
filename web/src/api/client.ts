/**
 * The HTTP client of the dashboard: same-origin fetch under /api/v1 with the bearer token, typed errors,
 * and a small connection store (ok / unauthorized / unreachable) that every call updates, so the header
 * can tell a person what is wrong and what to do about it.
 */
import { getToken } from '../auth';
import type { AuditEntry, DiagLogEntry, DiagResult, Firmware, Health, Job, JobPlan, JobState, Stats, Vehicle } from './types';

export const API_PREFIX = '/api/v1';
/** Recorded by the manager as the actor `api:dashboard` in the diagnostic and audit logs. */
const ACTOR = 'dashboard';
const DEFAULT_TIMEOUT_MS = 15_000;

/** A failed API call: `status` 0 means the manager could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type ConnectionState = 'unknown' | 'ok' | 'unauthorized' | 'unreachable';

export interface Connection {
  state: ConnectionState;
  /** When the last call succeeded (ms since epoch). */
  lastOkAt: number | undefined;
  /** The last transport failure, for the banner. */
  detail: string | undefined;
}

let connection: Connection = { state: 'unknown', lastOkAt: undefined, detail: undefined };
const listeners = new Set<() => void>();

function setConnection(next: Partial<Connection>): void {
  const merged = { ...connection, ...next };
  if (merged.state === connection.state && merged.lastOkAt === connection.lastOkAt && merged.detail === connection.detail) return;
  connection = merged;
  for (const l of listeners) l();
}

const mutationListeners = new Set<() => void>();

/** Called after every POST (answered or not), so counters shown elsewhere can refresh at once. */
export function onMutation(listener: () => void): () => void {
  mutationListeners.add(listener);
  return () => mutationListeners.delete(listener);
}

/** Tell listeners that server state changed (e.g. a job finished) without a POST from here. */
export function notifyMutation(): void {
  for (const l of mutationListeners) l();
}

/** For useSyncExternalStore. */
export const connectionStore = {
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  get: (): Connection => connection,
};

/** The message a person can act on for an API failure. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'Token missing or wrong: open the URL printed by `ota up` (it ends in #token=…), or paste the token from <data>/manager/api-token.';
    if (e.status === 0) return `Manager unreachable at ${location.origin}: is \`ota up\` (or \`ota manager\`) still running? ${e.message}`;
    return `${e.code}: ${e.message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

interface CallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  timeoutMs?: number;
  /** No bearer token (GET /health). */
  anonymous?: boolean;
}

async function call<T>(path: string, opts: CallOptions = {}): Promise<T> {
  if (opts.method !== 'POST') return request<T>(path, opts);
  try {
    return await request<T>(path, opts);
  } finally {
    notifyMutation();
  }
}

async function request<T>(path: string, opts: CallOptions): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-ota-actor': ACTOR };
  const token = getToken();
  if (!opts.anonymous && token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(API_PREFIX + path, {
      method: opts.method ?? 'GET',
      headers,
      cache: 'no-store',
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
  } catch (e) {
    const detail = e instanceof DOMException && e.name === 'TimeoutError' ? 'the request timed out' : 'no answer from the server';
    setConnection({ state: 'unreachable', detail });
    throw new ApiError(0, 'UNREACHABLE', detail);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status === 401) {
    if (!opts.anonymous) setConnection({ state: 'unauthorized', detail: undefined });
    throw new ApiError(401, 'UNAUTHORIZED', 'token missing or wrong');
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    // A proxy or a restarting server may answer without our error body.
    if (err === undefined && res.status >= 502) setConnection({ state: 'unreachable', detail: `HTTP ${res.status}` });
    else if (!opts.anonymous) setConnection({ state: 'ok', lastOkAt: Date.now(), detail: undefined });
    throw new ApiError(res.status, typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`, typeof err?.message === 'string' ? err.message : res.statusText);
  }
  if (!opts.anonymous) setConnection({ state: 'ok', lastOkAt: Date.now(), detail: undefined });
  else if (connection.state === 'unreachable') setConnection({ state: 'unknown', detail: undefined });
  return json as T;
}

const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s.length > 0 ? `?${s}` : '';
};

/** Every route the dashboard uses (src/manager/README.md, "HTTP API"). */
export const api = {
  // With the token: without one the manager answers only { status }.
  health: () => call<Health>('/health'),
  vehicles: async () => (await call<{ vehicles: Vehicle[] }>('/vehicles')).vehicles,
  vehicle: (id: string) => call<Vehicle>(`/vehicles/${encodeURIComponent(id)}`),
  diag: (vehicleId: string, body: { ecu: string; request: string; timeoutMs?: number }) =>
    call<DiagResult>(`/vehicles/${encodeURIComponent(vehicleId)}/diag`, { method: 'POST', body, timeoutMs: (body.timeoutMs ?? 10_000) + 5_000 }),
  diagLog: async (opts: { vehicle?: string; limit?: number }) => (await call<{ entries: DiagLogEntry[] }>(`/diag-log${query(opts)}`)).entries,
  auditLog: async (opts: { limit?: number }) => (await call<{ entries: AuditEntry[] }>(`/audit-log${query(opts)}`)).entries,
  stats: () => call<Stats>('/stats'),
  firmware: async (opts: { hardware?: string; limit?: number } = {}) => (await call<{ firmware: Firmware[] }>(`/firmware${query(opts)}`)).firmware,
  addFirmware: (body: { image: string; manifest: string; format?: string }) => call<Firmware>('/firmware', { method: 'POST', body, timeoutMs: 120_000 }),
  jobs: async (opts: { vehicle?: string; state?: JobState; limit?: number } = {}) => (await call<{ jobs: Job[] }>(`/jobs${query(opts)}`)).jobs,
  createJob: (body: { vehicle: string; ecu: string; firmware: string; dryRun?: boolean }) => call<Job | JobPlan>('/jobs', { method: 'POST', body }),
  cancelJob: (id: string, force = false) => call<Job>(`/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: force ? { force: true } : {} }),
};
