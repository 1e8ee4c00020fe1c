/**
 * `update.status` with a rate limit: at most one message per job per interval (≤ 5/s by default), but a
 * change of phase, 100 %, and the final `done` / `failed` always go out at once.
 */
import type { Clock } from '../../protocol/clock.js';
import type { UpdatePhase, UpdateStatusMessage } from '../../protocol/ota/update-messages.js';
import type { FlashPhase } from '../uds/flash.js';

/** The flash sequence's phases as the update flow names them (preparing and unlocking count as erasing). */
export const FLASH_TO_UPDATE_PHASE: Readonly<Record<FlashPhase, UpdatePhase>> = {
  preparing: 'erasing',
  unlocking: 'erasing',
  erasing: 'erasing',
  programming: 'programming',
  checking: 'checking',
  rebooting: 'rebooting',
  'verifying-version': 'rebooting',
};

export class StatusThrottle {
  private readonly last = new Map<string, { phase: UpdatePhase; percent: number; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly send: (msg: UpdateStatusMessage) => boolean,
  ) {}

  /** Sends `msg` unless it only repeats the phase within the interval; returns whether it was sent. */
  report(msg: UpdateStatusMessage): boolean {
    const prev = this.last.get(msg.jobId);
    const now = this.clock.now();
    const final = msg.phase === 'done' || msg.phase === 'failed';
    if (prev !== undefined && !final && prev.phase === msg.phase) {
      if (prev.percent === msg.percent) return false;
      if (msg.percent !== 100 && now - prev.at < this.intervalMs) return false;
    }
    this.last.set(msg.jobId, { phase: msg.phase, percent: msg.percent, at: now });
    if (final) this.last.delete(msg.jobId);
    return this.send(msg);
  }

  /** The last phase and percent reported for a job (for re-sending after a new session). */
  current(jobId: string): { phase: UpdatePhase; percent: number } | undefined {
    const l = this.last.get(jobId);
    return l === undefined ? undefined : { phase: l.phase, percent: l.percent };
  }
}
