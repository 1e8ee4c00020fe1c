import { DecodeError } from '../errors.js';

/**
 * The stable codes of the firmware-image layer. Parsers report where they refused (`line`, 1-based)
 * and, for address problems, which byte (`address`).
 */
export const FW_ERROR = {
  /** Two records (or segments) put bytes at the same address. */
  OVERLAP: 'FW_OVERLAP',
  /** A byte lies outside the target's flash region. */
  OUT_OF_REGION: 'FW_OUT_OF_REGION',
  /** A byte would lie beyond the 32-bit address space, or an address is not an unsigned integer. */
  ADDRESS_RANGE: 'FW_ADDRESS_RANGE',
  /** A raw binary image was given without its load address. */
  BASE_REQUIRED: 'FW_BASE_REQUIRED',
  /** The contiguous image would exceed the configured size limit. */
  IMAGE_TOO_LARGE: 'FW_IMAGE_TOO_LARGE',
  /** An option (bytes per line, address width, fill, start address) is out of range. */
  OPTION_RANGE: 'FW_OPTION_RANGE',
  /** Unknown image format name, or content of the wrong kind for the format. */
  FORMAT: 'FW_FORMAT',
  /** Unknown flash model name. */
  UNKNOWN_MODEL: 'FW_UNKNOWN_MODEL',
  IHEX_SYNTAX: 'FW_IHEX_SYNTAX',
  IHEX_CHECKSUM: 'FW_IHEX_CHECKSUM',
  IHEX_RECORD_TYPE: 'FW_IHEX_RECORD_TYPE',
  /** Missing end-of-file record, or records after it. */
  IHEX_EOF: 'FW_IHEX_EOF',
  /** A data record runs past offset 0xFFFF (its meaning would depend on the addressing mode). */
  IHEX_ADDRESS_WRAP: 'FW_IHEX_ADDRESS_WRAP',
  SREC_SYNTAX: 'FW_SREC_SYNTAX',
  SREC_CHECKSUM: 'FW_SREC_CHECKSUM',
  SREC_RECORD_TYPE: 'FW_SREC_RECORD_TYPE',
  SREC_COUNT: 'FW_SREC_COUNT',
} as const;

export type FirmwareErrorCode = (typeof FW_ERROR)[keyof typeof FW_ERROR];

/** A refusal of the firmware-image layer; `line` (1-based) and `address` say where, when known. */
export class ImageFormatError extends DecodeError {
  readonly line: number | undefined;
  readonly address: number | undefined;

  constructor(
    code: FirmwareErrorCode,
    message: string,
    where: { line?: number; address?: number; cause?: unknown } = {},
  ) {
    const prefix = where.line === undefined ? '' : `line ${where.line}: `;
    super(code, prefix + message, where.cause === undefined ? {} : { cause: where.cause });
    this.line = where.line;
    this.address = where.address;
  }
}

/** `0x08002000` style, eight digits: firmware addresses are 32-bit. */
export function hexAddress(value: number): string {
  return '0x' + value.toString(16).toUpperCase().padStart(8, '0');
}
