import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  FLASH_MODELS,
  FW_ERROR,
  describeIntelHex,
  describeSrec,
  detectFormat,
  flashModel,
  memoryMapFromSegments,
  readImage,
  writeImage,
} from '../../../src/protocol/firmware/index.js';
import type { ImageFormat } from '../../../src/protocol/firmware/index.js';
import { assertImageError, pseudoRandomBytes } from './helpers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const c8 = FLASH_MODELS.stm32f103c8;
const appMap = memoryMapFromSegments([{ address: c8.application.start, data: pseudoRandomBytes(1000) }]);

describe('readImage', () => {
  for (const format of ['ihex', 'srec'] as const) {
    it(`reads ${format} from text and from bytes alike, start address included`, () => {
      const written = writeImage(appMap, format, { startAddress: c8.application.start + 1 });
      const expected = { map: appMap, startAddress: c8.application.start + 1 };
      assert.deepEqual(readImage(written, format), expected);
      assert.deepEqual(readImage(text(written), format, { region: c8.application }), expected);
    });
  }

  it('reads a raw binary at its base address', () => {
    const raw = pseudoRandomBytes(64);
    assert.deepEqual(readImage(raw, 'bin', { base: c8.application.start }), {
      map: [{ address: c8.application.start, data: raw }],
    });
  });

  it('refuses a raw binary without base with FW_BASE_REQUIRED', () => {
    assertImageError(() => readImage(pseudoRandomBytes(4), 'bin'), { code: FW_ERROR.BASE_REQUIRED });
  });

  it('refuses a raw binary given as text, and an unknown format, with FW_FORMAT', () => {
    assertImageError(() => readImage('abc', 'bin', { base: 0 }), { code: FW_ERROR.FORMAT });
    assertImageError(() => readImage('abc', 'elf' as ImageFormat), { code: FW_ERROR.FORMAT });
  });

  it('refuses an image reaching into the bootloader with FW_OUT_OF_REGION and the first bad address', () => {
    const raw = new Uint8Array(16);
    assertImageError(() => readImage(raw, 'bin', { base: c8.bootloader.end - 8, region: c8.application }), {
      code: FW_ERROR.OUT_OF_REGION,
      address: c8.bootloader.end - 8,
    });
  });

  it('refuses an image past the end of a 64 KiB part that fits a 128 KiB part', () => {
    const map = memoryMapFromSegments([{ address: 0x0801_0000, data: Uint8Array.of(1) }]);
    const hex = writeImage(map, 'ihex');
    assertImageError(() => readImage(hex, 'ihex', { region: c8.application }), {
      code: FW_ERROR.OUT_OF_REGION,
      address: 0x0801_0000,
    });
    readImage(hex, 'ihex', { region: FLASH_MODELS.stm32f103cb.application });
  });

  it('skips a UTF-8 byte order mark in front of a text image', () => {
    const hex = writeImage(appMap, 'ihex');
    const withBom = Uint8Array.of(0xef, 0xbb, 0xbf, ...text(hex));
    assert.equal(detectFormat('image', withBom), 'ihex');
    assert.deepEqual(readImage(withBom, 'ihex').map, appMap);
    assert.deepEqual(readImage('\uFEFF' + hex, 'ihex').map, appMap);
  });

  it('passes parser errors through with their line numbers', () => {
    assertImageError(() => readImage(':0100000001FF\n', 'ihex'), { code: FW_ERROR.IHEX_CHECKSUM, line: 1 });
    assertImageError(() => readImage(text('S1040000\xff'), 'srec'), { code: FW_ERROR.SREC_SYNTAX, line: 1 });
  });
});

describe('detectFormat', () => {
  const cases: [string, string, ImageFormat][] = [
    ['app.hex', 'anything', 'ihex'],
    ['APP.IHX', '', 'ihex'],
    ['app.ihex', '', 'ihex'],
    ['app.s19', '', 'srec'],
    ['app.s28', '', 'srec'],
    ['app.S37', '', 'srec'],
    ['app.srec', '', 'srec'],
    ['app.mot', '', 'srec'],
    ['app.bin', ':00000001FF', 'bin'],
    ['firmware', ':020000040800F2\n', 'ihex'],
    ['firmware.img', '\r\n  S00600004844521B\n', 'srec'],
    ['firmware', '\x7fELF\x01\x01', 'bin'],
    ['firmware', 'S', 'bin'],
    ['', '', 'bin'],
  ];
  for (const [name, content, format] of cases) {
    it(`calls ${JSON.stringify(name)} with ${JSON.stringify(content.slice(0, 12))} ${format}`, () => {
      assert.equal(detectFormat(name, text(content)), format);
    });
  }
});

describe('writeImage', () => {
  it('writes bin from the first to the last byte with 0xFF gaps', () => {
    const map = memoryMapFromSegments([
      { address: 0x100, data: Uint8Array.of(1) },
      { address: 0x103, data: Uint8Array.of(2) },
    ]);
    assert.deepEqual(writeImage(map, 'bin'), Uint8Array.of(1, 0xff, 0xff, 2));
    assert.deepEqual(writeImage(map, 'bin', { fill: 0 }), Uint8Array.of(1, 0, 0, 2));
  });

  it('round-trips through every format', () => {
    for (const format of ['ihex', 'srec', 'bin'] as const) {
      const written = writeImage(appMap, format);
      const bytes = typeof written === 'string' ? text(written) : written;
      assert.deepEqual(readImage(bytes, format, { base: c8.application.start }).map, appMap, format);
    }
  });
});

describe('FLASH_MODELS', () => {
  it('lays out stm32f103c8 as ARCHITECTURE.md §3 says', () => {
    assert.deepEqual(c8.flash, { start: 0x0800_0000, end: 0x0801_0000 });
    assert.equal(c8.pageSize, 1024);
    assert.deepEqual(c8.bootloader, { start: 0x0800_0000, end: 0x0800_2000 }); // 0x08000000–0x08001FFF
    assert.deepEqual(c8.application, { start: 0x0800_2000, end: 0x0801_0000 }); // 0x08002000–0x0800FFFF, 56 KiB
  });

  it('gives stm32f103cb 128 KiB and stm32f103ze 512 KiB in 2 KiB pages', () => {
    assert.equal(FLASH_MODELS.stm32f103cb.application.end, 0x0802_0000);
    assert.equal(FLASH_MODELS.stm32f103cb.pageSize, 1024);
    assert.equal(FLASH_MODELS.stm32f103ze.flash.end - FLASH_MODELS.stm32f103ze.flash.start, 512 * 1024);
    assert.equal(FLASH_MODELS.stm32f103ze.pageSize, 2048);
  });

  it('aligns every region to its pages', () => {
    for (const model of Object.values(FLASH_MODELS)) {
      for (const region of [model.flash, model.bootloader, model.application]) {
        assert.equal(region.start % model.pageSize, 0, model.name);
        assert.equal(region.end % model.pageSize, 0, model.name);
      }
    }
  });

  it('looks models up by name and refuses unknown ones with FW_UNKNOWN_MODEL', () => {
    assert.equal(flashModel('stm32f103cb'), FLASH_MODELS.stm32f103cb);
    assertImageError(() => flashModel('stm32f407vg'), { code: FW_ERROR.UNKNOWN_MODEL });
    assertImageError(() => flashModel('toString'), { code: FW_ERROR.UNKNOWN_MODEL });
  });
});

describe('describeIntelHex / describeSrec', () => {
  const map = memoryMapFromSegments([
    { address: 0x0800_2000, data: Uint8Array.of(1, 2) },
    { address: 0x0800_2004, data: Uint8Array.of(3) },
  ]);
  const contiguousSha = createHash('sha256').update(Uint8Array.of(1, 2, 0xff, 0xff, 3)).digest('hex');

  it('summarizes an Intel HEX file: segments, total, start, SHA-256 of the 0xFF-filled image', () => {
    assert.deepEqual(describeIntelHex(writeImage(map, 'ihex', { startAddress: 0x0800_2001 })), {
      format: 'ihex',
      startAddress: '0x08002001',
      segments: [
        { address: '0x08002000', last: '0x08002001', length: 2 },
        { address: '0x08002004', last: '0x08002004', length: 1 },
      ],
      totalBytes: 3,
      contiguous: { start: '0x08002000', last: '0x08002004', length: 5, fill: '0xFF', sha256: contiguousSha },
    });
  });

  it('summarizes an S-record file with its header', () => {
    const d = describeSrec(writeImage(map, 'srec', { header: 'HDR' }));
    assert.equal(d.header, 'HDR');
    assert.equal(d.startAddress, null);
    assert.equal(d.contiguous?.sha256, contiguousSha);
  });

  it('leaves out the hash of a sparse image spanning more than 16 MiB, and handles an empty file', () => {
    const sparse = memoryMapFromSegments([
      { address: 0x0800_0000, data: Uint8Array.of(1) },
      { address: 0x1fff_f800, data: Uint8Array.of(2) }, // STM32F1 option bytes
    ]);
    assert.equal(describeIntelHex(writeImage(sparse, 'ihex')).contiguous?.sha256, null);
    assert.deepEqual(describeSrec(''), { format: 'srec', startAddress: null, segments: [], totalBytes: 0, contiguous: null });
  });
});
