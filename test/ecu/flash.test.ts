import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BOOTLOADER_VERSION, parseBootInfo } from '../../src/ecu/bootloader-image.js';
import { EcuFileError } from '../../src/ecu/errors.js';
import { Flash, FLASH_ERROR, FlashError } from '../../src/ecu/flash.js';
import { ECU_FLASH_MODELS, flashLayout } from '../../src/ecu/models.js';
import { codeOf, tempDir } from './helpers.js';

const APP = 0x0800_2000; // application region start (ARCHITECTURE §3)
const END = 0x0801_0000; // one past the c8's last byte

describe('Flash (stm32f103c8 default)', () => {
  it('has 64 KiB at 0x08000000 in 1 KiB pages, bootloader 0x08000000–0x08001FFF, app 0x08002000–0x0800FFFF', () => {
    const flash = Flash.inMemory();
    assert.equal(flash.model.name, 'stm32f103c8');
    assert.deepEqual(flash.layout, {
      flash: { start: 0x0800_0000, end: END },
      bootloader: { start: 0x0800_0000, end: APP },
      application: { start: APP, end: END },
      pageCount: 64,
    });
  });

  it('starts with an erased (0xFF) application region and the factory bootloader image', () => {
    const flash = Flash.inMemory();
    assert.ok(flash.isErased(APP, END - APP));
    const boot = flash.read(0x0800_0000, 0x2000);
    assert.deepEqual(parseBootInfo(boot), { version: BOOTLOADER_VERSION, product: 'stm32f103c8 UDS flash bootloader' });
    // initial MSP = top of the c8's 20 KiB SRAM, little-endian
    assert.deepEqual([...boot.subarray(0, 4)], [0x00, 0x50, 0x00, 0x20]);
  });

  describe('programHalfWord', () => {
    it('programs an erased half-word little-endian', () => {
      const flash = Flash.inMemory();
      flash.programHalfWord(APP + 2, 0xbbaa);
      assert.deepEqual([...flash.read(APP, 6)], [0xff, 0xff, 0xaa, 0xbb, 0xff, 0xff]);
    });

    it('refuses a non-erased half-word with PGERR (FLASH_NOT_ERASED) and leaves it unchanged', () => {
      const flash = Flash.inMemory();
      flash.programHalfWord(APP, 0x1234);
      assert.throws(() => flash.programHalfWord(APP, 0x1200), (e: unknown) =>
        e instanceof FlashError && e.code === FLASH_ERROR.NOT_ERASED && e.address === APP);
      assert.equal(codeOf(() => flash.programHalfWord(APP, 0xffff)), FLASH_ERROR.NOT_ERASED);
      assert.deepEqual([...flash.read(APP, 2)], [0x34, 0x12]);
    });

    it('accepts 0x0000 over any value (PM0075 §2.3.3 exception)', () => {
      const flash = Flash.inMemory();
      flash.programHalfWord(APP, 0x1234);
      flash.programHalfWord(APP, 0x0000);
      assert.deepEqual([...flash.read(APP, 2)], [0, 0]);
      flash.programHalfWord(APP, 0x0000); // and again over 0x0000
      assert.deepEqual(flash.opCounts(), { pagesErased: 0, halfWordsProgrammed: 3 });
    });

    it('refuses an odd address with FLASH_ALIGNMENT and a non-16-bit value with FLASH_VALUE', () => {
      const flash = Flash.inMemory();
      assert.equal(codeOf(() => flash.programHalfWord(APP + 1, 0)), FLASH_ERROR.ALIGNMENT);
      assert.equal(codeOf(() => flash.programHalfWord(APP, 0x10000)), FLASH_ERROR.VALUE);
      assert.equal(codeOf(() => flash.programHalfWord(APP, -1)), FLASH_ERROR.VALUE);
      assert.ok(flash.isErased(APP, 4));
    });

    it('refuses the bootloader region with WRPRTERR (FLASH_WRITE_PROTECTED)', () => {
      const flash = Flash.inMemory();
      const before = flash.read(0x0800_0000, 0x2000);
      assert.equal(codeOf(() => flash.programHalfWord(0x0800_1ffe, 0x0000)), FLASH_ERROR.WRITE_PROTECTED);
      assert.equal(codeOf(() => flash.programHalfWord(0x0800_0400, 0x0000)), FLASH_ERROR.WRITE_PROTECTED);
      assert.deepEqual(flash.read(0x0800_0000, 0x2000), before);
    });

    it('refuses addresses outside main flash with FLASH_OUT_OF_RANGE', () => {
      const flash = Flash.inMemory();
      assert.equal(codeOf(() => flash.programHalfWord(END, 0)), FLASH_ERROR.OUT_OF_RANGE);
      assert.equal(codeOf(() => flash.programHalfWord(0x07ff_fffe, 0)), FLASH_ERROR.OUT_OF_RANGE);
      assert.equal(codeOf(() => flash.read(END - 1, 2)), FLASH_ERROR.OUT_OF_RANGE);
    });
  });

  describe('program', () => {
    it('programs bytes in order and reads them back', () => {
      const flash = Flash.inMemory();
      const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
      flash.program(APP + 0x100, data);
      assert.deepEqual(flash.read(APP + 0x100, 300), data);
      assert.equal(flash.opCounts().halfWordsProgrammed, 150);
    });

    it('pads an odd length with 0xFF, after which the pad byte cannot be programmed without an erase', () => {
      const flash = Flash.inMemory();
      flash.program(APP, Uint8Array.of(1, 2, 3));
      assert.deepEqual([...flash.read(APP, 4)], [1, 2, 3, 0xff]);
      assert.equal(codeOf(() => flash.program(APP + 2, Uint8Array.of(3, 4))), FLASH_ERROR.NOT_ERASED);
    });

    it('stops at the first non-erased half-word; the half-words before it stay programmed', () => {
      const flash = Flash.inMemory();
      flash.programHalfWord(APP + 4, 0x5555);
      assert.throws(() => flash.program(APP, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), (e: unknown) =>
        e instanceof FlashError && e.code === FLASH_ERROR.NOT_ERASED && e.address === APP + 4);
      assert.deepEqual([...flash.read(APP, 8)], [1, 2, 3, 4, 0x55, 0x55, 0xff, 0xff]);
    });

    it('checks range and write protection before writing anything', () => {
      const flash = Flash.inMemory();
      assert.equal(codeOf(() => flash.program(END - 2, new Uint8Array(4))), FLASH_ERROR.OUT_OF_RANGE);
      assert.ok(flash.isErased(END - 2, 2));
      assert.equal(codeOf(() => flash.program(APP - 2, new Uint8Array(4))), FLASH_ERROR.WRITE_PROTECTED);
      assert.ok(flash.isErased(APP, 2));
    });
  });

  describe('erase', () => {
    it('erasePage takes any address in the page and erases exactly that page', () => {
      const flash = Flash.inMemory();
      flash.program(APP + 0x3fe, new Uint8Array(4)); // last half-word of page 8, first of page 9
      assert.equal(flash.erasePage(APP + 0x123), APP);
      assert.ok(flash.isErased(APP, 0x400));
      assert.deepEqual([...flash.read(APP + 0x400, 2)], [0, 0]);
    });

    it('eraseRange erases every page the range touches, even partly', () => {
      const flash = Flash.inMemory();
      flash.program(APP, new Uint8Array(0xc00).fill(0x11));
      assert.deepEqual(flash.eraseRange(APP + 0x300, 0x200), [APP, APP + 0x400]);
      assert.ok(flash.isErased(APP, 0x800));
      assert.equal(flash.read(APP + 0x800, 1)[0], 0x11);
    });

    it('refuses a range touching the bootloader (WRPRTERR) and erases nothing of it', () => {
      const flash = Flash.inMemory();
      flash.program(APP, Uint8Array.of(7, 7));
      assert.equal(codeOf(() => flash.eraseRange(APP - 0x400, 0x800)), FLASH_ERROR.WRITE_PROTECTED);
      assert.equal(codeOf(() => flash.erasePage(0x0800_0000)), FLASH_ERROR.WRITE_PROTECTED);
      assert.deepEqual([...flash.read(APP, 2)], [7, 7]);
      assert.equal(flash.eraseCount(0x0800_0000), 0);
    });

    it('refuses empty and out-of-flash ranges with FLASH_OUT_OF_RANGE', () => {
      const flash = Flash.inMemory();
      assert.equal(codeOf(() => flash.eraseRange(APP, 0)), FLASH_ERROR.OUT_OF_RANGE);
      assert.equal(codeOf(() => flash.eraseRange(END - 0x400, 0x401)), FLASH_ERROR.OUT_OF_RANGE);
      assert.equal(codeOf(() => flash.erasePage(END)), FLASH_ERROR.OUT_OF_RANGE);
    });

    it('counts erases per page (wear)', () => {
      const flash = Flash.inMemory();
      flash.erasePage(APP);
      flash.erasePage(APP + 1);
      flash.eraseRange(APP, 0x800);
      assert.equal(flash.eraseCount(APP), 3);
      assert.equal(flash.eraseCount(APP + 0x400), 1);
      const counts = flash.eraseCounts();
      assert.equal(counts.length, 64);
      assert.equal(counts.reduce((a, b) => a + b, 0), 4);
      assert.equal(flash.opCounts().pagesErased, 4);
    });

    it('calls beforeErase with the page address before the page is erased', () => {
      const seen: [number, number][] = [];
      const flash: Flash = Flash.inMemory({ beforeErase: (page) => seen.push([page, flash.read(page, 1)[0] as number]) });
      flash.program(APP + 0x400, Uint8Array.of(0x42, 0x42));
      flash.eraseRange(APP, 0x800);
      assert.deepEqual(seen, [[APP, 0xff], [APP + 0x400, 0x42]]);
    });
  });

  describe('models are configuration', () => {
    it('stm32f103cb has 128 KiB', () => {
      const flash = Flash.inMemory({ model: 'stm32f103cb' });
      assert.equal(flash.layout.application.end, 0x0802_0000);
      assert.equal(flash.layout.pageCount, 128);
    });

    it('stm32f103ze (high density) erases 2 KiB pages', () => {
      const flash = Flash.inMemory({ model: ECU_FLASH_MODELS.stm32f103ze });
      flash.program(APP + 0x7fe, Uint8Array.of(1, 2));
      assert.equal(flash.erasePage(APP + 0x10), APP);
      assert.ok(flash.isErased(APP, 0x800));
      assert.equal(flashLayout(flash.model).application.end, 0x0808_0000);
    });

    it('refuses an unknown model name with FW_UNKNOWN_MODEL', () => {
      assert.equal(codeOf(() => Flash.inMemory({ model: 'stm32f103zz' })), 'FW_UNKNOWN_MODEL');
    });
  });
});

describe('Flash.open (persistence)', () => {
  it('creates flash.bin (full size), flash.wear and flash.meta.json in a new state directory', () => {
    const { dir, cleanup } = tempDir();
    try {
      const flash = Flash.open(dir);
      flash.close();
      assert.equal(statSync(join(dir, 'flash.bin')).size, 64 * 1024);
      assert.equal(statSync(join(dir, 'flash.wear')).size, 64 * 4);
      assert.equal(JSON.parse(readFileSync(join(dir, 'flash.meta.json'), 'utf8')).model.name, 'stm32f103c8');
    } finally {
      cleanup();
    }
  });

  it('writes each program/erase through to flash.bin at once, in place (same inode, no rewrite)', () => {
    const { dir, cleanup } = tempDir();
    try {
      const flash = Flash.open(dir);
      const path = join(dir, 'flash.bin');
      const inode = statSync(path).ino;
      flash.program(APP, Uint8Array.of(0xde, 0xad));
      assert.deepEqual([...readFileSync(path).subarray(0x2000, 0x2002)], [0xde, 0xad]);
      flash.erasePage(APP);
      assert.equal(readFileSync(path)[0x2000], 0xff);
      assert.equal(readFileSync(join(dir, 'flash.wear')).readUInt32LE(8 * 4), 1);
      assert.equal(statSync(path).ino, inode);
      flash.close();
    } finally {
      cleanup();
    }
  });

  it('reloads content and wear counters on reopen', () => {
    const { dir, cleanup } = tempDir();
    try {
      const a = Flash.open(dir, { model: 'stm32f103cb' });
      a.eraseRange(APP, 0x800);
      a.program(APP + 0x10, Uint8Array.of(9, 8, 7, 6));
      a.close();
      const b = Flash.open(dir); // no model given: the stored one is used
      assert.equal(b.model.name, 'stm32f103cb');
      assert.deepEqual([...b.read(APP + 0x10, 4)], [9, 8, 7, 6]);
      assert.equal(b.eraseCount(APP + 0x400), 1);
      assert.equal(codeOf(() => b.program(APP + 0x10, Uint8Array.of(1, 1))), FLASH_ERROR.NOT_ERASED);
      b.close();
    } finally {
      cleanup();
    }
  });

  it('refuses to open a flash of another model (FLASH_MODEL_MISMATCH) or of the wrong size (FLASH_STATE_CORRUPT)', () => {
    const { dir, cleanup } = tempDir();
    try {
      Flash.open(dir).close();
      assert.equal(codeOf(() => Flash.open(dir, { model: 'stm32f103ze' })), 'FLASH_MODEL_MISMATCH');
      truncateSync(join(dir, 'flash.bin'), 1000);
      assert.equal(codeOf(() => Flash.open(dir)), 'FLASH_STATE_CORRUPT');
    } finally {
      cleanup();
    }
  });

  it('names the damaged file in FLASH_STATE_CORRUPT (EcuFileError.path): flash.bin truncated or garbage, flash.meta.json garbage', () => {
    const { dir, cleanup } = tempDir();
    try {
      Flash.open(dir).close();
      const cells = join(dir, 'flash.bin');
      const isCorrupt = (path: string) => (e: unknown) => e instanceof EcuFileError && e.code === 'FLASH_STATE_CORRUPT' && e.path === path;
      const good = readFileSync(cells);
      truncateSync(cells, 1000);
      assert.throws(() => Flash.open(dir), isCorrupt(cells));
      writeFileSync(cells, 'garbage');
      assert.throws(() => Flash.open(dir), isCorrupt(cells));
      writeFileSync(cells, good);
      const meta = join(dir, 'flash.meta.json');
      writeFileSync(meta, 'garbage');
      assert.throws(() => Flash.open(dir), isCorrupt(meta));
    } finally {
      cleanup();
    }
  });

  it('refuses writes after close with FLASH_CLOSED', () => {
    const { dir, cleanup } = tempDir();
    try {
      const flash = Flash.open(dir);
      flash.close();
      assert.equal(codeOf(() => flash.program(APP, Uint8Array.of(0, 0))), 'FLASH_CLOSED');
    } finally {
      cleanup();
    }
  });
});
