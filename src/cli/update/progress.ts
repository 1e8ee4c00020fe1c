/**
 * How `ota flash` shows a job while it runs. On a terminal: one cli-progress bar per phase (downloading %
 * with bytes, verifying, erasing, programming %, checking, rebooting), each finished bar left on screen.
 * Elsewhere (a pipe, a log, a test): one line per phase change, nothing else.
 */
import { SingleBar } from 'cli-progress';
import type { Job } from '../../manager/index.js';

/** Receives every polled job state and is stopped once at the end. */
export interface ProgressView {
  update(job: Job): void;
  /** The job ended (`done` completes the last bar) or the watch was given up. */
  stop(outcome?: 'done' | 'failed'): void;
}

const PHASE_LABEL: Readonly<Record<string, string>> = {
  queued: 'queued',
  downloading: 'downloading',
  verifying: 'verifying',
  erasing: 'erasing',
  programming: 'programming',
  checking: 'checking',
  rebooting: 'rebooting',
};

/** The phases a job passes through, in order (a poll at 4 Hz may see a later one without the ones between). */
const ORDER = ['queued', 'downloading', 'verifying', 'erasing', 'programming', 'checking', 'rebooting'] as const;

/**
 * The phases to show on the way from `from` to `to`: those a poll skipped (they did run: the order is fixed)
 * and `to` itself. A phase that goes back (a re-offer after a restart reports `downloading` again) is just `to`.
 */
export function phasesBetween(from: string | undefined, to: string): string[] {
  const a = from === undefined ? -1 : (ORDER as readonly string[]).indexOf(from);
  const b = (ORDER as readonly string[]).indexOf(to);
  if (b < 0) return [];
  if (a < 0 || b <= a) return [to];
  return ORDER.slice(a + 1, b + 1);
}

/** Bytes the gateway holds (from its chunk count when known, else from percent). */
export function heldBytes(job: Job): number {
  if (job.phase !== 'downloading' && job.phase !== 'queued') return job.imageLength;
  const chunks = job.transfer?.heldChunks;
  if (chunks !== undefined) return Math.min(job.imageLength, chunks * job.chunkSize);
  return Math.floor((job.percent * job.imageLength) / 100);
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

/** What the bar or line says after the percentage in `job`'s phase. */
export function phaseDetail(job: Job): string {
  switch (job.phase) {
    case 'queued':
      return job.transfer?.stage === 'offered' ? 'offered to the vehicle' : job.transfer?.stage === 'waiting' ? 'waiting for the vehicle to be online with a session' : '';
    case 'downloading':
      return `${kib(heldBytes(job))}/${kib(job.imageLength)} KiB`;
    case 'verifying':
      return 'length, SHA-256, signatures';
    case 'rebooting':
      return `expecting ${job.toVersion}`;
    default:
      return '';
  }
}

/** The phase as a line: `[  1.2s] downloading 57344 bytes (112 chunks of 512 B)` and the like. */
export function phaseLine(job: Job, elapsedMs: number): string {
  const at = `[${(elapsedMs / 1000).toFixed(1).padStart(5)}s]`;
  switch (job.phase) {
    case 'queued':
      return `${at} queued${phaseDetail(job) === '' ? '' : `: ${phaseDetail(job)}`}`;
    case 'downloading':
      return `${at} downloading ${job.imageLength} bytes (${job.chunks} chunks of ${job.chunkSize} B)`;
    default:
      return `${at} ${PHASE_LABEL[job.phase] ?? job.phase}${phaseDetail(job) === '' ? '' : ` (${phaseDetail(job)})`}`;
  }
}

/** One line per phase change, through `out`. */
export class LineProgress implements ProgressView {
  private phase: string | undefined;
  private readonly started = Date.now();

  constructor(private readonly out: (text: string) => void) {}

  update(job: Job): void {
    // A job seen done for the first time went through the phases up to rebooting since the last poll.
    const shown = job.phase === 'done' ? 'rebooting' : job.phase;
    if (shown === this.phase || !(shown in PHASE_LABEL)) return;
    const elapsed = Date.now() - this.started;
    for (const phase of phasesBetween(this.phase, shown)) {
      // A skipped phase is shown without the current job's percent or details.
      this.out(phaseLine(phase === job.phase ? job : { ...job, phase: phase as Job['phase'], percent: 100, transfer: null }, elapsed) + '\n');
    }
    this.phase = shown;
  }

  stop(): void {
    this.phase = undefined;
  }
}

/** A cli-progress bar per phase on `stream` (a TTY). */
export class BarProgress implements ProgressView {
  private bar: SingleBar | undefined;
  private phase: string | undefined;

  constructor(private readonly stream: NodeJS.WritableStream = process.stderr) {}

  update(job: Job): void {
    if (job.phase === 'done') return this.update({ ...job, phase: 'rebooting', percent: 100 });
    const label = PHASE_LABEL[job.phase];
    if (label === undefined) return;
    const percent = job.phase === 'downloading' || job.phase === 'programming' ? job.percent : job.phase === 'queued' ? 0 : Math.max(job.percent, 0);
    const payload = { label: label.padEnd(11), detail: phaseDetail(job) };
    if (job.phase !== this.phase) {
      for (const skipped of phasesBetween(this.phase, job.phase).slice(0, -1)) {
        this.finishBar();
        this.phase = skipped;
        this.bar = this.newBar();
        this.bar.start(100, 100, { label: (PHASE_LABEL[skipped] ?? skipped).padEnd(11), detail: '' });
      }
      this.finishBar();
      this.phase = job.phase;
      this.bar = this.newBar();
      this.bar.start(100, percent, payload);
    } else {
      this.bar?.update(percent, payload);
    }
  }

  private newBar(): SingleBar {
    return new SingleBar({ format: '{label} [{bar}] {percentage}% {detail}', stream: this.stream, hideCursor: true, barsize: 30, etaBuffer: 20 });
  }

  /** The bar of a phase that ended is completed (the next phase started, so it did finish). */
  private finishBar(): void {
    if (this.bar === undefined) return;
    if (this.phase !== 'queued') this.bar.update(100);
    this.bar.stop();
    this.bar = undefined;
  }

  stop(outcome?: 'done' | 'failed'): void {
    if (outcome === 'done') this.finishBar();
    this.bar?.stop();
    this.bar = undefined;
    this.phase = undefined;
  }
}
