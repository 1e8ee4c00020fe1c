/**
 * Follows one update job until it ends, polling GET /jobs/:id (about 4 Hz; active jobs are answered from
 * the manager's memory). The manager may restart meanwhile — its jobs survive it — so a lost manager is
 * waited for (re-locating it through `<data>/manager.json`, whose API port may have changed) up to
 * `managerGraceMs`, saying so once.
 */
import type { Job } from '../../manager/index.js';
import { ApiClient, ApiError } from '../api-client.js';
import { getJob } from './api.js';

export const POLL_INTERVAL_MS = 250;
/** How long a manager may stay unreachable before the watch gives up (the job itself goes on). */
export const DEFAULT_MANAGER_GRACE_MS = 120_000;

/** API failures that mean "the manager is not there right now", not "the job is wrong". */
const TRANSIENT = new Set(['MANAGER_NOT_RUNNING', 'MANAGER_CONNECTION_LOST', 'MANAGER_TIMEOUT', 'MANAGER_UNREACHABLE', 'MANAGER_BAD_RESPONSE', 'MGR_CLOSED']);

export interface WatchOptions {
  client: ApiClient;
  jobId: string;
  onJob(job: Job): void;
  /** Told once when the manager becomes unreachable, and once when it is back. */
  onManager?(state: 'lost' | 'back', error?: ApiError): void;
  signal?: AbortSignal;
  intervalMs?: number;
  managerGraceMs?: number;
  /** Give up (WATCH_TIMEOUT) after this long; default never. */
  timeoutMs?: number;
  /** How a lost manager is found again (default ApiClient.open on the same data directory). */
  reopen?: () => Promise<ApiClient>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves with the job once it is done, failed or cancelled; rejects WATCH_ABORTED, WATCH_TIMEOUT or the manager's error. */
export async function watchJob(o: WatchOptions): Promise<Job> {
  let client = o.client;
  const reopen = o.reopen ?? (() => ApiClient.open(o.client.location.dataDir));
  const started = Date.now();
  let lostSince: number | undefined;
  for (;;) {
    if (o.signal?.aborted) throw new ApiError('WATCH_ABORTED', `stopped following job ${o.jobId}; it goes on (ota jobs show ${o.jobId})`);
    if (o.timeoutMs !== undefined && Date.now() - started > o.timeoutMs) throw new ApiError('WATCH_TIMEOUT', `job ${o.jobId} did not finish within ${Math.round(o.timeoutMs / 1000)} s; it goes on (ota jobs show ${o.jobId})`);
    try {
      const job = await getJob(client, o.jobId);
      if (lostSince !== undefined) o.onManager?.('back');
      lostSince = undefined;
      o.onJob(job);
      if (job.state !== 'active') return job;
    } catch (e) {
      if (!(e instanceof ApiError) || !TRANSIENT.has(e.code)) throw e;
      if (lostSince === undefined) {
        lostSince = Date.now();
        o.onManager?.('lost', e);
      } else if (Date.now() - lostSince > (o.managerGraceMs ?? DEFAULT_MANAGER_GRACE_MS)) {
        throw e;
      }
      // A restarted manager may listen on another port: find it again through manager.json.
      client = await reopen().catch(() => client);
    }
    await sleep(o.intervalMs ?? POLL_INTERVAL_MS, o.signal);
  }
}
