// Motorola S-records, after srec_motorola(5) (srecord 1.64) and Motorola's "S-record output format"
// (M68000 family reference). Hand-written: there is no maintained JavaScript library for them.
import { FW_ERROR, ImageFormatError } from './errors.js';
import { buildMemoryMap, normalizeMemoryMap } from './memory-map.js';
import type { MemoryMap, SourcedSegment } from './memory-map.js';
import { byteSum, decodeHexPairs, encodeHexPairs, isUint32, readBigEndian, recordLines, writeBigEndian } from './records.js';

/** Address-field width in bytes of each record type; S4 is reserved and has none. */
export const SREC_ADDRESS_BYTES = { 0: 2, 1: 2, 2: 3, 3: 4, 5: 2, 6: 3, 7: 4, 8: 3, 9: 2 } as const;

type SrecType = keyof typeof SREC_ADDRESS_BYTES;

/** What an S-record file holds: the memory content, the S0 header text, the S7/S8/S9 start address. */
export interface SrecImage {
  readonly map: MemoryMap;
  /** The S0 data field as UTF-8 text (commonly "HDR" or a file name). */
  readonly header?: string;
  /** The address field of the S7/S8/S9 termination record (present whenever that record is). */
  readonly startAddress?: number;
}

interface SrecRecord {
  readonly line: number;
  readonly type: SrecType;
  readonly address: number;
  readonly data: Uint8Array;
}

function syntaxError(line: number, message: string): ImageFormatError {
  return new ImageFormatError(FW_ERROR.SREC_SYNTAX, message, { line });
}

function recordType(text: string, line: number): SrecType {
  if (text[0] !== 'S') throw syntaxError(line, `record does not start with 'S'`);
  const digit = text.charCodeAt(1) - 0x30;
  if (!(digit in SREC_ADDRESS_BYTES)) {
    // srec_motorola(5): the types are S0, S1, S2, S3, S5, S6, S7, S8 and S9; S4 is reserved.
    throw new ImageFormatError(FW_ERROR.SREC_RECORD_TYPE, `unknown record type 'S${text[1] ?? ''}'`, { line });
  }
  return digit as SrecType;
}

function decodeRecord(text: string, line: number): SrecRecord {
  const type = recordType(text, line);
  const bytes = decodeHexPairs(text, 2);
  if (bytes === undefined) throw syntaxError(line, 'record is not an even number of hex digits');
  // srec_motorola(5): the record length counts the address, data and checksum bytes.
  const count = bytes[0];
  if (count === undefined || bytes.length !== count + 1) {
    throw syntaxError(line, `record length says ${String(count)} bytes, the record has ${Math.max(0, bytes.length - 1)}`);
  }
  const addressBytes = SREC_ADDRESS_BYTES[type];
  if (count < addressBytes + 1) throw syntaxError(line, `S${type} record needs at least ${addressBytes + 1} bytes`);
  // srec_motorola(5): checksum = LSB of the ones' complement of the sum of length, address and data.
  const expected = ~byteSum(bytes.subarray(0, -1)) & 0xff;
  if (bytes[count] !== expected) {
    throw new ImageFormatError(
      FW_ERROR.SREC_CHECKSUM,
      `checksum 0x${encodeHexPairs(bytes.subarray(-1))}, expected 0x${encodeHexPairs(Uint8Array.of(expected))}`,
      { line },
    );
  }
  return {
    line,
    type,
    address: readBigEndian(bytes, 1, addressBytes),
    data: bytes.subarray(1 + addressBytes, count),
  };
}

function expectNoData(record: SrecRecord): void {
  // srec_motorola(5): S5/S6 and S7/S8/S9 have "no data field".
  if (record.data.length !== 0) throw syntaxError(record.line, `S${record.type} record has a data field`);
}

/**
 * Parse S-record text (S0 header first if present; S1/S2/S3 data; optional S5/S6 count; optional
 * S7/S8/S9 termination, which must be last). Refuses with the line number: `FW_SREC_SYNTAX`,
 * `FW_SREC_CHECKSUM`, `FW_SREC_RECORD_TYPE`, `FW_SREC_COUNT`, `FW_OVERLAP`, `FW_ADDRESS_RANGE`.
 */
export function parseSrec(text: string): SrecImage {
  const segments: SourcedSegment[] = [];
  let header: string | undefined;
  let startAddress: number | undefined;
  let dataRecords = 0;
  let terminationLine: number | undefined;
  let first = true;
  for (const { line, text: recordText } of recordLines(text)) {
    if (terminationLine !== undefined) {
      throw syntaxError(line, `record after the termination record of line ${terminationLine}`);
    }
    const record = decodeRecord(recordText, line);
    switch (record.type) {
      case 0:
        if (!first) throw syntaxError(line, 'S0 header record is not the first record');
        header = new TextDecoder().decode(record.data);
        break;
      case 1:
      case 2:
      case 3:
        dataRecords++;
        segments.push({ address: record.address, data: record.data, line });
        break;
      case 5:
      case 6:
        expectNoData(record);
        // srec_motorola(5): the count of S1/S2/S3 records; with several S5s we count from the file start.
        if (record.address !== dataRecords) {
          throw new ImageFormatError(
            FW_ERROR.SREC_COUNT,
            `S${record.type} says ${record.address} data records, the file has ${dataRecords}`,
            { line },
          );
        }
        break;
      case 7:
      case 8:
      case 9:
        expectNoData(record);
        startAddress = record.address;
        terminationLine = line;
        break;
    }
    first = false;
  }
  const map = buildMemoryMap(segments);
  return {
    map,
    ...(header === undefined ? {} : { header }),
    ...(startAddress === undefined ? {} : { startAddress }),
  };
}

export interface SrecWriteOptions {
  /** Written as the S0 data field (UTF-8, at most 252 bytes); no S0 record when absent. */
  readonly header?: string;
  /** Written as the S7/S8/S9 termination record; none when absent (as srec_cat does). */
  readonly startAddress?: number;
  /** Address width of the data records (S1/S2/S3); default the smallest that fits every address. */
  readonly addressBytes?: 2 | 3 | 4;
  /** Data bytes per record (default 16; at most 254 minus the address width). */
  readonly bytesPerLine?: number;
}

function srecRecord(type: SrecType, address: number, data: Uint8Array): string {
  const addressBytes = SREC_ADDRESS_BYTES[type];
  const bytes = new Uint8Array(addressBytes + data.length + 2);
  bytes[0] = addressBytes + data.length + 1;
  bytes.set(writeBigEndian(address, addressBytes), 1);
  bytes.set(data, 1 + addressBytes);
  bytes[bytes.length - 1] = ~byteSum(bytes) & 0xff;
  return 'S' + String(type) + encodeHexPairs(bytes);
}

function widthFor(value: number): 2 | 3 | 4 {
  if (value <= 0xffff) return 2;
  if (value <= 0xff_ffff) return 3;
  return 4;
}

/**
 * S-record text for `map` as srec_cat reads it: optional S0, S1/S2/S3 data, S5 (or S6) count,
 * optional S7/S8/S9; upper-case hex, LF line ends with a final LF. Bad options → `FW_OPTION_RANGE`.
 */
export function writeSrec(map: MemoryMap, options: SrecWriteOptions = {}): string {
  const { header, startAddress, bytesPerLine = 16 } = options;
  const normalized = normalizeMemoryMap(map);
  if (startAddress !== undefined && !isUint32(startAddress)) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `start address ${String(startAddress)} is not a 32-bit address`);
  }
  const last = normalized[normalized.length - 1];
  const highest = Math.max(last === undefined ? 0 : last.address + last.data.length - 1, startAddress ?? 0);
  const needed = widthFor(highest);
  const width = options.addressBytes ?? needed;
  if (![2, 3, 4].includes(width) || width < needed) {
    throw new ImageFormatError(
      FW_ERROR.OPTION_RANGE,
      `address width ${String(width)} cannot hold address 0x${highest.toString(16).toUpperCase()}`,
    );
  }
  const maxPerLine = 254 - width;
  if (!Number.isInteger(bytesPerLine) || bytesPerLine < 1 || bytesPerLine > maxPerLine) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `bytesPerLine ${String(bytesPerLine)} is not in 1..${maxPerLine}`);
  }
  const lines: string[] = [];
  if (header !== undefined) {
    const headerBytes = new TextEncoder().encode(header);
    if (headerBytes.length > 252) {
      throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `header of ${headerBytes.length} bytes exceeds 252`);
    }
    lines.push(srecRecord(0, 0, headerBytes));
  }
  const dataType = (width - 1) as 1 | 2 | 3; // S1, S2, S3 carry 2, 3, 4 address bytes
  let dataRecords = 0;
  for (const { address, data } of normalized) {
    for (let offset = 0; offset < data.length; offset += bytesPerLine) {
      lines.push(srecRecord(dataType, address + offset, data.subarray(offset, offset + bytesPerLine)));
      dataRecords++;
    }
  }
  if (dataRecords <= 0xffff) lines.push(srecRecord(5, dataRecords, new Uint8Array(0)));
  else if (dataRecords <= 0xff_ffff) lines.push(srecRecord(6, dataRecords, new Uint8Array(0)));
  if (startAddress !== undefined) {
    const terminationType = (11 - width) as 7 | 8 | 9; // S7 ends S3 blocks, S8 S2, S9 S1
    lines.push(srecRecord(terminationType, startAddress, new Uint8Array(0)));
  }
  return lines.join('\n') + '\n';
}
