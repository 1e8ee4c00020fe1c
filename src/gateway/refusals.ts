/**
 * Counting refusals (connected-system.md: every refused message is counted by code, logged once without
 * secrets, and changes no state). The first refusal of each code is logged with where it happened and
 * the error's message (channel and decoder messages name fields and states, never key material); later
 * ones are only counted.
 */
import { isOtaError } from '../protocol/errors.js';

/** Where the gateway logs. Messages never contain keys, plaintexts or record bytes. */
export interface GatewayLog {
  info(message: string): void;
  warn(message: string): void;
}

/** A logger that drops everything (the default: a library stays quiet unless asked). */
export const silentLog: GatewayLog = { info: () => undefined, warn: () => undefined };

/** The stable code of any thrown value: an OtaError's code, else `UNEXPECTED`. */
export function codeOf(error: unknown): string {
  return isOtaError(error) ? error.code : 'UNEXPECTED';
}

export class RefusalCounter {
  private readonly counts: Record<string, number> = {};

  constructor(private readonly log: GatewayLog) {}

  /** Counts one refusal of `error` at `where` (e.g. `down/rec`); returns its code. */
  refuse(error: unknown, where: string): string {
    const code = codeOf(error);
    const seen = this.counts[code] ?? 0;
    this.counts[code] = seen + 1;
    if (seen === 0) {
      const detail = error instanceof Error ? `: ${error.message}` : '';
      this.log.warn(`refused ${code} on ${where}${detail} (logged once; further ${code} refusals are only counted)`);
    }
    return code;
  }

  /** A copy of the counts by code. */
  snapshot(): Record<string, number> {
    return { ...this.counts };
  }
}
