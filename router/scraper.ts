// Reads every ready replica's /metrics on a fixed tick (200 ms by default), one scrape in
// flight per replica, over the replica's own metrics connection. A replica that stops
// answering its /metrics (three scrapes in a row) counts as failing for its circuit breaker:
// a stuck engine that still accepts connections is caught without waiting for a request to
// time out.
import { parseEngineMetrics } from "./engine-load.ts";
import type { Replica, ReplicaRegistry } from "./replicas.ts";

const failuresBeforeBreaker = 3;

export class Scraper {
  private readonly registry: ReplicaRegistry;
  private readonly intervalMs: number;
  private readonly inFlight = new Set<Replica>();
  private timer: NodeJS.Timeout | undefined;
  /** Called after each tick, so waiting requests see breakers that moved to half-open. */
  onTick: () => void = () => {};

  constructor(registry: ReplicaRegistry, intervalMs: number) {
    this.registry = registry;
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    for (const group of this.registry.allGroups())
      for (const r of group.replicas) if (r.ready && !r.closed && !this.inFlight.has(r)) void this.scrape(r);
    this.onTick();
  }

  private async scrape(r: Replica): Promise<void> {
    this.inFlight.add(r);
    try {
      const res = await r.metricsClient.request({ method: "GET", path: "/metrics" });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
      r.observeScrape(parseEngineMetrics(text), performance.now());
    } catch {
      if (r.closed) return;
      r.observeScrapeFailure();
      if (r.scrapeFailures >= failuresBeforeBreaker) r.breaker.onFailure(performance.now());
    } finally {
      this.inFlight.delete(r);
    }
  }
}
