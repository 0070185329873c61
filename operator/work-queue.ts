// The work queue between watches and reconciles. Its guarantees are what make reconciles
// safe to write as plain functions of one key:
// - a key waiting in the queue is held once however many events arrive (dedup);
// - a key being reconciled is never handed to a second worker; if it changes meanwhile it
//   is queued again when the first worker finishes, so no change is lost;
// - failures back off per key (5 ms doubling to 1000 s) and retries as a whole pass a
//   global token bucket, so one broken object cannot starve the others or the API server;
// - timers (`addAfter`) keep only the earliest deadline per key.
import { PerKeyExponentialBackoff } from "./backoff.ts";
import {
  type Counter,
  type Gauge,
  type Histogram,
  type MetricsRegistry,
  workqueueBuckets,
} from "./metrics.ts";
import { TokenBucket } from "./token-bucket.ts";

export interface WorkQueueOptions {
  /** Used as the `name` and `controller` label of the workqueue_* series. */
  name: string;
  metrics?: MetricsRegistry;
  backoff?: PerKeyExponentialBackoff;
  /** Gates retries only (not first adds): controller-runtime's default is 10/s, burst 100. */
  retryLimiter?: TokenBucket;
  now?: () => number;
}

interface Waiting {
  readyAt: number;
  timer: NodeJS.Timeout;
}

interface QueueMetrics {
  depth: Gauge;
  adds: Counter;
  retries: Counter;
  queueDuration: Histogram;
  workDuration: Histogram;
  unfinished: Gauge;
  longestRunning: Gauge;
}

export class WorkQueue {
  readonly name: string;
  private readonly now: () => number;
  private readonly backoff: PerKeyExponentialBackoff;
  private readonly retryLimiter: TokenBucket;
  // FIFO as an array plus a head index: shift() is O(n) and queues can hold 10^5 keys.
  private items: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>(); // key -> started at
  private readonly queuedAt = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drained: Array<() => void> = [];
  private shuttingDown = false;
  private readonly metrics: QueueMetrics | undefined;
  private readonly labels: Record<string, string>;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.now = options.now ?? (() => performance.now());
    this.backoff = options.backoff ?? new PerKeyExponentialBackoff();
    this.retryLimiter =
      options.retryLimiter ?? new TokenBucket({ ratePerSecond: 10, burst: 100, now: this.now });
    this.labels = { name: options.name, controller: options.name };
    if (options.metrics) {
      const m = options.metrics;
      const names = ["name", "controller"];
      this.metrics = {
        depth: m.gauge("workqueue_depth", "Current depth of workqueue", names),
        adds: m.counter("workqueue_adds_total", "Total number of adds handled by workqueue", names),
        retries: m.counter("workqueue_retries_total", "Total number of retries handled by workqueue", names),
        queueDuration: m.histogram(
          "workqueue_queue_duration_seconds",
          "How long in seconds an item stays in workqueue before being requested",
          names,
          workqueueBuckets,
        ),
        workDuration: m.histogram(
          "workqueue_work_duration_seconds",
          "How long in seconds processing an item from workqueue takes.",
          names,
          workqueueBuckets,
        ),
        unfinished: m.gauge(
          "workqueue_unfinished_work_seconds",
          "How many seconds of work has been done that is in progress and hasn't been observed by work_duration.",
          names,
        ),
        longestRunning: m.gauge(
          "workqueue_longest_running_processor_seconds",
          "How many seconds has the longest running processor for workqueue been running.",
          names,
        ),
      };
      // Touch every series so they appear at zero before the first add.
      this.metrics.depth.child(this.labels);
      this.metrics.adds.child(this.labels);
      this.metrics.retries.child(this.labels);
      m.onCollect(() => this.collect());
    }
  }

  /** Keys waiting to be handed to a worker (not counting timers or keys in progress). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Keys currently held by workers. */
  get inProgress(): number {
    return this.processing.size;
  }

  /** Keys waiting on a timer (requeueAfter or backoff). */
  get delayed(): number {
    return this.waiting.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.adds.inc(this.labels);
    this.queuedAt.set(key, this.now());
    // A key being reconciled stays out of the FIFO; done() puts it back.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `delayMs`; with several pending timers for a key, the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing) {
      if (existing.readyAt <= readyAt) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    // Timers must not keep a process alive that has otherwise finished (tests, shutdown).
    timer.unref();
    this.waiting.set(key, { readyAt, timer });
  }

  /** Re-adds a key after a failure: the later of its own backoff and the global bucket. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics?.retries.inc(this.labels);
    const delay = Math.max(this.backoff.next(key), this.retryLimiter.reserve());
    this.addAfter(key, delay);
  }

  /** Clears the failure history of `key` (after a success or a deliberate requeueAfter). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  numRequeues(key: string): number {
    return this.backoff.count(key);
  }

  /** The next key, marked as in progress; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(key);
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends the processing of `key`; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics?.workDuration.observe(this.labels, (this.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0) for (const resolve of this.drained.splice(0)) resolve();
  }

  /** Stops handing out keys; waiting workers get undefined. In-flight work is not awaited. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  /** Shuts down and resolves once every key handed to a worker has been marked done. */
  shutdownWithDrain(): Promise<void> {
    this.shutdown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.start(key);
      getter(key);
      return;
    }
    this.items.push(key);
    this.metrics?.depth.set(this.labels, this.length);
  }

  private pop(): string | undefined {
    if (this.shuttingDown || this.head >= this.items.length) return undefined;
    const key = this.items[this.head] as string;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.metrics?.depth.set(this.labels, this.length);
    this.start(key);
    return key;
  }

  private start(key: string): void {
    const now = this.now();
    this.dirty.delete(key);
    this.processing.set(key, now);
    const queued = this.queuedAt.get(key);
    this.queuedAt.delete(key);
    if (queued !== undefined) this.metrics?.queueDuration.observe(this.labels, (now - queued) / 1000);
  }

  private collect(): void {
    if (!this.metrics) return;
    const now = this.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      const seconds = (now - started) / 1000;
      total += seconds;
      longest = Math.max(longest, seconds);
    }
    this.metrics.unfinished.set(this.labels, total);
    this.metrics.longestRunning.set(this.labels, longest);
    this.metrics.depth.set(this.labels, this.length);
  }
}
