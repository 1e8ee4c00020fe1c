/**
 * Benchmark harness. Every figure is printed beside a baseline measured in the same run, as a ratio,
 * because this machine is shared and noisy: absolute numbers drift, ratios within one run do not.
 */

export interface Figure {
  /** What was measured, e.g. `UDS TransferData encode+decode (4 KiB)`. */
  name: string;
  value: number;
  unit: string;
  /** The baseline this figure is compared with, measured in the same run. */
  baseline?: { name: string; value: number; unit: string };
  /** value / baseline.value, or baseline.value / value when `lowerIsBetter`. */
  ratio?: number;
  /** Optional target, e.g. `>= 0.8`. Printed, never asserted. */
  target?: string;
}

export interface BenchSection {
  title: string;
  run(): Promise<Figure[]>;
}

/**
 * Runs `fn` repeatedly for about `ms` milliseconds (after a short warm-up) and returns operations per
 * second. `fn` may do `batch` operations per call to keep timer overhead out of the figure.
 */
export function opsPerSecond(fn: () => void, ms = 1000, batch = 1): number {
  const warmEnd = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warmEnd) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

/** Same as `opsPerSecond` for asynchronous work, one call at a time. */
export async function opsPerSecondAsync(fn: () => Promise<void>, ms = 1000, batch = 1): Promise<number> {
  const warmEnd = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warmEnd) await fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

/** Percentile of an unsorted sample (nearest rank). */
export function percentile(sample: number[], p: number): number {
  if (sample.length === 0) return NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toPrecision(3);
}

/** One line per figure: `name: value unit  (baseline: value unit, ratio r, target t)`. */
export function formatFigure(f: Figure): string {
  let line = `  ${f.name}: ${fmt(f.value)} ${f.unit}`;
  if (f.baseline) {
    line += `\n      baseline ${f.baseline.name}: ${fmt(f.baseline.value)} ${f.baseline.unit}`;
  }
  if (f.ratio !== undefined) line += `\n      ratio ${f.ratio.toFixed(3)}`;
  if (f.target) line += `  (target ${f.target})`;
  return line;
}
