// Text helpers shared by the Intel HEX and S-record codecs (internal to the firmware folder).

/** A record line as the parsers see it: trimmed, never blank, with its 1-based line number. */
export interface RecordLine {
  readonly line: number;
  readonly text: string;
}

/** Non-blank lines of `text` (a leading BOM dropped), split on LF, CRLF or CR, surrounding blanks trimmed. */
export function recordLines(text: string): RecordLine[] {
  const out: RecordLine[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const trimmed = (lines[i] as string).trim();
    if (trimmed.length > 0) out.push({ line: i + 1, text: trimmed });
  }
  return out;
}

function nibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x41 && code <= 0x46) return code - 0x37; // A-F
  if (code >= 0x61 && code <= 0x66) return code - 0x57; // a-f
  return -1;
}

/** Hex pairs from `from` to the end of `s` as bytes, or `undefined` if odd-length or not hex. */
export function decodeHexPairs(s: string, from: number): Uint8Array | undefined {
  const digits = s.length - from;
  if (digits < 0 || digits % 2 !== 0) return undefined;
  const out = new Uint8Array(digits / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(s.charCodeAt(from + 2 * i));
    const lo = nibble(s.charCodeAt(from + 2 * i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const HEX_DIGITS = '0123456789ABCDEF';

/** Bytes as upper-case hex without separators. */
export function encodeHexPairs(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 0x0f]!;
  return out;
}

/** Sum of all bytes modulo 256. */
export function byteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

/** Big-endian unsigned value of `bytes[from..from+length)` (length ≤ 4). */
export function readBigEndian(bytes: Uint8Array, from: number, length: number): number {
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + (bytes[from + i] as number);
  return value;
}

/** `value` as `length` big-endian bytes (length ≤ 4, value fits). */
export function writeBigEndian(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/** True for an integer in 0..0xFFFFFFFF. */
export function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}
