/**
 * Timers and pending promises of one owner (an ISO-TP transport), so closing it stops every timer
 * and settles every pending promise at once.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { OtaError } from '../errors.js';

export class TimerScope {
  private readonly clock: Clock;
  private readonly timers = new Set<TimerHandle>();
  private readonly cancels = new Set<(error: OtaError) => void>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Runs `fn` after `ms` on the clock unless stopped or the scope closes first. */
  start(ms: number, fn: () => void): TimerHandle {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  stop(handle: TimerHandle): void {
    this.timers.delete(handle);
    this.clock.clearTimeout(handle);
  }

  /** A promise that `close(error)` rejects while it is pending. */
  cancellable<T>(executor: (resolve: (value: T) => void, reject: (error: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = (error: OtaError): void => reject(error);
      this.cancels.add(cancel);
      executor(
        (value) => {
          this.cancels.delete(cancel);
          resolve(value);
        },
        (error) => {
          this.cancels.delete(cancel);
          reject(error);
        },
      );
    });
  }

  /** Resolves after `ms` on the clock. */
  sleep(ms: number): Promise<void> {
    return this.cancellable<void>((resolve) => this.start(ms, resolve));
  }

  /** Settles `promise`, or rejects with `onTimeout()` if it takes longer than `ms`. */
  withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => OtaError, onError: (e: unknown) => unknown): Promise<T> {
    return this.cancellable<T>((resolve, reject) => {
      const handle = this.start(ms, () => reject(onTimeout()));
      promise.then(
        (value) => {
          this.stop(handle);
          resolve(value);
        },
        (e: unknown) => {
          this.stop(handle);
          reject(onError(e));
        },
      );
    });
  }

  /** Stops every timer and rejects every pending promise with `error`. */
  close(error: OtaError): void {
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    const cancels = [...this.cancels];
    this.cancels.clear();
    for (const cancel of cancels) cancel(error);
  }
}
