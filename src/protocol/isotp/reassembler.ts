/**
 * Reassembly state machine of an ISO-TP receiver (ISO 15765-2:2016 §9.6, §9.8.3). Pure and resumable:
 * fed one decoded frame at a time, it returns what to do (send this FC, deliver this message) and what
 * went wrong; the transport adds timers (N_Cr) and I/O.
 */
import { DecodeError, ProtocolError, type OtaError } from '../errors.js';
import { ISOTP_ERROR } from './constants.js';
import type { ConsecutiveFrame, FirstFrame, FlowControlFrame, SingleFrame } from './frame.js';

export interface ReassemblerOptions {
  /** Largest FF_DL accepted; above it the receiver answers FC OVFLW. */
  maxLength: number;
  /** BS sent in our FC CTS (0: the sender never waits for another FC). Default 0. */
  blockSize?: number;
  /** Raw STmin byte sent in our FC CTS. Default 0. */
  stMin?: number;
}

/** One consequence of a fed frame. */
export type ReassemblyOutput =
  /** Send this flow-control frame to the sender now. */
  | { kind: 'flow-control'; frame: FlowControlFrame }
  /** A complete message. */
  | { kind: 'message'; payload: Uint8Array }
  /** A reception in progress (or just announced) failed; the error code says why. */
  | { kind: 'aborted'; error: OtaError }
  /** The frame was ignored, as the standard prescribes; the error code says why. */
  | { kind: 'ignored'; error: OtaError };

const NOTHING: readonly ReassemblyOutput[] = Object.freeze([]);

interface Reception {
  buffer: Uint8Array;
  received: number;
  /** RX_DL: the CAN_DL of the FF, which every CF but the last must match (§9.6.3.1). */
  rxDl: number;
  nextSn: number;
  inBlock: number;
}

export class IsoTpReassembler {
  private readonly maxLength: number;
  private readonly blockSize: number;
  private readonly stMin: number;
  private rx: Reception | undefined;

  constructor(options: ReassemblerOptions) {
    this.maxLength = options.maxLength;
    this.blockSize = options.blockSize ?? 0;
    this.stMin = options.stMin ?? 0;
  }

  /** True while a segmented message is being received (after a FF, before its last CF). */
  get receiving(): boolean {
    return this.rx !== undefined;
  }

  /** Progress of the current reception, for diagnostics. */
  get progress(): { received: number; length: number; nextSn: number } | undefined {
    const rx = this.rx;
    return rx && { received: rx.received, length: rx.buffer.length, nextSn: rx.nextSn };
  }

  /** Feeds one received SF, FF or CF whose CAN frame had `canDl` data bytes. */
  feed(frame: SingleFrame | FirstFrame | ConsecutiveFrame, canDl: number): readonly ReassemblyOutput[] {
    switch (frame.type) {
      case 'SF':
        return this.single(frame);
      case 'FF':
        return this.first(frame, canDl);
      case 'CF':
        return this.consecutive(frame, canDl);
    }
  }

  /** Ends the current reception with `error` (e.g. N_Cr expired); returns the abort, if one was in progress. */
  abort(error: OtaError): ReassemblyOutput | undefined {
    if (this.rx === undefined) return undefined;
    this.rx = undefined;
    return { kind: 'aborted', error };
  }

  private interrupted(out: ReassemblyOutput[], what: string): void {
    // §9.8.3: SF or FF during a segmented reception → abort it (N_UNEXP_PDU), then process the new PDU.
    // Nothing in progress (the common case): build no error, its stack trace costs more than the frame.
    if (this.rx === undefined) return;
    const aborted = this.abort(
      new ProtocolError(ISOTP_ERROR.UNEXPECTED_PDU, `${what} received during a segmented reception`),
    );
    if (aborted) out.push(aborted);
  }

  private single(frame: SingleFrame): ReassemblyOutput[] {
    const out: ReassemblyOutput[] = [];
    this.interrupted(out, 'SF');
    out.push({ kind: 'message', payload: Uint8Array.from(frame.data) });
    return out;
  }

  private first(frame: FirstFrame, canDl: number): ReassemblyOutput[] {
    const out: ReassemblyOutput[] = [];
    this.interrupted(out, 'FF');
    if (frame.length > this.maxLength) {
      // §9.6.5.1: FF_DL larger than the receiver's buffer → FC with FlowStatus OVFLW, no reception.
      out.push({ kind: 'flow-control', frame: { type: 'FC', status: 'OVFLW', blockSize: 0, stMin: 0 } });
      out.push({
        kind: 'aborted',
        error: new ProtocolError(
          ISOTP_ERROR.OVERFLOW,
          `FF announces ${frame.length} bytes, more than the receive buffer (${this.maxLength})`,
        ),
      });
      return out;
    }
    const buffer = new Uint8Array(frame.length);
    buffer.set(frame.data);
    this.rx = { buffer, received: frame.data.length, rxDl: canDl, nextSn: 1, inBlock: 0 };
    out.push({ kind: 'flow-control', frame: this.cts() });
    return out;
  }

  private consecutive(frame: ConsecutiveFrame, canDl: number): readonly ReassemblyOutput[] {
    const rx = this.rx;
    if (rx === undefined) {
      // §9.8.3: a CF outside a segmented reception is ignored.
      return [ignored(new ProtocolError(ISOTP_ERROR.UNEXPECTED_PDU, 'CF received with no reception in progress'))];
    }
    const remaining = rx.buffer.length - rx.received;
    const take = Math.min(remaining, rx.rxDl - 1);
    // §9.6.4.1: every CF but the last uses RX_DL; the last may be shorter but must hold the rest.
    const lengthOk = take < remaining ? canDl === rx.rxDl : canDl <= rx.rxDl && frame.data.length >= take;
    if (!lengthOk) {
      return [ignored(new DecodeError(ISOTP_ERROR.FRAME_LENGTH, `CF with CAN_DL ${canDl} does not fit RX_DL ${rx.rxDl}`))];
    }
    if (frame.sn !== rx.nextSn) {
      // §9.6.4.3: wrong SN → abort the reception with N_WRONG_SN.
      this.rx = undefined;
      return [
        {
          kind: 'aborted',
          error: new ProtocolError(ISOTP_ERROR.WRONG_SN, `CF SN ${frame.sn}, expected ${rx.nextSn}`),
        },
      ];
    }
    rx.buffer.set(frame.data.subarray(0, take), rx.received);
    rx.received += take;
    rx.nextSn = (rx.nextSn + 1) & 0xf;
    if (rx.received === rx.buffer.length) {
      this.rx = undefined;
      return [{ kind: 'message', payload: rx.buffer }];
    }
    rx.inBlock++;
    if (this.blockSize > 0 && rx.inBlock === this.blockSize) {
      rx.inBlock = 0;
      return [{ kind: 'flow-control', frame: this.cts() }];
    }
    return NOTHING;
  }

  private cts(): FlowControlFrame {
    return { type: 'FC', status: 'CTS', blockSize: this.blockSize, stMin: this.stMin };
  }
}

function ignored(error: OtaError): ReassemblyOutput {
  return { kind: 'ignored', error };
}
