import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import nrfIntelHex from 'nrf-intel-hex';
import {
  ADDRESS_SPACE_END,
  detectFormat,
  fromBinary,
  parseIntelHex,
  parseSrec,
  readImage,
  toBinary,
  toContiguous,
  writeIntelHex,
  writeSrec,
} from '../../../src/protocol/firmware/index.js';
import type { MemoryMap } from '../../../src/protocol/firmware/index.js';
import { RECORD_ALPHABET, checksummedIhexArb, checksummedSrecArb, memoryMapArb, onlyOtaErrors } from './helpers.js';

type NrfClass = typeof nrfIntelHex.default;
const NrfMemoryMap: NrfClass =
  typeof nrfIntelHex === 'function' ? (nrfIntelHex as unknown as NrfClass) : nrfIntelHex.default;

const uint32 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0xffff_ffff));

/** The MemoryMap invariants: sorted, non-empty, non-adjacent segments inside 32-bit space. */
function assertNormalized(map: MemoryMap): void {
  let previousEnd = -1;
  for (const { address, data } of map) {
    assert.ok(data.length > 0 && address > previousEnd, 'segments sorted, non-empty, not touching');
    previousEnd = address + data.length;
    assert.ok(previousEnd <= ADDRESS_SPACE_END);
  }
}

/**
 * Text that is mostly record characters, a valid file with a few characters changed, well-checksummed
 * records of random types and lengths, or anything.
 */
function fuzzText(write: (map: MemoryMap) => string, checksummed: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const recordish = fc.string({ unit: fc.constantFrom(...RECORD_ALPHABET), maxLength: 80 });
  const mutated = fc
    .tuple(
      memoryMapArb(),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...RECORD_ALPHABET, '')), { minLength: 1, maxLength: 3 }),
    )
    .map(([map, edits]) => {
      let text = write(map);
      for (const [position, ch] of edits) {
        const at = position % (text.length + 1);
        text = text.slice(0, at) + ch + text.slice(at + 1);
      }
      return text;
    });
  return fc.oneof(recordish, mutated, checksummed, fc.string({ unit: 'binary-ascii', maxLength: 40 }));
}

describe('Intel HEX properties', () => {
  it('parseIntelHex(writeIntelHex(map)) gives the map and start address back', () => {
    fc.assert(
      fc.property(memoryMapArb(), fc.option(uint32, { nil: undefined }), fc.integer({ min: 1, max: 255 }), (map, start, bytesPerLine) => {
        const text = writeIntelHex(map, { bytesPerLine, ...(start === undefined ? {} : { startAddress: start }) });
        assert.deepEqual(parseIntelHex(text), start === undefined ? { map } : { map, startAddress: start });
      }),
      { numRuns: 10_000 },
    );
  });

  it('nrf-intel-hex reads our output as the same map (below 0x80000000)', () => {
    fc.assert(
      fc.property(memoryMapArb(0x8000_0000), (map) => {
        const theirs = [...NrfMemoryMap.fromHex(writeIntelHex(map).trimEnd())].map(([address, data]) => ({
          address,
          data: Uint8Array.from(data),
        }));
        assert.deepEqual(theirs, map);
      }),
      { numRuns: 1_000 },
    );
  });

  it('random text and bytes give a normalized map or an OtaError, nothing else', () => {
    fc.assert(
      fc.property(fuzzText((map) => writeIntelHex(map, { bytesPerLine: 8 }), checksummedIhexArb), fc.uint8Array({ maxLength: 40 }), (text, bytes) => {
        onlyOtaErrors(() => assertNormalized(parseIntelHex(text).map));
        onlyOtaErrors(() => readImage(bytes, 'ihex'));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('S-record properties', () => {
  it('parseSrec(writeSrec(map)) gives map, header and start back for every address width', () => {
    const input = fc.constantFrom(2, 3, 4).chain((width) => {
      const limit = 2 ** (8 * width);
      return fc.record({
        width: fc.constant(width as 2 | 3 | 4),
        map: memoryMapArb(limit),
        start: fc.option(fc.integer({ min: 0, max: limit - 1 }), { nil: undefined }),
        header: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        bytesPerLine: fc.integer({ min: 1, max: 254 - width }),
      });
    });
    fc.assert(
      fc.property(input, ({ width, map, start, header, bytesPerLine }) => {
        const text = writeSrec(map, {
          addressBytes: width,
          bytesPerLine,
          ...(start === undefined ? {} : { startAddress: start }),
          ...(header === undefined ? {} : { header }),
        });
        assert.deepEqual(parseSrec(text), {
          map,
          ...(header === undefined ? {} : { header }),
          ...(start === undefined ? {} : { startAddress: start }),
        });
      }),
      { numRuns: 10_000 },
    );
  });

  it('random text and bytes give a normalized map or an OtaError, nothing else', () => {
    fc.assert(
      fc.property(fuzzText((map) => writeSrec(map, { bytesPerLine: 8, header: 'H', startAddress: 1 }), checksummedSrecArb), fc.uint8Array({ maxLength: 40 }), (text, bytes) => {
        onlyOtaErrors(() => assertNormalized(parseSrec(text).map));
        onlyOtaErrors(() => readImage(bytes, 'srec'));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('raw binary properties', () => {
  it('toBinary(fromBinary(bytes, base)) gives the bytes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), uint32, (bytes, base) => {
        fc.pre(base + bytes.length <= ADDRESS_SPACE_END);
        const map = fromBinary(bytes, base);
        assert.deepEqual(toBinary(map), bytes);
        assert.deepEqual(map, bytes.length === 0 ? [] : [{ address: base, data: bytes }]);
      }),
      { numRuns: 10_000 },
    );
  });

  it('a map written as bin and read at its first address is the map with gaps filled', () => {
    fc.assert(
      fc.property(memoryMapArb(), fc.integer({ min: 0, max: 255 }), (map, fill) => {
        const first = map[0];
        fc.pre(first !== undefined && toContiguous(map).data.length <= 1 << 20);
        const contiguous = toContiguous(map, { fill });
        const read = readImage(toBinary(map, { fill }), 'bin', { base: first?.address ?? 0 });
        assert.deepEqual(read.map, [contiguous]);
        for (const { address, data } of map) {
          assert.deepEqual(contiguous.data.subarray(address - contiguous.address, address - contiguous.address + data.length), data);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('random bytes and bases give a map or an OtaError, nothing else; detectFormat never throws', () => {
    const base = fc.oneof(uint32, fc.constantFrom(undefined, -1, 1.5, 2 ** 32, Number.NaN));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), base, fc.string({ maxLength: 12 }), (bytes, b, name) => {
        onlyOtaErrors(() => assertNormalized(readImage(bytes, 'bin', b === undefined ? {} : { base: b }).map));
        assert.ok(['ihex', 'srec', 'bin'].includes(detectFormat(name, bytes)));
      }),
      { numRuns: 10_000 },
    );
  });
});
