/**
 * ISO-TP frame codec (ISO 15765-2:2016 §9.6, normal addressing): single, first, consecutive and
 * flow-control frames on classic CAN (TX_DL 8) and CAN FD (TX_DL 12..64). Pure: bytes in, bytes out.
 *
 * Padding: by default unused bytes are padded with 0xCC so classic frames always carry 8 bytes (what
 * most ECUs expect). `padding: null` selects CAN frame data optimisation (§10.4.2.1): frames up to
 * 8 bytes are sent as short as their content. Frames longer than 8 bytes are always padded to the next
 * valid CAN FD length (§10.4.2.2), with the pad byte or 0xCC.
 */
import { isValidCanDataLength, roundUpCanDataLength } from '../can/frame.js';
import { DecodeError } from '../errors.js';
import {
  DEFAULT_PAD_BYTE,
  FF_DL_12BIT_MAX,
  FF_DL_MAX,
  FLOW_STATUS,
  ISOTP_ERROR,
  PCI_TYPE,
  STMIN_RESERVED_FALLBACK_MS,
  type FlowStatus,
} from './constants.js';

/** SF: a whole message (1..7 bytes; up to TX_DL − 2 with the CAN FD escape). */
export interface SingleFrame {
  type: 'SF';
  data: Uint8Array;
}
/** FF: the announced message length (FF_DL) and the first TX_DL − 2 (or − 6 with the escape) bytes. */
export interface FirstFrame {
  type: 'FF';
  length: number;
  data: Uint8Array;
}
/** CF: sequence number 0..15 and data (a decoded CF includes any padding: only the receiver knows). */
export interface ConsecutiveFrame {
  type: 'CF';
  sn: number;
  data: Uint8Array;
}
/** FC: flow status, block size (0 = no more FC) and the raw STmin byte. */
export interface FlowControlFrame {
  type: 'FC';
  status: FlowStatus;
  blockSize: number;
  stMin: number;
}

export type IsoTpFrame = SingleFrame | FirstFrame | ConsecutiveFrame | FlowControlFrame;

export interface IsoTpCodecOptions {
  /** TX_DL: data length of full frames, 8 (classic CAN, default) or 12, 16, 20, 24, 32, 48, 64 (CAN FD). */
  txDl?: number;
  /** Pad byte for unused bytes (default 0xCC), or `null` for no padding up to 8 bytes. */
  padding?: number | null;
}

function fail(code: string, message: string): never {
  throw new DecodeError(code, message);
}

/** Checks TX_DL (ISO 15765-2:2016: 8 for classic CAN, a CAN FD data length above 8 otherwise). */
export function checkTxDl(txDl: number): number {
  if (txDl !== 8 && !(txDl > 8 && isValidCanDataLength(txDl))) {
    fail(ISOTP_ERROR.VALUE_RANGE, `TX_DL ${txDl} is not 8 or a CAN FD data length (12..64)`);
  }
  return txDl;
}

function checkPadding(padding: number | null | undefined): number | null {
  if (padding === undefined) return DEFAULT_PAD_BYTE;
  if (padding !== null && !(Number.isInteger(padding) && padding >= 0 && padding <= 0xff)) {
    fail(ISOTP_ERROR.VALUE_RANGE, `pad byte ${padding} is not 0..255`);
  }
  return padding;
}

/** Largest payload of a single frame for a TX_DL: 7 on classic CAN, TX_DL − 2 with the FD escape. */
export function singleFrameCapacity(txDl: number): number {
  return txDl <= 8 ? txDl - 1 : txDl - 2;
}

/** Smallest FF_DL a receiver accepts for a FF of CAN_DL `canDl` (FF_DLmin, ISO 15765-2:2016 §9.6.3.2). */
export function minFirstFrameLength(canDl: number): number {
  return canDl <= 8 ? 8 : canDl - 1;
}

/** Payload bytes a FF of TX_DL carries: TX_DL − 2, or TX_DL − 6 with the 32-bit FF_DL escape. */
export function firstFrameCapacity(txDl: number, length: number): number {
  return length > FF_DL_12BIT_MAX ? txDl - 6 : txDl - 2;
}

/** Frame length per §10.4.2 for `used` bytes: above 8 the next CAN FD length, else 8 when padding. */
function paddedLength(used: number, padByte: number | null): number {
  if (used > 8) return roundUpCanDataLength(used);
  return padByte !== null ? 8 : used;
}

/** Pads raw frame bytes per §10.4.2 (in place when `raw` already has the final length). */
function finish(raw: Uint8Array, used: number, padByte: number | null): Uint8Array {
  const len = paddedLength(used, padByte);
  const out = raw.length === len ? raw : new Uint8Array(len);
  if (out !== raw) out.set(raw.subarray(0, used));
  if (len > used) out.fill(padByte ?? DEFAULT_PAD_BYTE, used);
  return out;
}

/** Encodes one ISO-TP frame into CAN frame data; throws `ISOTP_*` for values a frame cannot carry. */
export function encodeFrame(frame: IsoTpFrame, options: IsoTpCodecOptions = {}): Uint8Array {
  const txDl = checkTxDl(options.txDl ?? 8);
  const pad = checkPadding(options.padding);
  switch (frame.type) {
    case 'SF': {
      const n = frame.data.length;
      // §9.6.2.1: SF_DL = 0 is reserved; SF_DL must fit the frame.
      if (n === 0) fail(ISOTP_ERROR.VALUE_RANGE, 'a single frame carries at least one byte');
      if (n > singleFrameCapacity(txDl)) {
        fail(ISOTP_ERROR.TOO_LARGE, `${n} bytes do not fit a single frame with TX_DL ${txDl}`);
      }
      if (n <= 7) {
        const raw = new Uint8Array(paddedLength(1 + n, pad));
        raw[0] = (PCI_TYPE.SF << 4) | n;
        raw.set(frame.data, 1);
        return finish(raw, 1 + n, pad);
      }
      // §9.6.2.1: CAN_DL > 8 → escape: low nibble 0, SF_DL in the second byte.
      const raw = new Uint8Array(paddedLength(2 + n, pad));
      raw[0] = PCI_TYPE.SF << 4;
      raw[1] = n;
      raw.set(frame.data, 2);
      return finish(raw, 2 + n, pad);
    }
    case 'FF': {
      const { length, data } = frame;
      if (!Number.isInteger(length) || length > FF_DL_MAX) {
        fail(ISOTP_ERROR.TOO_LARGE, `FF_DL ${length} exceeds 2^32 − 1`);
      }
      if (length < minFirstFrameLength(txDl)) {
        fail(ISOTP_ERROR.FF_DL, `FF_DL ${length} is below FF_DLmin ${minFirstFrameLength(txDl)} for TX_DL ${txDl}`);
      }
      const cap = firstFrameCapacity(txDl, length);
      if (data.length !== cap) fail(ISOTP_ERROR.FRAME_LENGTH, `a FF with TX_DL ${txDl} carries exactly ${cap} bytes`);
      const out = new Uint8Array(txDl);
      if (length <= FF_DL_12BIT_MAX) {
        out[0] = (PCI_TYPE.FF << 4) | (length >> 8);
        out[1] = length & 0xff;
        out.set(data, 2);
      } else {
        // §9.6.3.1: FF_DL > 4095 → escape: 12-bit FF_DL = 0, then 32-bit FF_DL.
        out[0] = PCI_TYPE.FF << 4;
        out[1] = 0;
        new DataView(out.buffer).setUint32(2, length);
        out.set(data, 6);
      }
      return out;
    }
    case 'CF': {
      const n = frame.data.length;
      if (!Number.isInteger(frame.sn) || frame.sn < 0 || frame.sn > 0xf) {
        fail(ISOTP_ERROR.VALUE_RANGE, `SN ${frame.sn} is not 0..15`);
      }
      if (n === 0 || n > txDl - 1) fail(ISOTP_ERROR.FRAME_LENGTH, `a CF carries 1..${txDl - 1} bytes, not ${n}`);
      const raw = new Uint8Array(paddedLength(1 + n, pad));
      raw[0] = (PCI_TYPE.CF << 4) | frame.sn;
      raw.set(frame.data, 1);
      return finish(raw, 1 + n, pad);
    }
    case 'FC': {
      const fs = FLOW_STATUS[frame.status];
      if (fs === undefined) fail(ISOTP_ERROR.FC_STATUS, `unknown flow status ${String(frame.status)}`);
      if (!Number.isInteger(frame.blockSize) || frame.blockSize < 0 || frame.blockSize > 0xff) {
        fail(ISOTP_ERROR.VALUE_RANGE, `BS ${frame.blockSize} is not 0..255`);
      }
      if (!isValidStMin(frame.stMin)) {
        fail(ISOTP_ERROR.VALUE_RANGE, `STmin 0x${frame.stMin.toString(16)} is reserved (§9.6.5.4)`);
      }
      return finish(Uint8Array.of((PCI_TYPE.FC << 4) | fs, frame.blockSize, frame.stMin), 3, pad);
    }
  }
}

/**
 * Decodes CAN frame data into one ISO-TP frame (normal addressing); throws `DecodeError` with an
 * `ISOTP_*` code for a frame the receiver shall ignore or reject. Padding after SF data and FC fields
 * is not interpreted; CF data is returned whole (the receiver truncates the last CF).
 */
export function decodeFrame(bytes: Uint8Array): IsoTpFrame {
  const len = bytes.length;
  if (len === 0 || !isValidCanDataLength(len)) {
    fail(ISOTP_ERROR.FRAME_LENGTH, `${len} bytes is not a valid CAN (FD) frame data length`);
  }
  const b0 = bytes[0] as number;
  const nibble = b0 & 0x0f;
  switch (b0 >> 4) {
    case PCI_TYPE.SF: {
      if (len <= 8) {
        // §9.6.2.2: SF_DL = 0 (or larger than the frame holds) on CAN_DL ≤ 8 → ignore the frame.
        if (nibble === 0 || nibble > len - 1) fail(ISOTP_ERROR.SF_DL, `SF_DL ${nibble} invalid for CAN_DL ${len}`);
        return { type: 'SF', data: bytes.subarray(1, 1 + nibble) };
      }
      // §9.6.2.1: CAN_DL > 8 requires the escape (low nibble 0) and 1 ≤ SF_DL ≤ CAN_DL − 2.
      if (nibble !== 0) fail(ISOTP_ERROR.SF_DL, `SF on CAN_DL ${len} must use the SF_DL escape`);
      const sfDl = bytes[1] as number;
      if (sfDl === 0 || sfDl > len - 2) fail(ISOTP_ERROR.SF_DL, `SF_DL ${sfDl} invalid for CAN_DL ${len}`);
      return { type: 'SF', data: bytes.subarray(2, 2 + sfDl) };
    }
    case PCI_TYPE.FF: {
      // §9.6.3: a FF always fills TX_DL, which is at least 8.
      if (len < 8) fail(ISOTP_ERROR.FRAME_LENGTH, `a FF needs CAN_DL ≥ 8, got ${len}`);
      let length = (nibble << 8) | (bytes[1] as number);
      let pci = 2;
      if (length === 0) {
        length = new DataView(bytes.buffer, bytes.byteOffset, len).getUint32(2);
        pci = 6;
        // §9.6.3.1: the 32-bit escape is only for FF_DL > 4095.
        if (length <= FF_DL_12BIT_MAX) fail(ISOTP_ERROR.FF_DL, `escaped FF_DL ${length} must exceed 4095`);
      }
      // §9.6.3.2: FF_DL below FF_DLmin → ignore the frame.
      if (length < minFirstFrameLength(len)) {
        fail(ISOTP_ERROR.FF_DL, `FF_DL ${length} below FF_DLmin ${minFirstFrameLength(len)} for CAN_DL ${len}`);
      }
      return { type: 'FF', length, data: bytes.subarray(pci) };
    }
    case PCI_TYPE.CF:
      if (len < 2) fail(ISOTP_ERROR.FRAME_LENGTH, 'a CF without data');
      return { type: 'CF', sn: nibble, data: bytes.subarray(1) };
    case PCI_TYPE.FC: {
      if (len < 3) fail(ISOTP_ERROR.FRAME_LENGTH, `a FC needs 3 bytes, got ${len}`);
      const status = flowStatusOf(nibble);
      // §9.6.5.2: a reserved flow status → N_INVALID_FS.
      if (status === undefined) fail(ISOTP_ERROR.FC_STATUS, `reserved flow status ${nibble}`);
      return { type: 'FC', status, blockSize: bytes[1] as number, stMin: bytes[2] as number };
    }
    default:
      fail(ISOTP_ERROR.PCI_TYPE, `reserved N_PCI type 0x${(b0 >> 4).toString(16)}`);
  }
}

const FLOW_STATUS_BY_VALUE: readonly FlowStatus[] = ['CTS', 'WAIT', 'OVFLW'];

function flowStatusOf(fs: number): FlowStatus | undefined {
  return FLOW_STATUS_BY_VALUE[fs];
}

/** True for an STmin byte the standard defines: 0x00..0x7F (ms) or 0xF1..0xF9 (100..900 µs). */
export function isValidStMin(raw: number): boolean {
  return Number.isInteger(raw) && ((raw >= 0 && raw <= 0x7f) || (raw >= 0xf1 && raw <= 0xf9));
}

/** STmin byte → minimum separation in ms; reserved values count as 127 ms (ISO 15765-2:2016 §9.6.5.4). */
export function stMinToMs(raw: number): number {
  if (raw >= 0 && raw <= 0x7f) return raw;
  if (raw >= 0xf1 && raw <= 0xf9) return (raw - 0xf0) / 10;
  return STMIN_RESERVED_FALLBACK_MS;
}

/** Smallest STmin byte whose separation is at least `ms` (0..127 ms, µs codes below 1 ms). */
export function msToStMin(ms: number): number {
  if (!(ms >= 0 && ms <= 0x7f)) fail(ISOTP_ERROR.VALUE_RANGE, `STmin ${ms} ms is not 0..127`);
  if (ms === 0) return 0;
  // 0xF1..0xF9: 100..900 µs (rounded to whole µs first so 0.3 ms is 0xF3, not 0xF4).
  if (ms <= 0.9) return 0xf0 + Math.ceil(Math.round(ms * 1000) / 100);
  return Math.ceil(ms);
}
