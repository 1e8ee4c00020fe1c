/**
 * The physical timing model of the STM32F103 flash: an erase or program takes as long as the datasheet
 * says ("Flash memory characteristics", DS5319 / DS5792: tprog 40 / 52.5 typ / 70 µs per half-word,
 * tERASE 20–40 ms per page). The datasheets give no typical page erase time; we use 22 ms by default
 * (near the minimum, as measured parts at room temperature are) — configurable.
 *
 * `flashTimeMs` is the pure cost function (the benchmark's lower bound); `TimedFlash` spends that time
 * on an injected `Clock`, so tests run on `FakeClock` and the simulator on `systemClock`.
 */
import { systemClock, type Clock } from '../protocol/clock.js';
import type { Flash, FlashOpCounts } from './flash.js';
import { STM32F1_FLASH_TIMING, type EcuFlashModel } from './models.js';

/** Duration of one page erase and one half-word program. */
export interface FlashTiming {
  readonly pageEraseMs: number;
  readonly halfWordProgramUs: number;
}

/** The default timing model: page erase 22 ms, half-word program 52.5 µs (datasheet typical). */
export const DEFAULT_FLASH_TIMING: FlashTiming = {
  pageEraseMs: 22,
  halfWordProgramUs: STM32F1_FLASH_TIMING.halfWordProgramUs.typ,
};

/** The fastest a datasheet-conforming part can be: tERASE 20 ms, tprog 40 µs. */
export const MIN_FLASH_TIMING: FlashTiming = {
  pageEraseMs: STM32F1_FLASH_TIMING.pageEraseMs.min,
  halfWordProgramUs: STM32F1_FLASH_TIMING.halfWordProgramUs.min,
};

/** Physical time, in ms, that `ops` take on the part (pure). */
export function flashTimeMs(ops: FlashOpCounts, timing: FlashTiming = DEFAULT_FLASH_TIMING): number {
  return (ops.pagesErased * toNs(timing.pageEraseMs * 1000) + ops.halfWordsProgrammed * toNs(timing.halfWordProgramUs)) / 1e6;
}

/** The operations that installing `length` bytes at `start` costs: erase each touched page, program each half-word. */
export function imageFlashOps(model: EcuFlashModel, start: number, length: number): FlashOpCounts {
  if (length <= 0) return { pagesErased: 0, halfWordsProgrammed: 0 };
  const firstPage = Math.floor((start - model.base) / model.pageSize);
  const lastPage = Math.floor((start + length - 1 - model.base) / model.pageSize);
  return { pagesErased: lastPage - firstPage + 1, halfWordsProgrammed: Math.ceil(length / 2) };
}

/** µs → integer ns, so sums of 52.5 µs steps stay exact. */
function toNs(us: number): number {
  return Math.round(us * 1000);
}

export interface TimedFlashOptions {
  /** The timing to spend; `null` (default) = timing off, operations complete at once. */
  timing?: FlashTiming | null;
  /** Where time is spent; default `systemClock`. */
  clock?: Clock;
  /**
   * Programming is written through in slices of about this much physical time (default 2 ms, 38
   * half-words at 52.5 µs), waiting after each — so a kill lands mid-page, and real timers (1 ms
   * resolution) are not asked for 52.5 µs sleeps. Waits are against a deadline from the start of the
   * operation, so timer overshoot does not accumulate: the total is `flashTimeMs` of the work.
   */
  quantumMs?: number;
}

/** Options of one `TimedFlash.program`. */
export interface TimedProgramOptions {
  /**
   * Asked before each programming slice: once it returns true (the power went, the ECU reset) the rest of
   * the bytes is not programmed and the operation resolves. What was programmed before stays, as on the part.
   */
  readonly cancelled?: () => boolean;
}

/**
 * A `Flash` whose erase and program operations take physical time. Operations are serialized (the FPEC
 * is BSY during one), and each page or programming slice reaches the flash file before time is spent
 * on the next one. With timing off, they complete at once.
 */
export class TimedFlash {
  readonly flash: Flash;
  private readonly timing: FlashTiming | null;
  private readonly clock: Clock;
  private readonly quantumMs: number;
  private tail: Promise<unknown> = Promise.resolve();
  private spentNs = 0;

  constructor(flash: Flash, options: TimedFlashOptions = {}) {
    this.flash = flash;
    this.timing = options.timing ?? null;
    this.clock = options.clock ?? systemClock;
    this.quantumMs = options.quantumMs ?? 2;
  }

  /** Physical time (ms) that `ops` will take here: 0 with timing off. */
  estimateMs(ops: FlashOpCounts): number {
    return this.timing === null ? 0 : flashTimeMs(ops, this.timing);
  }

  /** Physical time (ms) spent by this instance's operations so far. */
  get physicalMs(): number {
    return this.spentNs / 1e6;
  }

  /** `Flash.erasePage` taking tERASE. */
  erasePage(address: number): Promise<number> {
    return this.serialize(async () => {
      const page = this.flash.pageAddress(address);
      await this.erasePages(this.flash.erasablePages(page, 1));
      return page;
    });
  }

  /** `Flash.eraseRange` taking tERASE per page; pages are erased (and reach the file) one at a time. */
  eraseRange(start: number, size: number): Promise<number[]> {
    return this.serialize(async () => {
      const pages = this.flash.erasablePages(start, size);
      await this.erasePages(pages);
      return pages;
    });
  }

  /**
   * `Flash.program` taking tprog per half-word, written through slice by slice; `options.cancelled`
   * stops it between slices (a power loss mid-block).
   */
  program(address: number, bytes: Uint8Array, options: TimedProgramOptions = {}): Promise<void> {
    return this.serialize(async () => {
      if (options.cancelled?.() === true) return;
      this.flash.checkProgram(address, bytes.length); // the whole range first, as Flash.program does
      await this.programSlices(address, bytes, options.cancelled);
    });
  }

  /** `Flash.programHalfWord` taking tprog. */
  programHalfWord(address: number, value: number): Promise<void> {
    return this.serialize(async () => {
      await this.pacedStep(this.clock.now(), 0, () => this.flash.programHalfWord(address, value));
    });
  }

  private async erasePages(pages: number[]): Promise<void> {
    const start = this.clock.now();
    let ns = 0;
    for (const page of pages) ns += await this.pacedStep(start, ns, () => this.flash.erasePage(page));
  }

  private async programSlices(address: number, bytes: Uint8Array, cancelled?: () => boolean): Promise<void> {
    const progNs = toNs(this.timing?.halfWordProgramUs ?? 0);
    const sliceBytes = progNs === 0 ? bytes.length : 2 * Math.max(1, Math.floor((this.quantumMs * 1e6) / progNs));
    const start = this.clock.now();
    let ns = 0;
    for (let off = 0; off < bytes.length; off += sliceBytes) {
      if (off > 0 && cancelled?.() === true) return;
      const slice = bytes.subarray(off, off + sliceBytes);
      ns += await this.pacedStep(start, ns, () => this.flash.program(address + off, slice));
    }
  }

  /**
   * Runs `step`, charges the work it did (even when it throws part-way, e.g. PGERR after some
   * half-words), and waits until `start + priorNs + cost` on the clock. Returns the cost in ns.
   */
  private async pacedStep(start: number, priorNs: number, step: () => void): Promise<number> {
    const before = this.flash.opCounts();
    let failure: unknown;
    let failed = false;
    try {
      step();
    } catch (e) {
      failure = e;
      failed = true;
    }
    const after = this.flash.opCounts();
    const done: FlashOpCounts = {
      pagesErased: after.pagesErased - before.pagesErased,
      halfWordsProgrammed: after.halfWordsProgrammed - before.halfWordsProgrammed,
    };
    const costNs = this.timing === null ? 0 : Math.round(flashTimeMs(done, this.timing) * 1e6);
    this.spentNs += costNs;
    if (costNs > 0) await this.waitUntil(start + (priorNs + costNs) / 1e6);
    if (failed) throw failure;
    return costNs;
  }

  /** Waits until the clock reads `deadline` (deadline pacing: timer overshoot never accumulates). */
  private async waitUntil(deadline: number): Promise<void> {
    const remaining = deadline - this.clock.now();
    if (remaining <= 0) return;
    await new Promise<void>((resolve) => this.clock.setTimeout(resolve, remaining));
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
