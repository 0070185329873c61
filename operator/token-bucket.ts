// A token bucket that hands out reservations instead of blocking, so the same limiter can
// gate API requests (await the delay) and schedule work-queue retries (add the delay to
// a timer) without owning any timers itself.

export interface TokenBucketOptions {
  /** Tokens added per second. Zero or less means unlimited. */
  ratePerSecond: number;
  /** Tokens available at once. */
  burst: number;
  /** Milliseconds, monotonic. Injected so tests control time. */
  now?: () => number;
}

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly now: () => number;
  // May go negative: a negative balance is the queue of callers already promised a token,
  // which is what keeps later reservations ordered behind earlier ones.
  private tokens: number;
  private updatedAt: number;

  constructor(options: TokenBucketOptions) {
    this.ratePerSecond = options.ratePerSecond;
    this.burst = Math.max(1, options.burst);
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.updatedAt = this.now();
  }

  /** Takes one token and returns how many milliseconds the caller must wait before using it. */
  reserve(): number {
    if (!(this.ratePerSecond > 0)) return 0;
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return (-this.tokens / this.ratePerSecond) * 1000;
  }

  /** Tokens available now (negative: owed to callers already promised one). */
  available(): number {
    if (!(this.ratePerSecond > 0)) return Number.POSITIVE_INFINITY;
    this.refill();
    return this.tokens;
  }

  /** Milliseconds until a token is free for a caller behind everyone promised one; 0 if now. */
  msUntilFree(): number {
    const tokens = this.available();
    return tokens >= 1 ? 0 : ((1 - tokens) / this.ratePerSecond) * 1000;
  }

  /** Waits until a token is available. */
  async take(signal?: AbortSignal): Promise<void> {
    const delay = this.reserve();
    if (delay <= 0) return;
    await sleep(delay, signal);
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.updatedAt);
    this.updatedAt = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.ratePerSecond);
  }
}

/** setTimeout as a promise that rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
