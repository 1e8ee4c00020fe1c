/**
 * The main flash of the virtual STM32F103, with the rules of its flash program/erase controller (FPEC)
 * as PM0075 (STM32F10xxx Flash memory programming manual) states them:
 *
 * - §2.3.3 Main Flash memory programming: 16 bits at a time; "the FPEC preliminarily reads the value at
 *   the addressed main Flash memory location and checks that it has been erased. If not, the program
 *   operation is skipped and a warning is issued by the PGERR bit in FLASH_SR register (the only exception
 *   to this is when 0x0000 is programmed. In this case, the location is correctly programmed to 0x0000 and
 *   the PGERR bit is not set)". A write-protected location is skipped with WRPRTERR. Writes that are not
 *   half-word sized/aligned are a bus error on the part; here they are `FLASH_ALIGNMENT`.
 * - §2.3.4 Flash memory erase: a page erase takes any address inside the page and sets the page to 0xFF.
 * - §2.4.2 Write protection: programming or erasing a protected page is refused (WRPRTERR). The
 *   bootloader region (WRP bits covering 0x08000000–0x08001FFF) is protected; the factory content is
 *   placed there when a flash is created, before protection applies.
 *
 * Half-words are little-endian (Cortex-M3): `programHalfWord(a, 0xBBAA)` puts 0xAA at a, 0xBB at a + 1.
 * The class is synchronous and physics-free; `TimedFlash` (flash-timing.ts) adds the datasheet timing.
 */
import { OtaError } from '../protocol/errors.js';
import { bootloaderImage } from './bootloader-image.js';
import { fileBacking, memoryBacking, type FlashBacking } from './flash-store.js';
import { DEFAULT_FLASH_MODEL, flashLayout, ecuFlashModel, type FlashLayout, type EcuFlashModel } from './models.js';

/** Stable codes of flash refusals (FLASH_SR bit names in comments). */
export const FLASH_ERROR = {
  /** PGERR: programming a half-word that is not erased (and the value is not 0x0000). */
  NOT_ERASED: 'FLASH_NOT_ERASED',
  /** WRPRTERR: programming or erasing the write-protected bootloader region. */
  WRITE_PROTECTED: 'FLASH_WRITE_PROTECTED',
  /** Program address not half-word aligned (a bus error on the part). */
  ALIGNMENT: 'FLASH_ALIGNMENT',
  /** A half-word value outside 0..0xFFFF. */
  VALUE: 'FLASH_VALUE',
  /** Any byte of the access outside main flash, or an empty/negative size. */
  OUT_OF_RANGE: 'FLASH_OUT_OF_RANGE',
} as const;

export type FlashErrorCode = (typeof FLASH_ERROR)[keyof typeof FLASH_ERROR];

/** A refused flash operation; `address` is the first offending address. Nothing was changed at or after it. */
export class FlashError extends OtaError {
  readonly address: number;

  constructor(code: FlashErrorCode, message: string, address: number) {
    super(code, message);
    this.address = address;
  }
}

/** Work done since the flash was opened: the input of `flashTimeMs`. */
export interface FlashOpCounts {
  pagesErased: number;
  halfWordsProgrammed: number;
}

export interface FlashOptions {
  /** Model id from the table or a model row; default `stm32f103c8` (an existing flash keeps its own model). */
  model?: string | EcuFlashModel;
  /** Called with the page's start address before any page is erased (the NVM invalidates the app descriptor). */
  beforeErase?: (pageAddress: number) => void;
  /** Factory content of the bootloader region of a new flash; default `bootloaderImage(model)`. */
  bootloader?: (model: EcuFlashModel) => Uint8Array;
}

const ERASED = 0xffff;

/** `0x08002000` style, eight hex digits. */
export function hex32(value: number): string {
  return '0x' + value.toString(16).toUpperCase().padStart(8, '0');
}

function resolveModel(model: string | EcuFlashModel | undefined): EcuFlashModel | undefined {
  return typeof model === 'string' ? ecuFlashModel(model) : model;
}

function factoryContent(model: EcuFlashModel, bootloader: (m: EcuFlashModel) => Uint8Array): Uint8Array {
  const cells = new Uint8Array(model.size).fill(0xff);
  cells.set(bootloader(model).subarray(0, model.bootloaderSize), 0);
  return cells;
}

/** The main flash of one virtual ECU. Open with `Flash.open(dir)` (persistent) or `Flash.inMemory()`. */
export class Flash {
  readonly model: EcuFlashModel;
  readonly layout: FlashLayout;
  private readonly cells: Uint8Array;
  private readonly wear: DataView;
  private readonly counts: FlashOpCounts = { pagesErased: 0, halfWordsProgrammed: 0 };
  private closed = false;

  private constructor(
    private readonly backing: FlashBacking,
    private readonly beforeErase: ((pageAddress: number) => void) | undefined,
  ) {
    this.model = backing.model;
    this.layout = flashLayout(backing.model);
    this.cells = backing.cells;
    this.wear = new DataView(backing.wear.buffer, backing.wear.byteOffset, backing.wear.byteLength);
  }

  /** Opens (or creates: erased application region, factory bootloader) the flash files in `dir`. */
  static open(dir: string, options: FlashOptions = {}): Flash {
    const bootloader = options.bootloader ?? ((m: EcuFlashModel) => bootloaderImage(m));
    const backing = fileBacking(dir, resolveModel(options.model), ecuFlashModel(DEFAULT_FLASH_MODEL), (m) =>
      factoryContent(m, bootloader),
    );
    return new Flash(backing, options.beforeErase);
  }

  /** A fresh flash kept only in memory. */
  static inMemory(options: FlashOptions = {}): Flash {
    const model = resolveModel(options.model) ?? ecuFlashModel(DEFAULT_FLASH_MODEL);
    const bootloader = options.bootloader ?? ((m: EcuFlashModel) => bootloaderImage(m));
    return new Flash(memoryBacking(model, factoryContent(model, bootloader)), options.beforeErase);
  }

  /** Copy of `length` bytes from `address`. */
  read(address: number, length: number): Uint8Array {
    const offset = this.checkRange(address, length, true);
    return this.cells.slice(offset, offset + length);
  }

  /** True when every byte of the range reads 0xFF. */
  isErased(address: number, length: number): boolean {
    const offset = this.checkRange(address, length, true);
    for (let i = offset; i < offset + length; i++) if (this.cells[i] !== 0xff) return false;
    return true;
  }

  /** Start address of the page holding `address`. */
  pageAddress(address: number): number {
    this.checkRange(address, 1, false);
    return address - ((address - this.model.base) % this.model.pageSize);
  }

  /**
   * Erases the page holding `address` (PM0075 §2.3.4: any address in the page) to 0xFF and counts the
   * erase. Returns the page's start address. Refuses a protected page with `FLASH_WRITE_PROTECTED`.
   */
  erasePage(address: number): number {
    const page = this.pageAddress(address);
    this.checkWritable(page, this.model.pageSize);
    this.erasePageUnchecked(page);
    return page;
  }

  /**
   * Erases every page that [start, start + size) touches, so bytes of those pages outside the range are
   * erased too (flash has no finer erase). The whole range is checked first: a range that is out of
   * flash or touches a protected page erases nothing. Returns the erased pages' start addresses.
   */
  eraseRange(start: number, size: number): number[] {
    const pages = this.erasablePages(start, size);
    for (const page of pages) this.erasePageUnchecked(page);
    return pages;
  }

  /** The start addresses of the pages `eraseRange(start, size)` would erase; throws as it would. */
  erasablePages(start: number, size: number): number[] {
    this.checkRange(start, size, false);
    const first = this.pageAddress(start);
    const last = this.pageAddress(start + size - 1);
    this.checkWritable(first, last + this.model.pageSize - first);
    const pages: number[] = [];
    for (let page = first; page <= last; page += this.model.pageSize) pages.push(page);
    return pages;
  }

  /** Programs one half-word (little-endian). PGERR → `FLASH_NOT_ERASED` unless the cell is erased or value is 0. */
  programHalfWord(address: number, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
      throw new FlashError(FLASH_ERROR.VALUE, `half-word value ${String(value)} is not 16-bit`, address);
    }
    this.program(address, Uint8Array.of(value & 0xff, value >>> 8));
  }

  /**
   * Programs `bytes` from `address` half-word by half-word, in address order. An odd length is padded
   * with one 0xFF byte (the last half-word is then programmed, so its upper byte can no longer be
   * programmed without an erase — as on the part). Address range, alignment and write protection are
   * checked before anything is written; a non-erased half-word stops programming there with
   * `FLASH_NOT_ERASED` (PGERR) and the half-words before it stay programmed, as the FPEC leaves them.
   */
  program(address: number, bytes: Uint8Array): void {
    this.checkProgram(address, bytes.length);
    if (bytes.length === 0) return;
    const length = bytes.length + (bytes.length % 2);
    const offset = address - this.model.base;
    let done = 0;
    let failedAt = -1;
    for (; done < length; done += 2) {
      const lo = bytes[done] as number;
      const hi = done + 1 < bytes.length ? (bytes[done + 1] as number) : 0xff;
      const value = lo | (hi << 8);
      const at = offset + done;
      const current = (this.cells[at] as number) | ((this.cells[at + 1] as number) << 8);
      // PM0075 §2.3.3: a non-erased location is skipped with PGERR — unless 0x0000 is programmed.
      if (current !== ERASED && value !== 0) {
        failedAt = address + done;
        break;
      }
      this.cells[at] = lo;
      this.cells[at + 1] = hi;
    }
    if (done > 0) this.backing.persistCells(offset, done);
    this.counts.halfWordsProgrammed += done / 2;
    if (failedAt >= 0) {
      throw new FlashError(FLASH_ERROR.NOT_ERASED, `half-word at ${hex32(failedAt)} is not erased (PGERR)`, failedAt);
    }
  }

  /**
   * The checks `program(address, <length bytes>)` makes before writing anything: half-word alignment
   * (FLASH_ALIGNMENT), range (FLASH_OUT_OF_RANGE), write protection (FLASH_WRITE_PROTECTED).
   */
  checkProgram(address: number, length: number): void {
    if (!Number.isInteger(address) || address % 2 !== 0) {
      // PM0075 §2.3.3: only half-word accesses program the flash; anything else is a bus error.
      throw new FlashError(FLASH_ERROR.ALIGNMENT, `program address ${String(address)} is not half-word aligned`, address);
    }
    if (length === 0) return;
    const padded = length + (length % 2);
    this.checkRange(address, padded, false);
    this.checkWritable(address, padded);
  }

  /** Erase count of the page holding `address` (persisted across reopen). */
  eraseCount(address: number): number {
    const page = (this.pageAddress(address) - this.model.base) / this.model.pageSize;
    return this.wear.getUint32(page * 4, true);
  }

  /** Erase count of every page, page 0 first. */
  eraseCounts(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.layout.pageCount; i++) out.push(this.wear.getUint32(i * 4, true));
    return out;
  }

  /** Pages erased and half-words programmed since this flash was opened. */
  opCounts(): FlashOpCounts {
    return { ...this.counts };
  }

  /** Closes the files (a memory flash has none). Further writes would be lost, so they throw. */
  close(): void {
    this.closed = true;
    this.backing.close();
  }

  private erasePageUnchecked(page: number): void {
    this.beforeErase?.(page);
    const offset = page - this.model.base;
    this.cells.fill(0xff, offset, offset + this.model.pageSize);
    this.backing.persistCells(offset, this.model.pageSize);
    const index = offset / this.model.pageSize;
    this.wear.setUint32(index * 4, this.wear.getUint32(index * 4, true) + 1, true);
    this.backing.persistWear(index);
    this.counts.pagesErased++;
  }

  /** Range check for [address, address + length); returns the cell offset. */
  private checkRange(address: number, length: number, allowEmpty: boolean): number {
    const { start, end } = this.layout.flash;
    const okLength = Number.isInteger(length) && (allowEmpty ? length >= 0 : length > 0);
    if (!Number.isInteger(address) || !okLength || address < start || address + length > end) {
      throw new FlashError(
        FLASH_ERROR.OUT_OF_RANGE,
        `${String(length)} bytes at ${Number.isInteger(address) ? hex32(address) : String(address)} are outside main flash ${hex32(start)}–${hex32(end - 1)}`,
        address,
      );
    }
    return address - start;
  }

  private checkWritable(address: number, length: number): void {
    if (this.closed) throw new OtaError('FLASH_CLOSED', 'the flash is closed');
    const boot = this.layout.bootloader;
    // PM0075 §2.4.2: program/erase of a write-protected page is skipped with WRPRTERR.
    if (address < boot.end && address + length > boot.start) {
      const at = Math.max(address, boot.start);
      throw new FlashError(FLASH_ERROR.WRITE_PROTECTED, `${hex32(at)} is in the write-protected bootloader region (WRPRTERR)`, at);
    }
  }
}
