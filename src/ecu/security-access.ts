/**
 * SecurityAccess (UDS 0x27) as logic, without UDS bytes: ISO 14229-1:2020 §10.4 (2013: §9.4). Refusals
 * are `UdsNegativeError`s (code `UDS_NRC_INVALID_KEY` etc., `wireCode` = NRC), so the UDS server answers
 * `negativeResponseFor(error, 0x27)` = `7F 27 <NRC>` directly.
 *
 * Key rule (ARCHITECTURE §2.4): key = HMAC-SHA256(ecuSecret, seed) truncated to the seed's length
 * (16-byte seeds), compared in constant time. Three wrong keys lock out: the third answers 0x36 and
 * starts a delay (default 10 s) during which every request answers 0x37. When the delay has passed the
 * attempt counter starts again from 0. Counter and lockout end time are persisted (they survive a reset;
 * the lockout end is a time on the injected clock, so the clock must be wall time to span a restart).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../protocol/clock.js';
import { NRC, UdsNegativeError } from '../protocol/uds/nrc.js';
import { memoryPersisted, type Persisted } from './state.js';
import { securityAccessKey } from '../security/access-key.js';

/** The access levels: requestSeed sub-function (odd) and its sendKey (even = seed + 1). */
export const SA_LEVEL = {
  extended: { requestSeed: 0x01, sendKey: 0x02 },
  programming: { requestSeed: 0x11, sendKey: 0x12 },
} as const;

/** What SecurityAccess keeps in non-volatile memory. `lockoutUntil` is a clock time in ms, 0 = none. */
export interface SecurityCounters {
  failedAttempts: number;
  lockoutUntil: number;
}

export const SEED_LENGTH = 16;

/** The key rule (ARCHITECTURE.md §2.4), shared with testers: src/security/access-key.ts. */
export { securityAccessKey as computeKey } from '../security/access-key.js';

export interface SecurityAccessOptions {
  /** The ECU secret the key is computed with. */
  secret: Uint8Array;
  /** Where the counter and lockout live; default memory only. */
  store?: Persisted<SecurityCounters>;
  /** Only `now()` is used; default `systemClock`. */
  clock?: Pick<Clock, 'now'>;
  /** Random bytes for seeds; default `crypto.randomBytes`. */
  rng?: (length: number) => Uint8Array;
  /** Wrong keys allowed before lockout (the last one answers 0x36). Default 3. */
  maxAttempts?: number;
  /** Lockout delay in ms. Default 10 000. */
  lockoutMs?: number;
  /** requestSeed sub-functions this ECU supports. Default 0x01 and 0x11. */
  levels?: readonly number[];
}

/** Refusals are `UdsNegativeError`s: `code` UDS_NRC_<NAME>, `wireCode` the NRC, ready for `7F 27 <NRC>`. */
function refuse(nrc: number, message: string): UdsNegativeError {
  return new UdsNegativeError(nrc, message, { requestSid: 0x27 });
}

/** SecurityAccess state of one ECU: the pending seed, the unlocked level, the persisted attempt counter. */
export class SecurityAccess {
  private readonly secret: Uint8Array;
  private readonly store: Persisted<SecurityCounters>;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly rng: (length: number) => Uint8Array;
  private readonly maxAttempts: number;
  private readonly lockoutMs: number;
  private readonly levels: ReadonlySet<number>;
  private pending: { level: number; seed: Uint8Array } | null = null;
  private unlocked: number | null = null;

  constructor(options: SecurityAccessOptions) {
    this.secret = Uint8Array.from(options.secret);
    this.store = options.store ?? memoryPersisted<SecurityCounters>({ failedAttempts: 0, lockoutUntil: 0 });
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? ((n) => Uint8Array.from(randomBytes(n)));
    this.maxAttempts = options.maxAttempts ?? 3;
    this.lockoutMs = options.lockoutMs ?? 10_000;
    this.levels = new Set(options.levels ?? [SA_LEVEL.extended.requestSeed, SA_LEVEL.programming.requestSeed]);
  }

  /** The unlocked level (its requestSeed sub-function, 0x01 or 0x11), or `null` when locked. */
  get unlockedLevel(): number | null {
    return this.unlocked;
  }

  /** Wrong keys counted since the last success or lockout expiry (persisted). */
  get failedAttempts(): number {
    return this.counters().failedAttempts;
  }

  /** Milliseconds until requests are accepted again, 0 when not locked out. */
  lockoutRemainingMs(): number {
    const { lockoutUntil } = this.counters();
    return lockoutUntil === 0 ? 0 : Math.max(0, lockoutUntil - this.clock.now());
  }

  /**
   * requestSeed (odd sub-function): a fresh random 16-byte seed, or all zeros when that level is already
   * unlocked (ISO 14229-1 §10.4.2). Refuses with NRC 0x12 (unsupported level) or 0x37 (lockout delay).
   */
  requestSeed(subFunction: number): Uint8Array {
    this.checkLevel(subFunction, 1);
    this.checkDelay();
    // ISO 14229-1 §10.4.2: a server already unlocked at this level answers with an all-zero seed.
    if (this.unlocked === subFunction) {
      this.pending = null;
      return new Uint8Array(SEED_LENGTH);
    }
    let seed = this.rng(SEED_LENGTH);
    while (seed.length === SEED_LENGTH && seed.every((b) => b === 0)) seed = this.rng(SEED_LENGTH);
    if (seed.length !== SEED_LENGTH) throw new RangeError(`rng returned ${seed.length} bytes, not ${SEED_LENGTH}`);
    this.pending = { level: subFunction, seed: Uint8Array.from(seed) };
    return Uint8Array.from(seed);
  }

  /**
   * sendKey (even sub-function = requestSeed + 1). Unlocks the level, or refuses with NRC 0x12
   * (unsupported level), 0x37 (lockout delay), 0x24 (no seed for this level), 0x13 (key length),
   * 0x35 (wrong key, counted) or 0x36 (wrong key, counted, limit reached: the lockout starts).
   */
  sendKey(subFunction: number, key: Uint8Array): void {
    this.checkLevel(subFunction, 0);
    const level = subFunction - 1;
    this.checkDelay();
    const pending = this.pending;
    // ISO 14229-1 §10.4.2: sendKey without a preceding requestSeed for that level → 0x24.
    if (pending === null || pending.level !== level) {
      throw refuse(NRC.requestSequenceError, `no seed was requested for level 0x${level.toString(16)}`);
    }
    if (key.length !== pending.seed.length) {
      throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, `key is ${key.length} bytes, expected ${pending.seed.length}`);
    }
    this.pending = null; // a seed answers one key, right or wrong
    const expected = securityAccessKey(this.secret, pending.seed);
    if (timingSafeEqual(expected, key)) {
      this.unlocked = level;
      this.save({ failedAttempts: 0, lockoutUntil: 0 });
      return;
    }
    const failedAttempts = this.counters().failedAttempts + 1;
    if (failedAttempts >= this.maxAttempts) {
      // ISO 14229-1 §10.4.2: attempt limit reached → 0x36 and the delay timer starts.
      this.save({ failedAttempts, lockoutUntil: this.clock.now() + this.lockoutMs });
      throw refuse(NRC.exceedNumberOfAttempts, `wrong key, ${failedAttempts} failed attempts: locked out for ${this.lockoutMs} ms`);
    }
    this.save({ failedAttempts, lockoutUntil: 0 });
    throw refuse(NRC.invalidKey, `wrong key (${failedAttempts} of ${this.maxAttempts} attempts)`);
  }

  /** Relocks (session change or ECU reset, ISO 14229-1 §10.4.1) and forgets any pending seed. */
  lock(): void {
    this.unlocked = null;
    this.pending = null;
  }

  private checkLevel(subFunction: number, parity: 0 | 1): void {
    const level = parity === 1 ? subFunction : subFunction - 1;
    if (!Number.isInteger(subFunction) || subFunction % 2 !== parity || !this.levels.has(level)) {
      throw refuse(NRC.subFunctionNotSupported, `security access sub-function ${String(subFunction)} is not supported`);
    }
  }

  /** ISO 14229-1 §10.4.2: while the delay timer runs every request → 0x37; once it ran out the count restarts. */
  private checkDelay(): void {
    const { lockoutUntil } = this.counters();
    if (lockoutUntil === 0) return;
    const now = this.clock.now();
    if (now < lockoutUntil) {
      throw refuse(NRC.requiredTimeDelayNotExpired, `locked out for another ${Math.ceil(lockoutUntil - now)} ms`);
    }
    this.save({ failedAttempts: 0, lockoutUntil: 0 });
  }

  private counters(): SecurityCounters {
    return this.store.load();
  }

  private save(counters: SecurityCounters): void {
    this.store.save(counters);
  }
}
