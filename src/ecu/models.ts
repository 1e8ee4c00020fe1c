/**
 * Flash models of the virtual ECU. The geometry comes from the firmware layer's `FLASH_MODELS` table
 * (RM0008 §3.3.3 "Embedded Flash memory": 1 KiB pages on low/medium density, 2 KiB on high density;
 * bootloader 0x08000000–0x08001FFF, application the rest); the ECU adds what only it needs (SRAM size
 * for the bootloader's vector table, the datasheet its timing comes from). Models are data: adding a
 * part is adding a row there and here, never code.
 */
import {
  DEFAULT_FLASH_MODEL,
  FLASH_MODELS,
  flashModel,
  type FlashModel,
  type FlashModelName,
} from '../protocol/firmware/models.js';
import { OtaError } from '../protocol/errors.js';

/** One flash part as the ECU uses it: base, size, paging and the boot / application split. */
export interface EcuFlashModel {
  /** Model id, e.g. `stm32f103c8`. */
  readonly name: string;
  /** First address of main flash (STM32: 0x08000000). */
  readonly base: number;
  /** Main flash size in bytes. */
  readonly size: number;
  /** Erase granularity in bytes (1 KiB low/medium density, 2 KiB high density). */
  readonly pageSize: number;
  /**
   * Size of the write-protected bootloader region at `base`; the application region is the rest.
   * 8 KiB = WRP bits 0–1 on medium density (4 pages per bit), bits 0–1 on high density (2 pages per bit).
   */
  readonly bootloaderSize: number;
  /** SRAM size: the bootloader's initial stack pointer is the top of SRAM. */
  readonly sramSize: number;
  /** Datasheet the timing comes from. */
  readonly datasheet: string;
}

/** Datasheet flash timing, per part family (all rows share it). */
export interface DatasheetFlashTiming {
  /** tprog, 16-bit programming time, µs: min 40, typ 52.5, max 70. */
  readonly halfWordProgramUs: { readonly min: number; readonly typ: number; readonly max: number };
  /** tERASE, page erase time, ms: min 20, max 40 (the datasheets give no typical value). */
  readonly pageEraseMs: { readonly min: number; readonly max: number };
}

/** DS5319 / DS5792 "Flash memory characteristics" (TA = −40…+105 °C). */
export const STM32F1_FLASH_TIMING: DatasheetFlashTiming = {
  halfWordProgramUs: { min: 40, typ: 52.5, max: 70 },
  pageEraseMs: { min: 20, max: 40 },
};

const KIB = 1024;

/** What the ECU adds to each firmware-layer model (keyed by the same names, so none can be missing). */
const PART_DATA: Readonly<Record<FlashModelName, { sramSize: number; datasheet: string }>> = {
  stm32f103c8: { sramSize: 20 * KIB, datasheet: 'DS5319' },
  stm32f103cb: { sramSize: 20 * KIB, datasheet: 'DS5319' },
  stm32f103ze: { sramSize: 64 * KIB, datasheet: 'DS5792' },
};

function toEcuModel(name: FlashModelName, m: FlashModel): EcuFlashModel {
  if (m.bootloader.start !== m.flash.start || m.application.start !== m.bootloader.end || m.application.end !== m.flash.end) {
    throw new OtaError('ECU_MODEL_INVALID', `flash model '${name}' does not split flash into bootloader + application`);
  }
  return {
    name,
    base: m.flash.start,
    size: m.flash.end - m.flash.start,
    pageSize: m.pageSize,
    bootloaderSize: m.bootloader.end - m.bootloader.start,
    ...PART_DATA[name],
  };
}

/** The parts the virtual ECU models, by name; `stm32f103c8` is the default (ARCHITECTURE §3). */
export const ECU_FLASH_MODELS: Readonly<Record<FlashModelName, EcuFlashModel>> = Object.fromEntries(
  (Object.keys(FLASH_MODELS) as FlashModelName[]).map((name) => [name, toEcuModel(name, FLASH_MODELS[name])]),
) as Record<FlashModelName, EcuFlashModel>;

export { DEFAULT_FLASH_MODEL };

/** The ECU model row for `name`; an unknown name throws the firmware layer's `FW_UNKNOWN_MODEL`. */
export function ecuFlashModel(name: string): EcuFlashModel {
  flashModel(name); // throws FW_UNKNOWN_MODEL with the list of known models
  return ECU_FLASH_MODELS[name as FlashModelName];
}

/** Derived address ranges of a model, `end` exclusive. */
export interface FlashLayout {
  readonly flash: { readonly start: number; readonly end: number };
  readonly bootloader: { readonly start: number; readonly end: number };
  readonly application: { readonly start: number; readonly end: number };
  readonly pageCount: number;
}

/** Flash, bootloader and application ranges of `model` (c8: app 0x08002000–0x08010000, 56 KiB). */
export function flashLayout(model: EcuFlashModel): FlashLayout {
  const end = model.base + model.size;
  const bootEnd = model.base + model.bootloaderSize;
  return {
    flash: { start: model.base, end },
    bootloader: { start: model.base, end: bootEnd },
    application: { start: bootEnd, end },
    pageCount: model.size / model.pageSize,
  };
}

/**
 * Checks that a (possibly custom, e.g. test) model is self-consistent: page size a power of two ≥ 2,
 * size and bootloader size whole pages, bootloader smaller than flash. Throws `ECU_MODEL_INVALID`.
 */
export function checkEcuFlashModel(model: EcuFlashModel): void {
  const { base, size, pageSize, bootloaderSize } = model;
  const isPow2 = pageSize >= 2 && (pageSize & (pageSize - 1)) === 0;
  const ok =
    Number.isInteger(base) && base >= 0 && base % pageSize === 0 &&
    Number.isInteger(size) && size > 0 && size % pageSize === 0 && isPow2 &&
    Number.isInteger(bootloaderSize) && bootloaderSize >= 0 && bootloaderSize % pageSize === 0 &&
    bootloaderSize < size && base + size <= 0x1_0000_0000 && model.sramSize > 0;
  if (!ok) throw new OtaError('ECU_MODEL_INVALID', `flash model '${model.name}' has an inconsistent geometry`);
}
