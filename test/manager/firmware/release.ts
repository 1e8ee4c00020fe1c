/**
 * Release fixtures made at test time: a release signer issued by a fleet CA, deterministic image bytes,
 * and the signed manifest `ota firmware sign` would write for them.
 */
import { createHash } from 'node:crypto';
import { issueToDir, loadIssued } from '../../../src/security/pki/index.js';
import { signManifest, type FirmwareFormat, type Manifest } from '../../../src/security/firmware/index.js';

export const APP_BASE = 0x0800_2000;
export const HARDWARE = 'stm32f103c8';

export interface Signer {
  keyPem: string;
  certPem: string;
}

/** Issue a release certificate `name` in `pkiDir` and return its key and certificate. */
export async function issueRelease(pkiDir: string, name = 'release'): Promise<Signer> {
  await issueToDir(pkiDir, { role: 'release', name });
  return loadIssued(pkiDir, name);
}

/** `length` pseudo-random bytes, the same for the same seed. */
export function imageBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let block = Buffer.alloc(0);
  for (let o = 0, n = 0; o < length; o += 32, n++) {
    block = createHash('sha256').update(`${seed}:${n}`).digest();
    out.set(block.subarray(0, Math.min(32, length - o)), o);
  }
  return out;
}

/** The signed manifest of the contiguous `image` at `loadAddress`. */
export function signRelease(
  signer: Signer,
  image: Uint8Array,
  opts: { version?: string; counter?: number; hardwareId?: string; loadAddress?: number; format?: FirmwareFormat } = {},
): Uint8Array {
  const manifest: Manifest = {
    hardwareId: opts.hardwareId ?? HARDWARE,
    version: opts.version ?? '1.1.0',
    counter: opts.counter ?? 2,
    length: image.length,
    sha256: createHash('sha256').update(image).digest('hex'),
    loadAddress: opts.loadAddress ?? APP_BASE,
    format: opts.format ?? 'bin',
  };
  return signManifest(manifest, signer);
}
