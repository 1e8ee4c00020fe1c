/**
 * Byte cursor and builder shared by the UDS codecs, and the decoder error codes. A decode error on a
 * request carries as `wireCode` the NRC a server answers with (ISO 14229-1 §7.5 general server
 * response behaviour); on a response (the tester's side) it carries none.
 */
import { DecodeError } from '../errors.js';
import { NRC } from './nrc.js';

/** The stable codes of UDS decode/encode errors. */
export const UDS_ERROR = {
  /** No bytes at all (a server sends nothing back). */
  UDS_EMPTY: undefined,
  /** Unknown or unsupported service id → 0x11 serviceNotSupported. */
  UDS_UNKNOWN_SERVICE: NRC.serviceNotSupported,
  /** Too short, or a field's length inconsistent → 0x13 incorrectMessageLengthOrInvalidFormat. */
  UDS_LENGTH: NRC.incorrectMessageLengthOrInvalidFormat,
  /** Reserved or unsupported sub-function → 0x12 subFunctionNotSupported. */
  UDS_SUBFUNCTION: NRC.subFunctionNotSupported,
  /** A parameter out of its range (e.g. an ALFID nibble of 0 or >4) → 0x31 requestOutOfRange. */
  UDS_RANGE: NRC.requestOutOfRange,
  /** Bytes after the last field → 0x13 incorrectMessageLengthOrInvalidFormat. */
  UDS_TRAILING: NRC.incorrectMessageLengthOrInvalidFormat,
  /** A response holds a DID whose data length is needed but unknown (pass `didLengths`). */
  UDS_DID_LENGTH_UNKNOWN: undefined,
  /** DTC text that is not `P0100-00` / `P0100`. */
  UDS_DTC_TEXT: undefined,
} as const;

export type UdsErrorCode = keyof typeof UDS_ERROR;

/** Which side decodes: a server decodes requests (errors carry an NRC), a tester decodes responses. */
export type Side = 'request' | 'response';

/** A `DecodeError` with the given code; on the request side `wireCode` is the NRC the server answers. */
export function udsError(code: UdsErrorCode, message: string, side: Side | 'encode' = 'encode'): DecodeError {
  return new DecodeError(code, message, side === 'request' ? { wireCode: UDS_ERROR[code] } : {});
}

/** Reads one UDS message front to back; every failure is a `DecodeError`. */
export class Reader {
  pos = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly side: Side,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(code: UdsErrorCode, message: string): never {
    throw udsError(code, message, this.side);
  }

  need(n: number, what: string): void {
    if (this.remaining < n) {
      this.fail('UDS_LENGTH', `message too short for ${what}: need ${n} more byte(s) at offset ${this.pos}, have ${this.remaining}`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++] as number;
  }

  /** Big-endian unsigned integer of `n` bytes (n ≤ 6, so it is exact as a number). */
  uint(n: number, what: string): number {
    this.need(n, what);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (this.bytes[this.pos + i] as number);
    this.pos += n;
    return v;
  }

  u16(what: string): number {
    return this.uint(2, what);
  }

  u24(what: string): number {
    return this.uint(3, what);
  }

  /** `n` bytes as a view into the input (no copy). */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** All remaining bytes as a view (possibly empty). */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }

  /** Rejects bytes after the last field (ISO 14229-1 §7.5: wrong total length → NRC 0x13). */
  end(): void {
    if (this.remaining > 0) {
      this.fail('UDS_TRAILING', `${this.remaining} unexpected byte(s) after the last field at offset ${this.pos}`);
    }
  }
}

/** Checks that `value` is an integer that fits in `n` bytes (encoder side). */
export function checkUint(value: number, n: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** (8 * n)) {
    throw udsError('UDS_RANGE', `${what} must be an integer 0..${2 ** (8 * n) - 1}, got ${String(value)}`);
  }
}

/** Checks that `value` is a Uint8Array (encoder side; guards callers passing plain arrays). */
export function checkBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw udsError('UDS_RANGE', `${what} must be a Uint8Array`);
}

/** Builds one message: fields are validated as they are appended, then copied once into the output. */
export class Writer {
  private readonly parts: Array<number | Uint8Array> = [];
  private length = 0;

  u8(value: number, what: string): this {
    checkUint(value, 1, what);
    this.parts.push(value);
    this.length += 1;
    return this;
  }

  /** Big-endian unsigned integer of `n` bytes. */
  uint(value: number, n: number, what: string): this {
    checkUint(value, n, what);
    for (let i = n - 1; i >= 0; i--) {
      this.parts.push(Math.floor(value / 2 ** (8 * i)) % 256);
    }
    this.length += n;
    return this;
  }

  u16(value: number, what: string): this {
    return this.uint(value, 2, what);
  }

  u24(value: number, what: string): this {
    return this.uint(value, 3, what);
  }

  bytes(value: Uint8Array, what: string): this {
    checkBytes(value, what);
    this.parts.push(value);
    this.length += value.length;
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let pos = 0;
    for (const part of this.parts) {
      if (typeof part === 'number') out[pos++] = part;
      else {
        out.set(part, pos);
        pos += part.length;
      }
    }
    return out;
  }
}
