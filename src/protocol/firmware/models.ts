// Flash layouts of the STM32F103 parts we target (RM0008 §3.3.3, "Embedded Flash memory"): main
// flash at 0x08000000; low/medium density parts erase 1 KiB pages, high density parts 2 KiB pages.
// Our bootloader takes the first 8 KiB; the application owns the rest of main flash.
import { FW_ERROR, ImageFormatError } from './errors.js';
import type { Region } from './memory-map.js';

/** One part's flash layout; every `end` is exclusive. */
export interface FlashModel {
  readonly name: string;
  /** Main flash (erased to 0xFF). */
  readonly flash: Region;
  /** Erase unit in bytes. */
  readonly pageSize: number;
  /** Write-protected bootloader region. */
  readonly bootloader: Region;
  /** Where application images go. */
  readonly application: Region;
}

const FLASH_BASE = 0x0800_0000;
const BOOTLOADER_SIZE = 8 * 1024;
const KIB = 1024;

function model(name: string, flashSize: number, pageSize: number): FlashModel {
  return {
    name,
    flash: { start: FLASH_BASE, end: FLASH_BASE + flashSize },
    pageSize,
    bootloader: { start: FLASH_BASE, end: FLASH_BASE + BOOTLOADER_SIZE },
    application: { start: FLASH_BASE + BOOTLOADER_SIZE, end: FLASH_BASE + flashSize },
  };
}

/**
 * The flash models the ECU can emulate and images can target. `stm32f103c8`: 64 KiB, application
 * 0x08002000–0x0800FFFF (56 KiB); `stm32f103cb`: 128 KiB; `stm32f103ze`: 512 KiB with 2 KiB pages.
 */
export const FLASH_MODELS = {
  stm32f103c8: model('stm32f103c8', 64 * KIB, 1 * KIB),
  stm32f103cb: model('stm32f103cb', 128 * KIB, 1 * KIB),
  stm32f103ze: model('stm32f103ze', 512 * KIB, 2 * KIB),
} as const satisfies Readonly<Record<string, FlashModel>>;

export type FlashModelName = keyof typeof FLASH_MODELS;

/** The default model of the virtual ECU (ARCHITECTURE.md §3). */
export const DEFAULT_FLASH_MODEL: FlashModelName = 'stm32f103c8';

/** True when `name` is one of `FLASH_MODELS`. */
export function isFlashModelName(name: string): name is FlashModelName {
  return Object.hasOwn(FLASH_MODELS, name);
}

/** The model called `name`, or `FW_UNKNOWN_MODEL`. */
export function flashModel(name: string): FlashModel {
  if (!isFlashModelName(name)) {
    throw new ImageFormatError(FW_ERROR.UNKNOWN_MODEL, `unknown flash model '${name}' (known: ${Object.keys(FLASH_MODELS).join(', ')})`);
  }
  return FLASH_MODELS[name];
}
