/**
 * ISO-TP transport for one address pair (ISO 15765-2:2016 §9, normal addressing) over an injected
 * `CanInterface` and `Clock`: segmentation paced by the receiver's FC (BS, STmin, WAIT up to N_WFTmax),
 * reassembly answering with our FC, the N_As/N_Ar/N_Bs/N_Cr timeouts, and functional addressing (SF only:
 * a tester sends on `functionalTxId`, an ECU accepts on `functionalRxId`).
 * N_Br and N_Cs are performance requirements, met by answering and sending as soon as allowed.
 */
import type { CanFrame, CanInterface } from '../can/frame.js';
import type { Clock, TimerHandle } from '../clock.js';
import { OtaError, ProtocolError, TimeoutError, isOtaError } from '../errors.js';
import { ISOTP_ERROR, type IsoTpErrorCode } from './constants.js';
import {
  decodeFrame,
  encodeFrame,
  singleFrameCapacity,
  stMinToMs,
  type FlowControlFrame,
  type IsoTpFrame,
} from './frame.js';
import { resolveTransportOptions, type IsoTpTransportOptions, type ResolvedTransportOptions } from './options.js';
import { IsoTpReassembler, type ReassemblyOutput } from './reassembler.js';
import { TimerScope } from './scope.js';
import { planSegmentation, segmentMessage } from './segment.js';

export type { IsoTpTimeouts, IsoTpTransportOptions } from './options.js';

/** How a reception error was handled: the reception was aborted, or a frame was ignored. */
export type IsoTpRxDisposition = 'aborted' | 'ignored';

export interface IsoTpMessageInfo {
  /** Received on the functional id. */
  functional: boolean;
}

interface Deferred<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function timeout(code: IsoTpErrorCode, message: string): TimeoutError {
  return new TimeoutError(code, message);
}

function closedError(): OtaError {
  return new OtaError(ISOTP_ERROR.CLOSED, 'the ISO-TP transport is closed');
}

/** One ISO-TP connection (txId ↔ rxId, plus optional functional ids) on a CAN interface. */
export class IsoTpTransport {
  private readonly can: CanInterface;
  private readonly clock: Clock;
  private readonly opts: ResolvedTransportOptions;
  private readonly scope: TimerScope;
  private readonly reassembler: IsoTpReassembler;
  private readonly unsubscribe: () => void;
  private readonly messageListeners = new Set<(payload: Uint8Array, info: IsoTpMessageInfo) => void>();
  private readonly errorListeners = new Set<(error: OtaError, disposition: IsoTpRxDisposition) => void>();
  private readonly receiveWaiters: Array<Deferred<Uint8Array>> = [];
  private readonly receiveQueue: Uint8Array[] = [];
  private txTail: Promise<void> = Promise.resolve();
  /** Sender side: FC frames (or an invalid-FS error) received while a FC is expected. */
  private fcExpected = false;
  private readonly fcQueue: Array<FlowControlFrame | OtaError> = [];
  private fcWaiter: Deferred<FlowControlFrame | OtaError> | undefined;
  /** Receiver side: bumped for every FF, so timers of an older reception do nothing. */
  private rxGeneration = 0;
  private nCrTimer: TimerHandle | undefined;
  private nCrDeadline = 0;
  private closed = false;

  constructor(can: CanInterface, options: IsoTpTransportOptions) {
    this.can = can;
    this.opts = resolveTransportOptions(options);
    this.clock = this.opts.clock;
    this.scope = new TimerScope(this.clock);
    this.reassembler = new IsoTpReassembler({
      maxLength: this.opts.maxMessageLength,
      blockSize: this.opts.blockSize,
      stMin: this.opts.stMin,
    });
    this.unsubscribe = can.onFrame((frame) => this.onCanFrame(frame));
  }

  /**
   * Sends one message; resolves when its last frame is on the bus. Messages are sent one after another.
   * `functional`: on the functional id, single frame only (`ISOTP_FUNCTIONAL_MULTI_FRAME` otherwise).
   */
  send(payload: Uint8Array, options: { functional?: boolean } = {}): Promise<void> {
    const run = this.txTail.then(() => this.transmit(payload, options.functional === true));
    this.txTail = run.catch(() => undefined);
    return run;
  }

  /** Calls `listener` with every complete message received; returns unsubscribe. */
  onMessage(listener: (payload: Uint8Array, info: IsoTpMessageInfo) => void): () => void {
    this.messageListeners.add(listener);
    return () => {
      this.messageListeners.delete(listener);
    };
  }

  /** Calls `listener` for every reception error (aborted reception or ignored frame); returns unsubscribe. */
  onError(listener: (error: OtaError, disposition: IsoTpRxDisposition) => void): () => void {
    this.errorListeners.add(listener);
    return () => {
      this.errorListeners.delete(listener);
    };
  }

  /**
   * The next complete message (queued ones first). Rejects with the error of a reception that aborts
   * while waiting, with `ISOTP_TIMEOUT_RECEIVE` after `timeoutMs`, or `ISOTP_CLOSED`.
   */
  receive(options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(closedError());
    const queued = this.receiveQueue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return this.scope.cancellable<Uint8Array>((resolve, reject) => {
      const waiter: Deferred<Uint8Array> = { resolve, reject };
      this.receiveWaiters.push(waiter);
      if (options.timeoutMs === undefined) return;
      const handle = this.scope.start(options.timeoutMs, () => {
        const i = this.receiveWaiters.indexOf(waiter);
        if (i >= 0) this.receiveWaiters.splice(i, 1);
        reject(timeout(ISOTP_ERROR.TIMEOUT_RECEIVE, `no message within ${options.timeoutMs} ms`));
      });
      waiter.resolve = (v) => {
        this.scope.stop(handle);
        resolve(v);
      };
      waiter.reject = (e) => {
        this.scope.stop(handle);
        reject(e);
      };
    });
  }

  /** Detaches from the CAN interface, stops all timers and rejects pending operations with `ISOTP_CLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.reassembler.abort(closedError());
    this.fcWaiter = undefined;
    this.receiveWaiters.length = 0;
    this.scope.close(closedError());
  }

  // ── sender ──────────────────────────────────────────────────────────────────────────────────────

  private async transmit(payload: Uint8Array, functional: boolean): Promise<void> {
    if (this.closed) throw closedError();
    const plan = planSegmentation(payload.length, this.opts.txDl);
    let id = this.opts.txId;
    if (functional) {
      if (this.opts.functionalTxId === undefined) {
        throw new OtaError(ISOTP_ERROR.VALUE_RANGE, 'no functional id configured for this transport');
      }
      // ISO 15765-2:2016: functional addressing (1-to-n) is only used with single frames.
      if (!plan.single) {
        throw new ProtocolError(
          ISOTP_ERROR.FUNCTIONAL_MULTI_FRAME,
          `${payload.length} bytes exceed a single frame (${singleFrameCapacity(this.opts.txDl)}); functional requests are SF only`,
        );
      }
      id = this.opts.functionalTxId;
    }
    const frames = segmentMessage(payload, this.opts.codec);
    const first = frames.next().value as Uint8Array;
    if (plan.single) {
      await this.sendFrame(id, first, ISOTP_ERROR.TIMEOUT_N_AS, 'N_As');
      return;
    }
    this.expectFc();
    try {
      await this.sendFrame(id, first, ISOTP_ERROR.TIMEOUT_N_AS, 'N_As');
      let left = plan.consecutiveFrames;
      while (left > 0) {
        const fc = await this.nextClearToSend();
        const gapMs = stMinToMs(fc.stMin);
        // BS = 0: all remaining CFs without further FC (§9.6.5.3).
        const block = fc.blockSize === 0 ? left : Math.min(fc.blockSize, left);
        for (let i = 0; i < block; i++) {
          if (i > 0 && gapMs > 0) await this.scope.sleep(gapMs); // §9.6.5.4: STmin between CFs
          const last = i === block - 1;
          if (last && left > block) this.expectFc();
          await this.sendFrame(this.opts.txId, frames.next().value as Uint8Array, ISOTP_ERROR.TIMEOUT_N_AS, 'N_As');
        }
        left -= block;
      }
    } finally {
      this.fcExpected = false;
      this.fcQueue.length = 0;
    }
  }

  /** Waits for FC CTS, accepting up to N_WFTmax FC WAIT in a row (§9.7); each FC restarts N_Bs. */
  private async nextClearToSend(): Promise<FlowControlFrame> {
    let waits = 0;
    for (;;) {
      const fc = await this.nextFc();
      this.fcExpected = fc.status === 'WAIT';
      switch (fc.status) {
        case 'CTS':
          return fc;
        case 'WAIT':
          if (++waits > this.opts.maxWaitFrames) {
            throw new ProtocolError(ISOTP_ERROR.WFT_OVERRUN, `more than N_WFTmax = ${this.opts.maxWaitFrames} FC WAIT`);
          }
          break;
        case 'OVFLW':
          // §9.6.5.1: the receiver cannot take FF_DL bytes → abort with N_BUFFER_OVFLW.
          throw new ProtocolError(ISOTP_ERROR.OVERFLOW, 'receiver answered FC OVFLW (message too long for its buffer)');
      }
    }
  }

  private expectFc(): void {
    this.fcExpected = true;
    this.fcQueue.length = 0;
  }

  private nextFc(): Promise<FlowControlFrame> {
    const settle = (item: FlowControlFrame | OtaError): FlowControlFrame => {
      if (item instanceof OtaError) throw item;
      return item;
    };
    const queued = this.fcQueue.shift();
    if (queued !== undefined) return Promise.resolve(queued).then(settle);
    const nBs = this.opts.timeouts.nBs;
    return this.scope.cancellable<FlowControlFrame | OtaError>((resolve, reject) => {
      const handle = this.scope.start(nBs, () => {
        this.fcWaiter = undefined;
        reject(timeout(ISOTP_ERROR.TIMEOUT_N_BS, `no flow control within N_Bs = ${nBs} ms`));
      });
      this.fcWaiter = {
        resolve: (v) => {
          this.scope.stop(handle);
          resolve(v);
        },
        reject: (e) => {
          this.scope.stop(handle);
          reject(e);
        },
      };
    }).then(settle);
  }

  private onFlowControl(item: FlowControlFrame | OtaError): void {
    if (!this.fcExpected) {
      // §9.8.3: a FC when none is awaited is ignored.
      const error =
        item instanceof OtaError
          ? item
          : new ProtocolError(ISOTP_ERROR.UNEXPECTED_PDU, `FC ${item.status} received while no FC is awaited`);
      this.emitError(error, 'ignored');
      return;
    }
    const waiter = this.fcWaiter;
    if (waiter !== undefined) {
      this.fcWaiter = undefined;
      waiter.resolve(item);
    } else {
      this.fcQueue.push(item);
    }
  }

  // ── receiver ────────────────────────────────────────────────────────────────────────────────────

  private onCanFrame(frame: CanFrame): void {
    if (this.closed || (frame.extended === true) !== this.opts.extended) return;
    const physical = frame.id === this.opts.rxId;
    if (!physical && frame.id !== this.opts.functionalRxId) return;
    let decoded: IsoTpFrame;
    try {
      decoded = decodeFrame(frame.data);
    } catch (e) {
      const error = isOtaError(e) ? e : new OtaError(ISOTP_ERROR.FRAME_LENGTH, String(e), { cause: e });
      // §9.6.5.2: a FC with a reserved FS aborts the transmission awaiting it (N_INVALID_FS).
      if (physical && error.code === ISOTP_ERROR.FC_STATUS && this.fcExpected) this.onFlowControl(error);
      else this.emitError(error, 'ignored');
      return;
    }
    if (!physical) {
      if (decoded.type === 'SF') this.deliver(Uint8Array.from(decoded.data), true);
      else {
        const error = new ProtocolError(ISOTP_ERROR.FUNCTIONAL_MULTI_FRAME, `${decoded.type} on the functional id`);
        this.emitError(error, 'ignored');
      }
      return;
    }
    if (decoded.type === 'FC') {
      this.onFlowControl(decoded);
      return;
    }
    if (decoded.type === 'FF') this.rxGeneration++;
    const outputs = this.reassembler.feed(decoded, frame.data.length);
    for (const output of outputs) this.apply(output);
    if (decoded.type === 'CF' && this.reassembler.receiving && outputs.length === 0) this.armNCr();
  }

  private apply(output: ReassemblyOutput): void {
    switch (output.kind) {
      case 'message':
        this.stopNCr();
        this.deliver(output.payload, false);
        break;
      case 'flow-control':
        this.stopNCr();
        this.sendFlowControl(output.frame);
        break;
      case 'aborted':
        this.stopNCr();
        this.emitError(output.error, 'aborted');
        break;
      case 'ignored':
        this.emitError(output.error, 'ignored');
        break;
    }
  }

  /** Sends our FC (N_Ar); after a CTS confirmation N_Cr starts for the next CF. */
  private sendFlowControl(fc: FlowControlFrame): void {
    const generation = this.rxGeneration;
    const data = encodeFrame(fc, this.opts.codec);
    this.sendFrame(this.opts.txId, data, ISOTP_ERROR.TIMEOUT_N_AR, 'N_Ar').then(
      () => {
        if (generation === this.rxGeneration && this.reassembler.receiving) this.armNCr();
      },
      (e: unknown) => {
        if (generation !== this.rxGeneration || this.closed) return;
        const error = isOtaError(e) ? e : new OtaError(ISOTP_ERROR.CAN_ERROR, String(e), { cause: e });
        this.stopNCr();
        const aborted = this.reassembler.abort(error);
        if (aborted) this.apply(aborted);
        else this.emitError(error, 'aborted');
      },
    );
  }

  /** (Re)starts N_Cr. Moves a deadline rather than the timer, so a CF costs no timer churn. */
  private armNCr(): void {
    this.nCrDeadline = this.clock.now() + this.opts.timeouts.nCr;
    if (this.nCrTimer === undefined) this.scheduleNCr(this.opts.timeouts.nCr);
  }

  private scheduleNCr(ms: number): void {
    const generation = this.rxGeneration;
    this.nCrTimer = this.scope.start(ms, () => {
      this.nCrTimer = undefined;
      if (generation !== this.rxGeneration || !this.reassembler.receiving) return;
      const left = this.nCrDeadline - this.clock.now();
      if (left > 0) {
        this.scheduleNCr(left);
        return;
      }
      // §9.8.2: N_Cr expired → abort the reception with N_TIMEOUT_Cr.
      const aborted = this.reassembler.abort(
        timeout(ISOTP_ERROR.TIMEOUT_N_CR, `no consecutive frame within N_Cr = ${this.opts.timeouts.nCr} ms`),
      );
      if (aborted) this.apply(aborted);
    });
  }

  private stopNCr(): void {
    if (this.nCrTimer !== undefined) this.scope.stop(this.nCrTimer);
    this.nCrTimer = undefined;
  }

  private deliver(payload: Uint8Array, functional: boolean): void {
    const waiter = this.receiveWaiters.shift();
    if (waiter) waiter.resolve(payload);
    else {
      this.receiveQueue.push(payload);
      if (this.receiveQueue.length > this.opts.receiveQueueLength) this.receiveQueue.shift();
    }
    for (const listener of [...this.messageListeners]) listener(payload, { functional });
  }

  private emitError(error: OtaError, disposition: IsoTpRxDisposition): void {
    if (disposition === 'aborted') this.receiveWaiters.shift()?.reject(error);
    for (const listener of [...this.errorListeners]) listener(error, disposition);
  }

  // ── I/O ─────────────────────────────────────────────────────────────────────────────────────────

  /** Hands one frame to CAN; rejects with `code` if the confirmation takes longer than its timeout. */
  private sendFrame(id: number, data: Uint8Array, code: IsoTpErrorCode, name: 'N_As' | 'N_Ar'): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const limit = name === 'N_As' ? this.opts.timeouts.nAs : this.opts.timeouts.nAr;
    const frame: CanFrame = { id, data };
    if (this.opts.txDl > 8) frame.fd = true;
    if (this.opts.extended) frame.extended = true;
    return this.scope.withTimeout(
      this.can.send(frame),
      limit,
      () => timeout(code, `no transmit confirmation within ${name} = ${limit} ms`),
      (e) => new OtaError(ISOTP_ERROR.CAN_ERROR, 'the CAN interface failed to send a frame', { cause: e }),
    );
  }
}
