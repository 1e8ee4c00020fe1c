/**
 * The gateway's update agent (docs/update-flow.md, gateway side):
 *
 *   update.offer → verify assignment + manifest BEFORE any download (verifyUpdate: signatures, vehicle,
 *                  ECU, expiry, nonce, hardware id, rollback) → update.accept (bitmap held, window)
 *   chunk …      → store at its offset, then its bit → update.ack every window/2 chunks and at the end
 *   complete     → verifying (length, SHA-256, verifyUpdate again) → flash (erasing / programming % /
 *                  checking / rebooting) → 0xF189 = manifest version → update.status done → re-announce
 *
 * Replay rule: nonces are persisted per job. A re-offer of a job in progress (same jobId, its nonce or a
 * fresh one for the same manifest) resumes it; the identical signed assignment re-offered for a finished
 * job gets that job's recorded outcome again (nothing runs twice); a nonce of a finished job under
 * another job id is refused FW_REPLAYED_NONCE, a fresh assignment for a finished job GW_JOB_FINISHED. A refused offer changes nothing: no file, no chunk requested, the ECU untouched.
 */
import type { Clock, TimerHandle } from '../../protocol/clock.js';
import { isOtaError, OtaError } from '../../protocol/errors.js';
import type { ControlMessage, EcuInventory } from '../../protocol/ota/messages.js';
import { bitmapToBase64, decodeChunk, type UpdateAckMessage, type UpdateCancelMessage, type UpdateOfferMessage, type UpdateStatusMessage } from '../../protocol/ota/update-messages.js';
import type { VerifiedUpdate } from '../../security/firmware/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { GATEWAY_DEFAULTS, GW_CODES } from '../constants.js';
import type { EcuPort } from '../ecu-port.js';
import { codeOf, type GatewayLog } from '../refusals.js';
import { b64, checkImage, checkOffer, fullBitmap, type CheckContext } from './checks.js';
import { installImage } from './install.js';
import { StatusThrottle } from './status.js';
import { changedChunks, FINAL_PHASES, isDiskFull, STORE_CODES, UpdateStore, type ChunkFile, type JobRecord, type StoreFs } from './store.js';

/** What the agent needs from the gateway around it. */
export interface UpdateHost {
  readonly vehicleId: string;
  readonly clock: Clock;
  readonly log: GatewayLog;
  now(): Date;
  port(ecu: string): EcuPort | undefined;
  /** Seals and sends a control message; false when no session is established. */
  send(msg: ControlMessage): boolean;
  refuse(error: unknown, where: string): void;
  noteInventory(entry: EcuInventory): void;
  refreshInventory(names: readonly string[]): Promise<boolean>;
  /** Every update.status the agent reports (also when it could not be sent). */
  status(msg: UpdateStatusMessage): void;
}

export interface UpdateAgentOptions {
  /** Gateway data directory; without one the agent refuses offers with GW_UPDATE_UNAVAILABLE. */
  dataDir?: string;
  /** Chunks the manager may keep unacknowledged (1..1024). Default 32. */
  window?: number;
  statusIntervalMs?: number;
  flashAttempts?: number;
  /** fsync chunk data before its bitmap bit, and job files on replace. Default true. */
  durable?: boolean;
  /**
   * Group commit of downloaded chunks: one fdatasync of the image (then the bitmap) per acknowledgement
   * instead of one per chunk, off the thread — the same power-loss rule, far fewer syncs. Default true.
   */
  groupCommit?: boolean;
  rebootTimeoutMs?: number;
  /** The store's writes that can meet a full disk (tests inject ENOSPC); default the real file system. */
  fs?: StoreFs;
  /** Automatic fresh downloads of a job whose stored image turned out corrupt (GW_STORE_CORRUPT) before it fails. Default 2. */
  redownloads?: number;
  /**
   * Acknowledge the chunks received so far once no chunk came for this long (default 5 ms), not only
   * every window/2: the manager sizes what it keeps in flight from the acks (a slow link gets far less than
   * the window), and must not wait for chunks it is holding back.
   */
  ackIdleMs?: number;
}

export interface UpdateStats {
  offers: number;
  accepted: number;
  resumed: number;
  refused: Record<string, number>;
  chunks: number;
  duplicateChunks: number;
  acks: number;
  flashes: number;
  done: number;
  failed: number;
  recovered: number;
  /** Jobs whose `job.json` was lost and that were rebuilt from the offer and the chunk store. */
  rebuilt: number;
  /** Stored images found corrupt, discarded and downloaded again. */
  redownloads: number;
  /** Writes of the store refused by a full disk (the job goes on in memory or is retried). */
  diskFull: number;
}

interface Download {
  file: ChunkFile;
  sinceAck: number;
  /** Acknowledgements numbered as begun; those whose chunks are still being synced. */
  epoch: number;
  waiting: Array<{ epoch: number; msg: UpdateAckMessage }>;
  /** Acknowledges what arrived when the chunks pause (UpdateAgentOptions.ackIdleMs). */
  idle?: TimerHandle | undefined;
  /** The chunks paused while a commit was running: acknowledge them once it is done (one commit at a time). */
  idleAfterCommit?: boolean;
}

export class UpdateAgent {
  private store: UpdateStore | undefined;
  private trust: TrustStore | undefined;
  private readonly downloads = new Map<string, Download>();
  /** Offers are handled one at a time (each awaits a verification). */
  private offers: Promise<void> = Promise.resolve();
  private readonly running = new Set<Promise<unknown>>();
  private readonly throttle: StatusThrottle;
  private readonly window: number;
  private closed = false;
  readonly stats: UpdateStats = { offers: 0, accepted: 0, resumed: 0, refused: {}, chunks: 0, duplicateChunks: 0, acks: 0, flashes: 0, done: 0, failed: 0, recovered: 0, rebuilt: 0, redownloads: 0, diskFull: 0 };

  constructor(
    private readonly host: UpdateHost,
    private readonly opts: UpdateAgentOptions,
  ) {
    this.window = opts.window ?? GATEWAY_DEFAULTS.update.window;
    if (!Number.isInteger(this.window) || this.window < 1 || this.window > 1024) throw new OtaError(GW_CODES.config, 'update window must be 1..1024');
    this.throttle = new StatusThrottle(host.clock, opts.statusIntervalMs ?? GATEWAY_DEFAULTS.update.statusIntervalMs, (m) => host.send(m));
  }

  /** Whether updates are possible (a data directory was given). */
  get available(): boolean {
    return this.opts.dataDir !== undefined;
  }

  /** Opens the store and resumes what a restart interrupted: verifying, or flashing from the stored image. */
  start(trust: TrustStore): void {
    this.trust = trust;
    if (this.opts.dataDir === undefined) return;
    this.store = new UpdateStore(
      this.opts.dataDir,
      this.opts.durable ?? true,
      (dir, e) => this.host.log.warn(`${this.host.vehicleId}: update job ${dir} unreadable (${codeOf(e)}); ignored`),
      this.opts.groupCommit ?? true,
      this.opts.fs,
    );
    this.store.prune(new Date(this.host.now().getTime() - 24 * 3_600_000));
    for (const job of this.store.jobs()) {
      if (job.phase === 'verifying' || job.phase === 'flashing') {
        this.stats.recovered++;
        this.host.log.info(`${this.host.vehicleId}: resuming update job ${job.jobId} (${job.phase}) on ${job.ecu}`);
        // Probe first either way: a 'verifying' record may trail a flash whose 'flashing' could not be written.
        this.track(this.complete(job, job.phase === 'flashing', true));
      }
    }
  }

  /** A newer CRL is in force: offers and flashes from now on are judged by it (before download, before programming). */
  setTrust(trust: TrustStore): void {
    this.trust = trust;
  }

  // ── offers ─────────────────────────────────────────────────────────────────────────────────

  onOffer(offer: UpdateOfferMessage): void {
    this.stats.offers++;
    const run = this.offers.then(() => this.handleOffer(offer));
    this.offers = run.catch(() => undefined);
    this.track(run);
  }

  private async handleOffer(offer: UpdateOfferMessage): Promise<void> {
    if (this.closed) return;
    try {
      const store = this.store;
      if (store === undefined || this.trust === undefined) throw new OtaError(GW_CODES.updateUnavailable, 'this gateway has no data directory for updates');
      this.flushStore();
      const existing = store.job(offer.jobId);
      if (existing !== undefined && existing.ecu !== offer.ecu) throw new OtaError(GW_CODES.badOffer, `job ${offer.jobId} is for ECU ${existing.ecu}`);
      if (existing !== undefined && FINAL_PHASES.has(existing.phase) && existing.offer.assignment === offer.assignment) {
        // The manager re-offers the very same signed assignment when it missed the outcome (it restarted,
        // say): answer with the recorded outcome. Nothing runs again — the nonce stays spent.
        this.resendFinal(existing);
        return;
      }
      if (existing === undefined && store.orphaned(offer.jobId) && store.installed(offer.ecu)?.jobId === offer.jobId) {
        this.rebuildDone(offer);
        return;
      }
      const port = this.host.port(offer.ecu);
      if (port === undefined) throw new OtaError(GW_CODES.unknownEcu, `this vehicle has no ECU '${offer.ecu}'`);
      if (port.ecu.secret === undefined) throw new OtaError(GW_CODES.noSecret, `no SecurityAccess secret configured for ECU ${offer.ecu}`);
      const other = store.jobs().find((j) => j.ecu === offer.ecu && j.jobId !== offer.jobId && !FINAL_PHASES.has(j.phase));
      if (other !== undefined && other.phase !== 'downloading') throw new OtaError(GW_CODES.busy, `ECU ${offer.ecu} is being updated by job ${other.jobId}`);
      if (existing?.phase === 'verifying' || existing?.phase === 'flashing') {
        // Decided and under way: nothing to verify or change, only say where the job is.
        this.reportProgress(existing);
        return;
      }
      // The ECU's hardware id as it reports it now (a resumed job was checked against it when it began).
      const hardwareId = existing === undefined ? await port.readInventory().then((e) => e.hardwareId ?? undefined, () => undefined) : undefined;
      const verified = await checkOffer(this.context(), offer, { hardwareId, existing });
      if (this.closed) return;
      if (existing !== undefined && FINAL_PHASES.has(existing.phase)) {
        throw new OtaError(GW_CODES.jobFinished, `job ${offer.jobId} already finished (${existing.phase})`);
      }
      if (existing !== undefined) {
        this.resume(existing, offer, verified);
        return;
      }
      // One job per ECU: a verified new offer replaces a download the manager gave up on.
      if (other !== undefined) this.finish(other, { code: GW_CODES.superseded, message: `replaced by job ${offer.jobId}` });
      const rebuilt = store.orphaned(offer.jobId);
      if (rebuilt) {
        // Its job.json was lost or unreadable at start: the offer gives the record back (the checks above
        // ran on it as on a new job), the chunk store what was downloaded; the image digest judges the chunks.
        this.stats.rebuilt++;
        this.host.log.warn(`${this.host.vehicleId}: update job ${offer.jobId} had no readable job.json; rebuilt from the offer and the chunk store`);
      }
      this.begin(offer, verified, rebuilt);
    } catch (e) {
      this.refuseOffer(offer.jobId, e);
    }
  }

  private context(): CheckContext {
    return { vehicleId: this.host.vehicleId, trust: this.trust as TrustStore, store: this.store as UpdateStore, now: this.host.now() };
  }

  /**
   * A job whose job.json was lost after its install was recorded (the install record names it): it was
   * done. The outcome is rebuilt from the offer and sent; nothing is flashed again.
   */
  private rebuildDone(offer: UpdateOfferMessage): void {
    const store = this.store as UpdateStore;
    const installed = store.installed(offer.ecu) as NonNullable<ReturnType<UpdateStore['installed']>>;
    const now = new Date().toISOString();
    this.stats.rebuilt++;
    this.host.log.warn(`${this.host.vehicleId}: update job ${offer.jobId} had no readable job.json; its install on ${offer.ecu} is recorded: done`);
    const record: JobRecord = {
      jobId: offer.jobId,
      ecu: offer.ecu,
      offer,
      manifestDigest: '',
      nonces: [],
      expiresAt: now,
      version: installed.version,
      counter: installed.counter,
      length: 0,
      phase: 'done',
      reported: false,
      createdAt: now,
      updatedAt: now,
    };
    store.saveOrKeep(record);
    this.stats.done++;
    this.resendFinal(record);
  }

  private begin(offer: UpdateOfferMessage, v: VerifiedUpdate, rebuilt = false): void {
    const store = this.store as UpdateStore;
    const now = new Date().toISOString();
    const record: JobRecord = {
      jobId: offer.jobId,
      ecu: offer.ecu,
      offer,
      manifestDigest: v.manifestDigest,
      nonces: [v.assignment?.nonce ?? ''],
      expiresAt: (v.assignment?.expiresAt ?? new Date()).toISOString(),
      version: v.manifest.version,
      counter: v.manifest.counter,
      length: v.manifest.length,
      phase: 'downloading',
      createdAt: now,
      updatedAt: now,
    };
    store.save(record);
    const file = store.chunkFile(offer.jobId, { length: v.manifest.length, chunkSize: offer.chunkSize, chunks: offer.chunks });
    this.downloads.set(offer.jobId, { file, sinceAck: 0, epoch: 0, waiting: [] });
    this.stats.accepted++;
    this.host.log.info(`${this.host.vehicleId}: accepted update job ${offer.jobId} for ${offer.ecu}: ${v.manifest.version} (${v.manifest.length} bytes)`);
    this.accept(offer.jobId, file);
    if (file.complete) this.downloaded(offer.jobId, rebuilt); // a rebuilt job whose chunks were all there
  }

  /** Re-offer of a job in progress: answer with what is held (a finished download goes on to verify/flash). */
  private resume(record: JobRecord, offer: UpdateOfferMessage, v: VerifiedUpdate): void {
    const store = this.store as UpdateStore;
    const nonce = v.assignment?.nonce;
    const updated: JobRecord = { ...record, offer };
    if (nonce !== undefined && !updated.nonces.includes(nonce)) {
      updated.nonces = [...updated.nonces, nonce];
      updated.expiresAt = (v.assignment?.expiresAt ?? new Date()).toISOString();
    }
    // A full disk does not end the job: the record lives in memory and the chunks are retried (see onChunk).
    if (store.saveOrKeep(updated) !== undefined) this.stats.diskFull++;
    this.stats.resumed++;
    const geometry = { length: record.length, chunkSize: offer.chunkSize, chunks: offer.chunks };
    let dl = this.downloads.get(record.jobId);
    if (record.offer.chunkSize !== offer.chunkSize || record.offer.chunks !== offer.chunks) {
      // Another chunking of the same image: the bitmap means nothing for it; start the download over.
      if (dl !== undefined) this.clearIdleAck(dl);
      dl?.file.close();
      this.downloads.delete(record.jobId);
      store.dropData(record.jobId);
      dl = undefined;
    }
    if (dl === undefined) {
      dl = { file: store.chunkFile(record.jobId, geometry), sinceAck: 0, epoch: 0, waiting: [] };
      this.downloads.set(record.jobId, dl);
    }
    this.host.log.info(`${this.host.vehicleId}: resuming download of job ${record.jobId}: ${dl.file.received}/${geometry.chunks} chunks held`);
    this.accept(record.jobId, dl.file);
    if (dl.file.complete) this.downloaded(record.jobId);
  }

  /** A re-offer of a job past its download: everything is held (accept with a full bitmap), then its phase. */
  private reportProgress(record: JobRecord): void {
    this.stats.resumed++;
    this.host.send({ type: 'update.accept', jobId: record.jobId, have: bitmapToBase64(fullBitmap(record.offer.chunks)), window: this.window });
    const at = this.throttle.current(record.jobId) ?? { phase: record.phase === 'flashing' ? 'erasing' : 'verifying', percent: 0 };
    this.host.send({ type: 'update.status', jobId: record.jobId, phase: at.phase, percent: at.percent });
  }

  private accept(jobId: string, file: ChunkFile): void {
    this.host.send({ type: 'update.accept', jobId, have: bitmapToBase64(file.bitmap), window: this.window });
  }

  private refuseOffer(jobId: string, e: unknown): void {
    const code = codeOf(e);
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    this.host.refuse(e, 'update.offer');
    if (isDiskFull(e)) {
      // Transient: nothing was recorded; say where the job is (not failed) and let the manager offer again.
      this.stats.diskFull++;
      const phase = this.store?.job(jobId)?.phase === 'downloading' ? 'downloading' : 'queued';
      this.report({ type: 'update.status', jobId, phase, percent: 0, error: errorOf(e) });
      return;
    }
    this.report({ type: 'update.status', jobId, phase: 'failed', percent: 0, error: errorOf(e) });
  }

  onCancel(msg: UpdateCancelMessage): void {
    const run = this.offers.then(() => {
      const record = this.store?.job(msg.jobId);
      if (record === undefined || FINAL_PHASES.has(record.phase)) {
        this.host.refuse(new OtaError(GW_CODES.unknownJob, `no job ${msg.jobId} in progress`), 'update.cancel');
        return;
      }
      if (record.phase !== 'downloading') {
        this.host.refuse(new OtaError(GW_CODES.cancelTooLate, `job ${msg.jobId} is ${record.phase}; it runs to its end`), 'update.cancel');
        return;
      }
      this.finish(record, { code: GW_CODES.cancelled, message: 'cancelled by the manager' });
    });
    this.offers = run.catch(() => undefined);
    this.track(run);
  }

  // ── chunks ─────────────────────────────────────────────────────────────────────────────────

  /** A bulk message: one chunk. Refused (counted) when malformed, unknown or not fitting the job. */
  onChunk(bytes: Uint8Array): void {
    if (this.closed) return;
    try {
      if (this.store === undefined) throw new OtaError(GW_CODES.updateUnavailable, 'this gateway has no data directory for updates');
      const chunk = decodeChunk(bytes);
      const dl = this.downloads.get(chunk.jobId);
      if (dl === undefined) throw new OtaError(GW_CODES.unknownJob, `no download for job ${chunk.jobId}`);
      if (dl.file.write(chunk.index, chunk.data) === 'stored') this.stats.chunks++;
      else this.stats.duplicateChunks++;
      dl.sinceAck++;
      // update-flow.md §Flow control: acknowledge every window/2 chunks (duplicates count: the manager resends after a lost ack) and at the end.
      if (dl.file.complete) {
        dl.file.sync();
        this.ack(chunk.jobId, dl);
        this.downloaded(chunk.jobId);
      } else if (dl.sinceAck >= Math.max(1, Math.floor(this.window / 2))) {
        this.commitAndAck(chunk.jobId, dl);
      } else {
        this.armIdleAck(chunk.jobId, dl);
      }
    } catch (e) {
      if (isDiskFull(e)) this.stats.diskFull++; // the chunk is not held: the manager sends it again after its ack timeout
      this.host.refuse(e, 'chunk');
    }
  }

  /**
   * Acknowledges the chunks stored so far once they are durable (ChunkFile.commit: with group commit the
   * syncs run off the thread while later chunks keep arriving). Acks go out in order.
   */
  private commitAndAck(jobId: string, dl: Download): void {
    this.clearIdleAck(dl);
    dl.idleAfterCommit = false;
    dl.sinceAck = 0;
    const epoch = ++dl.epoch;
    dl.waiting.push({ epoch, msg: this.ackMessage(jobId, dl) });
    dl.file.commit().then(
      () => {
        if (this.closed || this.downloads.get(jobId) !== dl) return;
        this.sendAcks(dl, epoch);
        if (dl.idleAfterCommit === true && dl.waiting.length === 0 && dl.sinceAck > 0) this.commitAndAck(jobId, dl);
      },
      (e: unknown) => {
        // The batch is no longer held (ChunkFile.commit): acks still waiting would claim it, so none goes
        // out; the manager's ack timeout re-offers and the accept's bitmap resyncs it.
        dl.waiting = [];
        if (isDiskFull(e)) this.stats.diskFull++;
        this.host.refuse(e, 'chunk');
      },
    );
  }

  /** Acknowledges now (every chunk stored is durable: the caller synced), after the acks still waiting. */
  private ack(jobId: string, dl: Download): void {
    this.clearIdleAck(dl);
    dl.sinceAck = 0;
    const epoch = ++dl.epoch;
    dl.waiting.push({ epoch, msg: this.ackMessage(jobId, dl) });
    this.sendAcks(dl, epoch);
  }

  /** (Re)starts the idle timer: when no further chunk arrives within ackIdleMs, acknowledge what did. */
  private armIdleAck(jobId: string, dl: Download): void {
    this.clearIdleAck(dl);
    dl.idle = this.host.clock.setTimeout(() => {
      dl.idle = undefined;
      if (this.closed || this.downloads.get(jobId) !== dl || dl.sinceAck === 0) return;
      // A commit under way ends in an ack anyway; this pause's chunks follow right after it (on a busy fast
      // link the pauses are hiccups, and a sync per pause would cost more than the window waits).
      if (dl.waiting.length > 0) dl.idleAfterCommit = true;
      else this.commitAndAck(jobId, dl);
    }, this.opts.ackIdleMs ?? GATEWAY_DEFAULTS.update.ackIdleMs);
  }

  private clearIdleAck(dl: Download): void {
    if (dl.idle !== undefined) this.host.clock.clearTimeout(dl.idle);
    dl.idle = undefined;
  }

  /** Sends the waiting acks up to `epoch` (their chunks are durable), oldest first. */
  private sendAcks(dl: Download, epoch: number): void {
    while (dl.waiting.length > 0 && (dl.waiting[0] as { epoch: number }).epoch <= epoch) {
      const { msg } = dl.waiting.shift() as { msg: UpdateAckMessage };
      this.stats.acks++;
      this.host.send(msg);
    }
  }

  private ackMessage(jobId: string, dl: Download): UpdateAckMessage {
    return {
      type: 'update.ack',
      jobId,
      next: dl.file.nextMissing(),
      received: dl.file.received,
      window: this.window,
      ...(dl.file.outOfOrder() ? { have: bitmapToBase64(dl.file.bitmap) } : {}),
    };
  }

  /** All chunks are held: close the download and verify + flash in the background. */
  private downloaded(jobId: string, probeFirst = false): void {
    const dl = this.downloads.get(jobId);
    const record = this.store?.job(jobId);
    if (dl === undefined || record === undefined) return;
    this.downloads.delete(jobId);
    this.clearIdleAck(dl);
    dl.file.close();
    this.track(this.complete(record, false, probeFirst, dl.file.digests));
  }

  // ── verify and flash ───────────────────────────────────────────────────────────────────────

  /**
   * Verifying (unless `verifiedBefore`: a flash the restart interrupted) → flashing → done / failed.
   * `probeFirst`: ask the ECU first whether it already runs the image (a recovered or rebuilt job).
   */
  private async complete(record: JobRecord, verifiedBefore: boolean, probeFirst = verifiedBefore, digests: ReadonlyMap<number, Uint8Array> = new Map()): Promise<void> {
    const store = this.store as UpdateStore;
    const signedManifest = b64(record.offer.manifest);
    let verified: VerifiedUpdate;
    let image: Uint8Array = new Uint8Array(0);
    try {
      if (!verifiedBefore) {
        this.keep(store, { ...record, phase: 'verifying' });
        this.report({ type: 'update.status', jobId: record.jobId, phase: 'verifying', percent: 0 });
      }
      image = store.image(record.jobId) ?? new Uint8Array(0);
      verified = await checkImage(this.context(), record, image, verifiedBefore);
    } catch (e) {
      if (this.closed) return;
      // An image that does not match its (signed) manifest: the sender's fault only if the bytes on disk
      // are the bytes received; a chunk that changed on disk, or one held from before a restart that
      // nothing vouches for, puts the local store at fault: discard it and download again.
      if (isOtaError(e) && LOCAL_MISMATCH.has(e.code) && this.storeAtFault(record, image, digests)) this.storeCorrupt(record, e);
      else this.finish(record, errorOf(e));
      return;
    }
    if (this.closed) return;
    const port = this.host.port(record.ecu);
    const secret = port?.ecu.secret;
    if (port === undefined || secret === undefined) {
      this.finish(record, { code: GW_CODES.unknownEcu, message: `ECU ${record.ecu} is no longer configured with a secret` });
      return;
    }
    // Kept in memory when the disk is full: the flash goes on (a restart re-verifies and probes first).
    this.keep(store, { ...record, phase: 'flashing' });
    this.stats.flashes++;
    try {
      const result = await installImage(
        {
          port,
          secret,
          clock: this.host.clock,
          progress: (phase, percent) => {
            if (!this.closed) this.report({ type: 'update.status', jobId: record.jobId, phase, percent }); // never throws: a flash is not aborted by a report
          },
          noteInventory: (entry) => this.host.noteInventory(entry),
          attempts: this.opts.flashAttempts ?? GATEWAY_DEFAULTS.update.flashAttempts,
          rebootTimeoutMs: this.opts.rebootTimeoutMs ?? 10_000,
          reason: `flashing update job ${record.jobId}`,
          ...(this.trust?.crl === undefined ? {} : { crl: this.trust.crl.der }),
        },
        { image, signedManifest, manifest: verified.manifest, probeFirst },
      );
      if (this.closed) return; // killed meanwhile: the next start finds the job flashing and probes the ECU
      // The flash's outcome stands whatever the disk says: records that cannot be written are logged (the
      // install record is then held in memory), the job still ends done.
      this.bestEffort(`record the install of job ${record.jobId}`, () =>
        store.setInstalled(record.ecu, { counter: verified.manifest.counter, version: result.version, hardwareId: verified.manifest.hardwareId, jobId: record.jobId, at: new Date().toISOString() }),
      );
      this.bestEffort(`keep the last good image of ${record.ecu}`, () => store.saveLastGood(record.ecu, image, signedManifest, { version: result.version, counter: verified.manifest.counter, jobId: record.jobId }));
      this.finish(record, undefined, result.version);
      void this.host.refreshInventory([record.ecu]).catch(() => undefined);
    } catch (e) {
      if (!this.closed) this.finish(record, errorOf(e));
    }
  }

  /** Whether the stored image differs from what was received (or cannot be vouched for chunk by chunk). */
  private storeAtFault(record: JobRecord, image: Uint8Array, digests: ReadonlyMap<number, Uint8Array>): boolean {
    const geometry = { length: record.length, chunkSize: record.offer.chunkSize, chunks: record.offer.chunks };
    if (image.length !== record.length) return true;
    const { changed, unknown } = changedChunks(image, geometry, digests);
    return changed.length > 0 || unknown > 0;
  }

  /**
   * The stored image of `record` does not match its manifest: report GW_STORE_CORRUPT (not the release's
   * FW_ code), drop the chunks and go back to downloading — the manager's re-offer gets an empty bitmap.
   * After `redownloads` such rounds the job fails GW_STORE_CORRUPT.
   */
  private storeCorrupt(record: JobRecord, cause: OtaError): void {
    const store = this.store as UpdateStore;
    const error = { code: STORE_CODES.corrupt, message: `the stored image does not match its manifest (${cause.code}); the local store is at fault` };
    const rounds = record.redownloads ?? 0;
    if (rounds >= (this.opts.redownloads ?? 2)) {
      this.finish(record, { ...error, message: `${error.message}, again after ${rounds} fresh download(s)` });
      return;
    }
    this.stats.redownloads++;
    this.bestEffort(`discard the image of job ${record.jobId}`, () => store.dropData(record.jobId));
    this.keep(store, { ...record, phase: 'downloading', redownloads: rounds + 1 });
    this.warn(`update job ${record.jobId}: ${error.message}; chunks discarded, downloading again`);
    this.report({ type: 'update.status', jobId: record.jobId, phase: 'downloading', percent: 0, error });
  }

  /** Saves a record, or keeps it in memory when the disk refuses (logged): the job goes on either way. */
  private keep(store: UpdateStore, record: JobRecord): void {
    const e = store.saveOrKeep(record);
    if (e === undefined) return;
    if (isDiskFull(e)) this.stats.diskFull++;
    this.warn(`update job ${record.jobId}: cannot persist phase ${record.phase} (${codeOf(e)}); kept in memory`);
  }

  /** Runs a store write whose failure must not change the job's course (logged). */
  private bestEffort(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (isDiskFull(e)) this.stats.diskFull++;
      this.warn(`cannot ${what} (${codeOf(e)})`);
    }
  }

  /** A warning that never throws (a log that cannot be written must not stop a flash). */
  private warn(text: string): void {
    try {
      this.host.log.warn(`${this.host.vehicleId}: ${text}`);
    } catch {
      // nothing more to do
    }
  }

  /** Records the end of a job (done, or failed with `error`), drops its data and reports it. */
  private finish(record: JobRecord, error: { code: string; message: string } | undefined, version?: string): void {
    const store = this.store as UpdateStore;
    const dl = this.downloads.get(record.jobId);
    if (dl !== undefined) this.clearIdleAck(dl);
    dl?.file.close();
    this.downloads.delete(record.jobId);
    const phase = error === undefined ? 'done' : 'failed';
    const final: JobRecord = { ...record, phase, reported: false, ...(error === undefined ? {} : { error }) };
    // The outcome is the job's truth even when the disk refuses it: kept in memory, reported, the ECU free.
    this.keep(store, final);
    this.bestEffort(`remove the data of job ${record.jobId}`, () => store.dropData(record.jobId));
    if (error === undefined) this.stats.done++;
    else this.stats.failed++;
    try {
      this.host.log.info(`${this.host.vehicleId}: update job ${record.jobId} on ${record.ecu} ${error === undefined ? `done: ${version ?? record.version}` : `failed: ${error.code}`}`);
    } catch {
      // a log that cannot be written changes nothing
    }
    const sent = this.report({ type: 'update.status', jobId: record.jobId, phase, percent: error === undefined ? 100 : 0, ...(version === undefined ? {} : { version }), ...(error === undefined ? {} : { error }) });
    if (sent) this.keep(store, { ...final, reported: true });
  }

  /** Reports a status (the gateway's event, then the wire); a throwing listener is logged, never propagated. */
  private report(msg: UpdateStatusMessage): boolean {
    try {
      this.host.status(msg);
    } catch (e) {
      this.warn(`update.status listener failed (${codeOf(e)})`);
    }
    return this.throttle.report(msg);
  }

  /** Writes the records a full disk kept in memory, when it can now. */
  private flushStore(): void {
    this.store?.flush();
  }

  /** The recorded outcome of a finished job, sent again (marked reported once it went out). */
  private resendFinal(job: JobRecord): void {
    const phase = job.phase === 'done' ? 'done' : 'failed';
    const msg: UpdateStatusMessage = { type: 'update.status', jobId: job.jobId, phase, percent: phase === 'done' ? 100 : 0, ...(phase === 'done' ? { version: job.version } : {}), ...(job.error === undefined ? {} : { error: job.error }) };
    if (this.host.send(msg) && job.reported !== true && this.store !== undefined) this.keep(this.store, { ...job, reported: true });
  }

  /**
   * A session was established: send final statuses that could not go out before, and where running jobs
   * are. A download still open here (the link dropped, the process did not) is resumed at once with an
   * unsolicited update.accept: the manager streams the missing chunks on it instead of re-offering first
   * (on a slow link an offer is a second of transfer time per reconnect). Not for an assignment that has
   * expired meanwhile: the manager's re-offer gets FW_EXPIRED then, as before.
   */
  onEstablished(): void {
    const store = this.store;
    if (store === undefined || this.closed) return;
    this.flushStore();
    const now = this.host.now().getTime();
    for (const [jobId, dl] of this.downloads) {
      const record = store.job(jobId);
      if (record?.phase !== 'downloading' || !(Date.parse(record.expiresAt) > now)) continue;
      this.stats.resumed++;
      this.host.log.info(`${this.host.vehicleId}: resuming download of job ${jobId} on the new session: ${dl.file.received}/${dl.file.geometry.chunks} chunks held`);
      this.accept(jobId, dl.file);
    }
    for (const job of store.jobs()) {
      if ((job.phase === 'done' || job.phase === 'failed') && job.reported === false) {
        this.resendFinal(job);
      } else if (job.phase === 'verifying' || job.phase === 'flashing') {
        const at = this.throttle.current(job.jobId);
        if (at !== undefined) this.host.send({ type: 'update.status', jobId: job.jobId, phase: at.phase, percent: at.percent });
      }
    }
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((e: unknown) => this.host.log.warn(`${this.host.vehicleId}: update agent: ${codeOf(e)}: ${e instanceof Error ? e.message : String(e)}`));
    this.running.add(t);
    void t.finally(() => this.running.delete(t));
  }

  /** Resolves when no offer, verification or flash is running (tests, orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Stops: closes open image files and persists nothing more (a flash in work is found again at the next start). */
  close(): void {
    this.closed = true;
    for (const dl of this.downloads.values()) {
      this.clearIdleAck(dl);
      dl.file.close();
    }
    this.downloads.clear();
  }
}

/** verifyUpdate codes that, for an image read from our own store, mean the store is corrupt. */
const LOCAL_MISMATCH: ReadonlySet<string> = new Set(['FW_DIGEST_MISMATCH', 'FW_LENGTH_MISMATCH']);

function errorOf(e: unknown): { code: string; message: string } {
  return { code: codeOf(e), message: (e instanceof Error ? e.message : String(e)).slice(0, 1024) };
}
