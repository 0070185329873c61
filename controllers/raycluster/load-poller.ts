// Ray's report from the heads of autoscaling clusters, read on a timer of its own instead of
// inside the reconcile. A read is two GETs to the dashboard; a reconcile reads the whole cache
// and may write. So the poller reads every head often and asks for a reconcile only when the
// report changes in what the autoscaler decides from (the pending demand, which nodes are
// alive, which are idle): a demand is answered at most one poll period after Ray reports it,
// without reconciling every cluster that often.
//
// A head that does not answer is read less often (the period doubling up to maxBackoffMs), and
// a cluster whose reconcile stopped asking (deleted, no longer autoscaling, the operator lost
// its lease) is dropped after forgetAfterMs.
import { isIdleNode, type RayClusterLoad } from "../ray-api/index.ts";

export type LoadReading = { load: RayClusterLoad; error?: undefined } | { load?: undefined; error: unknown };

export interface LoadPollerOptions {
  fetch(url: string): Promise<RayClusterLoad>;
  /** A cluster's report changed since its last reading. */
  onChange(key: string): void;
  periodMs: number;
  maxBackoffMs: number;
  forgetAfterMs: number;
  now?: () => number;
}

interface Tracked {
  url: string;
  latest: Promise<LoadReading>;
  fingerprint: string | undefined;
  failures: number;
  askedAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** What the autoscaler decides from, as a string: equal strings, equal decisions. */
export function loadFingerprint(reading: LoadReading): string {
  if (!reading.load) return `error ${reading.error instanceof Error ? reading.error.message : ""}`;
  const demand = reading.load.demand
    .map((d) => `${d.count}x${JSON.stringify(Object.entries(d.bundle).sort())}`)
    .sort();
  const nodes = reading.load.nodes.map((n) => `${n.ip}:${n.alive ? "up" : "down"}:${isIdleNode(n)}`).sort();
  return JSON.stringify([demand, nodes]);
}

export class RayLoadPoller {
  private readonly tracked = new Map<string, Tracked>();
  private readonly options: LoadPollerOptions;
  private readonly now: () => number;

  constructor(options: LoadPollerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * The latest reading of the head at `url` for cluster `key`. The first ask (or the first
   * after the head moved to another address) reads the head now; later ones answer at once
   * with the last poll's reading.
   */
  read(key: string, url: string): Promise<LoadReading> {
    const known = this.tracked.get(key);
    if (known && known.url === url) {
      known.askedAt = this.now();
      return known.latest;
    }
    if (known) this.forget(key);
    const t: Tracked = {
      url,
      latest: this.fetch(url),
      fingerprint: undefined,
      failures: 0,
      askedAt: this.now(),
      timer: undefined,
    };
    this.tracked.set(key, t);
    void t.latest.then((reading) => this.settled(key, t, reading, false));
    return t.latest;
  }

  forget(key: string): void {
    const t = this.tracked.get(key);
    if (t?.timer) clearTimeout(t.timer);
    this.tracked.delete(key);
  }

  /** Stops every timer (tests, shutdown). */
  stop(): void {
    for (const key of [...this.tracked.keys()]) this.forget(key);
  }

  /** Clusters being polled, for tests and metrics. */
  get size(): number {
    return this.tracked.size;
  }

  private fetch(url: string): Promise<LoadReading> {
    return this.options.fetch(url).then(
      (load) => ({ load }),
      (error: unknown) => ({ error }),
    );
  }

  private settled(key: string, t: Tracked, reading: LoadReading, notify: boolean): void {
    if (this.tracked.get(key) !== t) return;
    const fingerprint = loadFingerprint(reading);
    const changed = fingerprint !== t.fingerprint;
    t.fingerprint = fingerprint;
    t.failures = reading.error === undefined ? 0 : t.failures + 1;
    if (changed && notify) this.options.onChange(key);
    const { periodMs, maxBackoffMs } = this.options;
    const delay = Math.min(maxBackoffMs, periodMs * 2 ** t.failures);
    t.timer = setTimeout(() => this.poll(key, t), delay);
    t.timer.unref?.();
  }

  private poll(key: string, t: Tracked): void {
    t.timer = undefined;
    if (this.tracked.get(key) !== t) return;
    if (this.now() - t.askedAt > this.options.forgetAfterMs) {
      this.forget(key);
      return;
    }
    const next = this.fetch(t.url);
    // The reconcile keeps the last reading until this one is in: it never waits on a poll.
    void next.then((reading) => {
      if (this.tracked.get(key) !== t) return;
      t.latest = Promise.resolve(reading);
      this.settled(key, t, reading, true);
    });
  }
}
