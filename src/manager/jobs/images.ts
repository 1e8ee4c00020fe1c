/**
 * Images of running jobs, loaded once per firmware however many vehicles receive it (a campaign sends
 * one image to many vehicles at once), and dropped when the last job using it ends.
 */
import type { FirmwareRepository } from '../firmware/index.js';

/** What a run needs of its firmware. */
export interface LoadedFirmware {
  image: Uint8Array;
  sha256: string;
  /** The signed manifest, base64 (as update.offer carries it). */
  manifest: string;
}

export class ImageCache {
  private readonly images = new Map<string, { bytes: Uint8Array; refs: number }>();

  constructor(private readonly repository: FirmwareRepository) {}

  /** The firmware's checked image and manifest; pair every call with release(sha256). */
  async acquire(firmwareId: string): Promise<LoadedFirmware> {
    const { firmware, signedManifest } = await this.repository.manifest(firmwareId);
    let cached = this.images.get(firmware.sha256);
    if (!cached) {
      cached = { bytes: await this.repository.image(firmware), refs: 0 };
      this.images.set(firmware.sha256, cached);
    }
    cached.refs++;
    return { image: cached.bytes, sha256: firmware.sha256, manifest: Buffer.from(signedManifest).toString('base64') };
  }

  release(sha256: string): void {
    const cached = this.images.get(sha256);
    if (cached && --cached.refs <= 0) this.images.delete(sha256);
  }
}
