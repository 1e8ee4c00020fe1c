/**
 * The bootloader's programming state machine over the flash: eraseMemory (routine 0xFF00),
 * RequestDownload (0x34), TransferData (0x36), RequestTransferExit (0x37) and checkMemory (routine
 * 0x0202). Clause numbers are ISO 14229-1:2013 (§13 RoutineControl, §14.2 RequestDownload, §14.4
 * TransferData, §14.5 RequestTransferExit). Refusals are `UdsNegativeError`s carrying the NRC.
 *
 * What the bootloader remembers (RAM only; a reset or leaving the programming session forgets it):
 * - the pages erased by routine 0xFF00: a download is accepted only into those, and only where flash
 *   still reads erased (else NRC 0x70);
 * - the ranges of completed downloads (0x37 accepted) whose pages were not erased since: their extent
 *   [lowest start, highest end) is "what was written", the image routine 0xFF01 checks;
 * - the last completed download: what routine 0x0202 hashes by default.
 *
 * Double-buffered transfer (docs/flash-sequence.md §2, "Response timing"): TransferData validates a block
 * (counter, length, range, blank check), copies it into one of `buffers` RAM buffers and answers at once;
 * the blocks are programmed in the background, one after another in order, through `TimedFlash` (so the
 * physical timing still applies). A block arriving while every buffer is taken waits (its response is
 * delayed) until the oldest is programmed. A background failure is reported (NRC 0x72, transfer aborted)
 * by the next TransferData or RequestTransferExit; 0x37 and every routine (0xFF00, 0x0202, 0xFF01) run only
 * once everything queued is programmed, so an erase never runs under blocks still buffered. A reset loses the
 * buffers: the block being programmed stops at the next slice, the others are never written (a power loss).
 */
import { createHash } from 'node:crypto';
import { OtaError } from '../../protocol/errors.js';
import { NRC, UdsNegativeError } from '../../protocol/uds/nrc.js';
import { decodeMemoryRange } from '../../protocol/uds/memory.js';
import type { RequestDownloadRequest } from '../../protocol/uds/types.js';
import { FLASH_ERROR, FlashError } from '../flash.js';
import type { Flash } from '../flash.js';
import type { TimedFlash } from '../flash-timing.js';
import { ROUTINE_STATUS_OK } from './constants.js';

/** A byte range [start, end) of flash. */
export interface FlashRange {
  start: number;
  end: number;
}

interface ActiveDownload {
  readonly start: number;
  readonly size: number;
  /** maxNumberOfBlockLength announced for this download (SID + BSC + data). */
  readonly maxBlockLength: number;
  received: number;
  /** blockSequenceCounter the next new block must carry. */
  expectedBsc: number;
  /** Counter of the last accepted block (a repetition of it is a retransmission). */
  lastBsc: number | null;
  /** An odd trailing byte held back until the next block completes its half-word (flash programs 16 bits). */
  carry: number | null;
  /** The first failure of a background block: the next 0x36 / 0x37 answers it (NRC 0x72) and aborts. */
  failure: UdsNegativeError | null;
}

/** The flash work of one accepted block: the half-words it completes (carry included), copied out of the request. */
interface Chunk {
  readonly address: number;
  readonly bytes: Uint8Array;
}

function refuse(nrc: number, message: string, cause?: unknown): UdsNegativeError {
  return new UdsNegativeError(nrc, message, cause === undefined ? {} : { cause });
}

function hex(n: number): string {
  return '0x' + n.toString(16).toUpperCase().padStart(8, '0');
}

/** Options of `Programming` beyond the flash. */
export interface ProgrammingOptions {
  /** RAM block buffers: accepted blocks whose programming may still be running (≥ 1); default 2. */
  buffers?: number;
  /**
   * Told, before a request starts waiting for flash work expected to take longer than `longWaitMs`
   * (the timing model's estimate: an erase, or blocks still buffered), so the server can answer
   * `7F <SID> 78` at once instead of on a timer that a busy event loop may delay past P2.
   */
  onLongWait?: () => void;
  /** Default 0 (every wait on flash work that takes time). */
  longWaitMs?: number;
}

/** The bootloader's erase / download / verify state for one ECU. */
export class Programming {
  private readonly erasedPages = new Set<number>();
  private written: FlashRange[] = [];
  private lastDownload: FlashRange | null = null;
  private download: ActiveDownload | null = null;
  /** Bumped by `reset`: an erase or program still running when the ECU restarted must not touch the new state. */
  private generation = 0;
  /** The background programming chain: each accepted block is programmed after the one before it. */
  private chain: Promise<void> = Promise.resolve();
  /** Completion of each accepted block not yet programmed, oldest first (at most `buffers` of them). */
  private readonly inFlight: Promise<void>[] = [];
  /** Half-words accepted for programming and not yet programmed (the timing model's backlog). */
  private queuedHalfWords = 0;
  private readonly buffers: number;
  private readonly onLongWait: () => void;
  private readonly longWaitMs: number;

  constructor(
    private readonly flash: Flash,
    private readonly timedFlash: TimedFlash,
    options: ProgrammingOptions = {},
  ) {
    const buffers = options.buffers ?? 2;
    if (!Number.isInteger(buffers) || buffers < 1) throw new OtaError('ECU_CONFIG', `transfer buffers must be an integer ≥ 1, got ${String(buffers)}`);
    this.buffers = buffers;
    this.onLongWait = options.onLongWait ?? (() => undefined);
    this.longWaitMs = options.longWaitMs ?? 0;
  }

  /**
   * Forgets everything (ECU reset, session change): erased pages, downloads, the active transfer, and the
   * blocks still buffered (the one being programmed stops at its next slice; the rest is never written).
   */
  reset(): void {
    this.generation++;
    this.erasedPages.clear();
    this.written = [];
    this.lastDownload = null;
    this.download = null;
  }

  /** True between an accepted RequestDownload and its accepted RequestTransferExit. */
  get downloadActive(): boolean {
    return this.download !== null;
  }

  /** Resolves once every accepted block has been programmed (or failed, or was dropped by a reset). */
  async settled(): Promise<void> {
    this.aboutToWait(0);
    await this.chain;
  }

  /**
   * A request is about to wait for the buffered blocks and then `thenPages` page erases: tells `onLongWait`
   * when the timing model expects that to outlast `longWaitMs`. Called before the first `await`, so the
   * server's `78` leaves in the same turn of the event loop as the request arrived.
   */
  private aboutToWait(thenPages: number): void {
    const ms = this.timedFlash.estimateMs({ pagesErased: thenPages, halfWordsProgrammed: this.queuedHalfWords });
    if (ms > this.longWaitMs) this.onLongWait();
  }

  /** [lowest start, highest end) of the completed downloads since their pages were erased, or null. */
  writtenExtent(): FlashRange | null {
    if (this.written.length === 0) return null;
    return {
      start: Math.min(...this.written.map((r) => r.start)),
      end: Math.max(...this.written.map((r) => r.end)),
    };
  }

  /**
   * Routine 0xFF00 eraseMemory, option record `<ALFID> <address> <size>`: erases every page the range
   * touches (flash has no finer erase). Returns the routineStatusRecord (0x00).
   */
  async erase(optionRecord: Uint8Array): Promise<Uint8Array> {
    // ISO 14229-1 §13.2.4: an invalid routineControlOptionRecord → NRC 0x31 (0x13 if truncated).
    const range = decodeMemoryRange(optionRecord);
    const target = this.checkApplicationRange(range.memoryAddress, range.memorySize);
    // §13.2.4: the server is not in a state to run the routine (a transfer is in progress) → NRC 0x22.
    if (this.download !== null) throw refuse(NRC.conditionsNotCorrect, 'eraseMemory while a download is active');
    let pages: number[];
    const generation = this.generation;
    const pageSize = this.flash.model.pageSize;
    this.aboutToWait((this.flash.pageAddress(target.end - 1) - this.flash.pageAddress(target.start)) / pageSize + 1);
    // Blocks answered `76` before an abort (0x71, 0x72) may still be queued for programming: erase only
    // behind them, or they would land in the freshly erased range (conformance finding, issue 9 §5).
    await this.chain;
    if (generation !== this.generation) return Uint8Array.of(ROUTINE_STATUS_OK); // reset meanwhile: nobody is told
    try {
      pages = await this.timedFlash.eraseRange(target.start, target.end - target.start);
    } catch (e) {
      throw this.programmingFailure(e, 'erase');
    }
    if (generation !== this.generation) return Uint8Array.of(ROUTINE_STATUS_OK); // reset meanwhile: nobody is told
    for (const page of pages) this.erasedPages.add(page);
    const touched = (r: FlashRange): boolean => pages.some((p) => r.start < p + pageSize && r.end > p);
    this.written = this.written.filter((r) => !touched(r));
    if (this.lastDownload !== null && touched(this.lastDownload)) this.lastDownload = null;
    return Uint8Array.of(ROUTINE_STATUS_OK);
  }

  /**
   * RequestDownload (§14.2): accepts an uncompressed, unencrypted download of a half-word aligned range
   * inside the application region whose pages were erased by routine 0xFF00 and still read erased.
   * Returns the maxNumberOfBlockLength to announce.
   */
  requestDownload(req: RequestDownloadRequest, maxBlockLength: number): number {
    // §14.2.4: a dataFormatIdentifier the server does not support → NRC 0x31.
    if (req.compressionMethod !== 0 || req.encryptingMethod !== 0) {
      throw refuse(NRC.requestOutOfRange, 'only dataFormatIdentifier 0x00 (no compression, no encryption) is supported');
    }
    // §14.2.4: memoryAddress invalid (here: not half-word aligned, flash programs 16 bits) → NRC 0x31.
    if (req.memoryAddress % 2 !== 0) throw refuse(NRC.requestOutOfRange, `download address ${hex(req.memoryAddress)} is not half-word aligned`);
    const target = this.checkApplicationRange(req.memoryAddress, req.memorySize);
    // §14.2.4: a download is already in progress → NRC 0x22 conditionsNotCorrect.
    if (this.download !== null) throw refuse(NRC.conditionsNotCorrect, 'a download is already active');
    if (!this.isErasedForDownload(target)) {
      // §14.2.4: the server refuses the download for a reason of its own → NRC 0x70.
      throw refuse(NRC.uploadDownloadNotAccepted, `${hex(target.start)}…${hex(target.end - 1)} was not erased by routine 0xFF00 (or is already written)`);
    }
    this.download = {
      start: target.start,
      size: req.memorySize,
      maxBlockLength,
      received: 0,
      expectedBsc: 0x01,
      lastBsc: null,
      carry: null,
      failure: null,
    };
    return maxBlockLength;
  }

  /**
   * TransferData (§14.4) of one block: validated, copied into a buffer and queued for programming; resolves
   * once the block is buffered (after waiting for a free buffer if all are taken), not once it is programmed.
   */
  async transferData(blockSequenceCounter: number, data: Uint8Array): Promise<void> {
    const d = this.download;
    // §14.4.4: TransferData without an active RequestDownload → NRC 0x24.
    if (d === null) throw refuse(NRC.requestSequenceError, 'TransferData without an active RequestDownload');
    // §14.4.4: a block longer than maxNumberOfBlockLength, or without data, has the wrong length → NRC 0x13.
    if (data.length === 0 || data.length + 2 > d.maxBlockLength) {
      throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, `TransferData of ${data.length + 2} bytes (1…${d.maxBlockLength} allowed, data ≥ 1)`);
    }
    this.reportFailure(d);
    // §14.4.2: the same counter as the last accepted block is a retransmission: answer positively
    // without writing the data again.
    if (blockSequenceCounter === d.lastBsc) return;
    // §14.4.4: a counter that is neither the next one nor a repetition → NRC 0x73 (the transfer stays open).
    if (blockSequenceCounter !== d.expectedBsc) {
      throw refuse(NRC.wrongBlockSequenceCounter, `block sequence counter 0x${blockSequenceCounter.toString(16)}, expected 0x${d.expectedBsc.toString(16)}`);
    }
    if (d.received + data.length > d.size) {
      // §14.4.4: more data than the memorySize of RequestDownload → NRC 0x71; the transfer is aborted.
      this.download = null;
      throw refuse(NRC.transferDataSuspended, `block would bring the download to ${d.received + data.length} of ${d.size} bytes`);
    }
    // Every buffer taken: the block stays in the transport's receive buffer (its response is delayed)
    // until the oldest buffered block is programmed — never dropped, never reordered.
    const generation = this.generation;
    if (this.inFlight.length >= this.buffers) this.aboutToWait(0);
    while (this.inFlight.length >= this.buffers) {
      await this.inFlight[0];
      if (generation !== this.generation) return; // reset meanwhile: this download no longer exists
      this.reportFailure(d);
    }
    const chunk = this.takeChunk(d, data);
    d.received += data.length;
    d.lastBsc = blockSequenceCounter;
    d.expectedBsc = (blockSequenceCounter + 1) & 0xff; // 0xFF wraps to 0x00
    if (chunk.bytes.length > 0) this.schedule(d, chunk);
  }

  /**
   * RequestTransferExit (§14.5): ends the download once every byte of memorySize was received and
   * programmed; waits for the blocks still buffered.
   */
  async transferExit(parameterRecord: Uint8Array): Promise<void> {
    const d = this.download;
    // §14.5.4: no transfer in progress → NRC 0x24.
    if (d === null) throw refuse(NRC.requestSequenceError, 'RequestTransferExit without an active download');
    // §14.5.4: this server defines no transferRequestParameterRecord → NRC 0x31.
    if (parameterRecord.length > 0) throw refuse(NRC.requestOutOfRange, 'RequestTransferExit takes no transferRequestParameterRecord');
    this.reportFailure(d);
    // §14.5.4: the programming of the requested memorySize is not complete → NRC 0x24 (the transfer stays open).
    if (d.received < d.size) throw refuse(NRC.requestSequenceError, `only ${d.received} of ${d.size} bytes were transferred`);
    const generation = this.generation;
    this.aboutToWait(0);
    await this.chain; // 0x77 confirms that everything is programmed
    if (generation !== this.generation) return; // reset meanwhile: nobody is told
    this.reportFailure(d);
    const range = { start: d.start, end: d.start + d.size };
    this.written.push(range);
    this.lastDownload = range;
    this.download = null;
  }

  /**
   * Routine 0x0202 checkMemory: `00 <SHA-256:32>` over the last completed download, or over the range
   * of an optional option record `<ALFID> <address> <size>` inside the application region.
   */
  async checkMemory(optionRecord: Uint8Array): Promise<Uint8Array> {
    await this.settled(); // hash what flash holds once nothing is being programmed any more
    // §13.2.4: checking memory while the transfer is still open is out of sequence → NRC 0x24.
    if (this.download !== null) throw refuse(NRC.requestSequenceError, 'checkMemory before RequestTransferExit');
    let range: FlashRange;
    if (optionRecord.length > 0) {
      const r = decodeMemoryRange(optionRecord);
      range = this.checkApplicationRange(r.memoryAddress, r.memorySize);
    } else if (this.lastDownload !== null) {
      range = this.lastDownload;
    } else {
      throw refuse(NRC.requestSequenceError, 'checkMemory without a completed download');
    }
    const digest = createHash('sha256').update(this.flash.read(range.start, range.end - range.start)).digest();
    const record = new Uint8Array(1 + digest.length);
    record[0] = ROUTINE_STATUS_OK;
    record.set(digest, 1);
    return record;
  }

  /** The range, or NRC 0x31 when any byte of it lies outside the application region. */
  private checkApplicationRange(address: number, size: number): FlashRange {
    const app = this.flash.layout.application;
    if (address < app.start || size <= 0 || address + size > app.end) {
      // §13.2.4 / §14.2.4: memoryAddress/memorySize outside what the server can program → NRC 0x31.
      throw refuse(NRC.requestOutOfRange, `${size} bytes at ${hex(address)} are not inside the application region ${hex(app.start)}…${hex(app.end - 1)}`);
    }
    return { start: address, end: address + size };
  }

  private isErasedForDownload(range: FlashRange): boolean {
    const first = this.flash.pageAddress(range.start);
    const last = this.flash.pageAddress(range.end - 1);
    for (let page = first; page <= last; page += this.flash.model.pageSize) {
      if (!this.erasedPages.has(page)) return false;
    }
    return this.flash.isErased(range.start, range.end - range.start);
  }

  /**
   * The half-words `data` completes after what was received, copied out of the request. Flash programs
   * half-words: an odd trailing byte is held back (`carry`) and programmed with the first byte of the next
   * block; the download's last byte, if odd, is programmed padded with 0xFF (the erased value, so the flash
   * content is the image). A blank check refuses at once what could not program (PGERR): NRC 0x72, aborted.
   */
  private takeChunk(d: ActiveDownload, data: Uint8Array): Chunk {
    const carried = d.carry === null ? 0 : 1;
    const bytes = new Uint8Array(carried + data.length);
    if (d.carry !== null) bytes[0] = d.carry;
    bytes.set(data, carried);
    const address = d.start + d.received - carried;
    const last = d.received + data.length === d.size;
    const programLength = last || bytes.length % 2 === 0 ? bytes.length : bytes.length - 1;
    const chunk = { address, bytes: bytes.subarray(0, programLength) };
    const stuck = this.firstUnprogrammable(chunk);
    if (stuck !== null) {
      // §14.4.4: the server detects an error when programming the memory → NRC 0x72; the transfer is aborted.
      this.download = null;
      throw this.programmingFailure(new FlashError(FLASH_ERROR.NOT_ERASED, `half-word at ${hex(stuck)} is not erased (PGERR)`, stuck), 'program');
    }
    d.carry = programLength < bytes.length ? (bytes[bytes.length - 1] as number) : null;
    return chunk;
  }

  /** The first half-word of `chunk` the FPEC would skip with PGERR (PM0075 §2.3.3: not erased, value ≠ 0), or null. */
  private firstUnprogrammable(chunk: Chunk): number | null {
    const { address, bytes } = chunk;
    if (bytes.length === 0) return null;
    const current = this.flash.read(address, bytes.length + (bytes.length % 2));
    for (let i = 0; i < bytes.length; i += 2) {
      const erased = current[i] === 0xff && current[i + 1] === 0xff;
      const zero = bytes[i] === 0 && (i + 1 < bytes.length ? bytes[i + 1] === 0 : false);
      if (!erased && !zero) return address + i;
    }
    return null;
  }

  /** Queues `chunk` behind the blocks already buffered; a failure is kept for the next 0x36 / 0x37. */
  private schedule(d: ActiveDownload, chunk: Chunk): void {
    const generation = this.generation;
    const halfWords = Math.ceil(chunk.bytes.length / 2);
    this.queuedHalfWords += halfWords;
    const done = this.chain.then(async () => {
      try {
        await this.programChunk(d, chunk, generation);
      } finally {
        this.inFlight.shift(); // the chain is FIFO: the oldest entry is this block's
        this.queuedHalfWords -= halfWords;
      }
    });
    this.chain = done;
    this.inFlight.push(done);
  }

  private async programChunk(d: ActiveDownload, chunk: Chunk, generation: number): Promise<void> {
    // Lost with a reset (power loss), or dropped behind a failed block: never programmed.
    if (generation !== this.generation || d.failure !== null) return;
    try {
      await this.timedFlash.program(chunk.address, chunk.bytes, { cancelled: () => generation !== this.generation });
    } catch (e) {
      if (generation === this.generation) d.failure = this.programmingFailure(e, 'program');
    }
  }

  /** A background block failed: this request answers it (§14.4.4 / §14.5.4 → NRC 0x72) and the transfer is aborted. */
  private reportFailure(d: ActiveDownload): void {
    if (d.failure === null) return;
    // §14.4.4 / §14.5.4: an error programming the memory (an earlier, already answered block) → NRC 0x72.
    if (this.download === d) this.download = null;
    throw d.failure;
  }

  /** A flash refusal (PGERR, WRPRTERR, …) → NRC 0x72 generalProgrammingFailure (§14.4.4, §13.2.4). */
  private programmingFailure(e: unknown, what: string): UdsNegativeError {
    if (e instanceof FlashError) return refuse(NRC.generalProgrammingFailure, `flash ${what} failed: ${e.code} at ${hex(e.address)}`, e);
    return refuse(NRC.generalProgrammingFailure, `flash ${what} failed`, e);
  }
}
