/**
 * Memory addressing parameters shared by ReadMemoryByAddress, RequestDownload/Upload and the
 * eraseMemory routine: ALFID, DFI and LFI (ISO 14229-1:2013 §10.3, §14.2, §14.3).
 *
 * What we accept: each ALFID nibble (memorySize length, memoryAddress length) and the LFI length nibble
 * must be 1..4 bytes. 0 is invalid per ISO; lengths above 4 (addresses beyond 32 bits) are refused with
 * UDS_RANGE / NRC 0x31 — no ECU of ours has them, and 4 bytes keep every value an exact `number`.
 */
import { Reader, Writer, udsError, type Side } from './bytes.js';

/** Longest memoryAddress / memorySize / maxNumberOfBlockLength field we accept, in bytes. */
export const MAX_MEMORY_FIELD_LENGTH = 4;

/** An address range with the field widths it is encoded with (the ALFID nibbles). */
export interface MemoryRange {
  memoryAddress: number;
  memorySize: number;
  /** Bytes of memoryAddress on the wire (ALFID low nibble), 1..4. */
  addressLength: number;
  /** Bytes of memorySize on the wire (ALFID high nibble), 1..4. */
  sizeLength: number;
}

/** dataFormatIdentifier: high nibble compressionMethod, low nibble encryptingMethod; 0x00 = neither (§14.2.2). */
export interface DataFormat {
  compressionMethod: number;
  encryptingMethod: number;
}

function checkFieldLength(length: number, what: string, side: Side | 'encode'): void {
  if (!Number.isInteger(length) || length < 1 || length > MAX_MEMORY_FIELD_LENGTH) {
    // ISO 14229-1 §10.3.4 / §14.2.4: an invalid addressAndLengthFormatIdentifier → NRC 0x31.
    throw udsError('UDS_RANGE', `${what} must be 1..${MAX_MEMORY_FIELD_LENGTH} bytes, got ${length}`, side);
  }
}

/** ALFID byte → its two lengths; throws UDS_RANGE (NRC 0x31) for a nibble of 0 or above 4. */
export function decodeAlfid(byte: number, side: Side = 'request'): { addressLength: number; sizeLength: number } {
  const sizeLength = byte >> 4;
  const addressLength = byte & 0x0f;
  checkFieldLength(addressLength, 'ALFID memoryAddress length', side);
  checkFieldLength(sizeLength, 'ALFID memorySize length', side);
  return { addressLength, sizeLength };
}

/** The ALFID byte for two lengths (each 1..4). */
export function encodeAlfid(lengths: { addressLength: number; sizeLength: number }): number {
  checkFieldLength(lengths.addressLength, 'addressLength', 'encode');
  checkFieldLength(lengths.sizeLength, 'sizeLength', 'encode');
  return (lengths.sizeLength << 4) | lengths.addressLength;
}

/** DFI byte → compression and encryption methods (any nibble values). */
export function decodeDfi(byte: number): DataFormat {
  return { compressionMethod: byte >> 4, encryptingMethod: byte & 0x0f };
}

/** The DFI byte; each method must be 0..15. */
export function encodeDfi(format: DataFormat): number {
  for (const [what, v] of [
    ['compressionMethod', format.compressionMethod],
    ['encryptingMethod', format.encryptingMethod],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 15) throw udsError('UDS_RANGE', `${what} must be 0..15, got ${String(v)}`);
  }
  return (format.compressionMethod << 4) | format.encryptingMethod;
}

/**
 * lengthFormatIdentifier of the 0x74/0x75 response → the length in bytes of maxNumberOfBlockLength
 * (high nibble, 1..4). The low nibble is reserved and must be 0 (§14.2.3); otherwise UDS_RANGE.
 */
export function decodeLfi(byte: number, side: Side = 'response'): number {
  if ((byte & 0x0f) !== 0) throw udsError('UDS_RANGE', `lengthFormatIdentifier low nibble is reserved, got 0x${byte.toString(16)}`, side);
  const length = byte >> 4;
  checkFieldLength(length, 'lengthFormatIdentifier length', side);
  return length;
}

/** The LFI byte for a maxNumberOfBlockLength of `length` bytes (1..4). */
export function encodeLfi(length: number): number {
  checkFieldLength(length, 'maxNumberOfBlockLengthBytes', 'encode');
  return length << 4;
}

/** The fewest bytes (≥ 1) that hold `value`: a convenient addressLength/sizeLength. */
export function minimalLength(value: number): number {
  let n = 1;
  while (n < 6 && value >= 2 ** (8 * n)) n++;
  return n;
}

/** Reads `ALFID address size` (memorySize 0 is refused: ISO 14229-1 §10.3.4/§14.2.4 → NRC 0x31). */
export function readMemoryRange(r: Reader): MemoryRange {
  const { addressLength, sizeLength } = decodeAlfid(r.u8('addressAndLengthFormatIdentifier'), r.side);
  const memoryAddress = r.uint(addressLength, 'memoryAddress');
  const memorySize = r.uint(sizeLength, 'memorySize');
  if (memorySize === 0) r.fail('UDS_RANGE', 'memorySize must not be 0');
  return { memoryAddress, memorySize, addressLength, sizeLength };
}

/** Appends `ALFID address size`. */
export function writeMemoryRange(w: Writer, range: MemoryRange): void {
  w.u8(encodeAlfid(range), 'addressAndLengthFormatIdentifier');
  w.uint(range.memoryAddress, range.addressLength, 'memoryAddress');
  w.uint(range.memorySize, range.sizeLength, 'memorySize');
  if (range.memorySize === 0) throw udsError('UDS_RANGE', 'memorySize must not be 0');
}

/**
 * `ALFID address size` alone, e.g. the option record of RoutineControl eraseMemory
 * (`31 01 FF 00 <ALFID> <address> <size>`, ARCHITECTURE.md §3). Errors carry server NRCs.
 */
export function decodeMemoryRange(bytes: Uint8Array): MemoryRange {
  const r: Reader = new Reader(bytes, 'request');
  const range = readMemoryRange(r);
  r.end();
  return range;
}

/** The bytes `ALFID address size` for a range. */
export function encodeMemoryRange(range: MemoryRange): Uint8Array {
  const w = new Writer();
  writeMemoryRange(w, range);
  return w.finish();
}
