// The client's request budget (--kube-api-qps / --kube-api-burst) in two lanes. Work (reads,
// child creates and deletes, admission records) takes tokens in order of arrival, as
// client-go's limiter does. Reports (events, and the status write that ends a reconcile) go
// only when work can spare it: no work request is owed a token, and the API server is not busy
// with this process's work (at most `reportsBelowWorkInFlight` work requests unanswered). The
// second rule matters on a slow API server, where the token budget is never the limit but
// every report sent during a burst makes the creates behind it slower. A report never waits
// longer than maxReportDelayMs; past that it queues like work, so a cluster that never stops
// being busy still sees its statuses, only later.
import { sleep, TokenBucket } from "./token-bucket.ts";

export type RequestLane = "work" | "report";

export interface RequestLimiterOptions {
  ratePerSecond: number;
  burst: number;
  maxReportDelayMs?: number;
  /** Reports wait while more work requests than this are unanswered. */
  reportsBelowWorkInFlight?: number;
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
  private readonly reportsBelowWorkInFlight: number;
  private readonly reports: Waiter[] = [];
  private workInFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RequestLimiterOptions) {
    this.now = options.now ?? (() => performance.now());
    this.bucket = new TokenBucket({
      ratePerSecond: options.ratePerSecond,
      burst: options.burst,
      now: this.now,
    });
    this.maxReportDelayMs = options.maxReportDelayMs ?? 60_000;
    this.reportsBelowWorkInFlight = options.reportsBelowWorkInFlight ?? 4;
  }

  /** Reports waiting for a token, for metrics and tests. */
  get waitingReports(): number {
    return this.reports.length;
  }

  /**
   * Resolves when a request of `lane` may go. The caller calls done(lane) once it is answered
   * (or failed), whatever the lane.
   */
  take(lane: RequestLane, signal?: AbortSignal): Promise<void> {
    if (lane === "work") {
      return this.bucket.take(signal).then(() => {
        this.workInFlight++;
      });
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.reports.length === 0 && this.roomForReports()) {
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

  /** A request taken with take(lane) is answered. */
  done(lane: RequestLane): void {
    if (lane !== "work") return;
    this.workInFlight = Math.max(0, this.workInFlight - 1);
    if (this.reports.length > 0 && this.workInFlight <= this.reportsBelowWorkInFlight) this.release();
  }

  private roomForReports(): boolean {
    return this.bucket.msUntilFree() === 0 && this.workInFlight <= this.reportsBelowWorkInFlight;
  }

  /** Hands free tokens to waiting reports, oldest first; overdue ones queue as work. */
  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (;;) {
      const oldest = this.reports[0];
      if (!oldest) return;
      const overdue = this.now() - oldest.since >= this.maxReportDelayMs;
      if (!overdue && !this.roomForReports()) break;
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
    // Work reserved meanwhile pushes the free moment later; release() looks again then. When the
    // token is free but work is in flight, done() looks again as that work is answered.
    const untilOverdue = oldest.since + this.maxReportDelayMs - this.now();
    const untilToken = this.bucket.msUntilFree();
    const wait = Math.max(1, untilToken > 0 ? Math.min(untilToken, untilOverdue) : untilOverdue);
    this.timer = setTimeout(() => this.release(), wait);
    this.timer.unref?.();
  }
}
