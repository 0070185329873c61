// The client's request budget (--kube-api-qps / --kube-api-burst) in two lanes. Work (reads,
// child creates and deletes, admission records) takes tokens in order of arrival, as
// client-go's limiter does. Reports (events, and the status write that ends a reconcile) take a
// token only when no work request is owed one: under a burst the budget goes to creating what
// workloads need first, and what reports on them follows. A report never waits longer than
// maxReportDelayMs; past that it queues like work, so a cluster that never stops being busy
// still sees its statuses, only later.
import { sleep, TokenBucket } from "./token-bucket.ts";

export type RequestLane = "work" | "report";

export interface RequestLimiterOptions {
  ratePerSecond: number;
  burst: number;
  maxReportDelayMs?: number;
  now?: () => number;
}

interface Waiter {
  since: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class RequestLimiter {
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private readonly maxReportDelayMs: number;
  private readonly reports: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RequestLimiterOptions) {
    this.now = options.now ?? (() => performance.now());
    this.bucket = new TokenBucket({
      ratePerSecond: options.ratePerSecond,
      burst: options.burst,
      now: this.now,
    });
    this.maxReportDelayMs = options.maxReportDelayMs ?? 60_000;
  }

  /** Reports waiting for a token, for metrics and tests. */
  get waitingReports(): number {
    return this.reports.length;
  }

  take(lane: RequestLane, signal?: AbortSignal): Promise<void> {
    if (lane === "work") return this.bucket.take(signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.reports.length === 0 && this.bucket.msUntilFree() === 0) {
      this.bucket.reserve();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        since: this.now(),
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.reports.indexOf(waiter);
          if (i >= 0) this.reports.splice(i, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.reports.push(waiter);
      this.schedule();
    });
  }

  /** Hands free tokens to waiting reports, oldest first; overdue ones queue as work. */
  private release(): void {
    this.timer = undefined;
    for (;;) {
      const oldest = this.reports[0];
      if (!oldest) return;
      const overdue = this.now() - oldest.since >= this.maxReportDelayMs;
      if (!overdue && this.bucket.msUntilFree() > 0) break;
      this.reports.shift();
      oldest.signal?.removeEventListener("abort", oldest.onAbort);
      const delay = this.bucket.reserve();
      if (delay <= 0) oldest.resolve();
      else sleep(delay, oldest.signal).then(oldest.resolve, oldest.reject);
    }
    this.schedule();
  }

  private schedule(): void {
    const oldest = this.reports[0];
    if (this.timer || !oldest) return;
    // Work reserved meanwhile pushes the free moment later; release() looks again then.
    const untilOverdue = oldest.since + this.maxReportDelayMs - this.now();
    const wait = Math.max(1, Math.min(this.bucket.msUntilFree(), untilOverdue));
    this.timer = setTimeout(() => this.release(), wait);
    this.timer.unref?.();
  }
}
