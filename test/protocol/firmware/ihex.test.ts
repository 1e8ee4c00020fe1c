import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import nrfIntelHex from 'nrf-intel-hex';
import {
  FLASH_MODELS,
  FW_ERROR,
  checkRegion,
  memoryMapFromSegments,
  parseIntelHex,
  writeIntelHex,
} from '../../../src/protocol/firmware/index.js';
import { assertImageError, ihexLine, pseudoRandomBytes } from './helpers.js';

type NrfClass = typeof nrfIntelHex.default;
const NrfMemoryMap: NrfClass =
  typeof nrfIntelHex === 'function' ? (nrfIntelHex as unknown as NrfClass) : nrfIntelHex.default;

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// The record examples of Intel's "Hexadecimal Object File Format Specification", rev A (1988),
// assembled into one 32-bit file. Checksum = two's complement of the sum of the other bytes (§2).
const SPEC_FILE = [
  // §3 Extended Linear Address: RECLEN 02, OFFSET 0000, RECTYP 04, ULBA FFFF → base 0xFFFF0000
  //    02+00+00+04+FF+FF = 0x204 → low byte 0x04 → checksum 0x100-0x04 = 0xFC
  ':02000004FFFFFC',
  // §5 Data: RECLEN 0B, OFFSET 0010, RECTYP 00, DATA "address gap" → 0xFFFF0010..0xFFFF001A
  ':0B0010006164647265737320676170A7',
  // §6 Start Linear Address: RECLEN 04, OFFSET 0000, RECTYP 05, EIP 000000CD
  //    04+05+CD = 0xD6 → checksum 0x100-0xD6 = 0x2A
  ':04000005000000CD2A',
  // §8 End of File: RECLEN 00, OFFSET 0000, RECTYP 01 → checksum 0xFF
  ':00000001FF',
].join('\r\n');

describe('parseIntelHex', () => {
  describe('the rev A spec example (04/00/05/01 records)', () => {
    it('places "address gap" at 0xFFFF0010 and keeps the start address 0xCD', () => {
      assert.deepEqual(parseIntelHex(SPEC_FILE), {
        map: [{ address: 0xffff_0010, data: ascii('address gap') }],
        startAddress: 0xcd,
      });
    });

    it('round-trips: parse → write → parse gives the same image', () => {
      const first = parseIntelHex(SPEC_FILE);
      assert.deepEqual(parseIntelHex(writeIntelHex(first.map, { startAddress: first.startAddress ?? 0 })), first);
    });

    it('handles a base at 0x8000_0000 and above, where nrf-intel-hex 1.4.0 produces negative addresses', () => {
      assert.throws(() => NrfMemoryMap.fromHex(SPEC_FILE.replaceAll('\r\n', '\n')), /negative/);
    });
  });

  it('reads 16-bit segment addressing: 02 record (§4) sets base = USBA · 16, 03 record (§7) CS:IP', () => {
    const text = [
      ':020000021200EA', // §4 example: USBA 0x1200 → base 0x12000
      ihexLine('03002000010203'), // RECLEN 03, OFFSET 0020, RECTYP 00, DATA 01 02 03 → 0x12020
      ':0400000300003800C1', // §7 example: CS 0x0000, IP 0x3800 → linear start 0x3800
      ':00000001FF',
    ].join('\n');
    assert.deepEqual(parseIntelHex(text), {
      map: [{ address: 0x12020, data: Uint8Array.of(1, 2, 3) }],
      startAddress: 0x3800,
    });
  });

  it('reads the srec_intel(5) "Hello, World" example (16-bit, no address records)', () => {
    assert.deepEqual(parseIntelHex(':0D00000048656C6C6F2C20576F726C640AA1\n:00000001FF\n'), {
      map: [{ address: 0, data: ascii('Hello, World\n') }],
    });
  });

  it('merges out-of-order adjacent records into one segment', () => {
    const text = [ihexLine('0200020003' + '04'), ihexLine('020000000102'), ':00000001FF'].join('\n');
    assert.deepEqual(parseIntelHex(text).map, [{ address: 0, data: Uint8Array.of(1, 2, 3, 4) }]);
  });

  it('accepts lower-case hex, blank lines and surrounding blanks', () => {
    const text = '\n  :0100000001fe  \n\n:00000001ff\n\n';
    assert.deepEqual(parseIntelHex(text).map, [{ address: 0, data: Uint8Array.of(1) }]);
  });

  it('finds overlaps across 02 and 04 records that name the same address differently', () => {
    const text = [
      ':020000021000EC', // line 1: segment base 0x1000 · 16 = 0x10000
      ihexLine('04000000AABBCCDD'), // line 2: 0x10000..0x10003
      ':020000040001F9', // line 3: linear base 0x0001 << 16 = 0x10000
      ihexLine('01000300EE'), // line 4: 0x10003 — already written by line 2
      ':00000001FF',
    ].join('\n');
    assertImageError(() => parseIntelHex(text), { code: FW_ERROR.OVERLAP, line: 4, address: 0x10003 });
  });

  it('reports an overlap at the later line even when the later record has the lower address', () => {
    const text = [ihexLine('02000400AABB'), ihexLine('08000000' + '00'.repeat(8)), ':00000001FF'].join('\n');
    assertImageError(() => parseIntelHex(text), { code: FW_ERROR.OVERLAP, line: 2, address: 4 });
  });

  describe('malformed', () => {
    const D = ':0100000001FE'; // a good data record (one byte 0x01 at 0)
    const EOF = ':00000001FF';
    const malformed: { name: string; lines: string[]; code: string; line: number }[] = [
      { name: 'no record mark', lines: ['0100000001FE', EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: 'odd number of digits', lines: [D, ':0100010001F', EOF], code: FW_ERROR.IHEX_SYNTAX, line: 2 },
      { name: 'non-hex digit', lines: [':01000000G1FE', EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: 'shorter than 5 bytes', lines: [':00000001', EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: 'RECLEN larger than the data', lines: [D, ihexLine('03000100AABB'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 2 },
      { name: 'RECLEN smaller than the data', lines: [ihexLine('01000000AABB'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      // 01+00+01+00+02 = 0x04 → the right checksum is 0xFC, the line says 0xFF
      { name: 'bad checksum', lines: [D, ':0100010002FF', EOF], code: FW_ERROR.IHEX_CHECKSUM, line: 2 },
      { name: 'record type 06', lines: [D, ihexLine('00000006'), EOF], code: FW_ERROR.IHEX_RECORD_TYPE, line: 2 },
      { name: 'record type FF', lines: [ihexLine('000000FF'), EOF], code: FW_ERROR.IHEX_RECORD_TYPE, line: 1 },
      { name: '04 record with one byte', lines: [ihexLine('01000004' + '08'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: '04 record without data', lines: [':00000004FC', EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: '02 record with an offset', lines: [ihexLine('020010021000'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: '05 record with 2 bytes', lines: [ihexLine('020000050800'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      { name: '03 record with 5 bytes', lines: [ihexLine('050000030000380000'), EOF], code: FW_ERROR.IHEX_SYNTAX, line: 1 },
      {
        name: 'second start record',
        lines: [':04000005000000CD2A', D, ':0400000300003800C1', EOF],
        code: FW_ERROR.IHEX_SYNTAX,
        line: 3,
      },
      { name: 'EOF with data', lines: [D, ihexLine('01000001AA')], code: FW_ERROR.IHEX_SYNTAX, line: 2 },
      { name: 'missing EOF', lines: [D, D.replace('0100000001FE', '0100010001FD')], code: FW_ERROR.IHEX_EOF, line: 3 },
      { name: 'empty file', lines: [''], code: FW_ERROR.IHEX_EOF, line: 1 },
      { name: 'record after EOF', lines: [D, EOF, ihexLine('0100010002')], code: FW_ERROR.IHEX_EOF, line: 3 },
      { name: 'second EOF', lines: [EOF, '', EOF], code: FW_ERROR.IHEX_EOF, line: 3 },
      { name: 'data past offset FFFF', lines: [ihexLine('02FFFF00AABB'), EOF], code: FW_ERROR.IHEX_ADDRESS_WRAP, line: 1 },
      { name: 'same record twice', lines: [D, D, EOF], code: FW_ERROR.OVERLAP, line: 2 },
    ];
    for (const { name, lines, code, line } of malformed) {
      it(`rejects ${name} with ${code} at line ${line}`, () => {
        assertImageError(() => parseIntelHex(lines.join('\n')), { code, line });
      });
    }
  });
});

describe('writeIntelHex', () => {
  it('writes 04 + 00 records, a 05 start record and EOF, upper case, LF, final LF', () => {
    const map = memoryMapFromSegments([{ address: 0x0800_2000, data: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) }]);
    assert.equal(
      writeIntelHex(map, { startAddress: 0x0800_2101 }),
      [
        ':020000040800F2', // ULBA 0x0800
        ':04200000DEADBEEFA4', // 4 bytes at offset 0x2000; 04+20+DE+AD+BE+EF = 0x35C → 0x100-0x5C = 0xA4
        ':0400000508002101CD', // EIP 0x08002101
        ':00000001FF',
        '',
      ].join('\n'),
    );
  });

  it('splits records at bytesPerLine and at 64 KiB boundaries (new 04 record)', () => {
    const map = memoryMapFromSegments([{ address: 0x0800_fffc, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }]);
    const lines = writeIntelHex(map, { bytesPerLine: 2 }).trimEnd().split('\n');
    assert.deepEqual(lines, [
      ':020000040800F2',
      ihexLine('02FFFC000102'),
      ihexLine('02FFFE000304'),
      ':020000040801F1',
      ihexLine('020000000506'),
      ':00000001FF',
    ]);
  });

  it('writes the last byte of the address space, which nrf-intel-hex alone refuses', () => {
    const map = memoryMapFromSegments([{ address: 0xffff_fffe, data: Uint8Array.of(7, 8) }]);
    assert.throws(() => new NrfMemoryMap([[0xffff_fffe, Uint8Array.of(7, 8)]]).asHexString());
    assert.deepEqual(parseIntelHex(writeIntelHex(map)).map, map);
  });

  it('writes an empty map as just the EOF record', () => {
    assert.equal(writeIntelHex([]), ':00000001FF\n');
  });

  it('refuses bytesPerLine outside 1..255 and a start address outside 32 bits with FW_OPTION_RANGE', () => {
    assertImageError(() => writeIntelHex([], { bytesPerLine: 0 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeIntelHex([], { bytesPerLine: 256 }), { code: FW_ERROR.OPTION_RANGE });
    assertImageError(() => writeIntelHex([], { startAddress: 0x1_0000_0000 }), { code: FW_ERROR.OPTION_RANGE });
  });

  it('is read back identically by nrf-intel-hex (below 0x80000000, its working range)', () => {
    const map = memoryMapFromSegments([
      { address: 0x0800_2000, data: pseudoRandomBytes(300) },
      { address: 0x0801_fff0, data: pseudoRandomBytes(40, 7) },
    ]);
    const theirs = NrfMemoryMap.fromHex(writeIntelHex(map, { startAddress: 0x0800_2001 }).trimEnd());
    assert.deepEqual(
      [...theirs].map(([address, data]) => ({ address, data: Uint8Array.from(data) })),
      map.map(({ address, data }) => ({ address, data: Uint8Array.from(data) })),
    );
  });
});

describe('a full 56 KiB application image (stm32f103c8)', () => {
  const { application } = FLASH_MODELS.stm32f103c8;
  const image = pseudoRandomBytes(application.end - application.start);
  const map = memoryMapFromSegments([{ address: application.start, data: image }]);

  it('survives write → parse unchanged and fits the application region', () => {
    const text = writeIntelHex(map, { startAddress: application.start + 0x1d5 });
    assert.equal(text.split('\n').length, 3584 + 4); // 3584 data lines, 04, 05, EOF, final LF
    const parsed = parseIntelHex(text);
    assert.deepEqual(parsed, { map, startAddress: application.start + 0x1d5 });
    checkRegion(parsed.map, application);
  });

  it('is refused for the region when one byte too long', () => {
    const tooLong = memoryMapFromSegments([{ address: application.start, data: new Uint8Array(image.length + 1) }]);
    assertImageError(() => checkRegion(parseIntelHex(writeIntelHex(tooLong)).map, application), {
      code: FW_ERROR.OUT_OF_REGION,
      address: application.end,
    });
  });
});
