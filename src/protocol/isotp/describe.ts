/**
 * `ota decode isotp`: ISO-TP frames from a trace, named field by field; several frames are also
 * reassembled (flow-control frames of the other direction may be interleaved).
 */
import { FLOW_STATUS, FLOW_STATUS_NAME } from './constants.js';
import { decodeFrame, isValidStMin, stMinToMs, type IsoTpFrame } from './frame.js';
import { IsoTpReassembler } from './reassembler.js';

/** Bounds the buffer a FF in a pasted trace makes us allocate (16 MiB). */
const DESCRIBE_MAX_MESSAGE = 16 * 1024 * 1024;

/** STmin byte with its meaning (ISO 15765-2:2016 §9.6.5.4). */
export function describeStMin(raw: number): Record<string, unknown> {
  const hex = '0x' + raw.toString(16).toUpperCase().padStart(2, '0');
  if (raw <= 0x7f) return { raw: hex, ms: raw };
  if (isValidStMin(raw)) return { raw: hex, us: Math.round(stMinToMs(raw) * 1000) };
  return { raw: hex, reserved: true, treatedAsMs: stMinToMs(raw) };
}

function describeFrame(bytes: Uint8Array, frame: IsoTpFrame): Record<string, unknown> {
  const canDl = bytes.length;
  switch (frame.type) {
    case 'SF':
      return {
        type: 'SF',
        name: 'single frame',
        canDl,
        escape: canDl > 8,
        sfDl: frame.data.length,
        data: frame.data,
      };
    case 'FF': {
      return {
        type: 'FF',
        name: 'first frame',
        canDl,
        escape: frame.length > 0xfff,
        ffDl: frame.length,
        dataLength: frame.data.length,
        data: frame.data,
      };
    }
    case 'CF':
      return { type: 'CF', name: 'consecutive frame', canDl, sn: frame.sn, data: frame.data };
    case 'FC':
      return {
        type: 'FC',
        name: 'flow control',
        canDl,
        flowStatus: FLOW_STATUS[frame.status],
        flowStatusName: FLOW_STATUS_NAME[frame.status],
        blockSize: frame.blockSize,
        ...(frame.blockSize === 0 ? { blockSizeMeaning: 'no further flow control' } : {}),
        stMin: describeStMin(frame.stMin),
      };
  }
}

/**
 * One frame's bytes → its fields; several frames → each frame plus the reassembled message (or how
 * far reassembly got and why it stopped). Throws `DecodeError` (`ISOTP_*`) for a malformed frame.
 */
export function describeIsoTp(input: Uint8Array | Uint8Array[]): unknown {
  if (input instanceof Uint8Array) return describeFrame(input, decodeFrame(input));
  const decoded = input.map((bytes) => ({ bytes, frame: decodeFrame(bytes) }));
  const frames = decoded.map(({ bytes, frame }) => describeFrame(bytes, frame));
  const reassembler = new IsoTpReassembler({ maxLength: DESCRIBE_MAX_MESSAGE });
  const messages: Uint8Array[] = [];
  const problems: Array<{ frame: number; code: string; message: string }> = [];
  decoded.forEach(({ bytes, frame }, index) => {
    if (frame.type === 'FC') return;
    for (const out of reassembler.feed(frame, bytes.length)) {
      if (out.kind === 'message') messages.push(out.payload);
      else if (out.kind === 'aborted' || out.kind === 'ignored') {
        problems.push({ frame: index, code: out.error.code, message: out.error.message });
      }
    }
  });
  const result: Record<string, unknown> = { frames };
  const progress = reassembler.progress;
  if (messages.length === 1) {
    result.message = { complete: true, length: messages[0]?.length, data: messages[0] };
  } else if (messages.length > 1) {
    result.messages = messages.map((data) => ({ complete: true, length: data.length, data }));
  }
  if (progress !== undefined) {
    result.incomplete = { length: progress.length, received: progress.received, nextSn: progress.nextSn };
  }
  if (problems.length > 0) result.problems = problems;
  return result;
}
