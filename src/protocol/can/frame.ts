/**
 * CAN frame and CAN interface types shared by ISO-TP, the virtual bus, the virtual ECU and the gateway,
 * plus the data-length ↔ DLC tables of ISO 11898-1.
 */
import { DecodeError } from '../errors.js';

/** One CAN data frame as it crosses the bus (remote frames are not modelled). */
export interface CanFrame {
  /** 11-bit identifier, or 29-bit when `extended`. */
  id: number;
  /** 0..8 bytes (classic) or a CAN FD data length (0..8, 12, 16, 20, 24, 32, 48, 64). */
  data: Uint8Array;
  /** CAN FD frame (FDF bit set). */
  fd?: boolean;
  /** 29-bit identifier (IDE bit set). */
  extended?: boolean;
}

/** A node's access to a CAN bus. */
export interface CanInterface {
  /** Queues `frame`; resolves when the frame has been put on the bus (transmit confirmation). */
  send(frame: CanFrame): Promise<void>;
  /** Calls `listener` for every frame other nodes put on the bus; returns the unsubscribe function. */
  onFrame(listener: (frame: CanFrame) => void): () => void;
}

/** ISO 11898-1:2015 Table 5: data length of each DLC code (codes 9..15 exist only in CAN FD). */
export const DLC_TO_LENGTH = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64] as const;

/** A data length a CAN (FD) frame can carry. */
export type CanDataLength = (typeof DLC_TO_LENGTH)[number];

export const CLASSIC_MAX_DATA_LENGTH = 8;
export const FD_MAX_DATA_LENGTH = 64;
export const MAX_STANDARD_ID = 0x7ff;
export const MAX_EXTENDED_ID = 0x1fffffff;

/** True when `n` is a data length a CAN FD frame can have (0..8, 12, 16, 20, 24, 32, 48, 64). */
export function isValidCanDataLength(n: number): n is CanDataLength {
  return (DLC_TO_LENGTH as readonly number[]).includes(n);
}

/** The DLC code for a data length; throws `CAN_DATA_LENGTH` for a length no frame can have. */
export function lengthToDlc(length: number): number {
  const dlc = (DLC_TO_LENGTH as readonly number[]).indexOf(length);
  if (dlc < 0) throw new DecodeError('CAN_DATA_LENGTH', `no CAN DLC encodes a data length of ${length} bytes`);
  return dlc;
}

/** The smallest valid CAN FD data length ≥ `n` (the length a frame is padded to); throws above 64. */
export function roundUpCanDataLength(n: number): CanDataLength {
  for (const len of DLC_TO_LENGTH) if (len >= n) return len;
  throw new DecodeError('CAN_DATA_LENGTH', `${n} bytes do not fit in one CAN FD frame (max 64)`);
}

/** Checks a frame's id range and data length against ISO 11898-1; throws `CAN_ID_RANGE` / `CAN_DATA_LENGTH`. */
export function assertValidCanFrame(frame: CanFrame): void {
  const maxId = frame.extended ? MAX_EXTENDED_ID : MAX_STANDARD_ID;
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > maxId) {
    throw new DecodeError('CAN_ID_RANGE', `CAN id ${frame.id} is outside 0..0x${maxId.toString(16)}`);
  }
  const len = frame.data.length;
  if (frame.fd ? !isValidCanDataLength(len) : len > CLASSIC_MAX_DATA_LENGTH) {
    throw new DecodeError(
      'CAN_DATA_LENGTH',
      `${len} data bytes are not a valid ${frame.fd ? 'CAN FD' : 'classic CAN'} data length`,
    );
  }
}
