/**
 * Counters the manager exposes on GET /api/v1/stats, and the one place refusals are counted and logged.
 * A refusal is counted every time; it is logged once per (vehicle, code) and then at most once per
 * `logIntervalMs` with the number suppressed since, so a flood of forged messages cannot flood the log.
 */
import { isOtaError } from '../protocol/errors.js';
import type { ManagerLog } from './log.js';

export interface ManagerCounters {
  /** Refused inbound messages by stable code (SC_*, PKI_*, OTA_MSG_*, MGR_*). */
  refused: Record<string, number>;
  refusedTotal: number;
  handshakes: { started: number; established: number };
  records: { opened: number; sealed: number };
  helloRequests: number;
  broker: { connected: boolean; connects: number; disconnects: number };
  diag: { sent: number; positive: number; negative: number; timeout: number; error: number; inFlight: number };
  /** The CRL in force (its number), sessions ended because it revoked the vehicle, crl.update messages sent. */
  revocation: { crlNumber: number | null; sessionsEnded: number; crlSent: number };
}

export function newCounters(): ManagerCounters {
  return {
    refused: {},
    refusedTotal: 0,
    handshakes: { started: 0, established: 0 },
    records: { opened: 0, sealed: 0 },
    helloRequests: 0,
    broker: { connected: false, connects: 0, disconnects: 0 },
    diag: { sent: 0, positive: 0, negative: 0, timeout: 0, error: 0, inFlight: 0 },
    revocation: { crlNumber: null, sessionsEnded: 0, crlSent: 0 },
  };
}

/** What was refused: the vehicle and topic leaf it came on. */
export interface RefusalContext {
  vehicleId?: string;
  leaf?: string;
}

const MAX_TRACKED = 10_000;

/** Counts and logs refusals (see file comment). */
export class Refusals {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly counters: ManagerCounters,
    private readonly log: ManagerLog,
    private readonly logIntervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Count `error` (an OtaError, or a code) as a refusal and log it if due. Returns the code. */
  refuse(error: unknown, ctx: RefusalContext): string {
    const code = typeof error === 'string' ? error : isOtaError(error) ? error.code : 'UNEXPECTED';
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
    this.counters.refusedTotal++;
    const key = `${ctx.vehicleId ?? ''}\u0000${code}`;
    const t = this.now();
    const seen = this.lastLogged.get(key);
    if (seen && t - seen.at < this.logIntervalMs) {
      seen.suppressed++;
      return code;
    }
    if (this.lastLogged.size >= MAX_TRACKED) this.lastLogged.clear();
    this.lastLogged.set(key, { at: t, suppressed: 0 });
    const message = typeof error === 'string' ? undefined : error instanceof Error ? error.message : String(error);
    this.log('warn', 'refused', { code, ...ctx, ...(message === undefined ? {} : { message }), ...(seen ? { suppressedSinceLast: seen.suppressed } : {}) });
    return code;
  }
}
