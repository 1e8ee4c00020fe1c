/**
 * Segmentation (ISO 15765-2:2016 §9.4): a message becomes one SF, or a FF followed by CFs with SN
 * 1, 2, … 15, 0, 1, … Pure; the transport paces the frames by the receiver's flow control.
 */
import { FF_DL_MAX, ISOTP_ERROR } from './constants.js';
import { checkTxDl, encodeFrame, firstFrameCapacity, singleFrameCapacity, type IsoTpCodecOptions } from './frame.js';
import { DecodeError } from '../errors.js';

/** How a message is cut into frames. */
export interface SegmentationPlan {
  single: boolean;
  /** Number of CFs after the FF (0 for a single frame). */
  consecutiveFrames: number;
}

/** Plans the segmentation of `length` payload bytes for a TX_DL; throws `ISOTP_TOO_LARGE` / `ISOTP_VALUE_RANGE`. */
export function planSegmentation(length: number, txDl = 8): SegmentationPlan {
  checkTxDl(txDl);
  if (length === 0) throw new DecodeError(ISOTP_ERROR.VALUE_RANGE, 'an ISO-TP message carries at least one byte');
  if (length > FF_DL_MAX) throw new DecodeError(ISOTP_ERROR.TOO_LARGE, `${length} bytes exceed FF_DL max 2^32 − 1`);
  if (length <= singleFrameCapacity(txDl)) return { single: true, consecutiveFrames: 0 };
  const rest = length - firstFrameCapacity(txDl, length);
  return { single: false, consecutiveFrames: Math.ceil(rest / (txDl - 1)) };
}

/** Yields the encoded frames of `payload`: one SF, or the FF then every CF. */
export function* segmentMessage(payload: Uint8Array, options: IsoTpCodecOptions = {}): Generator<Uint8Array> {
  const txDl = options.txDl ?? 8;
  const plan = planSegmentation(payload.length, txDl);
  if (plan.single) {
    yield encodeFrame({ type: 'SF', data: payload }, options);
    return;
  }
  let offset = firstFrameCapacity(txDl, payload.length);
  yield encodeFrame({ type: 'FF', length: payload.length, data: payload.subarray(0, offset) }, options);
  const cfCapacity = txDl - 1;
  for (let sn = 1; offset < payload.length; sn = (sn + 1) & 0xf) {
    const end = Math.min(payload.length, offset + cfCapacity);
    yield encodeFrame({ type: 'CF', sn, data: payload.subarray(offset, end) }, options);
    offset = end;
  }
}
