/**
 * Bus time of a CAN frame: its exact length in bits on the wire, from the frame formats of
 * ISO 11898-1:2015 §10.4 (Bosch CAN 2.0 part A/B for classic frames), including bit stuffing (§10.5).
 */
import { assertValidCanFrame, lengthToDlc, type CanFrame } from './frame.js';

/**
 * How dynamic stuff bits are counted: from the actual bits, the worst case for the length, or not at
 * all. The fixed stuff bits of a CAN FD CRC field are part of the format and always counted.
 */
export type StuffingModel = 'exact' | 'worst' | 'none';

export interface CanFrameBitsOptions {
  /** Default `exact`. */
  stuffing?: StuffingModel;
  /** CAN FD bit rate switch (BRS bit recessive): ESI..CRC run at the data bit rate. Default false. */
  brs?: boolean;
}

/** A frame's length in bits, split by the bit rate each part runs at. */
export interface CanFrameBitCount {
  /** Bits at the nominal (arbitration) bit rate, including stuff bits and the 3-bit intermission. */
  nominalBits: number;
  /** Bits at the data bit rate (CAN FD with BRS only: ESI, DLC, data, stuff count, CRC, their stuff bits). */
  dataPhaseBits: number;
  /** Dynamic stuff bits (plus the fixed stuff bits of a CAN FD CRC field) included in the totals. */
  stuffBits: number;
  total: number;
}

/** CRC delimiter 1, ACK slot 1, ACK delimiter 1, EOF 7, intermission (IFS) 3. */
const TRAILER_BITS = 13;

/**
 * CRC-15 of classic CAN over a bit sequence (Bosch CAN 2.0 §3.1.1 "CRC field", ISO 11898-1 §10.4.2.6):
 * generator x^15+x^14+x^10+x^8+x^7+x^4+x^3+1 (0x4599), register initialised to 0.
 */
export function canCrc15(bits: ArrayLike<number>): number {
  let crc = 0;
  for (let i = 0; i < bits.length; i++) {
    const next = (bits[i] as number) ^ ((crc >> 14) & 1);
    crc = (crc << 1) & 0x7fff;
    if (next) crc ^= 0x4599;
  }
  return crc;
}

/** Bytes as bits, most significant bit first (the order CAN transmits them). */
export function bytesToBits(bytes: Uint8Array): number[] {
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return bits;
}

function pushBits(out: number[], value: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** i) % 2);
}

/**
 * Bits from SOF to the end of the data field, unstuffed (ISO 11898-1:2015 §10.4.2), and how
 * many of them (from SOF) belong to the nominal-rate phase when BRS is used (through the BRS bit).
 */
function headerAndDataBits(frame: CanFrame, brs: boolean): { bits: number[]; nominalPrefix: number } {
  const bits: number[] = [0]; // SOF, dominant
  const fd = frame.fd === true;
  if (frame.extended) {
    pushBits(bits, frame.id >>> 18, 11); // base identifier (ID28..ID18)
    bits.push(1, 1); // SRR recessive, IDE recessive
    pushBits(bits, frame.id & 0x3ffff, 18); // identifier extension (ID17..ID0)
    if (fd) bits.push(0, 1, 0); // RRS, FDF recessive, res
    else bits.push(0, 0, 0); // RTR dominant (data frame), r1, r0
  } else {
    pushBits(bits, frame.id, 11);
    if (fd) bits.push(0, 0, 1, 0); // RRS, IDE dominant, FDF recessive, res
    else bits.push(0, 0, 0); // RTR dominant (data frame), IDE dominant, r0
  }
  let nominalPrefix = bits.length;
  if (fd) {
    bits.push(brs ? 1 : 0); // BRS
    nominalPrefix = bits.length;
    bits.push(0); // ESI: error active
  }
  pushBits(bits, lengthToDlc(frame.data.length), 4);
  for (const b of frame.data) pushBits(bits, b, 8);
  return { bits, nominalPrefix };
}

/**
 * Dynamic stuff bits: after five consecutive equal bits the transmitter inserts one complementary bit,
 * which counts towards the next run (ISO 11898-1 §10.5). Returns how many are inserted within the
 * first `split` bits and in total. `stuffAfterLast`: whether a run of five ending the region is stuffed.
 */
function countStuffBits(bits: number[], split: number, stuffAfterLast: boolean): { before: number; total: number } {
  let total = 0;
  let before = 0;
  let last = -1;
  let run = 0;
  for (let i = 0; i < bits.length; i++) {
    const bit = bits[i] as number;
    if (bit === last) run++;
    else {
      last = bit;
      run = 1;
    }
    if (run === 5 && (i < bits.length - 1 || stuffAfterLast)) {
      total++;
      if (i < split) before++;
      last = 1 - bit;
      run = 1;
    }
  }
  return { before, total };
}

/** Worst-case dynamic stuff bits over `n` stuffable bits: ⌊(n − 1) / 4⌋ (Davis et al., Real-Time Syst. 35, 2007). */
function worstCaseStuffBits(n: number): number {
  return Math.floor((n - 1) / 4);
}

/**
 * Length of a data frame on the wire in bits, SOF through the 3-bit intermission, split by bit rate.
 * Classic frames: stuffing over SOF..CRC sequence. CAN FD: dynamic stuffing over SOF..data, then the
 * stuff count and CRC-17/21 with fixed stuff bits (one before the stuff count and one after every
 * fourth bit of the CRC field). With BRS the phase boundaries are counted at bit granularity (the switch
 * actually happens at the sample points of BRS and of the CRC delimiter).
 */
export function canFrameBitCount(frame: CanFrame, options: CanFrameBitsOptions = {}): CanFrameBitCount {
  assertValidCanFrame(frame);
  const stuffing = options.stuffing ?? 'exact';
  const fd = frame.fd === true;
  const brs = fd && options.brs === true;
  const { bits, nominalPrefix } = headerAndDataBits(frame, brs);

  if (!fd) {
    const stuffable = [...bits];
    pushBits(stuffable, canCrc15(bits), 15);
    const stuff =
      stuffing === 'exact'
        ? countStuffBits(stuffable, stuffable.length, true).total
        : stuffing === 'worst'
          ? worstCaseStuffBits(stuffable.length)
          : 0;
    const total = stuffable.length + stuff + TRAILER_BITS;
    return { nominalBits: total, dataPhaseBits: 0, stuffBits: stuff, total };
  }

  const crcBits = frame.data.length > 16 ? 21 : 17;
  const crcField = 4 + crcBits; // stuff count (3-bit Gray code + parity) + CRC
  const fixedStuff = 1 + Math.floor(crcField / 4);
  let dynamicBefore = 0;
  let dynamicTotal = 0;
  if (stuffing === 'exact') {
    // The fixed stuff bit before the stuff count replaces a dynamic one after the data field.
    const counted = countStuffBits(bits, nominalPrefix, false);
    dynamicBefore = counted.before;
    dynamicTotal = counted.total;
  } else if (stuffing === 'worst') {
    dynamicTotal = worstCaseStuffBits(bits.length);
    dynamicBefore = Math.min(dynamicTotal, worstCaseStuffBits(nominalPrefix));
  }
  const stuffBits = dynamicTotal + fixedStuff;
  const crcFieldBits = crcField + fixedStuff;
  const total = bits.length + dynamicTotal + crcFieldBits + TRAILER_BITS;
  if (!brs) return { nominalBits: total, dataPhaseBits: 0, stuffBits, total };
  const nominalBits = nominalPrefix + dynamicBefore + TRAILER_BITS;
  return { nominalBits, dataPhaseBits: total - nominalBits, stuffBits, total };
}

/** Length of a data frame on the wire in bits (SOF through intermission), exact stuffing by default. */
export function canFrameBits(frame: CanFrame, options: CanFrameBitsOptions = {}): number {
  return canFrameBitCount(frame, options).total;
}

/** Bit rates of a CAN bus. */
export interface CanBitTiming {
  /** Nominal (arbitration) bit rate in bit/s. Default 500 000. */
  bitRate?: number;
  /** CAN FD data-phase bit rate in bit/s; when it differs from `bitRate`, FD frames use BRS. Default `bitRate`. */
  dataBitRate?: number;
  /** Default `exact`. */
  stuffing?: StuffingModel;
}

export const DEFAULT_CAN_BIT_RATE = 500_000;

/** Time a frame occupies the bus, in milliseconds (SOF through intermission). */
export function canFrameTimeMs(frame: CanFrame, timing: CanBitTiming = {}): number {
  const bitRate = timing.bitRate ?? DEFAULT_CAN_BIT_RATE;
  const dataBitRate = timing.dataBitRate ?? bitRate;
  const count = canFrameBitCount(frame, { stuffing: timing.stuffing ?? 'exact', brs: dataBitRate !== bitRate });
  return (count.nominalBits / bitRate + count.dataPhaseBits / dataBitRate) * 1000;
}
