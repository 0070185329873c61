// Time windows over the router's samples, and a sliding maximum for the scale-down delay.
// Samples are one per tick, oldest first, times in milliseconds.

export interface Timed {
  time: number;
}

/** The samples of the last `seconds` up to `now`: time in (now - seconds, now]. */
export function lastSeconds<T extends Timed>(samples: readonly T[], now: number, seconds: number): T[] {
  const from = now - seconds * 1000;
  // Samples arrive in order: walk back from the newest.
  let start = samples.length;
  while (start > 0 && (samples[start - 1] as T).time > from) start--;
  return samples.slice(start).filter((s) => s.time <= now);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * How fast a value falls, per second, from the first sample of a window to the last (positive
 * when falling); 0 with fewer than two samples.
 */
export function fallPerSecond<T extends Timed>(window: readonly T[], value: (s: T) => number): number {
  const first = window[0];
  const last = window[window.length - 1];
  if (!first || !last || last.time <= first.time) return 0;
  return (value(first) - value(last)) / ((last.time - first.time) / 1000);
}

/**
 * The highest value recorded in the last `seconds`, kept as a monotone queue: an entry is
 * dropped once a later one is at least as high, so the list never holds more entries than
 * distinct falling values (at most maxReplicas + 1), however long the window.
 */
export interface SlidingMax {
  entries: { time: number; value: number }[];
}

export function pushMax(max: SlidingMax, time: number, value: number, seconds: number): SlidingMax {
  const from = time - seconds * 1000;
  const entries = max.entries.filter((e) => e.time > from && e.value > value);
  entries.push({ time, value });
  return { entries };
}

export const highest = (max: SlidingMax): { time: number; value: number } | undefined => max.entries[0];
