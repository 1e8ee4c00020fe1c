/**
 * One job being transferred to its vehicle: the offer, the chunk stream under the gateway's window, and
 * the timers that re-offer when the gateway goes quiet (docs/update-flow.md, "Flow control").
 *
 *   waiting ──offer──▶ offered ──update.accept──▶ streaming ──every chunk held──▶ downloaded
 *      ▲                  │ no accept in time: offer again (delay doubling to 60 s)
 *      └── link or session lost, vehicle offline, publish refused
 *   streaming: no update.ack within ackTimeoutMs while chunks are in flight → offer again (the accept resyncs)
 */
import { encodeChunk, type UpdateOfferMessage } from '../../protocol/ota/update-messages.js';
import { errorFields, type ManagerLog } from '../log.js';
import type { SessionState } from '../sessions.js';
import type { ControlMessage } from '../../protocol/ota/messages.js';
import type { LoadedFirmware } from './images.js';
import type { LiveJob, TransferInfo } from './records.js';
import { Transfer } from './transfer.js';
import { SendWindow } from './window.js';

/** What the engine needs of the vehicle sessions (sessions.ts). */
export interface EngineSessions {
  state(vehicleId: string): SessionState;
  /** Presence as last reported; undefined when not known yet. */
  online(vehicleId: string): boolean | undefined;
  sendControl(vehicleId: string, msg: ControlMessage): Promise<void>;
  sendBulk(vehicleId: string, plaintext: Uint8Array): Promise<void>;
  /** Ask the vehicle for a handshake (rate-limited). */
  requestSession(vehicleId: string): Promise<void>;
}

/** Counters shared by every run (GET /stats `jobs`). */
export interface RunCounters {
  offers: number;
  chunksSent: number;
  bytesSent: number;
  chunksLost: number;
  stalls: number;
}

/** What a run needs from the engine around it. */
export interface RunHost {
  sessions: EngineSessions;
  brokerConnected(): boolean;
  log: ManagerLog;
  offerTimeoutMs: number;
  ackTimeoutMs: number;
  /** On a new session of a job the gateway was downloading: how long to wait for its own update.accept before offering. */
  resumeWaitMs: number;
  /** Size what is in flight from the measured link (window.ts); false: always the gateway's whole window. */
  adaptiveWindow: boolean;
  counts: RunCounters;
  /** Progress changed (written by the next flush). */
  touch(job: LiveJob): void;
  /** Phase changed (written now). */
  save(job: LiveJob): void;
  /** Fail the job if its assignment expired before any gateway accepted it; true then. */
  expire(job: LiveJob): boolean;
  /** Whether the engine still runs this job (it may have ended or the engine closed). */
  current(run: Run): boolean;
}

const MAX_OFFER_DELAY_MS = 60_000;
/** Chunk bytes sealed and published per event-loop turn (at least one chunk). */
export const SEND_BATCH_BYTES = 32 * 1024;

/** The transfer of one job (see the file comment). */
export class Run {
  stage: TransferInfo['stage'] = 'waiting';
  private readonly transfer: Transfer;
  /** How many chunks this link should carry in flight (at most the gateway's window). */
  private readonly sendWindow: SendWindow;
  /** Bumped by every offer: a publish failing after a newer offer says nothing about the current stream. */
  private generation = 0;
  private offerDelayMs: number;
  private offerTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  /** The next batch of the send loop, when one is scheduled. */
  private pumpScheduled: NodeJS.Immediate | undefined;

  constructor(
    readonly job: LiveJob,
    readonly firmware: LoadedFirmware,
    private readonly host: RunHost,
  ) {
    this.transfer = new Transfer(job.chunks);
    this.sendWindow = new SendWindow(job.chunkSize);
    this.offerDelayMs = host.offerTimeoutMs;
  }

  get info(): TransferInfo {
    return { stage: this.stage, heldChunks: this.transfer.heldChunks, inFlight: this.transfer.inFlight, window: Math.min(this.transfer.window, this.limit) };
  }

  /** Chunks this run may keep in flight by its own measure (the gateway's window caps it again). */
  private get limit(): number {
    return this.host.adaptiveWindow ? this.sendWindow.chunks : Infinity;
  }

  /**
   * Send (or re-send) the offer when the broker is there, the vehicle is not known offline and has a
   * session; otherwise wait (asking an online vehicle without a session for a handshake). `fresh` resets
   * the re-offer backoff (a new session or broker connection); `awaitResume` (a new session) first gives
   * a gateway that kept the download open `resumeWaitMs` to resume it by itself.
   */
  offer(fresh = false, awaitResume = false): void {
    const { job } = this;
    if (fresh) this.offerDelayMs = this.host.offerTimeoutMs;
    this.pause();
    if (!this.host.current(this) || this.host.expire(job)) return;
    // Offline: its gateway starts a handshake when it comes back, and that session re-offers.
    if (!this.host.brokerConnected() || this.host.sessions.online(job.vehicleId) === false) return;
    if (this.host.sessions.state(job.vehicleId) !== 'established') {
      void this.host.sessions.requestSession(job.vehicleId).catch(() => undefined);
      return;
    }
    if (awaitResume && job.phase === 'downloading' && this.host.resumeWaitMs > 0) {
      // A new session of a download the gateway had accepted: a gateway that kept it open resumes by
      // itself (an unsolicited update.accept right behind its Finished); offer only if that does not come.
      this.stage = 'offered';
      this.offerTimer = setTimeout(() => {
        this.offerTimer = undefined;
        if (this.stage === 'offered') this.offer();
      }, this.host.resumeWaitMs);
      return;
    }
    this.stage = 'offered';
    const generation = ++this.generation;
    job.offers++;
    this.host.counts.offers++;
    this.host.touch(job);
    const msg: UpdateOfferMessage = { type: 'update.offer', jobId: job.id, ecu: job.ecu, assignment: job.assignment, manifest: this.firmware.manifest, chunkSize: job.chunkSize, chunks: job.chunks };
    this.host.sessions.sendControl(job.vehicleId, msg).catch((e: unknown) => this.sendFailed(generation, e));
    this.host.log('info', 'job.offer', { jobId: job.id, vehicleId: job.vehicleId, ecu: job.ecu, offers: job.offers });
    this.offerTimer = setTimeout(() => {
      this.offerTimer = undefined;
      if (this.stage !== 'offered') return;
      this.offerDelayMs = Math.min(MAX_OFFER_DELAY_MS, this.offerDelayMs * 2);
      this.offer();
    }, this.offerDelayMs);
  }

  /** Stop sending: what was in flight is forgotten (its session or connection is gone). */
  pause(): void {
    this.stop();
    this.transfer.dropInflight();
  }

  /** Clear the timers and wait (the job ended, was paused, or the engine closes). */
  stop(): void {
    if (this.offerTimer) clearTimeout(this.offerTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.pumpScheduled) clearImmediate(this.pumpScheduled);
    this.offerTimer = undefined;
    this.ackTimer = undefined;
    this.pumpScheduled = undefined;
    this.stage = 'waiting';
  }

  private sendFailed(generation: number, e: unknown): void {
    if (!this.host.current(this) || this.stage === 'waiting' || generation !== this.generation) return;
    this.host.log('warn', 'job.send_failed', { jobId: this.job.id, ...errorFields(e) });
    this.pause();
    // A new session or broker connection re-offers at once; this timer covers a publish refused otherwise.
    this.offerTimer = setTimeout(() => {
      this.offerTimer = undefined;
      if (this.stage === 'waiting') this.offer();
    }, this.offerDelayMs);
  }

  /** update.accept: the gateway's bitmap (the truth after our offer) and window; stream what is missing. */
  onAccept(bitmap: Uint8Array, window: number): void {
    if (this.stage === 'offered' || this.stage === 'waiting') {
      this.transfer.resync(bitmap, window);
      this.sendWindow.restart();
    } else this.transfer.merge(bitmap, window); // a late answer to an earlier offer of this session
    this.sendWindow.setGrant(window);
    this.stop();
    this.offerDelayMs = this.host.offerTimeoutMs;
    this.stage = 'streaming';
    const { job } = this;
    if (job.phase === 'queued') {
      job.phase = 'downloading';
      this.progress();
      this.host.save(job);
    } else this.progress();
    this.pump();
  }

  /** update.ack: chunks held (and lost), the window; keep it full. */
  onAck(next: number, window: number, bitmap: Uint8Array | undefined): void {
    const { lost, acked, newlyHeld } = this.transfer.ack(next, window, bitmap);
    this.sendWindow.setGrant(window);
    this.sendWindow.acked(acked, newlyHeld * this.job.chunkSize);
    for (const index of lost) this.sendWindow.forget(index);
    this.host.counts.chunksLost += lost.length;
    this.progress();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.pump();
  }

  /** The gateway reports a phase past the download: nothing more to send or re-offer on a timer. */
  onInstalling(): void {
    this.stop();
    this.stage = 'downloaded';
  }

  /**
   * Fill the window with chunks (publishes are pipelined: none is awaited before the next), a batch of
   * about SEND_BATCH_BYTES per event-loop turn: sealing a whole window at once would hold the thread
   * (and an in-process broker on it) while the first records could already be on their way.
   */
  private pump(): void {
    if (this.stage !== 'streaming' || this.pumpScheduled) return;
    const { job, transfer, generation, sendWindow, limit } = this;
    const { image } = this.firmware;
    const failed = (e: unknown): void => this.sendFailed(generation, e);
    let batch = 0;
    let index: number | undefined;
    while (batch < SEND_BATCH_BYTES && (index = transfer.next(limit)) !== undefined) {
      const start = index * job.chunkSize;
      const data = image.subarray(start, Math.min(image.length, start + job.chunkSize));
      this.host.sessions.sendBulk(job.vehicleId, encodeChunk({ jobId: job.id, index, data })).catch(failed);
      transfer.sent(index);
      sendWindow.sent(index);
      batch += data.length;
      job.bytesSent += data.length;
      job.chunksSent++;
      this.host.counts.bytesSent += data.length;
      this.host.counts.chunksSent++;
      this.host.touch(job);
    }
    if (index !== undefined) {
      // More may go out now: let the event loop run (the broker, incoming acks), then go on.
      this.pumpScheduled = setImmediate(() => {
        this.pumpScheduled = undefined;
        if (this.host.current(this)) this.pump();
      });
    }
    if (transfer.complete) {
      this.onInstalling();
    } else if (transfer.inFlight > 0 && !this.ackTimer) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        if (this.stage !== 'streaming' || transfer.inFlight === 0) return;
        this.host.counts.stalls++;
        this.host.log('warn', 'job.stalled', { jobId: job.id, inFlight: transfer.inFlight, held: transfer.heldChunks });
        this.offer();
      }, this.host.ackTimeoutMs);
    }
  }

  /** While downloading, percent = chunks the gateway holds. */
  private progress(): void {
    const { job, transfer } = this;
    if (job.phase !== 'downloading') return;
    const percent = Math.floor((transfer.heldChunks * 100) / job.chunks);
    if (percent !== job.percent) {
      job.percent = percent;
      this.host.touch(job);
    }
  }
}
