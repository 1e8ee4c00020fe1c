// The one front door to firmware images: read any of our formats into a MemoryMap, write one out.
import { fromBinary, toBinary } from './binary.js';
import { FW_ERROR, ImageFormatError } from './errors.js';
import { parseIntelHex, writeIntelHex } from './ihex.js';
import { checkRegion } from './memory-map.js';
import type { MemoryMap, Region } from './memory-map.js';
import { parseSrec, writeSrec } from './srec.js';

/** The image formats we read and write. */
export const IMAGE_FORMATS = ['ihex', 'srec', 'bin'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** File extensions (lower case, with the dot) that name a format outright. */
export const IMAGE_EXTENSIONS = {
  '.hex': 'ihex',
  '.ihex': 'ihex',
  '.ihx': 'ihex',
  '.s19': 'srec',
  '.s28': 'srec',
  '.s37': 'srec',
  '.srec': 'srec',
  '.mot': 'srec',
  '.bin': 'bin',
} as const satisfies Readonly<Record<string, ImageFormat>>;

export interface ReadImageOptions {
  /** Load address of a raw binary (required for 'bin', ignored otherwise). */
  readonly base?: number;
  /** Refuse (`FW_OUT_OF_REGION`) any byte outside this range, e.g. a model's application region. */
  readonly region?: Region;
}

/** A parsed image: its memory content and, where the format carries one, the start address. */
export interface FirmwareImage {
  readonly map: MemoryMap;
  readonly startAddress?: number;
}

/** True when `value` names one of our formats (for CLI and HTTP input). */
export function isImageFormat(value: string): value is ImageFormat {
  return (IMAGE_FORMATS as readonly string[]).includes(value);
}

function asText(content: Uint8Array | string): string {
  if (typeof content === 'string') return content;
  // Drop a UTF-8 BOM (some Windows tools write one); then Latin-1, one char per byte, so a stray
  // non-ASCII byte becomes a syntax error on its own line rather than a decoding surprise.
  const bom = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? 3 : 0;
  return Buffer.from(content.buffer, content.byteOffset + bom, content.length - bom).toString('latin1');
}

/**
 * Parse `content` as `format` and, if `options.region` is given, check every byte lies in it.
 * Errors: the format's own codes, `FW_BASE_REQUIRED`, `FW_OUT_OF_REGION`, `FW_FORMAT`.
 */
export function readImage(
  content: Uint8Array | string,
  format: ImageFormat,
  options: ReadImageOptions = {},
): FirmwareImage {
  let image: FirmwareImage;
  switch (format) {
    case 'ihex':
      image = parseIntelHex(asText(content));
      break;
    case 'srec': {
      const { map, startAddress } = parseSrec(asText(content));
      image = startAddress === undefined ? { map } : { map, startAddress };
      break;
    }
    case 'bin':
      if (typeof content === 'string') {
        throw new ImageFormatError(FW_ERROR.FORMAT, 'a raw binary image must be given as bytes, not text');
      }
      image = { map: fromBinary(content, options.base) };
      break;
    default:
      throw new ImageFormatError(FW_ERROR.FORMAT, `unknown image format '${String(format)}'`);
  }
  if (options.region !== undefined) checkRegion(image.map, options.region);
  return image;
}

const IHEX_FIRST_LINE = /^:[0-9A-Fa-f]{10}/;
const SREC_FIRST_LINE = /^S[0-9][0-9A-Fa-f]{6}/;

/**
 * The format of a file: by extension (.hex/.ihex/.ihx, .s19/.s28/.s37/.srec/.mot, .bin), else by
 * its first non-blank line (':' record → ihex, 'S0'..'S9' record → srec), else 'bin'.
 */
export function detectFormat(fileName: string, content: Uint8Array): ImageFormat {
  const dot = fileName.lastIndexOf('.');
  const extension = dot < 0 ? '' : fileName.slice(dot).toLowerCase();
  if (Object.hasOwn(IMAGE_EXTENSIONS, extension)) {
    return IMAGE_EXTENSIONS[extension as keyof typeof IMAGE_EXTENSIONS];
  }
  const head = asText(content.subarray(0, 256)).replace(/^[\s]+/, '');
  if (IHEX_FIRST_LINE.test(head)) return 'ihex';
  if (SREC_FIRST_LINE.test(head)) return 'srec';
  return 'bin';
}

/** Options for `writeImage`; each format reads the ones that apply to it. */
export interface WriteImageOptions {
  readonly startAddress?: number;
  readonly bytesPerLine?: number;
  /** S-record S0 header. */
  readonly header?: string;
  /** S-record data address width. */
  readonly addressBytes?: 2 | 3 | 4;
  /** Gap fill for 'bin' (default 0xFF). */
  readonly fill?: number;
}

/** Write `map` as `format`: text for 'ihex'/'srec', bytes (first to last byte, gaps filled) for 'bin'. */
export function writeImage(map: MemoryMap, format: 'ihex' | 'srec', options?: WriteImageOptions): string;
export function writeImage(map: MemoryMap, format: 'bin', options?: WriteImageOptions): Uint8Array;
export function writeImage(map: MemoryMap, format: ImageFormat, options?: WriteImageOptions): string | Uint8Array;
export function writeImage(map: MemoryMap, format: ImageFormat, options: WriteImageOptions = {}): string | Uint8Array {
  switch (format) {
    case 'ihex':
      return writeIntelHex(map, options);
    case 'srec':
      return writeSrec(map, options);
    case 'bin':
      return toBinary(map, options.fill === undefined ? {} : { fill: options.fill });
    default:
      throw new ImageFormatError(FW_ERROR.FORMAT, `unknown image format '${String(format)}'`);
  }
}
