/** Small helpers for the UDS tests: annotated hex fixtures and error assertions. */
import assert from 'node:assert/strict';
import { parseHex } from '../../../src/protocol/hex.js';
import { DecodeError, isOtaError } from '../../../src/protocol/errors.js';

/** Joins annotated hex fields (one argument per wire field) into bytes. */
export function h(...fields: string[]): Uint8Array {
  return parseHex(fields.join(' '));
}

/** ASCII text as bytes (VINs, part numbers). */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

/** Asserts that `fn` throws a DecodeError with `code` and, when given, `wireCode`. */
export function assertDecodeError(fn: () => unknown, code: string, wireCode?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.wireCode, wireCode);
    return true;
  });
}

/** Runs `fn`; returns its result, or undefined when it threw an OtaError. Any other throw fails the test. */
export function onlyOtaErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!isOtaError(e)) throw e;
    return undefined;
  }
}
