/**
 * The job engine (docs/update-flow.md): runs the active update jobs, one at a time per vehicle in
 * creation order, over the vehicle's secure session; the transfer of each is a Run (run.ts).
 *
 *   session established ─▶ update.offer (the job's one signed assignment, every time)
 *   update.accept       ─▶ the gateway's bitmap is the truth; stream the missing chunks, ≤ window unacked
 *   update.ack          ─▶ mark held, re-send what the bitmap shows lost, keep the window full
 *   update.status       ─▶ phase / percent / reason, persisted at once; done / failed end the job
 *
 * Restarts: a new session (gateway restart, broker restart, manager restart) or a broker reconnect
 * re-offers the same job; the gateway answers with its bitmap and only missing chunks are sent. No
 * accept within the offer timeout, or no ack within the ack timeout while chunks are in flight, re-offers
 * too (backing off to 60 s). Progress counters are written every `flushIntervalMs`, never per chunk;
 * phase and state changes are written at once. Nothing held here is needed to finish a job elsewhere:
 * the job row has the assignment and geometry, the gateway has the bitmap.
 *
 * Watchdog: a job in flight (its vehicle reachable: the run is not waiting) that makes no progress —
 * no new chunk held, no new phase or percent — for `stallTimeoutMs` is re-offered (the gateway answers
 * with where it is, or rebuilds the job); after `stallReoffers` such re-offers without progress it fails
 * JOB_STALLED. A gateway that goes back to downloading after the download (its stored image was
 * corrupt, GW_STORE_CORRUPT) is re-offered at once, so its accept asks for the chunks again.
 */
import { bitmapFromBase64, type UpdateMessage, type UpdateStatusMessage } from '../../protocol/ota/update-messages.js';
import type { FirmwareRepository } from '../firmware/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { errorFields, type ManagerLog } from '../log.js';
import type { Store } from '../store/index.js';
import { ImageCache } from './images.js';
import { activeJobRows, pendingCancelRows, toJob, type Job, type LiveJob, type TransferInfo } from './records.js';
import { Run, type EngineSessions, type RunCounters, type RunHost } from './run.js';
import { JobWriter } from './writer.js';

export type { EngineSessions } from './run.js';

export interface JobEngineOptions {
  store: Store;
  repository: FirmwareRepository;
  sessions: EngineSessions;
  brokerConnected: () => boolean;
  log: ManagerLog;
  /** Re-offer when no update.accept came (default 10 000 ms, doubling to 60 s). */
  offerTimeoutMs?: number;
  /** Re-offer when chunks are in flight and no update.ack came (default 10 000 ms). */
  ackTimeoutMs?: number;
  /** On a new session, wait this long for the gateway to resume a download by itself before re-offering (default 500 ms). */
  resumeWaitMs?: number;
  /**
   * Keep in flight what the link carries in about half a second, measured from the acks (window.ts;
   * default true), at most the gateway's window; false: always the gateway's whole window.
   */
  adaptiveWindow?: boolean;
  /** How often changed progress counters are written (default 500 ms). */
  flushIntervalMs?: number;
  /** How long a re-offer refused as finished waits for the ECU to announce the job's version (default 5000 ms). */
  announceWaitMs?: number;
  /** Delay before a job end that could not be saved is tried again (default 5000 ms). */
  finishRetryMs?: number;
  /** Watchdog: no progress for this long while in flight → re-offer (default 600 000 ms = 10 min). */
  stallTimeoutMs?: number;
  /** Watchdog: re-offers without progress before the job fails JOB_STALLED (default 3). */
  stallReoffers?: number;
  now?: () => Date;
}

/** Phases after the download, when the gateway installs the image and no longer takes a cancel: `force` needed. */
export const INSTALL_PHASES: readonly string[] = ['verifying', 'erasing', 'programming', 'checking', 'rebooting'];
/** A gateway's refusals of a re-offer that mean "this job already ended here" (src/gateway/update/agent.ts). */
const FINISHED_REFUSALS: ReadonlySet<string> = new Set(['GW_JOB_FINISHED', 'FW_REPLAYED_NONCE']);
const SWEEP_MS = 60_000;
export const DEFAULT_STALL_TIMEOUT_MS = 600_000;
export const DEFAULT_STALL_REOFFERS = 3;

/** The watchdog's view of one job: what progress looked like last, since when, and its re-offers since. */
interface Progress {
  key: string;
  at: number;
  reoffers: number;
}

/** What finish() did: ended the job, found nothing to do, or could not persist the end (nothing changed). */
export type FinishResult = 'ended' | 'unchanged' | 'not_saved';

/** Counters since start (GET /stats `jobs`). */
export interface JobEngineStats {
  active: number;
  running: number;
  offers: number;
  chunksSent: number;
  bytesSent: number;
  chunksLost: number;
  stalls: number;
  /** Re-offers by the watchdog (no progress for stallTimeoutMs). */
  watchdogReoffers: number;
  /** Jobs failed JOB_STALLED by the watchdog. */
  watchdogFailed: number;
}

/** Runs active jobs; the job service adds and cancels them, the manager feeds it session events. */
export class JobEngine {
  private readonly live = new Map<string, LiveJob>();
  private readonly runs = new Map<string, Run>();
  private readonly preparing = new Set<string>();
  /** Jobs whose end is being written (finish() in progress). */
  private readonly finishing = new Set<string>();
  /** Jobs whose unsaved end waits for its retry. */
  private readonly retrying = new Set<string>();
  private readonly images: ImageCache;
  private readonly writer: JobWriter;
  private readonly counts: RunCounters = { offers: 0, chunksSent: 0, bytesSent: 0, chunksLost: 0, stalls: 0 };
  private readonly host: RunHost;
  private sweepTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly progress = new Map<string, Progress>();
  private readonly watchdogCounts = { watchdogReoffers: 0, watchdogFailed: 0 };
  private closed = false;

  constructor(private readonly opts: JobEngineOptions) {
    this.writer = new JobWriter(opts.store, opts.log, opts.now);
    this.images = new ImageCache(opts.repository);
    this.host = {
      sessions: opts.sessions,
      brokerConnected: opts.brokerConnected,
      log: opts.log,
      offerTimeoutMs: opts.offerTimeoutMs ?? 10_000,
      ackTimeoutMs: opts.ackTimeoutMs ?? 10_000,
      resumeWaitMs: opts.resumeWaitMs ?? 500,
      adaptiveWindow: opts.adaptiveWindow ?? true,
      counts: this.counts,
      touch: (job) => this.writer.touch(job),
      save: (job) => this.writer.saveNow(job),
      expire: (job) => this.expire(job),
      current: (run) => !this.closed && run.job.state === 'active' && this.runs.get(run.job.vehicleId) === run,
    };
  }

  private nowIso(): string {
    return (this.opts.now?.() ?? new Date()).toISOString();
  }

  /** Load the active jobs (after a restart) and start the timers. */
  async start(): Promise<void> {
    for (const job of await activeJobRows(this.opts.store.db)) this.live.set(job.id, job);
    this.writer.start(this.opts.flushIntervalMs ?? 500);
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    const stallMs = this.stallTimeoutMs();
    this.watchdogTimer = setInterval(() => this.watchdog(), Math.max(10, Math.min(10_000, Math.floor(stallMs / 4))));
    this.watchdogTimer.unref();
    this.sweep();
    for (const v of this.vehiclesWithJobs()) this.kick(v);
  }

  stats(): JobEngineStats {
    return { active: this.live.size, running: this.runs.size, ...this.counts, ...this.watchdogCounts };
  }

  /** A job the service has just persisted. */
  add(job: LiveJob): void {
    this.live.set(job.id, job);
    this.kick(job.vehicleId);
  }

  /** The live view of an active job (cheap: memory only), undefined when not active here. */
  view(id: string): Job | undefined {
    const job = this.live.get(id);
    return job && toJob(job, this.transferInfo(job));
  }

  /** The live copy of an active job. */
  liveJob(id: string): LiveJob | undefined {
    return this.live.get(id);
  }

  /** Active jobs of one vehicle, oldest first. */
  activeOf(vehicleId: string): LiveJob[] {
    return [...this.live.values()].filter((j) => j.vehicleId === vehicleId).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  private vehiclesWithJobs(): Set<string> {
    return new Set([...this.live.values()].map((j) => j.vehicleId));
  }

  private transferInfo(job: LiveJob): TransferInfo | null {
    const run = this.runs.get(job.vehicleId);
    return run?.job === job ? run.info : null;
  }

  /** Make the vehicle's oldest active job its current run (loading its image), or nudge a waiting run. */
  kick(vehicleId: string): void {
    if (this.closed) return;
    const run = this.runs.get(vehicleId);
    if (run) {
      if (run.stage === 'waiting') run.offer();
      return;
    }
    const job = this.activeOf(vehicleId)[0];
    if (!job || this.preparing.has(vehicleId)) return;
    this.preparing.add(vehicleId);
    this.images
      .acquire(job.firmwareId)
      .then((firmware) => {
        if (this.closed || job.state !== 'active') return this.images.release(firmware.sha256);
        const r = new Run(job, firmware, this.host);
        this.runs.set(vehicleId, r);
        r.offer();
      })
      .catch((e: unknown) => {
        const { code, message } = errorFields(e);
        this.opts.log('error', 'job.prepare_failed', { jobId: job.id, code, message });
        return this.finish(job, 'failed', { code, message });
      })
      .finally(() => {
        this.preparing.delete(vehicleId);
        // The job failed or was cancelled while its image was loading: start the next one. (A failure
        // not saved leaves it active: no new attempt until its end is written, which kicks then.)
        if (!this.runs.has(vehicleId) && job.state !== 'active') this.kick(vehicleId);
      });
  }

  /** The vehicle's secure session was (re-)established: pending cancels, then (re-)offer its job. */
  onSession(vehicleId: string): void {
    if (this.closed) return;
    void this.sendPendingCancels(vehicleId);
    const run = this.runs.get(vehicleId);
    if (run) run.offer(true, true);
    else this.kick(vehicleId);
  }

  /** Connected (again) to the broker: re-offer on every session still held (the gateway may not re-handshake). */
  onLinkUp(): void {
    for (const run of this.runs.values()) run.offer(true);
    for (const v of this.vehiclesWithJobs()) if (!this.runs.has(v)) this.kick(v);
  }

  /** Broker connection lost: whatever was in flight is lost with it. */
  onLinkDown(): void {
    for (const run of this.runs.values()) run.pause();
  }

  /** The vehicle went offline. */
  onOffline(vehicleId: string): void {
    this.runs.get(vehicleId)?.pause();
  }

  /**
   * An update.accept / ack / status from `vehicleId`. False when it names no job of that vehicle (the
   * caller refuses it); messages about finished jobs or about a job that is not the current run are ignored.
   */
  async onUpdate(vehicleId: string, msg: UpdateMessage): Promise<boolean> {
    if (this.closed) return true; // shutting down: the job resumes from the database and the gateway's bitmap
    const job = this.live.get(msg.jobId);
    if (!job) {
      const row = await this.opts.store.db.selectFrom('jobs').select(['vehicle_id']).where('id', '=', msg.jobId).executeTakeFirst();
      return row?.vehicle_id === vehicleId && (msg.type === 'update.status' || msg.type === 'update.accept' || msg.type === 'update.ack');
    }
    if (job.vehicleId !== vehicleId) return false;
    const run = this.runs.get(vehicleId);
    const current = run?.job === job ? run : undefined;
    switch (msg.type) {
      case 'update.accept':
        current?.onAccept(bitmapFromBase64(msg.have, job.chunks), msg.window);
        break;
      case 'update.ack':
        current?.onAck(msg.next, msg.window, msg.have === undefined ? undefined : bitmapFromBase64(msg.have, job.chunks));
        break;
      case 'update.status':
        // Awaited: the vehicle's next message is handled once the end this one reports is persisted.
        await this.onStatus(job, msg, current);
        break;
      default:
        return false; // offer and cancel only ever flow to the vehicle
    }
    if (job.state === 'active' && current !== undefined) this.noteProgress(job, current);
    return true;
  }

  private async onStatus(job: LiveJob, msg: UpdateStatusMessage, run: Run | undefined): Promise<void> {
    if (msg.phase === 'done') return void (await this.finish(job, 'done', null, msg.version ?? null));
    if (msg.phase === 'failed' && msg.error && job.offers > 1 && FINISHED_REFUSALS.has(msg.error.code)) return void this.finishedElsewhere(job, msg.error);
    if (msg.phase === 'failed') return void (await this.finish(job, 'failed', msg.error ?? { code: 'GW_FAILED', message: 'the gateway reported a failure without a reason' }));
    const wasInstalling = run?.stage === 'downloaded';
    job.phase = msg.phase;
    job.percent = msg.percent;
    this.writer.saveNow(job);
    if (msg.error) this.opts.log('warn', 'job.gateway_warning', { jobId: job.id, phase: msg.phase, code: msg.error.code });
    if (msg.phase !== 'queued' && msg.phase !== 'downloading') run?.onInstalling();
    // Back to downloading after the download (the gateway discarded a corrupt stored image): a fresh
    // offer gets its accept, whose empty bitmap asks for every chunk again.
    else if (msg.phase === 'downloading' && wasInstalling) run?.offer(true);
  }

  private stallTimeoutMs(): number {
    return this.opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  /** Progress as the watchdog sees it: the phase, its percent and the chunks held. */
  private noteProgress(job: LiveJob, run: Run): void {
    const key = `${job.phase}:${job.percent}:${run.info.heldChunks}`;
    const p = this.progress.get(job.id);
    if (p === undefined || p.key !== key) this.progress.set(job.id, { key, at: Date.now(), reoffers: 0 });
  }

  /**
   * Each run in flight without progress for stallTimeoutMs: re-offer it, or — after stallReoffers
   * re-offers that changed nothing — fail it JOB_STALLED. A waiting run (vehicle offline, no session,
   * broker down) is not in flight: its clock starts again when it is.
   */
  private watchdog(): void {
    if (this.closed) return;
    const now = Date.now();
    const limit = this.stallTimeoutMs();
    for (const run of [...this.runs.values()]) {
      const { job } = run;
      const p = this.progress.get(job.id) ?? { key: '', at: now, reoffers: 0 };
      this.progress.set(job.id, p);
      if (run.stage === 'waiting') {
        p.at = now;
        continue;
      }
      if (now - p.at < limit) continue;
      if (p.reoffers >= (this.opts.stallReoffers ?? DEFAULT_STALL_REOFFERS)) {
        this.watchdogCounts.watchdogFailed++;
        void this.finish(job, 'failed', { code: 'JOB_STALLED', message: `no progress for ${Math.round((now - p.at) / 1000)} s in phase ${job.phase} after ${p.reoffers} re-offer(s)` });
        continue;
      }
      p.reoffers++;
      p.at = now;
      this.watchdogCounts.watchdogReoffers++;
      this.opts.log('warn', 'job.watchdog', { jobId: job.id, vehicleId: job.vehicleId, phase: job.phase, reoffers: p.reoffers });
      run.offer(true);
    }
  }

  /**
   * The gateway refused a re-offer because the job already ended there (this manager missed the final
   * status, e.g. while restarting): if the ECU announces the job's version within `announceWaitMs` (its
   * re-announce may trail the refusal), the job was done; else it failed with the gateway's code.
   */
  private async finishedElsewhere(job: LiveJob, error: { code: string; message: string }): Promise<void> {
    const deadline = Date.now() + (this.opts.announceWaitMs ?? 5000);
    for (;;) {
      const vehicle = await this.opts.store.getVehicle(job.vehicleId).catch(() => undefined);
      const version = vehicle?.ecus.find((e) => e.name === job.ecu)?.appVersion ?? null;
      if (version === job.toVersion) return void (await this.finish(job, 'done', null, version));
      if (Date.now() >= deadline || this.closed || job.state !== 'active') return void (await this.finish(job, 'failed', error));
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * End `job` (done, failed or cancelled): persist first, then act (forget it, audit, start the vehicle's
   * next job). A state that cannot be persisted is not acted on: the job stays active here as it is in
   * the database (else it would silently run again after a restart); an end reported by the gateway or
   * the expiry sweep is tried again every `finishRetryMs`, a cancel is the caller's error.
   * Resolves `ended`, `unchanged` (not active, or already ending) or `not_saved`.
   */
  async finish(
    job: LiveJob,
    state: 'done' | 'failed' | 'cancelled',
    reason: { code: string; message: string } | null,
    installedVersion: string | null = null,
    how: { cancelPending?: boolean; retry?: boolean } = {},
  ): Promise<FinishResult> {
    if (job.state !== 'active' || this.finishing.has(job.id)) return 'unchanged';
    const at = this.nowIso();
    const ended: LiveJob = { ...job, state, phase: state, percent: state === 'done' ? 100 : job.percent, reason, installedVersion, finishedAt: at, updatedAt: at };
    if (how.cancelPending !== undefined) ended.cancelPending = how.cancelPending;
    this.finishing.add(job.id);
    try {
      await this.writer.save(ended, job);
    } catch (e) {
      this.opts.log('error', 'job.finish_not_saved', { jobId: job.id, vehicleId: job.vehicleId, state, ...errorFields(e) });
      if (how.retry !== false) this.retryFinish(job, state, reason, installedVersion);
      return 'not_saved';
    } finally {
      this.finishing.delete(job.id);
    }
    Object.assign(job, { state, phase: state, percent: ended.percent, reason, installedVersion, finishedAt: at, updatedAt: at, cancelPending: ended.cancelPending });
    this.live.delete(job.id);
    this.progress.delete(job.id);
    this.opts.log(state === 'failed' ? 'warn' : 'info', `job.${state}`, { jobId: job.id, vehicleId: job.vehicleId, ecu: job.ecu, ...(reason ? { code: reason.code } : {}) });
    const detail = { ecu: job.ecu, firmwareId: job.firmwareId, bytesSent: job.bytesSent, ...(reason ? { code: reason.code } : {}), ...(installedVersion ? { version: installedVersion } : {}) };
    this.opts.store.audit({ at, actor: 'manager', action: `job.${state}`, target: job.id, detail }).catch((e: unknown) => this.opts.log('error', 'job.audit_failed', errorFields(e)));
    const run = this.runs.get(job.vehicleId);
    if (run?.job === job) {
      run.stop();
      this.runs.delete(job.vehicleId);
      this.images.release(run.firmware.sha256);
    }
    if (!this.runs.has(job.vehicleId)) this.kick(job.vehicleId);
    return 'ended';
  }

  /** Try the end of `job` again later (one pending retry per job). */
  private retryFinish(job: LiveJob, state: 'done' | 'failed' | 'cancelled', reason: { code: string; message: string } | null, installedVersion: string | null): void {
    if (this.retrying.has(job.id)) return;
    this.retrying.add(job.id);
    const timer = setTimeout(() => {
      this.retrying.delete(job.id);
      if (!this.closed && job.state === 'active') void this.finish(job, state, reason, installedVersion);
    }, this.opts.finishRetryMs ?? 5000);
    timer.unref();
  }

  /** Tell the gateway a job is cancelled; cleared from the row once the broker took the message. */
  async sendCancel(job: LiveJob): Promise<void> {
    if (this.opts.sessions.state(job.vehicleId) !== 'established' || !this.opts.brokerConnected()) return;
    try {
      await this.opts.sessions.sendControl(job.vehicleId, { type: 'update.cancel', jobId: job.id });
      job.cancelPending = false;
      this.writer.saveNow(job);
    } catch (e) {
      this.opts.log('warn', 'job.cancel_send_failed', { jobId: job.id, ...errorFields(e) });
    }
  }

  private async sendPendingCancels(vehicleId: string): Promise<void> {
    try {
      for (const job of await pendingCancelRows(this.opts.store.db, vehicleId)) await this.sendCancel(job);
    } catch (e) {
      this.opts.log('error', 'job.cancel_lookup_failed', { vehicleId, ...errorFields(e) });
    }
  }

  /**
   * The fleet CRL changed: fail every active job whose firmware's release certificate it revokes, unless
   * the gateway is already installing it (it checks the signer again against the CRL it was sent before
   * programming). A gateway that was offered the job is told to drop it.
   */
  async onTrust(trust: TrustStore): Promise<void> {
    if (this.closed || trust.revoked.size === 0 || this.live.size === 0) return;
    const revoked = await this.opts.repository.revokedIds(trust);
    for (const job of [...this.live.values()]) {
      if (!revoked.has(job.firmwareId) || INSTALL_PHASES.includes(job.phase)) continue;
      const offered = job.offers > 0;
      job.cancelPending = offered;
      this.finish(job, 'failed', { code: 'FW_REVOKED_SIGNER', message: `the release certificate of firmware ${job.firmwareId} was revoked` });
      if (offered) await this.sendCancel(job);
    }
  }

  /** Fail jobs never accepted before their assignment expired. */
  private sweep(): void {
    for (const job of [...this.live.values()]) this.expire(job);
  }

  /**
   * Fail `job` with JOB_EXPIRED if its assignment expired before any gateway accepted it (true then).
   * Once accepted, the gateway holds a verified assignment and decides; the manager keeps re-offering.
   */
  private expire(job: LiveJob): boolean {
    if (job.phase !== 'queued' || Date.parse(job.expiresAt) > Date.now()) return false;
    void this.finish(job, 'failed', { code: 'JOB_EXPIRED', message: `the assignment expired at ${job.expiresAt} before the gateway accepted it` });
    return true;
  }

  /** Write every job whose counters changed since the last flush. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Stop the timers and write what changed. Active jobs stay active in the database. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    for (const run of this.runs.values()) run.stop();
    await this.writer.close();
  }
}
