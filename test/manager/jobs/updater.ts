/**
 * The gateway's side of the update flow reduced to the wire contract, for manager tests: verifies the
 * offer's assignment like a gateway (verifyUpdate), answers update.accept with its bitmap (a job it
 * knows keeps its chunks: a re-offer resumes), stores chunks, acknowledges every `ackEvery` chunks and
 * at the end (with the bitmap when it holds chunks out of order), and reports statuses when told to.
 * It survives its vehicle: attach it to a new ScriptedVehicle after a reconnect and it still holds the chunks.
 */
import { createHash } from 'node:crypto';
import { decodeControl, messageClass } from '../../../src/protocol/ota/messages.js';
import {
  bitmapFromBase64,
  bitmapToBase64,
  decodeChunk,
  type UpdateCancelMessage,
  type UpdateOfferMessage,
  type UpdateStatusMessage,
} from '../../../src/protocol/ota/update-messages.js';
import { decodeSignedManifest, verifyUpdate } from '../../../src/security/firmware/index.js';
import type { TrustStore } from '../../../src/security/pki/index.js';
import type { ScriptedVehicle } from '../fixtures.js';

export interface HeldJob {
  offer: UpdateOfferMessage;
  image: Uint8Array;
  have: Uint8Array;
  count: number;
  sinceAck: number;
  /** Most chunks received without an ack in between (flow control check). */
  maxSinceAck: number;
  complete: boolean;
  digestOk?: boolean;
}

export class ScriptedUpdater {
  vehicle: ScriptedVehicle | undefined;
  window = 8;
  /** Acknowledge after this many new chunks (default window/2, the update-flow rule). */
  ackEvery: number | undefined;
  /** When false, chunks are stored but not acknowledged (a stalled or slow gateway). */
  acking = true;
  /** Stop acknowledging once a job holds more than this many chunks (a transfer frozen mid-way). */
  pauseAfter: number | undefined;
  /** When false, offers are recorded but not answered. */
  answering = true;
  /** Statuses sent once the image is complete and verified (default: verifying, programming 50, done). */
  readonly defaultOnComplete = (job: HeldJob): Array<Omit<UpdateStatusMessage, 'type' | 'jobId'>> => [
    { phase: 'verifying', percent: 0 },
    { phase: 'programming', percent: 50 },
    { phase: 'done', percent: 100, version: this.versionOf(job) },
  ];
  onComplete: (job: HeldJob) => Array<Omit<UpdateStatusMessage, 'type' | 'jobId'>> = this.defaultOnComplete;
  /** The chunk bitmap a job starts from the first time it is offered (a download begun earlier). */
  preset: ((offer: UpdateOfferMessage) => { have: number[]; image: Uint8Array } | undefined) | undefined;
  readonly jobs = new Map<string, HeldJob>();
  readonly offers: UpdateOfferMessage[] = [];
  readonly cancels: UpdateCancelMessage[] = [];
  /** Every chunk index received, in order, duplicates included. */
  readonly received: number[] = [];
  readonly refusedOffers: string[] = [];

  constructor(private readonly trust: TrustStore) {}

  /** Handle the update flow of `vehicle` (a new one after a reconnect). */
  attach(vehicle: ScriptedVehicle): void {
    this.vehicle = vehicle;
    vehicle.onPlaintext = (p) => this.onPlaintext(p);
  }

  private versionOf(job: HeldJob): string {
    return decodeSignedManifest(Buffer.from(job.offer.manifest, 'base64')).manifest.version;
  }

  private async onPlaintext(plaintext: Uint8Array): Promise<boolean> {
    if (messageClass(plaintext) === 'bulk') {
      await this.onChunk(plaintext);
      return true;
    }
    const msg = decodeControl(plaintext);
    if (msg.type === 'update.offer') {
      await this.onOffer(msg);
      return true;
    }
    if (msg.type === 'update.cancel') {
      this.cancels.push(msg);
      this.jobs.delete(msg.jobId);
      return true;
    }
    return false;
  }

  private async onOffer(offer: UpdateOfferMessage): Promise<void> {
    this.offers.push(offer);
    if (!this.answering || !this.vehicle) return;
    try {
      await verifyUpdate({
        signedManifest: Buffer.from(offer.manifest, 'base64'),
        assignment: Buffer.from(offer.assignment, 'base64'),
        expect: { vehicleId: this.vehicle.id, ecu: offer.ecu },
        trust: this.trust,
      });
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'GW_ERROR';
      this.refusedOffers.push(code);
      await this.status(offer.jobId, { phase: 'failed', percent: 0, error: { code, message: 'offer refused' } });
      return;
    }
    let job = this.jobs.get(offer.jobId);
    if (!job || job.offer.assignment !== offer.assignment) {
      const length = decodeSignedManifest(Buffer.from(offer.manifest, 'base64')).manifest.length;
      job = { offer, image: new Uint8Array(length), have: new Uint8Array(Math.ceil(offer.chunks / 8)), count: 0, sinceAck: 0, maxSinceAck: 0, complete: false };
      const preset = this.preset?.(offer);
      if (preset) {
        for (const i of preset.have) this.store(job, i, preset.image.subarray(i * offer.chunkSize, (i + 1) * offer.chunkSize));
      }
      this.jobs.set(offer.jobId, job);
    }
    job.sinceAck = 0;
    await this.vehicle.send({ type: 'update.accept', jobId: offer.jobId, have: bitmapToBase64(job.have), window: this.window });
  }

  private store(job: HeldJob, index: number, data: Uint8Array): boolean {
    const bit = 1 << (index & 7);
    if (((job.have[index >> 3] as number) & bit) !== 0) return false;
    job.image.set(data, index * job.offer.chunkSize);
    job.have[index >> 3] = (job.have[index >> 3] as number) | bit;
    job.count++;
    return true;
  }

  private next(job: HeldJob): number {
    let n = 0;
    while (n < job.offer.chunks && ((job.have[n >> 3] as number) & (1 << (n & 7))) !== 0) n++;
    return n;
  }

  private async onChunk(bytes: Uint8Array): Promise<void> {
    const chunk = decodeChunk(bytes);
    this.received.push(chunk.index);
    const job = this.jobs.get(chunk.jobId);
    if (!job || !this.store(job, chunk.index, chunk.data)) return;
    job.sinceAck++;
    job.maxSinceAck = Math.max(job.maxSinceAck, job.sinceAck);
    const complete = job.count === job.offer.chunks;
    const paused = this.pauseAfter !== undefined && job.count > this.pauseAfter;
    if (this.acking && !paused && (complete || job.sinceAck >= (this.ackEvery ?? Math.max(1, this.window >> 1)))) await this.ack(job);
    if (complete && !job.complete) {
      job.complete = true;
      const m = decodeSignedManifest(Buffer.from(job.offer.manifest, 'base64')).manifest;
      job.digestOk = createHash('sha256').update(job.image).digest('hex') === m.sha256;
      for (const s of this.onComplete(job)) await this.status(job.offer.jobId, s);
    }
  }

  /** Acknowledge what `job` holds now (with the bitmap when chunks are held out of order). */
  async ack(job: HeldJob): Promise<void> {
    job.sinceAck = 0;
    const next = this.next(job);
    const gaps = job.count > next;
    await this.vehicle?.send({ type: 'update.ack', jobId: job.offer.jobId, next, received: job.count, window: this.window, ...(gaps ? { have: bitmapToBase64(job.have) } : {}) });
  }

  async status(jobId: string, s: Omit<UpdateStatusMessage, 'type' | 'jobId'>): Promise<void> {
    await this.vehicle?.send({ type: 'update.status', jobId, ...s });
  }

  /** Chunk indices held by the job, for assertions. */
  heldIndices(jobId: string): number[] {
    const job = this.jobs.get(jobId);
    if (!job) return [];
    const bits = bitmapFromBase64(bitmapToBase64(job.have), job.offer.chunks);
    return [...Array(job.offer.chunks).keys()].filter((i) => ((bits[i >> 3] as number) & (1 << (i & 7))) !== 0);
  }
}
