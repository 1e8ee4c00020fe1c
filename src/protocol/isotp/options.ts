/** Options of an ISO-TP transport, their defaults, and their validation at construction. */
import { systemClock, type Clock } from '../clock.js';
import {
  DEFAULT_MAX_MESSAGE_LENGTH,
  DEFAULT_MAX_WAIT_FRAMES,
  DEFAULT_PAD_BYTE,
  DEFAULT_TIMEOUT_MS,
} from './constants.js';
import { checkTxDl, encodeFrame, msToStMin, type IsoTpCodecOptions } from './frame.js';

/** Timeouts in ms (ISO 15765-2:2016 §9.8.2); each defaults to 1000 ms. */
export interface IsoTpTimeouts {
  /** Sender: a SF/FF/CF handed to CAN until its transmit confirmation. */
  nAs: number;
  /** Receiver: a FC handed to CAN until its transmit confirmation. */
  nAr: number;
  /** Sender: FF or last CF of a block (or a FC WAIT) until the next FC. */
  nBs: number;
  /** Receiver: FC or CF until the next CF. */
  nCr: number;
}

export interface IsoTpTransportOptions {
  /** CAN id we send on (e.g. 0x7E0 for a tester talking to the engine ECU). */
  txId: number;
  /** CAN id we receive on (e.g. 0x7E8). */
  rxId: number;
  /** Tester side: functional id (e.g. 0x7DF) that `send(p, { functional: true })` uses. */
  functionalTxId?: number;
  /** ECU side: functional id (e.g. 0x7DF) on which single frames are accepted as functional requests. */
  functionalRxId?: number;
  /** 29-bit ids. Default false. */
  extended?: boolean;
  /** Default `systemClock`. */
  clock?: Clock;
  /** TX_DL: 8 (classic CAN, default) or a CAN FD data length 12..64 (frames are then sent as CAN FD). */
  txDl?: number;
  /** Pad byte (default 0xCC) or `null` for CAN frame data optimisation; see frame.ts. */
  padding?: number | null;
  /** BS we send in our FC (default 0: no further FC). */
  blockSize?: number;
  /** STmin we ask of the sender, in ms (0..127; below 1 ms rounded up to 100 µs steps). Default 0. */
  stMinMs?: number;
  /** Largest message we accept; a longer FF is answered with FC OVFLW. Default 65 535. */
  maxMessageLength?: number;
  /** N_WFTmax: FC WAIT frames in a row we accept as sender. Default 10. */
  maxWaitFrames?: number;
  timeouts?: Partial<IsoTpTimeouts>;
  /** Messages kept for `receive()` when nobody waits (oldest dropped first). Default 16. */
  receiveQueueLength?: number;
}

/** Options with every default applied, plus what is derived from them. */
export interface ResolvedTransportOptions {
  txId: number;
  rxId: number;
  functionalTxId: number | undefined;
  functionalRxId: number | undefined;
  extended: boolean;
  clock: Clock;
  txDl: number;
  codec: IsoTpCodecOptions;
  blockSize: number;
  /** Raw STmin byte for our FC. */
  stMin: number;
  maxMessageLength: number;
  maxWaitFrames: number;
  timeouts: IsoTpTimeouts;
  receiveQueueLength: number;
}

/** Applies defaults; throws `ISOTP_VALUE_RANGE` for a TX_DL, BS, STmin or pad byte a FC cannot carry. */
export function resolveTransportOptions(options: IsoTpTransportOptions): ResolvedTransportOptions {
  const txDl = checkTxDl(options.txDl ?? 8);
  const codec: IsoTpCodecOptions = { txDl, padding: options.padding === undefined ? DEFAULT_PAD_BYTE : options.padding };
  const blockSize = options.blockSize ?? 0;
  const stMin = msToStMin(options.stMinMs ?? 0);
  // Encoding our CTS once validates BS, STmin and the pad byte now rather than at the first FF.
  encodeFrame({ type: 'FC', status: 'CTS', blockSize, stMin }, codec);
  return {
    txId: options.txId,
    rxId: options.rxId,
    functionalTxId: options.functionalTxId,
    functionalRxId: options.functionalRxId,
    extended: options.extended ?? false,
    clock: options.clock ?? systemClock,
    txDl,
    codec,
    blockSize,
    stMin,
    maxMessageLength: options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH,
    maxWaitFrames: options.maxWaitFrames ?? DEFAULT_MAX_WAIT_FRAMES,
    timeouts: {
      nAs: DEFAULT_TIMEOUT_MS,
      nAr: DEFAULT_TIMEOUT_MS,
      nBs: DEFAULT_TIMEOUT_MS,
      nCr: DEFAULT_TIMEOUT_MS,
      ...options.timeouts,
    },
    receiveQueueLength: options.receiveQueueLength ?? 16,
  };
}
