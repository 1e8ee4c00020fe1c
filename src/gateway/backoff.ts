/** Exponential reconnect backoff with jitter (pure: the random source is injected). */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Ceiling of any delay. */
  maxMs: number;
  /** Growth per failed attempt (≥ 1). */
  factor: number;
  /** Spread as a fraction of the delay: the delay is drawn uniformly from ±jitter around it (0…1). */
  jitter: number;
}

/** Checks a policy; throws RangeError for values that would make the loop spin or never retry. */
export function checkBackoff(policy: BackoffPolicy): BackoffPolicy {
  const { initialMs, maxMs, factor, jitter } = policy;
  if (!(Number.isFinite(initialMs) && initialMs > 0)) throw new RangeError('backoff initialMs must be > 0');
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) throw new RangeError('backoff maxMs must be ≥ initialMs');
  if (!(Number.isFinite(factor) && factor >= 1)) throw new RangeError('backoff factor must be ≥ 1');
  if (!(Number.isFinite(jitter) && jitter >= 0 && jitter <= 1)) throw new RangeError('backoff jitter must be 0…1');
  return policy;
}

/**
 * Delay before retry number `attempt` (0 = the first retry): initial · factor^attempt capped at max,
 * then spread by ±jitter with `random()` in [0, 1). Never below 1 ms, never above max.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, Math.min(attempt, 64)));
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.min(policy.maxMs, Math.round(base + spread)));
}
