/**
 * Polling with React state: one request at a time, the next one `intervalMs` after the last answer,
 * paused while the tab is hidden, restarted at once when the token changes or `refresh()` is called.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { onTokenChange } from '../auth';

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  /** True until the first answer (or failure). */
  loading: boolean;
  /** When `data` last arrived (ms since epoch). */
  updatedAt: number | undefined;
  refresh: () => void;
}

/**
 * Poll `load` every `intervalMs` (0: load once); `key` changes restart it from empty (e.g. another
 * vehicle), a changed `intervalMs` applies from the next request on.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, key = ''): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean; updatedAt: number | undefined }>({
    data: undefined,
    error: undefined,
    loading: true,
    updatedAt: undefined,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const intervalRef = useRef(intervalMs);
  const kick = useRef<() => void>(() => undefined);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    setState({ data: undefined, error: undefined, loading: true, updatedAt: undefined });

    const run = async () => {
      if (stopped) return;
      if (running) {
        again = true; // a refresh asked for while a request is out: one more right after it
        return;
      }
      clearTimeout(timer);
      running = true;
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ data, error: undefined, loading: false, updatedAt: Date.now() });
      } catch (error) {
        if (!stopped) setState((s) => ({ ...s, error, loading: false }));
      } finally {
        running = false;
        if (again && !stopped) {
          again = false;
          void run();
        } else if (!stopped && intervalRef.current > 0) timer = setTimeout(() => void tick(), intervalRef.current);
      }
    };
    const tick = async () => {
      if (document.visibilityState === 'hidden') {
        timer = setTimeout(() => void tick(), Math.max(intervalRef.current, 1000));
        return;
      }
      await run();
    };
    kick.current = () => void run();
    const onVisible = () => {
      if (document.visibilityState === 'visible') void run();
    };
    document.addEventListener('visibilitychange', onVisible);
    const offToken = onTokenChange(() => void run());
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
      offToken();
    };
  }, [key]);

  // Polling faster now (e.g. a job started): do not wait out the old, longer delay.
  useEffect(() => {
    const before = intervalRef.current;
    intervalRef.current = intervalMs;
    if (intervalMs > 0 && intervalMs < before) kick.current();
  }, [intervalMs]);

  const refresh = useCallback(() => kick.current(), []);
  return { ...state, refresh };
}
