// Human-and-machine readable summaries for `ota decode ihex|srec <file>`.
import { createHash } from 'node:crypto';
import { hexAddress } from './errors.js';
import { parseIntelHex } from './ihex.js';
import { DEFAULT_MAX_IMAGE_LENGTH, toContiguous, totalLength } from './memory-map.js';
import type { MemoryMap } from './memory-map.js';
import { parseSrec } from './srec.js';

/** What `ota decode` prints for an image file (addresses as `0x` + 8 hex digits). */
export interface ImageDescription {
  readonly format: 'ihex' | 'srec';
  /** S-record S0 text, when the file has one. */
  readonly header?: string;
  readonly startAddress: string | null;
  /** Each run of bytes: first and last (inclusive) address. */
  readonly segments: readonly { address: string; last: string; length: number }[];
  readonly totalBytes: number;
  /**
   * The image from its first to its last byte, gaps as erased flash (0xFF): what `toContiguous`
   * gives and what a manifest's digest covers. `sha256` is null when the span exceeds 16 MiB.
   */
  readonly contiguous: { start: string; last: string; length: number; fill: '0xFF'; sha256: string | null } | null;
}

function describeMap(map: MemoryMap): Pick<ImageDescription, 'segments' | 'totalBytes' | 'contiguous'> {
  const segments = map.map(({ address, data }) => ({
    address: hexAddress(address),
    last: hexAddress(address + data.length - 1),
    length: data.length,
  }));
  const first = map[0];
  const last = map[map.length - 1];
  if (first === undefined || last === undefined) return { segments, totalBytes: 0, contiguous: null };
  const start = first.address;
  const end = last.address + last.data.length;
  const sha256 =
    end - start > DEFAULT_MAX_IMAGE_LENGTH
      ? null
      : createHash('sha256').update(toContiguous(map, { fill: 0xff }).data).digest('hex');
  return {
    segments,
    totalBytes: totalLength(map),
    contiguous: { start: hexAddress(start), last: hexAddress(end - 1), length: end - start, fill: '0xFF', sha256 },
  };
}

function startOf(startAddress: number | undefined): string | null {
  return startAddress === undefined ? null : hexAddress(startAddress);
}

/** Parse Intel HEX text and summarize it (throws the parser's `ImageFormatError`s). */
export function describeIntelHex(text: string): ImageDescription {
  const { map, startAddress } = parseIntelHex(text);
  return { format: 'ihex', startAddress: startOf(startAddress), ...describeMap(map) };
}

/** Parse S-record text and summarize it, S0 header included (throws the parser's `ImageFormatError`s). */
export function describeSrec(text: string): ImageDescription {
  const { map, header, startAddress } = parseSrec(text);
  return {
    format: 'srec',
    ...(header === undefined ? {} : { header }),
    startAddress: startOf(startAddress),
    ...describeMap(map),
  };
}
