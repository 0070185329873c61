// A circuit breaker per replica. Closed: requests flow and consecutive failures are counted.
// After `failureThreshold` in a row it opens: the replica gets nothing for `openMs`. Then it
// is half-open: exactly one request (a probe) may go; its success closes the breaker, its
// failure opens it again for twice as long (up to `maxOpenMs`). Time is passed in, so the
// state machine is a pure object.

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  maxOpenMs: number;
}

export const defaultBreakerOptions: BreakerOptions = { failureThreshold: 5, openMs: 1000, maxOpenMs: 30_000 };

export class CircuitBreaker {
  private readonly options: BreakerOptions;
  private failures = 0;
  private openedAt = 0;
  private openFor = 0;
  private isOpen = false;
  private probing = false;

  constructor(options: BreakerOptions = defaultBreakerOptions) {
    this.options = options;
  }

  state(now: number): BreakerState {
    if (!this.isOpen) return "closed";
    return now - this.openedAt >= this.openFor ? "half-open" : "open";
  }

  /** Whether a request may be sent now (in half-open, only while no probe is out). */
  allows(now: number): boolean {
    const s = this.state(now);
    return s === "closed" || (s === "half-open" && !this.probing);
  }

  /** A request was sent; in half-open it is the probe. */
  onSend(now: number): void {
    if (this.state(now) === "half-open") this.probing = true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.isOpen = false;
    this.probing = false;
    this.openFor = 0;
  }

  onFailure(now: number): void {
    if (this.isOpen) {
      // A failed probe (or a failure of a request sent before opening): back off longer.
      if (this.probing || this.state(now) === "half-open")
        this.open(now, Math.min(this.openFor * 2, this.options.maxOpenMs));
      return;
    }
    this.failures++;
    if (this.failures >= this.options.failureThreshold) this.open(now, this.options.openMs);
  }

  private open(now: number, forMs: number): void {
    this.isOpen = true;
    this.probing = false;
    this.openedAt = now;
    this.openFor = forMs;
  }
}
