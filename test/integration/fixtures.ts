/**
 * Fixtures for the integration tests, all made at test time into a temp directory: an STM32F103
 * application image written as Intel HEX and read back, a fresh fleet CA with a release certificate,
 * and the signed manifest for the image.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLASH_MODELS, memoryMapFromSegments, readImage, toContiguous, writeIntelHex } from '../../src/protocol/firmware/index.js';
import { signManifest, type Manifest } from '../../src/security/firmware/index.js';
import { createCa, issueCertificate, type Issued } from '../../src/security/pki/index.js';

export const APP_REGION = FLASH_MODELS.stm32f103c8.application;
/** The whole application region of the c8: 56 KiB. */
export const APP_SIZE = APP_REGION.end - APP_REGION.start;
/** Initial main stack pointer: top of the c8's 20 KiB SRAM. */
export const INITIAL_SP = 0x2000_5000;
/** Vector table of a medium-density STM32F103: 16 core + 43 peripheral vectors (RM0008 §10.1.2), padded. */
const VECTOR_TABLE_BYTES = 0x130;

/** A temp directory and its removal. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ota-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * An application image filling `size` bytes from 0x08002000: a valid vector table (initial SP in RAM,
 * reset handler a Thumb address (odd) inside the image, every other vector a default handler), then
 * deterministic pseudo-random "code" for `seed`.
 */
export function makeApplicationImage(seed: number, size = APP_SIZE): { address: number; data: Uint8Array } {
  const data = new Uint8Array(size);
  const view = new DataView(data.buffer);
  const next = xorshift(seed);
  for (let i = VECTOR_TABLE_BYTES; i < size; i += 4) view.setUint32(i, next(), true);
  const resetHandler = APP_REGION.start + VECTOR_TABLE_BYTES + 0x01; // Thumb bit set
  const defaultHandler = APP_REGION.start + VECTOR_TABLE_BYTES + 0x41;
  view.setUint32(0, INITIAL_SP, true);
  view.setUint32(4, resetHandler, true);
  for (let off = 8; off < VECTOR_TABLE_BYTES; off += 4) view.setUint32(off, defaultHandler, true);
  return { address: APP_REGION.start, data };
}

/** Writes `image` as Intel HEX into `dir`, reads it back (checked against the application region), makes it contiguous. */
export function roundTripIntelHex(dir: string, image: { address: number; data: Uint8Array }, name = 'app.hex'): { path: string; image: { address: number; data: Uint8Array } } {
  const path = join(dir, name);
  writeFileSync(path, writeIntelHex(memoryMapFromSegments([image]), { startAddress: new DataView(image.data.buffer, image.data.byteOffset).getUint32(4, true) }));
  const read = readImage(readFileSync(path), 'ihex', { region: APP_REGION });
  return { path, image: toContiguous(read.map) };
}

/** A fresh fleet CA and a release certificate issued by it. */
export interface ReleasePki {
  ca: Issued;
  release: Issued;
}

export async function makeReleasePki(): Promise<ReleasePki> {
  const ca = await createCa({ name: 'Integration Fleet CA' });
  const release = await issueCertificate(ca, { role: 'release', name: 'release-integration' });
  return { ca, release };
}

/** The signed manifest (as `ota firmware sign` writes it) for a contiguous image. */
export function signImage(pki: ReleasePki, image: { address: number; data: Uint8Array }, fields: Partial<Manifest> = {}): { signed: Uint8Array; manifest: Manifest } {
  const manifest: Manifest = {
    hardwareId: 'stm32f103c8',
    version: '1.0.0',
    counter: 1,
    length: image.data.length,
    sha256: createHash('sha256').update(image.data).digest('hex'),
    loadAddress: image.address,
    format: 'ihex',
    ...fields,
  };
  return { signed: signManifest(manifest, pki.release), manifest };
}
