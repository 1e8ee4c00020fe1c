// Shared test helpers for the firmware-format tests.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImageFormatError, memoryMapFromSegments } from '../../../src/protocol/firmware/index.js';
import type { MemoryMap, MemorySegment } from '../../../src/protocol/firmware/index.js';
import { isOtaError } from '../../../src/protocol/errors.js';

/** Assert `fn` throws an `ImageFormatError` with `code` (and `line`/`address` when given). */
export function assertImageError(
  fn: () => unknown,
  expected: { code: string; line?: number; address?: number },
): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ImageFormatError, `expected ImageFormatError, got ${String(e)}`);
    assert.equal(e.code, expected.code, e.message);
    if (expected.line !== undefined) assert.equal(e.line, expected.line, e.message);
    if (expected.address !== undefined) assert.equal(e.address, expected.address, e.message);
    return true;
  });
}

/** Run `fn`; anything it throws must be one of ours (an `OtaError` with a code). */
export function onlyOtaErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isOtaError(e)) throw e;
  }
}

/**
 * An Intel HEX record from its hex body (RECLEN, LOAD OFFSET, RECTYP, DATA) with the checksum
 * appended — computed here independently: two's complement of the byte sum (rev A §2).
 */
export function ihexLine(body: string): string {
  const bytes = Buffer.from(body, 'hex');
  const sum = bytes.reduce((s, b) => s + b, 0);
  return ':' + body.toUpperCase() + ((0x100 - (sum & 0xff)) & 0xff).toString(16).toUpperCase().padStart(2, '0');
}

/** An S-record from its type digit and hex body (COUNT, ADDRESS, DATA) with the ones' complement checksum. */
export function srecLine(type: number, body: string): string {
  const bytes = Buffer.from(body, 'hex');
  const sum = bytes.reduce((s, b) => s + b, 0);
  return 'S' + String(type) + body.toUpperCase() + (~sum & 0xff).toString(16).toUpperCase().padStart(2, '0');
}

/** Deterministic pseudo-random bytes (xorshift32), for big fixtures. */
export function pseudoRandomBytes(length: number, seed = 0x2545f491): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Random memory maps whose bytes all lie below `limit`: runs of 1–40 bytes separated by gaps of
 * 0 (adjacent, must merge), a few bytes, or up to 192 KiB (crossing 64 KiB boundaries).
 */
export function memoryMapArb(limit = 0x1_0000_0000): fc.Arbitrary<MemoryMap> {
  const base = fc.oneof(
    fc.integer({ min: 0, max: limit - 1 }),
    fc.constantFrom(0, 0x0800_0000 % limit, Math.max(0, limit - 100), Math.max(0, limit - 0x1_0008)),
  );
  const gap = fc.oneof(fc.constant(0), fc.nat(64), fc.nat(0x3_0000));
  const runs = fc.array(fc.record({ gap, data: fc.uint8Array({ minLength: 1, maxLength: 40 }) }), { maxLength: 5 });
  return fc.record({ base, runs }).map(({ base: start, runs: list }) => {
    const segments: MemorySegment[] = [];
    let address = start;
    for (const { gap: g, data } of list) {
      address += g;
      if (address + data.length > limit) break;
      segments.push({ address, data });
      address += data.length;
    }
    return memoryMapFromSegments(segments);
  });
}

/** Characters that make random text look like records often enough to reach the deeper checks. */
export const RECORD_ALPHABET = [...':S0123456789ABCDEFabcdef\n\r \tXG'];

const hex = (value: number, digits: number): string => value.toString(16).padStart(digits, '0');

/**
 * Intel HEX files of records with correct checksums but random types (00–07), offsets, lengths
 * and an EOF that may be missing: they get past the syntax and checksum checks to the semantic ones.
 */
export const checksummedIhexArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.record({
        type: fc.integer({ min: 0, max: 7 }),
        offset: fc.oneof(fc.constantFrom(0, 0xfff8, 0xffff), fc.nat(0xffff)),
        data: fc.uint8Array({ maxLength: 9 }),
      }),
      { maxLength: 6 },
    ),
    fc.boolean(),
  )
  .map(([records, eof]) => {
    const lines = records.map(({ type, offset, data }) =>
      ihexLine(hex(data.length, 2) + hex(offset, 4) + hex(type, 2) + Buffer.from(data).toString('hex')),
    );
    if (eof) lines.push(':00000001FF');
    return lines.join('\n');
  });

/** S-record files of records with correct checksums but random types (S0–S9), addresses and lengths. */
export const checksummedSrecArb: fc.Arbitrary<string> = fc
  .array(
    fc.record({
      type: fc.integer({ min: 0, max: 9 }),
      addressBytes: fc.constantFrom(2, 3, 4),
      address: fc.oneof(fc.constantFrom(0, 1, 2, 0xffff_fffe), fc.nat()),
      data: fc.uint8Array({ maxLength: 6 }),
    }),
    { maxLength: 6 },
  )
  .map((records) =>
    records
      .map(({ type, addressBytes, address, data }) => {
        const width = type === 4 ? addressBytes : ({ 0: 2, 1: 2, 2: 3, 3: 4, 5: 2, 6: 3, 7: 4, 8: 3, 9: 2 }[type] ?? 2);
        const addressHex = hex(address % 2 ** (8 * width), 2 * width);
        return srecLine(type, hex(width + data.length + 1, 2) + addressHex + Buffer.from(data).toString('hex'));
      })
      .join('\n'),
  );
