import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  FW_ERROR,
  checkRegion,
  fromBinary,
  memoryMapFromSegments,
  toBinary,
  toContiguous,
  totalLength,
} from '../../../src/protocol/firmware/index.js';
import { assertImageError } from './helpers.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('memoryMapFromSegments', () => {
  it('sorts segments and merges adjacent ones into one', () => {
    const map = memoryMapFromSegments([
      { address: 0x104, data: bytes(5, 6) },
      { address: 0x100, data: bytes(1, 2, 3, 4) }, // ends at 0x104: adjacent to the first → merged
      { address: 0x200, data: bytes(9) }, // gap → own segment
    ]);
    assert.deepEqual(map, [
      { address: 0x100, data: bytes(1, 2, 3, 4, 5, 6) },
      { address: 0x200, data: bytes(9) },
    ]);
  });

  it('drops empty segments', () => {
    assert.deepEqual(memoryMapFromSegments([{ address: 5, data: bytes() }]), []);
  });

  it('copies the bytes so the caller may reuse its buffers', () => {
    const data = bytes(1, 2);
    const map = memoryMapFromSegments([{ address: 0, data }]);
    data[0] = 0xee;
    assert.deepEqual(map[0]?.data, bytes(1, 2));
  });

  it('refuses overlapping segments with FW_OVERLAP at the first shared address', () => {
    assertImageError(
      () =>
        memoryMapFromSegments([
          { address: 0x100, data: bytes(1, 2, 3, 4) },
          { address: 0x102, data: bytes(7) },
        ]),
      { code: FW_ERROR.OVERLAP, address: 0x102 },
    );
  });

  it('refuses two segments at the same address even with equal bytes', () => {
    assertImageError(
      () =>
        memoryMapFromSegments([
          { address: 0x10, data: bytes(1) },
          { address: 0x10, data: bytes(1) },
        ]),
      { code: FW_ERROR.OVERLAP, address: 0x10 },
    );
  });

  it('refuses bytes beyond 0xFFFFFFFF and negative or fractional addresses with FW_ADDRESS_RANGE', () => {
    assertImageError(() => memoryMapFromSegments([{ address: 0xffff_ffff, data: bytes(1, 2) }]), {
      code: FW_ERROR.ADDRESS_RANGE,
    });
    assertImageError(() => memoryMapFromSegments([{ address: -1, data: bytes(1) }]), { code: FW_ERROR.ADDRESS_RANGE });
    assertImageError(() => memoryMapFromSegments([{ address: 1.5, data: bytes(1) }]), { code: FW_ERROR.ADDRESS_RANGE });
  });

  it('accepts the very last byte of the address space', () => {
    const map = memoryMapFromSegments([{ address: 0xffff_ffff, data: bytes(0xaa) }]);
    assert.equal(map[0]?.address, 0xffff_ffff);
  });
});

describe('totalLength', () => {
  it('counts bytes, not gaps', () => {
    const map = memoryMapFromSegments([
      { address: 0, data: new Uint8Array(10) },
      { address: 1000, data: new Uint8Array(5) },
    ]);
    assert.equal(totalLength(map), 15);
    assert.equal(totalLength([]), 0);
  });
});

describe('toContiguous', () => {
  const map = memoryMapFromSegments([
    { address: 0x0800_2000, data: bytes(1, 2) },
    { address: 0x0800_2004, data: bytes(3) },
  ]);

  it('fills gaps with 0xFF (erased flash) by default', () => {
    assert.deepEqual(toContiguous(map), { address: 0x0800_2000, data: bytes(1, 2, 0xff, 0xff, 3) });
  });

  it('honours fill, start and end', () => {
    assert.deepEqual(toContiguous(map, { fill: 0, start: 0x0800_1ffe, end: 0x0800_2007 }), {
      address: 0x0800_1ffe,
      data: bytes(0, 0, 1, 2, 0, 0, 3, 0, 0),
    });
  });

  it('refuses data outside start..end with FW_OUT_OF_REGION instead of cutting it off', () => {
    assertImageError(() => toContiguous(map, { end: 0x0800_2004 }), { code: FW_ERROR.OUT_OF_REGION, address: 0x0800_2004 });
    assertImageError(() => toContiguous(map, { start: 0x0800_2001 }), { code: FW_ERROR.OUT_OF_REGION, address: 0x0800_2000 });
  });

  it('refuses a span above maxLength with FW_IMAGE_TOO_LARGE (sparse maps can span gigabytes)', () => {
    const sparse = memoryMapFromSegments([
      { address: 0, data: bytes(1) },
      { address: 0xffff_0000, data: bytes(2) },
    ]);
    assertImageError(() => toContiguous(sparse), { code: FW_ERROR.IMAGE_TOO_LARGE });
    assertImageError(() => toContiguous(map, { maxLength: 4 }), { code: FW_ERROR.IMAGE_TOO_LARGE });
  });

  it('refuses a fill that is not a byte, and end before start', () => {
    assertImageError(() => toContiguous(map, { fill: 256 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => toContiguous(map, { start: 10, end: 5 }), { code: FW_ERROR.OPTION_RANGE });
  });

  it('gives an empty block for an empty map', () => {
    assert.deepEqual(toContiguous([]), { address: 0, data: bytes() });
  });

  it('normalizes a hand-built unsorted map first', () => {
    const unsorted = [
      { address: 4, data: bytes(3) },
      { address: 2, data: bytes(1, 2) },
    ];
    assert.deepEqual(toContiguous(unsorted), { address: 2, data: bytes(1, 2, 3) });
  });
});

describe('checkRegion', () => {
  const application = { start: 0x0800_2000, end: 0x0801_0000 };

  it('accepts a map inside the region, edges included', () => {
    checkRegion(memoryMapFromSegments([{ address: 0x0800_2000, data: new Uint8Array(0xe000) }]), application);
  });

  it('reports the first byte below the region', () => {
    const map = memoryMapFromSegments([{ address: 0x0800_1ff0, data: new Uint8Array(32) }]);
    assertImageError(() => checkRegion(map, application), { code: FW_ERROR.OUT_OF_REGION, address: 0x0800_1ff0 });
  });

  it('reports the first byte past the region end', () => {
    const map = memoryMapFromSegments([{ address: 0x0800_fff0, data: new Uint8Array(32) }]);
    assertImageError(() => checkRegion(map, application), { code: FW_ERROR.OUT_OF_REGION, address: 0x0801_0000 });
  });

  it('reports a segment wholly after the region at its own start', () => {
    const map = memoryMapFromSegments([{ address: 0x2000_0000, data: bytes(1) }]);
    assertImageError(() => checkRegion(map, application), { code: FW_ERROR.OUT_OF_REGION, address: 0x2000_0000 });
  });
});

describe('fromBinary / toBinary', () => {
  it('places a raw image at its base address', () => {
    assert.deepEqual(fromBinary(bytes(1, 2, 3), 0x0800_2000), [{ address: 0x0800_2000, data: bytes(1, 2, 3) }]);
  });

  it('round-trips bytes through a base address', () => {
    const raw = bytes(0xde, 0xad, 0xbe, 0xef);
    assert.deepEqual(toBinary(fromBinary(raw, 0x0800_2000)), raw);
  });

  it('fills gaps of a sparse map with the fill byte', () => {
    const map = memoryMapFromSegments([
      { address: 0x10, data: bytes(1) },
      { address: 0x13, data: bytes(2) },
    ]);
    assert.deepEqual(toBinary(map, { fill: 0x00 }), bytes(1, 0, 0, 2));
  });

  it('needs a base (FW_BASE_REQUIRED) and one that keeps the bytes in 32-bit space', () => {
    assertImageError(() => fromBinary(bytes(1), undefined), { code: FW_ERROR.BASE_REQUIRED });
    assertImageError(() => fromBinary(bytes(1, 2), 0xffff_ffff), { code: FW_ERROR.ADDRESS_RANGE });
  });
});
