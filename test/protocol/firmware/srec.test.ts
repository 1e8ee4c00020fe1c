import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLASH_MODELS,
  FW_ERROR,
  memoryMapFromSegments,
  parseSrec,
  writeSrec,
} from '../../../src/protocol/firmware/index.js';
import { assertImageError, pseudoRandomBytes, srecLine } from './helpers.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// The example of srec_motorola(5) (srecord 1.64): "Hello, World\n" loaded at address 0.
// Checksum = LSB of the ones' complement of the sum of the count, address and data bytes.
const MAN_PAGE_EXAMPLE = [
  // S0: count 06 = 2 address + 3 data + 1 checksum; address 0000; data "HDR" (48 44 52)
  //     06+00+00+48+44+52 = 0xE4 → ~0xE4 = 0x1B
  'S00600004844521B',
  // S1: count 10 = 2 + 13 + 1; address 0000; data "Hello, World\n"; checksum 9D
  'S110000048656C6C6F2C20576F726C640A9D',
  // S5: count 03; "address" 0001 = one S1 record so far; 03+00+01 = 0x04 → ~0x04 = 0xFB
  'S5030001FB',
  // S9: count 03; start address 0000; 03+00+00 = 0x03 → ~0x03 = 0xFC
  'S9030000FC',
].join('\n');

describe('parseSrec', () => {
  describe('the srec_motorola(5) example', () => {
    it('gives the header, the data at 0 and start address 0', () => {
      assert.deepEqual(parseSrec(MAN_PAGE_EXAMPLE), {
        map: [{ address: 0, data: ascii('Hello, World\n') }],
        header: 'HDR',
        startAddress: 0,
      });
    });

    it('is written back byte for byte (S1 width, 16 bytes per line)', () => {
      const { map, header, startAddress } = parseSrec(MAN_PAGE_EXAMPLE);
      assert.equal(writeSrec(map, { header: header ?? '', startAddress: startAddress ?? 0 }), MAN_PAGE_EXAMPLE + '\n');
    });
  });

  it('reads S2 and S3 data with 24- and 32-bit addresses and S8/S7 start addresses', () => {
    const s2 = [srecLine(2, '060800200102'), srecLine(8, '04080201')].join('\n'); // 2 bytes at 0x080020, start 0x080201
    assert.deepEqual(parseSrec(s2), { map: [{ address: 0x08_0020, data: Uint8Array.of(1, 2) }], startAddress: 0x08_0201 });
    const s3 = [srecLine(3, '0608002000AA'), srecLine(7, '0508002101')].join('\r\n');
    assert.deepEqual(parseSrec(s3), { map: [{ address: 0x0800_2000, data: Uint8Array.of(0xaa) }], startAddress: 0x0800_2101 });
  });

  it('accepts a file without S0, count or termination record (no header, no start address)', () => {
    assert.deepEqual(parseSrec(srecLine(1, '04000001')), { map: [{ address: 0, data: Uint8Array.of(1) }] });
  });

  it('accepts an S6 24-bit record count', () => {
    const text = [srecLine(1, '04000001'), srecLine(6, '04000001')].join('\n');
    assert.equal(parseSrec(text).map.length, 1);
  });

  it('merges adjacent records of different widths', () => {
    const text = [srecLine(1, '05FFFE0102'), srecLine(2, '0501000003')].join('\n'); // 0xFFFE..0xFFFF, 0x10000
    assert.deepEqual(parseSrec(text).map, [{ address: 0xfffe, data: Uint8Array.of(1, 2, 3) }]);
  });

  it('decodes the S0 header as UTF-8', () => {
    const text = srecLine(0, '050000C3A9'); // "é"
    assert.equal(parseSrec(text).header, 'é');
  });

  describe('malformed', () => {
    const D1 = srecLine(1, '04000001'); // 1 byte (0x01) at 0
    const D2 = srecLine(1, '04000102'); // 1 byte (0x02) at 1
    const malformed: { name: string; lines: string[]; code: string; line: number }[] = [
      { name: 'a line not starting with S', lines: [D1, 'X1040001' + '02F8'], code: FW_ERROR.SREC_SYNTAX, line: 2 },
      { name: 'reserved S4', lines: [D1, srecLine(4, '03000000')], code: FW_ERROR.SREC_RECORD_TYPE, line: 2 },
      { name: 'type letter', lines: ['SX030000FC'], code: FW_ERROR.SREC_RECORD_TYPE, line: 1 },
      { name: 'a bare S', lines: [D1, 'S'], code: FW_ERROR.SREC_RECORD_TYPE, line: 2 },
      { name: 'no count byte', lines: ['S1'], code: FW_ERROR.SREC_SYNTAX, line: 1 },
      { name: 'odd number of digits', lines: [D1, 'S10400010'], code: FW_ERROR.SREC_SYNTAX, line: 2 },
      { name: 'non-hex digit', lines: ['S1040000Z1FA'], code: FW_ERROR.SREC_SYNTAX, line: 1 },
      { name: 'count larger than the record', lines: [srecLine(1, '0600000102')], code: FW_ERROR.SREC_SYNTAX, line: 1 },
      { name: 'count smaller than address + checksum', lines: [srecLine(3, '04000000')], code: FW_ERROR.SREC_SYNTAX, line: 1 },
      // 04+00+01+02 = 0x07 → right checksum ~0x07 = 0xF8; the line says 0xF7
      { name: 'bad checksum', lines: [D1, 'S104000102F7'], code: FW_ERROR.SREC_CHECKSUM, line: 2 },
      { name: 'S5 count too low', lines: [D1, D2, srecLine(5, '030001')], code: FW_ERROR.SREC_COUNT, line: 3 },
      { name: 'S5 count too high', lines: [D1, srecLine(5, '030002')], code: FW_ERROR.SREC_COUNT, line: 2 },
      { name: 'S6 count mismatch', lines: [srecLine(6, '04000001')], code: FW_ERROR.SREC_COUNT, line: 1 },
      { name: 'S5 with a data field', lines: [D1, srecLine(5, '04000100')], code: FW_ERROR.SREC_SYNTAX, line: 2 },
      { name: 'S9 with a data field', lines: [D1, srecLine(9, '04000000')], code: FW_ERROR.SREC_SYNTAX, line: 2 },
      { name: 'a record after S9', lines: [D1, srecLine(9, '030000'), D2], code: FW_ERROR.SREC_SYNTAX, line: 3 },
      { name: 'S0 after data', lines: [D1, srecLine(0, '030000')], code: FW_ERROR.SREC_SYNTAX, line: 2 },
      { name: 'the same data twice', lines: [D1, '', D1], code: FW_ERROR.OVERLAP, line: 3 },
      {
        name: 'data overlapping across widths',
        lines: [srecLine(3, '0700001000AABB'), srecLine(1, '04100101')],
        code: FW_ERROR.OVERLAP,
        line: 2,
      },
      { name: 'S3 data past 0xFFFFFFFF', lines: [srecLine(3, '07FFFFFFFF0102')], code: FW_ERROR.ADDRESS_RANGE, line: 1 },
    ];
    for (const { name, lines, code, line } of malformed) {
      it(`rejects ${name} with ${code} at line ${line}`, () => {
        assertImageError(() => parseSrec(lines.join('\n')), { code, line });
      });
    }
  });
});

describe('writeSrec', () => {
  const map = memoryMapFromSegments([{ address: 0x0800_2000, data: Uint8Array.of(0xde, 0xad) }]);

  it('picks the smallest width that holds every address: S3 + S7 for STM32 flash', () => {
    assert.equal(
      writeSrec(map, { startAddress: 0x0800_2101 }),
      [
        // count 07 = 4 address + 2 data + 1; 07+08+00+20+00+DE+AD = 0x1BA → ~0xBA = 0x45
        'S30708002000DEAD45',
        'S5030001FB',
        // count 05; 05+08+00+21+01 = 0x2F → ~0x2F = 0xD0
        'S70508002101D0',
        '',
      ].join('\n'),
    );
  });

  it('uses the width asked for (S1/S9, S2/S8) and widens for a start address that needs it', () => {
    const low = memoryMapFromSegments([{ address: 0x1234, data: Uint8Array.of(1) }]);
    assert.match(writeSrec(low), /^S1041234/);
    assert.match(writeSrec(low, { addressBytes: 3, startAddress: 1 }), /^S205001234.*\nS804000001F[0-9A-F]\n$/s);
    assert.match(writeSrec(low, { startAddress: 0x1_0000 }), /^S205001234/);
  });

  it('writes S6 instead of S5 past 65,535 data records', () => {
    const big = memoryMapFromSegments([{ address: 0, data: new Uint8Array(0x1_0000) }]);
    const text = writeSrec(big, { bytesPerLine: 1 });
    assert.match(text, /\nS604010000FA\n$/); // 04+01+00+00 = 0x05 → ~0x05 = 0xFA
    assert.equal(parseSrec(text).map[0]?.data.length, 0x1_0000);
  });

  it('refuses a width too small, an odd width, bytesPerLine out of range and a long header', () => {
    assertImageError(() => writeSrec(map, { addressBytes: 2 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeSrec(map, { addressBytes: 5 as 4 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeSrec(map, { bytesPerLine: 0 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeSrec(map, { bytesPerLine: 251 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeSrec(map, { header: 'x'.repeat(253) }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeSrec(map, { startAddress: -1 }), { code: FW_ERROR.OPTION_RANGE });
  });

  it('writes the largest records the format allows (250 data bytes with S3)', () => {
    const full = memoryMapFromSegments([{ address: 0x0800_0000, data: pseudoRandomBytes(500) }]);
    assert.deepEqual(parseSrec(writeSrec(full, { bytesPerLine: 250 })).map, full);
  });
});

describe('a full 56 KiB application image (stm32f103c8) as S-records', () => {
  const { application } = FLASH_MODELS.stm32f103c8;
  const map = memoryMapFromSegments([
    { address: application.start, data: pseudoRandomBytes(application.end - application.start, 99) },
  ]);

  it('survives write → parse unchanged, header and start address included', () => {
    const text = writeSrec(map, { header: 'app.bin', startAddress: application.start + 0x1d5, bytesPerLine: 32 });
    assert.deepEqual(parseSrec(text), { map, header: 'app.bin', startAddress: application.start + 0x1d5 });
  });
});
