// Property: any sequence of erase/program operations keeps the flash equal to a naive reference model,
// bits only go 1→0 by programming and 0→1 only by erasing, and refusals change nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Flash, FLASH_ERROR } from '../../src/ecu/flash.js';
import { TINY_MODEL, tempDir } from './helpers.js';

const BASE = TINY_MODEL.base;
const SIZE = TINY_MODEL.size;
const PAGE = TINY_MODEL.pageSize;
const BOOT_END = BASE + TINY_MODEL.bootloaderSize;

type Op =
  | { kind: 'erase'; address: number }
  | { kind: 'program'; address: number; data: number[] };

/** Reference model: a byte array and the rules written as plainly as possible. */
class Reference {
  readonly cells: Uint8Array;
  readonly wear = new Array<number>(SIZE / PAGE).fill(0);

  constructor(initial: Uint8Array) {
    this.cells = Uint8Array.from(initial);
  }

  apply(op: Op): string | null {
    if (op.kind === 'erase') {
      if (op.address < BASE || op.address >= BASE + SIZE) return FLASH_ERROR.OUT_OF_RANGE;
      const page = Math.floor((op.address - BASE) / PAGE);
      if (BASE + page * PAGE < BOOT_END) return FLASH_ERROR.WRITE_PROTECTED;
      this.cells.fill(0xff, page * PAGE, (page + 1) * PAGE);
      this.wear[page] = (this.wear[page] ?? 0) + 1;
      return null;
    }
    const bytes = op.data.length % 2 === 0 ? op.data : [...op.data, 0xff];
    if (op.address % 2 !== 0) return FLASH_ERROR.ALIGNMENT;
    if (bytes.length === 0) return null;
    if (op.address < BASE || op.address + bytes.length > BASE + SIZE) return FLASH_ERROR.OUT_OF_RANGE;
    if (op.address < BOOT_END) return FLASH_ERROR.WRITE_PROTECTED;
    for (let i = 0; i < bytes.length; i += 2) {
      const at = op.address - BASE + i;
      const erased = this.cells[at] === 0xff && this.cells[at + 1] === 0xff;
      const zero = bytes[i] === 0 && bytes[i + 1] === 0;
      if (!erased && !zero) return FLASH_ERROR.NOT_ERASED;
      this.cells[at] = bytes[i] as number;
      this.cells[at + 1] = bytes[i + 1] as number;
    }
    return null;
  }
}

// Addresses mostly in the application region, sometimes in the bootloader or just outside flash.
const address = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: BOOT_END, max: BASE + SIZE - 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: BASE, max: BOOT_END - 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: BASE - 16, max: BASE + SIZE + 16 }) },
);
// Programming hits a few hot spots so that programmed-over-programmed (PGERR) and 0x0000 cases are common.
const hotAddress = fc.oneof(address, fc.constantFrom(BOOT_END, BOOT_END + 2, BOOT_END + PAGE - 2, BASE + SIZE - 4));
const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0), fc.constant(0xff));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: address.map((a) => ({ kind: 'erase' as const, address: a })) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('program' as const), address: hotAddress, data: fc.array(byte, { maxLength: 12 }) }) },
);

function run(flash: Flash, op: Op): string | null {
  try {
    if (op.kind === 'erase') flash.erasePage(op.address);
    else flash.program(op.address, Uint8Array.from(op.data));
    return null;
  } catch (e) {
    return (e as { code: string }).code;
  }
}

function checkStep(before: Uint8Array, after: Uint8Array, op: Op): void {
  // Bits only go 0→1 inside the erased page, and only by an erase.
  const erasedPage = op.kind === 'erase' ? Math.floor((op.address - BASE) / PAGE) : -1;
  for (let i = 0; i < after.length; i++) {
    const raised = (after[i] as number) & ~(before[i] as number);
    if (raised !== 0 && Math.floor(i / PAGE) !== erasedPage) {
      assert.fail(`bit raised at offset ${i} by ${JSON.stringify(op)}`);
    }
  }
}

describe('Flash property: random erase/program sequences', () => {
  it('match the reference model; bits go 1→0 only by program, 0→1 only by erase', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const flash = Flash.inMemory({ model: TINY_MODEL });
        const ref = new Reference(flash.read(BASE, SIZE));
        for (const o of ops) {
          const before = flash.read(BASE, SIZE);
          const expected = ref.apply(o);
          assert.equal(run(flash, o), expected, JSON.stringify(o));
          const after = flash.read(BASE, SIZE);
          assert.ok(Buffer.from(after).equals(ref.cells), `content differs after ${JSON.stringify(o)}`);
          checkStep(before, after, o);
        }
        assert.deepEqual(flash.eraseCounts(), ref.wear);
      }),
      { numRuns: 2_000 },
    );
  });

  it('reopening a file-backed flash after any sequence gives the same content and wear', () => {
    const { dir, cleanup } = tempDir();
    let n = 0;
    try {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
          const path = `${dir}/run-${n++}`;
          const flash = Flash.open(path, { model: TINY_MODEL });
          const ref = new Reference(flash.read(BASE, SIZE));
          for (const o of ops) {
            ref.apply(o);
            run(flash, o);
          }
          flash.close();
          const again = Flash.open(path);
          assert.ok(Buffer.from(again.read(BASE, SIZE)).equals(ref.cells));
          assert.deepEqual(again.eraseCounts(), ref.wear);
          again.close();
        }),
        { numRuns: 100 },
      );
    } finally {
      cleanup();
    }
  });
});
