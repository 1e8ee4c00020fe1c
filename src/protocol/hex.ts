import { DecodeError } from './errors.js';

/**
 * Parse hex text as a diagnostic engineer pastes it from a trace: `22 F1 90`, `22F190`,
 * `0x22 0xF1 0x90`, `22-F1-90` or `22:f1:90`. Throws `DecodeError('HEX_INVALID')` otherwise.
 */
export function parseHex(text: string): Uint8Array {
  const cleaned = text
    .trim()
    .replace(/0x/gi, '')
    .replace(/[\s,:-]+/g, '');
  if (cleaned.length % 2 !== 0) {
    throw new DecodeError('HEX_INVALID', `hex text has an odd number of digits (${cleaned.length})`);
  }
  if (!/^[0-9a-fA-F]*$/.test(cleaned)) {
    const bad = /[^0-9a-fA-F]/.exec(cleaned)?.[0] ?? '?';
    throw new DecodeError('HEX_INVALID', `hex text contains a non-hex character '${bad}'`);
  }
  return Uint8Array.from(Buffer.from(cleaned, 'hex'));
}

/** Bytes as spaced upper-case hex, e.g. `62 F1 90`. */
export function toHex(bytes: Uint8Array, separator = ' '): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) out += separator;
    out += (bytes[i] as number).toString(16).padStart(2, '0').toUpperCase();
  }
  return out;
}

/** `0x0F` style for one value, padded to `width` hex digits. */
export function hexNum(value: number, width = 2): string {
  return '0x' + value.toString(16).toUpperCase().padStart(width, '0');
}
