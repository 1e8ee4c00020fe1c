/**
 * The time port. Everything that waits (ISO-TP N_As/N_Bs/N_Cr and STmin, the virtual CAN bus timing
 * model, UDS P2/P2*, flash timing) takes a `Clock` so tests can run on `FakeClock` deterministically
 * and fast, and the same code runs on `systemClock` in production.
 */

/** Opaque handle returned by `Clock.setTimeout`. */
export type TimerHandle = object | number;

/** Current time and one-shot timers. Times are milliseconds and may be fractional (µs resolution). */
export interface Clock {
  /** Milliseconds since the Unix epoch (the fake clock starts wherever it is told to). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds (fractional allowed; the real clock rounds up to 1 ms). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: epoch milliseconds with sub-millisecond resolution (`performance.timeOrigin +
 * performance.now()`, monotonic within the process) and Node's timers. Sub-ms matters: the CAN bus
 * timing model keeps back-to-back frames on its timeline only if reactions measure under a bit time.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** Resolves after every queued microtask (promise continuation) has run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A deterministic virtual clock for tests and simulations: time only moves when told to. Timers fire
 * in due-time order, equal due times in the order they were set.
 */
export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startMs = 0) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.timers.set(id, { id, due: this.time + delay, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Number of timers that have not fired or been cleared. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, or `undefined` when none is pending. */
  nextDue(): number | undefined {
    return this.earliest()?.due;
  }

  /**
   * Moves time forward by `ms`, firing due timers synchronously (timers they set fire too when due
   * inside the window). Promise continuations run only after this returns: use `advanceAsync` for
   * code that awaits between timers.
   */
  advance(ms: number): void {
    const target = this.time + Math.max(0, ms);
    for (let t = this.earliest(); t !== undefined && t.due <= target; t = this.earliest()) {
      this.fire(t);
    }
    this.time = target;
  }

  /**
   * Moves time forward by `ms` like `advance`, but lets all pending promise continuations run before
   * and after each timer, so async state machines (await send → set next timer) behave as in real time.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.time + Math.max(0, ms);
    await drainMicrotasks();
    for (let t = this.earliest(); t !== undefined && t.due <= target; t = this.earliest()) {
      this.fire(t);
      await drainMicrotasks();
    }
    this.time = target;
    await drainMicrotasks();
  }

  /**
   * Fires timers (draining promise continuations in between) until none is pending or `maxMs` of
   * virtual time has passed; returns the virtual time that elapsed.
   */
  async runAll(maxMs = 3_600_000): Promise<number> {
    const start = this.time;
    await drainMicrotasks();
    for (let t = this.earliest(); t !== undefined && t.due <= start + maxMs; t = this.earliest()) {
      this.fire(t);
      await drainMicrotasks();
    }
    return this.time - start;
  }

  private fire(t: FakeTimer): void {
    this.timers.delete(t.id);
    if (t.due > this.time) this.time = t.due;
    t.fn();
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers.values()) {
      if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }
}
