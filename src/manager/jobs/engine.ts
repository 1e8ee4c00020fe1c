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
 */
import { bitmapFromBase64, type UpdateMessage, type UpdateStatusMessage } from '../../protocol/ota/update-messages.js';
import type { FirmwareRepository } from '../firmware/index.js';
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
  now?: () => Date;
}

/** Phases after the download, when the gateway installs the image and no longer takes a cancel: `force` needed. */
export const INSTALL_PHASES: readonly string[] = ['verifying', 'erasing', 'programming', 'checking', 'rebooting'];
/** A gateway's refusals of a re-offer that mean "this job already ended here" (src/gateway/update/agent.ts). */
const FINISHED_REFUSALS: ReadonlySet<string> = new Set(['GW_JOB_FINISHED', 'FW_REPLAYED_NONCE']);
const SWEEP_MS = 60_000;

/** Counters since start (GET /stats `jobs`). */
export interface JobEngineStats {
  active: number;
  running: number;
  offers: number;
  chunksSent: number;
  bytesSent: number;
  chunksLost: number;
  stalls: number;
}

/** Runs active jobs; the job service adds and cancels them, the manager feeds it session events. */
export class JobEngine {
  private readonly live = new Map<string, LiveJob>();
  private readonly runs = new Map<string, Run>();
  private readonly preparing = new Set<string>();
  private readonly images: ImageCache;
  private readonly writer: JobWriter;
  private readonly counts: RunCounters = { offers: 0, chunksSent: 0, bytesSent: 0, chunksLost: 0, stalls: 0 };
  private readonly host: RunHost;
  private sweepTimer: NodeJS.Timeout | undefined;
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
    this.sweep();
    for (const v of this.vehiclesWithJobs()) this.kick(v);
  }

  stats(): JobEngineStats {
    return { active: this.live.size, running: this.runs.size, ...this.counts };
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
        this.finish(job, 'failed', { code, message });
      })
      .finally(() => {
        this.preparing.delete(vehicleId);
        // The job failed or was cancelled while its image was loading: start the next one.
        if (!this.runs.has(vehicleId)) this.kick(vehicleId);
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
        return true;
      case 'update.ack':
        current?.onAck(msg.next, msg.window, msg.have === undefined ? undefined : bitmapFromBase64(msg.have, job.chunks));
        return true;
      case 'update.status':
        this.onStatus(job, msg, current);
        return true;
      default:
        return false; // offer and cancel only ever flow to the vehicle
    }
  }

  private onStatus(job: LiveJob, msg: UpdateStatusMessage, run: Run | undefined): void {
    if (msg.phase === 'done') return this.finish(job, 'done', null, msg.version ?? null);
    if (msg.phase === 'failed' && msg.error && job.offers > 1 && FINISHED_REFUSALS.has(msg.error.code)) return void this.finishedElsewhere(job, msg.error);
    if (msg.phase === 'failed') return this.finish(job, 'failed', msg.error ?? { code: 'GW_FAILED', message: 'the gateway reported a failure without a reason' });
    job.phase = msg.phase;
    job.percent = msg.percent;
    this.writer.saveNow(job);
    if (msg.phase !== 'queued' && msg.phase !== 'downloading') run?.onInstalling();
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
      if (version === job.toVersion) return this.finish(job, 'done', null, version);
      if (Date.now() >= deadline || this.closed || job.state !== 'active') return this.finish(job, 'failed', error);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** End `job` (done, failed or cancelled), persist, audit, and start the vehicle's next job. */
  finish(job: LiveJob, state: 'done' | 'failed' | 'cancelled', reason: { code: string; message: string } | null, installedVersion: string | null = null): void {
    if (job.state !== 'active') return;
    job.state = state;
    job.phase = state;
    if (state === 'done') job.percent = 100;
    job.reason = reason;
    job.installedVersion = installedVersion;
    job.finishedAt = this.nowIso();
    this.live.delete(job.id);
    this.writer.saveNow(job);
    this.opts.log(state === 'failed' ? 'warn' : 'info', `job.${state}`, { jobId: job.id, vehicleId: job.vehicleId, ecu: job.ecu, ...(reason ? { code: reason.code } : {}) });
    const detail = { ecu: job.ecu, firmwareId: job.firmwareId, bytesSent: job.bytesSent, ...(reason ? { code: reason.code } : {}), ...(installedVersion ? { version: installedVersion } : {}) };
    this.opts.store.audit({ at: job.finishedAt, actor: 'manager', action: `job.${state}`, target: job.id, detail }).catch((e: unknown) => this.opts.log('error', 'job.audit_failed', errorFields(e)));
    const run = this.runs.get(job.vehicleId);
    if (run?.job === job) {
      run.stop();
      this.runs.delete(job.vehicleId);
      this.images.release(run.firmware.sha256);
      this.kick(job.vehicleId);
    }
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
    this.finish(job, 'failed', { code: 'JOB_EXPIRED', message: `the assignment expired at ${job.expiresAt} before the gateway accepted it` });
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
    for (const run of this.runs.values()) run.stop();
    await this.writer.close();
  }
}
