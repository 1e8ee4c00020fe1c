// Firmware image formats: one memory-map model, Intel HEX, Motorola S-records, raw binary, the
// flash models of our targets, and the `readImage`/`writeImage` front door everyone uses.
//
// Decisions, in one place:
// - A MemoryMap is sorted, never overlapping, and adjacent segments are merged, so equal content
//   compares deep-equal whatever records it came in. Overlapping records are refused (FW_OVERLAP),
//   even with equal bytes: a file that writes a cell twice is a broken build.
// - Intel HEX: the 01 EOF record is required and must be last (FW_IHEX_EOF); a data record running
//   past offset 0xFFFF is refused (FW_IHEX_ADDRESS_WRAP); 03 gives startAddress = CS·16 + IP; the
//   writer emits 32-bit form (04/00, 05 when a start address is given).
// - S-records: S0 (first), S5/S6 and S7/S8/S9 (last) are optional, as srec_cat writes them; an
//   S5/S6 count must equal the data records before it (FW_SREC_COUNT).
// - Text parsers accept LF, CRLF and CR, blank lines, lower-case hex and a leading BOM; writers
//   emit upper-case hex with LF line ends.
export { FW_ERROR, ImageFormatError, hexAddress } from './errors.js';
export type { FirmwareErrorCode } from './errors.js';
export {
  ADDRESS_SPACE_END,
  DEFAULT_MAX_IMAGE_LENGTH,
  checkRegion,
  memoryMapFromSegments,
  normalizeMemoryMap,
  toContiguous,
  totalLength,
} from './memory-map.js';
export type { ContiguousOptions, MemoryMap, MemorySegment, Region } from './memory-map.js';
export { fromBinary, toBinary } from './binary.js';
export { IHEX_RECORD, parseIntelHex, writeIntelHex } from './ihex.js';
export type { IntelHexImage, IntelHexWriteOptions } from './ihex.js';
export { SREC_ADDRESS_BYTES, parseSrec, writeSrec } from './srec.js';
export type { SrecImage, SrecWriteOptions } from './srec.js';
export { IMAGE_EXTENSIONS, IMAGE_FORMATS, detectFormat, isImageFormat, readImage, writeImage } from './image.js';
export type { FirmwareImage, ImageFormat, ReadImageOptions, WriteImageOptions } from './image.js';
export { DEFAULT_FLASH_MODEL, FLASH_MODELS, flashModel, isFlashModelName } from './models.js';
export type { FlashModel, FlashModelName } from './models.js';
export { describeIntelHex, describeSrec } from './describe.js';
export type { ImageDescription } from './describe.js';
