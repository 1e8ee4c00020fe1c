/**
 * `ota firmware sample`: a small but genuine Cortex-M3 application image for the virtual STM32F103, so a
 * newcomer can flash something within a minute of `npm start`. Layout (offsets from the application
 * region's start, 0x08002000 on every STM32F103 model we emulate):
 *
 *   0x000  vector table (PM0056 §2.3.4): initial MSP = top of SRAM, Reset_Handler, then NMI … SysTick
 *          (14 entries) → Default_Handler; handler addresses odd (Thumb state, PM0056 §2.1.3 EPSR.T)
 *   0x100  banner "OTA sample application <version> for <hardware>\0" (ASCII, 64 bytes)
 *   0x200  Reset_Handler: ldr r0, =0x20000000; movs r1, #0; loop: adds r1, #1; str r1, [r0]; b loop
 *   0x210  Default_Handler: b .
 *   0x214  filler up to --size: a SHA-256 counter-mode stream of the version (stand-in for code and
 *          constant data; different for every version, so two releases never share a blob)
 *
 * The release counter defaults to `counterFromVersion`: major·1 000 000 + minor·1 000 + patch, so every
 * higher MAJOR.MINOR.PATCH (each part < 1000) has a higher counter; a pre-release or build suffix does not
 * change it (give --counter then). Refusals: CLI_SAMPLE_SIZE, CLI_SAMPLE_VERSION (usage errors of the command).
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import { OtaError } from '../../protocol/errors.js';
import { FLASH_MODELS, isFlashModelName, type FlashModelName } from '../../protocol/firmware/index.js';
import { ecuFlashModel } from '../../ecu/models.js';

const SRAM_BASE = 0x2000_0000;
const BANNER_OFFSET = 0x100;
const BANNER_FIELD = 64;
const RESET_OFFSET = 0x200;
const DEFAULT_HANDLER_OFFSET = 0x210;
const FILLER_OFFSET = 0x214;
/** Exceptions after Reset in the Cortex-M3 vector table: NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVCall, DebugMonitor, reserved, PendSV, SysTick. */
const CORE_VECTORS = 14;
/** The smallest sample: everything up to the filler. */
export const MIN_SAMPLE_SIZE = FILLER_OFFSET;

/**
 * Thumb-16 code of Reset_Handler (ARMv7-M ARM §A7.7), little-endian half-words from offset 0x200:
 *   0x200 4802  ldr r0, [pc, #8]   → literal at Align(0x204, 4) + 8 = 0x20C
 *   0x202 2100  movs r1, #0
 *   0x204 3101  adds r1, #1        (loop)
 *   0x206 6001  str r1, [r0, #0]   (a heartbeat counter at the start of SRAM)
 *   0x208 E7FC  b 0x204            (offset −8 from PC = 0x20C)
 *   0x20A BF00  nop                (aligns the literal)
 *   0x20C 20000000                 literal: SRAM base
 *   0x210 E7FE  b .                Default_Handler
 */
const CODE = Uint8Array.of(0x02, 0x48, 0x00, 0x21, 0x01, 0x31, 0x01, 0x60, 0xfc, 0xe7, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x20, 0xfe, 0xe7);

/** The hardware ids the sample can target (the flash models the virtual ECU emulates). */
export const SAMPLE_HARDWARE = Object.keys(FLASH_MODELS) as FlashModelName[];

export interface SampleOptions {
  version: string;
  hardware: FlashModelName;
  /** Image length in bytes, MIN_SAMPLE_SIZE … the model's application region. */
  size: number;
}

/** The sample application image (see the file comment) at the model's application start. */
export function sampleApplication(o: SampleOptions): { address: number; data: Uint8Array } {
  const model = FLASH_MODELS[o.hardware];
  const region = model.application;
  if (!Number.isInteger(o.size) || o.size < MIN_SAMPLE_SIZE || o.size > region.end - region.start) {
    throw new OtaError('CLI_SAMPLE_SIZE', `--size must be ${MIN_SAMPLE_SIZE}…${region.end - region.start} bytes for ${o.hardware} (its application region)`);
  }
  const data = new Uint8Array(o.size);
  const view = new DataView(data.buffer);
  view.setUint32(0, SRAM_BASE + ecuFlashModel(o.hardware).sramSize, true); // initial SP: top of SRAM
  view.setUint32(4, (region.start + RESET_OFFSET) | 1, true);
  for (let i = 0; i < CORE_VECTORS; i++) view.setUint32(8 + 4 * i, (region.start + DEFAULT_HANDLER_OFFSET) | 1, true);
  data.set(Buffer.from(`OTA sample application ${o.version} for ${o.hardware}`, 'latin1').subarray(0, BANNER_FIELD - 1), BANNER_OFFSET);
  data.set(CODE, RESET_OFFSET);
  fillStream(data.subarray(FILLER_OFFSET), o.version);
  return { address: region.start, data };
}

/** SHA-256(version ‖ block index) blocks, concatenated. */
function fillStream(target: Uint8Array, seed: string): void {
  for (let off = 0, block = 0; off < target.length; off += 32, block++) {
    const digest = createHash('sha256').update(`${seed}\0${block}`).digest();
    target.set(digest.subarray(0, Math.min(32, target.length - off)), off);
  }
}

/** The default release counter of a version: major·1e6 + minor·1e3 + patch (see the file comment). */
export function counterFromVersion(version: string): number {
  const m = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+].*)?$/.exec(version);
  if (m === null) throw new OtaError('CLI_SAMPLE_VERSION', `version '${version}' is not MAJOR.MINOR.PATCH`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (minor > 999 || patch > 999 || major > 4293) throw new OtaError('CLI_SAMPLE_VERSION', `cannot derive a counter from '${version}' (minor and patch < 1000, major < 4294): give --counter`);
  return major * 1_000_000 + minor * 1_000 + patch;
}

/** A size: bytes, `0x…`, or with a K / M suffix (KiB, MiB), e.g. `56K`. */
export function parseSize(value: string): number {
  const m = /^(0x[0-9a-f]+|\d+)([km])?i?b?$/i.exec(value.trim());
  if (m === null) throw new InvalidArgumentError('expected a size such as 56K, 4096 or 0x1000');
  const n = Number(m[1]);
  const unit = m[2]?.toLowerCase();
  return n * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

/** A hardware id the sample supports. */
export function parseSampleHardware(value: string): FlashModelName {
  if (!isFlashModelName(value)) throw new InvalidArgumentError(`expected one of ${SAMPLE_HARDWARE.join(', ')}`);
  return value;
}
