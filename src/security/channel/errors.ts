import { DecodeError, OtaError } from '../../protocol/errors.js';
import type { ScCode } from './constants.js';

/** A refusal by the secure channel that is not about malformed bytes (bad tag, replay, wrong state…). */
export class ChannelError extends OtaError {}

/** Malformed, truncated or oversized channel bytes. */
export function decodeFail(code: ScCode, message: string): DecodeError {
  return new DecodeError(code, message);
}

/** Any other channel refusal. */
export function refuse(code: ScCode, message: string, cause?: unknown): ChannelError {
  return new ChannelError(code, message, cause === undefined ? {} : { cause });
}
