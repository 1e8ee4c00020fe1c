/**
 * The robustness properties every decoder test states: whatever the input, a decoder returns or throws
 * one of our typed errors (`OtaError`), never another exception.
 */
import fc from 'fast-check';
import { OtaError } from '../../src/protocol/errors.js';

/** Runs `decode` on `numRuns` inputs from `inputs`; any throw that is not an OtaError fails the property. */
export function assertOnlyOtaErrors<T>(decode: (input: T) => unknown, inputs: fc.Arbitrary<T>, numRuns = 10_000): void {
  fc.assert(
    fc.property(inputs, (input) => {
      try {
        decode(input);
      } catch (e) {
        if (!(e instanceof OtaError)) throw e;
      }
    }),
    { numRuns },
  );
}

/** Copies of `valid` with one to four bytes changed, some cut short at a changed byte. */
export function mutationsOf(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ at: fc.nat({ max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }), cut: fc.nat({ max: 3 }) });
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Uint8Array.from(valid);
    for (const e of edits) {
      b[e.at] = e.value;
      if (e.cut === 0) b = b.subarray(0, e.at);
    }
    return b;
  });
}
