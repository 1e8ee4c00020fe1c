// Intel HEX, after Intel's "Hexadecimal Object File Format Specification", rev A (1988).
//
// Parsing is our own line-by-line pass: nrf-intel-hex (1.4.0) reports no line numbers, turns
// extended linear addresses ≥ 0x8000 into negative addresses, accepts 02/04 records without their
// two data bytes, drops start-address records, and refuses blank lines and a second newline after
// EOF. Writing goes through nrf-intel-hex's `asHexString` (all but a byte at 0xFFFFFFFF, see below).
import nrfIntelHex from 'nrf-intel-hex';
import { FW_ERROR, ImageFormatError } from './errors.js';
import { ADDRESS_SPACE_END, buildMemoryMap, normalizeMemoryMap } from './memory-map.js';
import type { MemoryMap, MemorySegment, SourcedSegment } from './memory-map.js';
import { byteSum, decodeHexPairs, encodeHexPairs, isUint32, readBigEndian, recordLines, writeBigEndian } from './records.js';

// nrf-intel-hex is CommonJS (`module.exports = MemoryMap`) while its typings say `export default`,
// so under NodeNext TypeScript types the default import as the namespace; at run time it is the class.
type NrfMemoryMapClass = typeof nrfIntelHex.default;
const NrfMemoryMap: NrfMemoryMapClass =
  typeof nrfIntelHex === 'function' ? (nrfIntelHex as unknown as NrfMemoryMapClass) : nrfIntelHex.default;

/** Record types (RECTYP) of rev A. */
export const IHEX_RECORD = {
  DATA: 0x00,
  END_OF_FILE: 0x01,
  EXTENDED_SEGMENT_ADDRESS: 0x02,
  START_SEGMENT_ADDRESS: 0x03,
  EXTENDED_LINEAR_ADDRESS: 0x04,
  START_LINEAR_ADDRESS: 0x05,
} as const;

/** What an Intel HEX file holds: the memory content and, if a 03/05 record gave one, the start address. */
export interface IntelHexImage {
  readonly map: MemoryMap;
  /** From a 05 record (EIP), or the linear CS·16 + IP of a 03 record. */
  readonly startAddress?: number;
}

interface IhexRecord {
  readonly line: number;
  readonly type: number;
  readonly offset: number;
  readonly data: Uint8Array;
}

function syntaxError(line: number, message: string): ImageFormatError {
  return new ImageFormatError(FW_ERROR.IHEX_SYNTAX, message, { line });
}

function decodeRecord(text: string, line: number): IhexRecord {
  // rev A §2: RECORD MARK ':' RECLEN(1) LOAD OFFSET(2) RECTYP(1) INFO/DATA(RECLEN) CHKSUM(1)
  if (text[0] !== ':') throw syntaxError(line, `record does not start with ':'`);
  const bytes = decodeHexPairs(text, 1);
  if (bytes === undefined) throw syntaxError(line, 'record is not an even number of hex digits');
  if (bytes.length < 5) throw syntaxError(line, `record of ${bytes.length} bytes is shorter than 5`);
  const reclen = bytes[0] as number;
  if (bytes.length !== reclen + 5) {
    throw syntaxError(line, `RECLEN says ${reclen} data bytes, the record has ${bytes.length - 5}`);
  }
  // rev A §2: CHKSUM is the two's complement of the sum of all other bytes, so the record sums to 0.
  if (byteSum(bytes) !== 0) {
    const expected = (0x100 - byteSum(bytes.subarray(0, bytes.length - 1))) & 0xff;
    throw new ImageFormatError(
      FW_ERROR.IHEX_CHECKSUM,
      `checksum 0x${encodeHexPairs(bytes.subarray(-1))}, expected 0x${encodeHexPairs(Uint8Array.of(expected))}`,
      { line },
    );
  }
  const type = bytes[3] as number;
  if (type > IHEX_RECORD.START_LINEAR_ADDRESS) {
    throw new ImageFormatError(FW_ERROR.IHEX_RECORD_TYPE, `unknown record type 0x${encodeHexPairs(Uint8Array.of(type))}`, {
      line,
    });
  }
  return { line, type, offset: readBigEndian(bytes, 1, 2), data: bytes.subarray(4, 4 + reclen) };
}

function expectInfoRecord(record: IhexRecord, length: number, name: string): void {
  // rev A §§3,4,6,7: address and start records carry '0000' as LOAD OFFSET and a fixed RECLEN.
  if (record.data.length !== length) {
    throw syntaxError(record.line, `${name} record needs ${length} data bytes, has ${record.data.length}`);
  }
  if (record.offset !== 0) throw syntaxError(record.line, `${name} record needs load offset 0000`);
}

/**
 * Parse Intel HEX text (record types 00–05, LF/CRLF/CR, blank lines ignored). Refuses with the
 * line number: `FW_IHEX_SYNTAX`, `FW_IHEX_CHECKSUM`, `FW_IHEX_RECORD_TYPE`, `FW_IHEX_EOF` (missing
 * 01 record, or records after it), `FW_IHEX_ADDRESS_WRAP`, `FW_OVERLAP`.
 */
export function parseIntelHex(text: string): IntelHexImage {
  const segments: SourcedSegment[] = [];
  let base = 0; // set by the most recent 02 (USBA · 16) or 04 (ULBA · 65536) record
  let startAddress: number | undefined;
  let startLine = 0;
  let eofLine: number | undefined;
  let lastLine = 0;
  for (const { line, text: recordText } of recordLines(text)) {
    if (eofLine !== undefined) {
      // rev A §8: the End of File record is the last record of the file.
      throw new ImageFormatError(FW_ERROR.IHEX_EOF, `record after the end-of-file record of line ${eofLine}`, { line });
    }
    lastLine = line;
    const record = decodeRecord(recordText, line);
    switch (record.type) {
      case IHEX_RECORD.DATA:
        if (record.offset + record.data.length > 0x1_0000) {
          // rev A §5: past 0xFFFF the offset wraps in 16-bit segment mode but runs on in 32-bit linear
          // mode; which one the author meant is unknowable, so refuse (nrf-intel-hex does the same).
          throw new ImageFormatError(
            FW_ERROR.IHEX_ADDRESS_WRAP,
            `data record at offset 0x${record.offset.toString(16).toUpperCase()} with ${record.data.length} bytes runs past 0xFFFF`,
            { line, address: base + record.offset },
          );
        }
        segments.push({ address: base + record.offset, data: record.data, line });
        break;
      case IHEX_RECORD.END_OF_FILE:
        // Old 8-bit tools put an entry point in the EOF load offset; it is ignored.
        if (record.data.length !== 0) throw syntaxError(line, 'end-of-file record has data bytes');
        eofLine = line;
        break;
      case IHEX_RECORD.EXTENDED_SEGMENT_ADDRESS:
        expectInfoRecord(record, 2, 'extended segment address');
        base = readBigEndian(record.data, 0, 2) * 16;
        break;
      case IHEX_RECORD.EXTENDED_LINEAR_ADDRESS:
        expectInfoRecord(record, 2, 'extended linear address');
        base = readBigEndian(record.data, 0, 2) * 0x1_0000;
        break;
      case IHEX_RECORD.START_SEGMENT_ADDRESS:
      case IHEX_RECORD.START_LINEAR_ADDRESS: {
        const segmentForm = record.type === IHEX_RECORD.START_SEGMENT_ADDRESS;
        expectInfoRecord(record, 4, segmentForm ? 'start segment address' : 'start linear address');
        if (startAddress !== undefined) throw syntaxError(line, `second start address record (first on line ${startLine})`);
        startAddress = segmentForm
          ? readBigEndian(record.data, 0, 2) * 16 + readBigEndian(record.data, 2, 2)
          : readBigEndian(record.data, 0, 4);
        startLine = line;
        break;
      }
    }
  }
  if (eofLine === undefined) {
    throw new ImageFormatError(FW_ERROR.IHEX_EOF, 'no end-of-file record (:00000001FF)', { line: lastLine + 1 });
  }
  const map = buildMemoryMap(segments);
  return startAddress === undefined ? { map } : { map, startAddress };
}

export interface IntelHexWriteOptions {
  /** Written as a 05 (start linear address) record before EOF. */
  readonly startAddress?: number;
  /** Data bytes per 00 record, 1–255 (default 16). */
  readonly bytesPerLine?: number;
}

function ihexRecord(type: number, offset: number, data: Uint8Array): string {
  const bytes = new Uint8Array(5 + data.length);
  bytes.set([data.length, offset >> 8, offset & 0xff, type], 0);
  bytes.set(data, 4);
  bytes[bytes.length - 1] = (0x100 - byteSum(bytes)) & 0xff;
  return ':' + encodeHexPairs(bytes);
}

/**
 * Intel HEX text for `map` (32-bit form: 04 + 00 records, optional 05, EOF), upper-case, LF line
 * ends with a final LF. Options out of range → `FW_OPTION_RANGE`.
 */
export function writeIntelHex(map: MemoryMap, options: IntelHexWriteOptions = {}): string {
  const { startAddress, bytesPerLine = 16 } = options;
  if (!Number.isInteger(bytesPerLine) || bytesPerLine < 1 || bytesPerLine > 255) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `bytesPerLine ${String(bytesPerLine)} is not in 1..255`);
  }
  if (startAddress !== undefined && !isUint32(startAddress)) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `start address ${String(startAddress)} is not a 32-bit address`);
  }
  const segments: MemorySegment[] = [...normalizeMemoryMap(map)];
  // nrf-intel-hex refuses a byte at 0xFFFFFFFF itself (its end check is off by one): write that one here.
  const tail: string[] = [];
  const last = segments[segments.length - 1];
  if (last !== undefined && last.address + last.data.length === ADDRESS_SPACE_END) {
    segments[segments.length - 1] = { address: last.address, data: last.data.subarray(0, -1) };
    tail.push(
      ihexRecord(IHEX_RECORD.EXTENDED_LINEAR_ADDRESS, 0, Uint8Array.of(0xff, 0xff)),
      ihexRecord(IHEX_RECORD.DATA, 0xffff, last.data.subarray(-1)),
    );
  }
  const library = new NrfMemoryMap(segments.map((s): [number, Uint8Array] => [s.address, s.data]));
  const lines = library.asHexString(bytesPerLine).split('\n');
  lines.pop(); // the library's EOF record; ours follows the start record
  lines.push(...tail);
  if (startAddress !== undefined) {
    lines.push(ihexRecord(IHEX_RECORD.START_LINEAR_ADDRESS, 0, writeBigEndian(startAddress, 4)));
  }
  lines.push(ihexRecord(IHEX_RECORD.END_OF_FILE, 0, new Uint8Array(0)));
  return lines.join('\n') + '\n';
}

