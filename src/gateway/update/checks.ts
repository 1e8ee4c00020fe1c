/**
 * The update agent's security checks, all through `verifyUpdate` (src/security/firmware, ARCHITECTURE
 * §2.3): the offer before any download, the assembled image before any flash. They change no state;
 * the agent records nonces and counters only after they pass.
 *
 * Installed state the gateway checks against: the hardware id the ECU reports (DID 0xF191; when it
 * reports none, the manifest's own — the bootloader's routine 0xFF01 is then the judge) and the release
 * counter this gateway last installed on that ECU (none yet: −1, and again the bootloader judges: it
 * refuses a counter not above its own).
 */
import type { UpdateOfferMessage } from '../../protocol/ota/update-messages.js';
import { decodeSignedManifest, verifyUpdate, type VerifiedUpdate } from '../../security/firmware/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { OtaError } from '../../protocol/errors.js';
import { GW_CODES } from '../constants.js';
import { FINAL_PHASES, type JobRecord, type UpdateStore } from './store.js';

export interface CheckContext {
  vehicleId: string;
  trust: TrustStore;
  store: UpdateStore;
  now: Date;
}

/** Bytes of a base64 field (already checked by the message decoder). */
export const b64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));

/** The replay rule: a nonce counts as seen when it belongs to another job, or to this job once it finished. */
export function seenNonces(store: UpdateStore, jobId: string): { has(n: string): boolean } {
  return {
    has: (n) => {
      const owner = store.nonceOwner(n);
      if (owner === undefined) return false;
      return owner !== jobId || FINAL_PHASES.has(store.job(owner)?.phase ?? 'failed');
    },
  };
}

/**
 * An offer, before anything is downloaded: signatures, vehicle, ECU, validity, nonce, hardware id,
 * rollback; then that a re-offer names the job's manifest and that the chunks cover the image exactly.
 */
export async function checkOffer(ctx: CheckContext, offer: UpdateOfferMessage, o: { hardwareId: string | undefined; existing: JobRecord | undefined }): Promise<VerifiedUpdate> {
  const signedManifest = b64(offer.manifest);
  const installed = ctx.store.installed(offer.ecu);
  const verified = await verifyUpdate({
    signedManifest,
    assignment: b64(offer.assignment),
    installed: { counter: installed?.counter ?? -1, hardwareId: o.hardwareId ?? hardwareOf(signedManifest) },
    expect: { vehicleId: ctx.vehicleId, ecu: offer.ecu },
    trust: ctx.trust,
    seenNonces: seenNonces(ctx.store, offer.jobId),
    now: ctx.now,
  });
  if (o.existing !== undefined && o.existing.manifestDigest !== verified.manifestDigest) {
    throw new OtaError(GW_CODES.badOffer, `job ${offer.jobId} was offered with another manifest`);
  }
  if (offer.chunks !== Math.ceil(verified.manifest.length / offer.chunkSize)) {
    throw new OtaError(GW_CODES.badOffer, `${offer.chunks} chunks of ${offer.chunkSize} bytes do not make ${verified.manifest.length} bytes`);
  }
  return verified;
}

/**
 * Phase verifying: length and SHA-256 of the assembled image and the whole verifyUpdate again
 * (assignment, nonce and rollback included). A flash interrupted by a restart was decided already
 * (`verifiedBefore`): then the manifest's signature and the image are checked again, not the
 * assignment — it may have expired meanwhile, and the ECU waits in its bootloader for this image.
 */
export function checkImage(ctx: CheckContext, record: JobRecord, image: Uint8Array, verifiedBefore: boolean): Promise<VerifiedUpdate> {
  const signedManifest = b64(record.offer.manifest);
  const installed = ctx.store.installed(record.ecu);
  return verifyUpdate({
    signedManifest,
    image,
    ...(verifiedBefore
      ? { expect: {} }
      : {
          assignment: b64(record.offer.assignment),
          expect: { vehicleId: ctx.vehicleId, ecu: record.ecu },
          seenNonces: seenNonces(ctx.store, record.jobId),
          installed: { counter: installed?.counter ?? -1, hardwareId: hardwareOf(signedManifest) },
        }),
    trust: ctx.trust,
    now: ctx.now,
  });
}

/** A bitmap with every one of `chunks` bits set. */
export function fullBitmap(chunks: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(chunks / 8)).fill(0xff);
  if (chunks % 8 !== 0) out[out.length - 1] = (1 << chunks % 8) - 1;
  return out;
}

/** The hardware id a signed manifest names ('' when malformed: verifyUpdate then refuses it with FW_MALFORMED first). */
function hardwareOf(signedManifest: Uint8Array): string {
  try {
    return decodeSignedManifest(signedManifest).manifest.hardwareId;
  } catch {
    return '';
  }
}
