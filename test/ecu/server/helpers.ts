// Test harness for the virtual ECU's UDS server: a fake clock, request bytes in, response bytes out,
// and the fixtures of a release (fleet CA, release certificate, signed manifests) made at test time.
import { createHash } from 'node:crypto';
import { FakeClock } from '../../../src/protocol/clock.js';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import { memoryMapFromSegments, toContiguous, type MemoryMap } from '../../../src/protocol/firmware/memory-map.js';
import type { UdsRequestHandler } from '../../../src/protocol/uds/ports.js';
import { signManifest, type Manifest } from '../../../src/security/firmware/index.js';
import { createCa, issueCertificate, trustStoreFromPem, type Issued, type TrustStore } from '../../../src/security/pki/index.js';
import { computeKey } from '../../../src/ecu/security-access.js';
import { createVirtualEcu, type VirtualEcu, type VirtualEcuOptions } from '../../../src/ecu/server/index.js';
import { pseudoRandomBytes } from '../helpers.js';

export const APP_START = 0x0800_2000;
export const APP_END = 0x0801_0000;
export const SECRET = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
/** Fake clock start: a wall-clock-like time, so timers and lockouts look realistic. */
export const T0 = 1_780_000_000_000;

/** A release as the OEM makes it: fleet CA, a release certificate, the trust store the ECU holds. */
export interface Release {
  ca: Issued;
  release: Issued;
  trust: TrustStore;
}

let release: Promise<Release> | undefined;

/** One fleet CA and release certificate per test process (key generation is the slow part). */
export function releaseFixture(): Promise<Release> {
  release ??= (async () => {
    const ca = await createCa({ name: 'ECU Server Test Fleet CA' });
    const rel = await issueCertificate(ca, { role: 'release', name: 'release-ecu-test' });
    return { ca, release: rel, trust: await trustStoreFromPem(ca.certPem) };
  })();
  return release;
}

/** Another CA's release (a signer the ECU must not trust). */
export async function foreignRelease(): Promise<Issued> {
  const ca = await createCa({ name: 'Some Other CA' });
  return issueCertificate(ca, { role: 'release', name: 'release-foreign' });
}

/**
 * A 56 KiB application as a linker would emit it: vector table + code at 0x08002000 (12 KiB), a gap,
 * constant data up to the end of the application region (28 KiB). As `ota firmware sign` does, the
 * signed image is the contiguous block with the gap filled 0xFF.
 */
export function applicationImage(seed = 7): { map: MemoryMap; image: Uint8Array; address: number } {
  const map = memoryMapFromSegments([
    { address: APP_START, data: pseudoRandomBytes(0x3000, seed) },
    { address: 0x0800_9000, data: pseudoRandomBytes(APP_END - 0x0800_9000, seed + 1) },
  ]);
  const { address, data } = toContiguous(map, { fill: 0xff });
  return { map, image: data, address };
}

/** The manifest of `image` at `address` (the fields `ota firmware sign` fills). */
export function manifestFor(image: Uint8Array, address: number, fields: Partial<Manifest> = {}): Manifest {
  return {
    hardwareId: 'stm32f103c8',
    version: '2.1.0',
    counter: 5,
    length: image.length,
    sha256: createHash('sha256').update(image).digest('hex'),
    loadAddress: address,
    format: 'ihex',
    ...fields,
  };
}

export function sign(manifest: Manifest, signer: Issued): Uint8Array {
  return signManifest(manifest, { keyPem: signer.keyPem, certPem: signer.certPem });
}

/** Bytes from hex text or bytes. */
export function bytes(request: string | Uint8Array): Uint8Array {
  return typeof request === 'string' ? parseHex(request) : request;
}

/** `a ‖ b ‖ …` */
export function cat(...parts: Array<string | Uint8Array | number[]>): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => (Array.isArray(p) ? p : [...bytes(p)])));
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** `44 <address:4> <size:4>`: the memory range record of eraseMemory and RequestDownload. */
export function range44(address: number, size: number): number[] {
  return [0x44, ...u32(address), ...u32(size)];
}

export interface SendOptions {
  functional?: boolean;
  handler?: UdsRequestHandler;
  /** Advance the fake clock by this much (letting timers fire) while the request is in work. */
  advanceMs?: number;
}

/** A virtual ECU on a fake clock, driven by request bytes; responses come back as `7F 31 78`-style hex. */
export class Harness {
  readonly clock: FakeClock;
  readonly ecu: VirtualEcu;

  constructor(options: VirtualEcuOptions = {}, clock = new FakeClock(T0)) {
    this.clock = clock;
    this.ecu = createVirtualEcu({ secret: SECRET, clock, ...options });
  }

  /** Every response the ECU sends to one request, in order. */
  async send(request: string | Uint8Array, options: SendOptions = {}): Promise<string[]> {
    const out: string[] = [];
    const handler = options.handler ?? this.ecu.handler;
    const done = handler.handle(bytes(request), (r) => out.push(toHex(r)), { functional: options.functional ?? false });
    if (options.advanceMs !== undefined) await this.clock.advanceAsync(options.advanceMs);
    await done;
    return out;
  }

  /** The one response to a request (fails if there is not exactly one). */
  async one(request: string | Uint8Array, options: SendOptions = {}): Promise<string> {
    const out = await this.send(request, options);
    if (out.length !== 1) throw new Error(`expected one response to ${toHex(bytes(request))}, got [${out.join(' | ')}]`);
    return out[0] as string;
  }

  /** `27 <seed>` then `27 <seed+1> <key>` with the right key; returns the sendKey response. */
  async unlock(requestSeed: number): Promise<string> {
    const seedResponse = parseHex(await this.one(Uint8Array.of(0x27, requestSeed)));
    return this.unlockWithSeed(seedResponse.subarray(2), requestSeed + 1);
  }

  /** `27 <sendKey> <key>` for a seed already received (default sendKey 0x12). */
  unlockWithSeed(seed: Uint8Array, sendKey = 0x12): Promise<string> {
    return this.one(cat([0x27, sendKey], computeKey(SECRET, seed)));
  }

  /** From wherever the ECU is: extended session, programming session (bootloader), level 0x11 unlocked. */
  async programmingUnlocked(): Promise<void> {
    await this.one('10 03');
    await this.one('10 02');
    await this.unlock(0x11);
  }

  /** Erase the whole application region and download `image` at `address` in one transfer. */
  async eraseAndDownload(image: Uint8Array, address: number, handler?: UdsRequestHandler): Promise<void> {
    await this.one(cat([0x31, 0x01, 0xff, 0x00], range44(APP_START, APP_END - APP_START)));
    const response = parseHex(await this.one(cat([0x34, 0x00], range44(address, image.length)), { handler }));
    const block = (((response[2] as number) << 8) | (response[3] as number)) - 2;
    let bsc = 1;
    for (let off = 0; off < image.length; off += block) {
      await this.one(cat([0x36, bsc], image.subarray(off, off + block)), { handler });
      bsc = (bsc + 1) & 0xff;
    }
    await this.one('37', { handler });
  }

  /** DID value bytes from a single-DID ReadDataByIdentifier. */
  async readDid(did: number): Promise<Uint8Array> {
    const response = parseHex(await this.one(Uint8Array.of(0x22, did >> 8, did & 0xff)));
    if (response[0] !== 0x62) throw new Error(`reading DID 0x${did.toString(16)}: ${toHex(response)}`);
    return response.subarray(3);
  }
}

/**
 * An ECU whose application is installed directly through its NVM (no UDS, no signature: the setup of
 * tests about the application), then reset so it runs. Version 3.0.0, release counter 1.
 */
export function harnessWithApplication(options: VirtualEcuOptions = {}, clock?: FakeClock): Harness {
  const h = new Harness(options, clock);
  const image = pseudoRandomBytes(4096, 99);
  const { flash, application } = h.ecu.nvm;
  flash.eraseRange(APP_START, image.length);
  flash.program(APP_START, image);
  application.install({
    start: APP_START,
    length: image.length,
    sha256: createHash('sha256').update(image).digest('hex'),
    version: '3.0.0',
    counter: 1,
    hardwareId: 'stm32f103c8',
  });
  h.ecu.reset();
  if (h.ecu.mode !== 'application') throw new Error('the installed application did not start');
  return h;
}
