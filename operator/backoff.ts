// Two kinds of backoff: per-key retry delays for the work queue (deterministic, so an
// operator can reason about when a failing object is retried), and a jittered backoff for
// reconnecting watches (random, so many operators do not reconnect in lockstep after an
// API server restart).

export interface ExponentialBackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** Delay doubles with every failure of a key: 5 ms, 10 ms, ... capped at 1000 s by default. */
export class PerKeyExponentialBackoff {
  private readonly failures = new Map<string, number>();
  readonly baseMs: number;
  readonly maxMs: number;

  constructor(options: ExponentialBackoffOptions = { baseMs: 5, maxMs: 1_000_000 }) {
    this.baseMs = options.baseMs;
    this.maxMs = options.maxMs;
  }

  /** Records one more failure of `key` and returns the delay before its retry. */
  next(key: string): number {
    const count = this.failures.get(key) ?? 0;
    this.failures.set(key, count + 1);
    // 2 ** count overflows to Infinity long after the cap; Math.min keeps it finite.
    return Math.min(this.maxMs, this.baseMs * 2 ** count);
  }

  /** How many times `key` has failed since it was last forgotten. */
  count(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** A success resets the key, so its next failure starts again at the base delay. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get size(): number {
    return this.failures.size;
  }
}

export interface JitteredBackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of the delay added at random: 1 means up to double. */
  jitter: number;
  /** After this long without a failure the backoff starts over from `initialMs`. */
  resetAfterMs: number;
  random?: () => number;
  now?: () => number;
}

export class JitteredBackoff {
  private readonly options: Required<JitteredBackoffOptions>;
  private currentMs = 0;
  private lastFailureAt = Number.NEGATIVE_INFINITY;

  constructor(options: Partial<JitteredBackoffOptions> = {}) {
    this.options = {
      initialMs: 800,
      maxMs: 30_000,
      factor: 2,
      jitter: 1,
      resetAfterMs: 120_000,
      random: Math.random,
      now: () => performance.now(),
      ...options,
    };
  }

  /** The delay before the next attempt after a failure. */
  next(): number {
    const { initialMs, maxMs, factor, jitter, resetAfterMs, random, now } = this.options;
    const at = now();
    if (this.currentMs === 0 || at - this.lastFailureAt > resetAfterMs) this.currentMs = initialMs;
    else this.currentMs = Math.min(maxMs, this.currentMs * factor);
    this.lastFailureAt = at;
    return this.currentMs * (1 + jitter * random());
  }

  reset(): void {
    this.currentMs = 0;
  }
}
