import { FW_ERROR, ImageFormatError, hexAddress } from './errors.js';

/** One run of bytes at a 32-bit load address. */
export interface MemorySegment {
  readonly address: number;
  readonly data: Uint8Array;
}

/**
 * A firmware image as memory content: segments sorted by address, never overlapping, never empty,
 * and never adjacent — touching segments are merged into one, so two maps holding the same bytes
 * at the same addresses are deep-equal whatever records or files they came from.
 */
export type MemoryMap = readonly MemorySegment[];

/** An address range, `end` exclusive (0x08002000–0x08010000 is the 56 KiB application region). */
export interface Region {
  readonly start: number;
  readonly end: number;
}

/** One past the last byte of the 32-bit address space all our formats share. */
export const ADDRESS_SPACE_END = 0x1_0000_0000;

/** Default cap on a contiguous image (gaps included): far above any STM32F1 flash, far below RAM trouble. */
export const DEFAULT_MAX_IMAGE_LENGTH = 16 * 1024 * 1024;

/** A segment as a parser found it; `line` lets an overlap be reported where the file has it. */
export interface SourcedSegment extends MemorySegment {
  readonly line?: number;
}

function checkAddressRange(segment: SourcedSegment): void {
  const { address, data, line } = segment;
  if (!Number.isInteger(address) || address < 0 || address + data.length > ADDRESS_SPACE_END) {
    throw new ImageFormatError(
      FW_ERROR.ADDRESS_RANGE,
      `segment at ${String(address)} (${data.length} bytes) is outside the 32-bit address space`,
      line === undefined ? { address } : { address, line },
    );
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function laterLine(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/**
 * Internal builder shared by the parsers: validates, sorts, merges adjacent runs, and refuses
 * overlaps with `FW_OVERLAP` at the later of the two clashing lines. The result owns its bytes.
 */
export function buildMemoryMap(segments: readonly SourcedSegment[]): MemoryMap {
  for (const segment of segments) checkAddressRange(segment);
  const sorted = segments
    .filter((s) => s.data.length > 0)
    .map((s, index) => ({ s, index }))
    .sort((a, b) => a.s.address - b.s.address || a.index - b.index)
    .map(({ s }) => s);

  const out: MemorySegment[] = [];
  let runStart = 0;
  let runEnd = -1;
  let runParts: Uint8Array[] = [];
  let last: SourcedSegment | undefined;
  const flush = (): void => {
    if (runParts.length > 0) out.push({ address: runStart, data: concat(runParts, runEnd - runStart) });
  };
  for (const segment of sorted) {
    if (last !== undefined && segment.address < runEnd) {
      // The previous segment reaches furthest (no overlap so far), so it is the one this one hits.
      const line = laterLine(last.line, segment.line);
      throw new ImageFormatError(
        FW_ERROR.OVERLAP,
        `data at ${hexAddress(segment.address)} overlaps data already placed there` +
          (last.line === undefined ? '' : ` (by line ${last.line})`),
        line === undefined ? { address: segment.address } : { address: segment.address, line },
      );
    }
    if (segment.address !== runEnd) {
      flush();
      runStart = segment.address;
      runEnd = segment.address;
      runParts = [];
    }
    runParts.push(segment.data);
    runEnd += segment.data.length;
    last = segment;
  }
  flush();
  return out;
}

/**
 * Build a `MemoryMap` from segments in any order: validates 32-bit addresses (`FW_ADDRESS_RANGE`),
 * refuses overlaps (`FW_OVERLAP`), drops empty segments, merges adjacent ones; copies the bytes.
 */
export function memoryMapFromSegments(segments: readonly MemorySegment[]): MemoryMap {
  return buildMemoryMap(segments);
}

function isNormalized(map: MemoryMap): boolean {
  let previousEnd = -1;
  for (const { address, data } of map) {
    if (!Number.isInteger(address) || address <= previousEnd || data.length === 0) return false;
    previousEnd = address + data.length;
    if (previousEnd > ADDRESS_SPACE_END) return false;
  }
  return true;
}

/** The map itself when it already has the `MemoryMap` invariants, else its normalized copy. */
export function normalizeMemoryMap(map: MemoryMap): MemoryMap {
  return isNormalized(map) ? map : buildMemoryMap(map);
}

/** Number of bytes the map holds (gaps not counted). */
export function totalLength(map: MemoryMap): number {
  let total = 0;
  for (const segment of map) total += segment.data.length;
  return total;
}

function checkRegionBounds(region: Region, what: string): void {
  const { start, end } = region;
  const ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= ADDRESS_SPACE_END;
  if (!ok(start) || !ok(end) || end < start) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `${what} ${String(start)}..${String(end)} is not a 32-bit range`);
  }
}

/** Throw `FW_OUT_OF_REGION` (with the first offending byte's `address`) unless every byte is in `region`. */
export function checkRegion(map: MemoryMap, region: Region): void {
  checkRegionBounds(region, 'region');
  for (const { address, data } of map) {
    const end = address + data.length;
    if (address >= region.start && end <= region.end) continue;
    const offending = address < region.start ? address : Math.max(address, region.end);
    throw new ImageFormatError(
      FW_ERROR.OUT_OF_REGION,
      `byte at ${hexAddress(offending)} is outside the region ${hexAddress(region.start)}–${hexAddress(region.end - 1)}`,
      { address: offending },
    );
  }
}

export interface ContiguousOptions {
  /** Value for bytes in gaps (erased flash reads 0xFF). */
  readonly fill?: number;
  /** First address of the block; defaults to the map's first byte. */
  readonly start?: number;
  /** One past the last address; defaults to one past the map's last byte. */
  readonly end?: number;
  /** Refuse (`FW_IMAGE_TOO_LARGE`) a block longer than this. */
  readonly maxLength?: number;
}

/**
 * One block covering the map from `start` to `end` (exclusive), gaps filled with `fill`.
 * Data outside `start`..`end` is refused with `FW_OUT_OF_REGION`, never cut off silently.
 */
export function toContiguous(map: MemoryMap, options: ContiguousOptions = {}): { address: number; data: Uint8Array } {
  const { fill = 0xff, maxLength = DEFAULT_MAX_IMAGE_LENGTH } = options;
  if (!Number.isInteger(fill) || fill < 0 || fill > 0xff) {
    throw new ImageFormatError(FW_ERROR.OPTION_RANGE, `fill ${String(fill)} is not a byte value`);
  }
  const normalized = normalizeMemoryMap(map);
  const first = normalized[0];
  const lastSegment = normalized[normalized.length - 1];
  const start = options.start ?? first?.address ?? 0;
  const end = options.end ?? (lastSegment === undefined ? start : lastSegment.address + lastSegment.data.length);
  checkRegionBounds({ start, end }, 'block');
  checkRegion(normalized, { start, end });
  if (end - start > maxLength) {
    throw new ImageFormatError(
      FW_ERROR.IMAGE_TOO_LARGE,
      `contiguous image ${hexAddress(start)}–${hexAddress(end)} is ${end - start} bytes, limit ${maxLength}`,
      { address: start },
    );
  }
  const data = new Uint8Array(end - start).fill(fill);
  for (const segment of normalized) data.set(segment.data, segment.address - start);
  return { address: start, data };
}
