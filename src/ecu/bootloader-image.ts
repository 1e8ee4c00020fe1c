/**
 * The factory content of the bootloader region of a new virtual ECU. It is not executable code; it is
 * a fixed, recognizable stand-in laid out like the start of a Cortex-M3 image, so a dump of the region
 * looks plausible and the boot software version (DID 0xF180) can be read back from flash:
 *
 *   offset 0x000  u32 LE  initial MSP = top of SRAM (0x20000000 + sramSize)
 *   offset 0x004  u32 LE  reset handler = base + 0x201 (Thumb bit set)
 *   offset 0x008  14 × u32 LE  NMI…SysTick handlers = base + 0x241 (one default handler)
 *   offset 0x100  boot info block (64 bytes):
 *                 "OTABOOT\0" magic (8) · version, ASCII NUL-padded (16) · product, ASCII NUL-padded (40)
 *   offset 0x200  code stand-in: "\x00\xBF" (Thumb NOP) repeated up to 0x400
 *   rest          erased 0xFF
 */
import type { EcuFlashModel } from './models.js';

/** Boot software version the factory image carries (reported as DID 0xF180). */
export const BOOTLOADER_VERSION = '1.0.0';

const BOOT_INFO_OFFSET = 0x100;
const BOOT_MAGIC = 'OTABOOT\0';
const VERSION_FIELD = 16;
const PRODUCT_FIELD = 40;
const CODE_OFFSET = 0x200;
const CODE_END = 0x400;
const SRAM_BASE = 0x2000_0000;
const CORE_HANDLERS = 14;

/** What the boot info block of a bootloader region says. */
export interface BootInfo {
  readonly version: string;
  readonly product: string;
}

function putAscii(target: Uint8Array, offset: number, text: string, field: number): void {
  const bytes = Buffer.from(text, 'latin1');
  target.set(bytes.subarray(0, field), offset);
}

function getAscii(source: Uint8Array, offset: number, field: number): string {
  const raw = Buffer.from(source.subarray(offset, offset + field)).toString('latin1');
  const nul = raw.indexOf('\0');
  return nul === -1 ? raw : raw.slice(0, nul);
}

/** The factory bootloader region content for `model` (`model.bootloaderSize` bytes). */
export function bootloaderImage(model: EcuFlashModel, version = BOOTLOADER_VERSION): Uint8Array {
  const image = new Uint8Array(model.bootloaderSize).fill(0xff);
  if (image.length < CODE_END) return image; // a test model too small for the layout: all erased
  const view = new DataView(image.buffer);
  view.setUint32(0, SRAM_BASE + model.sramSize, true);
  view.setUint32(4, model.base + CODE_OFFSET + 1, true);
  for (let i = 0; i < CORE_HANDLERS; i++) view.setUint32(8 + 4 * i, model.base + CODE_OFFSET + 0x41, true);
  image.fill(0, BOOT_INFO_OFFSET, BOOT_INFO_OFFSET + 8 + VERSION_FIELD + PRODUCT_FIELD);
  putAscii(image, BOOT_INFO_OFFSET, BOOT_MAGIC, 8);
  putAscii(image, BOOT_INFO_OFFSET + 8, version, VERSION_FIELD);
  putAscii(image, BOOT_INFO_OFFSET + 8 + VERSION_FIELD, `${model.name} UDS flash bootloader`, PRODUCT_FIELD);
  for (let o = CODE_OFFSET; o < CODE_END; o += 2) {
    image[o] = 0x00;
    image[o + 1] = 0xbf;
  }
  return image;
}

/** Parses the boot info block from the bootloader region's bytes; `null` when the magic is absent. */
export function parseBootInfo(region: Uint8Array): BootInfo | null {
  if (region.length < BOOT_INFO_OFFSET + 8 + VERSION_FIELD + PRODUCT_FIELD) return null;
  const magic = Buffer.from(region.subarray(BOOT_INFO_OFFSET, BOOT_INFO_OFFSET + 8)).toString('latin1');
  if (magic !== BOOT_MAGIC) return null;
  return {
    version: getAscii(region, BOOT_INFO_OFFSET + 8, VERSION_FIELD),
    product: getAscii(region, BOOT_INFO_OFFSET + 8 + VERSION_FIELD, PRODUCT_FIELD),
  };
}
