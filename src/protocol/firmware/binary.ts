import { FW_ERROR, ImageFormatError } from './errors.js';
import { buildMemoryMap, toContiguous } from './memory-map.js';
import type { ContiguousOptions, MemoryMap } from './memory-map.js';

/**
 * A raw binary image loaded at `base`. A raw file carries no address of its own, so `base` is
 * mandatory (`FW_BASE_REQUIRED`); bytes past 0xFFFFFFFF are refused (`FW_ADDRESS_RANGE`).
 */
export function fromBinary(bytes: Uint8Array, base: number | undefined): MemoryMap {
  if (base === undefined) {
    throw new ImageFormatError(FW_ERROR.BASE_REQUIRED, 'a raw binary image needs a base (load) address');
  }
  return buildMemoryMap([{ address: base, data: bytes }]);
}

/** The map as raw bytes from its first to its last byte (or `start`..`end`), gaps filled with `fill` (0xFF). */
export function toBinary(map: MemoryMap, options: ContiguousOptions = {}): Uint8Array {
  return toContiguous(map, options).data;
}
