/**
 * Persistence of running jobs without a database write per chunk: progress marks a job dirty and a
 * timer writes dirty jobs every `intervalMs`; phase and state changes are written at once. Writes are
 * serialised, and each writes the job's current fields, so the last write always holds the latest state.
 */
import { errorFields, type ManagerLog } from '../log.js';
import type { Store } from '../store/index.js';
import { saveJob, type LiveJob } from './records.js';

export class JobWriter {
  private readonly dirty = new Set<LiveJob>();
  /** Jobs whose end is being written: not flushed meanwhile. */
  private readonly held = new Set<LiveJob>();
  private writes: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: ManagerLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Write dirty jobs every `intervalMs` (the timer does not keep the process alive). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Progress changed: written by the next flush. */
  touch(job: LiveJob): void {
    this.dirty.add(job);
  }

  /** Queue a write of `job`'s changing columns now. */
  saveNow(job: LiveJob): void {
    this.dirty.delete(job);
    job.updatedAt = this.now().toISOString();
    const db = this.store.db;
    this.writes = this.writes.then(() => saveJob(db, job)).catch((e: unknown) => this.log('error', 'job.save_failed', { jobId: job.id, ...errorFields(e) }));
  }

  /**
   * Write `end` (a copy of the live job `job` holding the state to persist) after the writes queued
   * before it; rejects if it cannot be written, so the caller can leave its state change undone
   * (engine.ts, finish). Until then no flush writes `job` (its still-active fields would overwrite `end`);
   * once written, `job` is not flushed again.
   */
  async save(end: LiveJob, job: LiveJob): Promise<void> {
    const db = this.store.db;
    this.held.add(job);
    const done = this.writes.then(() => saveJob(db, end));
    this.writes = done.catch(() => undefined);
    try {
      await done;
      this.dirty.delete(job);
    } finally {
      this.held.delete(job);
    }
  }

  /** Write every dirty job; resolves when every queued write is done. */
  flush(): Promise<void> {
    for (const job of [...this.dirty]) if (!this.held.has(job)) this.saveNow(job);
    return this.writes;
  }

  /** Stop the timer and write what changed. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
