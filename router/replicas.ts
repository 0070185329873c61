// The replicas the router knows, grouped by the model they serve, with everything the picker,
// the admission's capacity and the stats endpoint read about each: readiness (from the
// endpoint source), requests in flight, the engine's scraped load, the measured speed, and
// the circuit breaker. Sources (static flags, EndpointSlices) replace a service's endpoint
// list as a whole; replicas that left are closed gracefully, so requests in flight finish.
import { Client, Pool } from "undici";
import { CircuitBreaker } from "./breaker.ts";
import { type EngineSnapshot, tokensBetween, tpotBetween } from "./engine-load.ts";
import { fnv1a32 } from "./hash.ts";
import type { Candidate } from "./picker.ts";
import { RateWindow } from "./rate-window.ts";

export interface EndpointSpec {
  /** host:port */
  address: string;
  ready: boolean;
  pool: string | undefined;
  vendor: string | undefined;
}

export interface UpstreamSettings {
  connections: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  scrapeTimeoutMs: number;
  breakerFailures: number;
  breakerOpenMs: number;
}

/** Weight of a new speed observation in the EWMA. */
const speedAlpha = 0.3;

export class Replica implements Candidate {
  readonly id: string;
  readonly idHash: number;
  readonly service: string;
  readonly model: string;
  readonly origin: string;
  pool: string | undefined;
  vendor: string | undefined;
  ready: boolean;
  outstanding = 0;
  engine: Candidate["engine"] = undefined;
  secondsPerToken: number | undefined = undefined;
  /** The engine's own generation rate between the last two scrapes. */
  engineTokensPerSecond: number | undefined = undefined;
  lastSnapshot: EngineSnapshot | undefined = undefined;
  lastScrapeAt = 0;
  scrapeFailures = 0;
  readonly breaker: CircuitBreaker;
  /** Requests and generated tokens this router saw, per second. */
  readonly requests = new RateWindow();
  readonly tokens = new RateWindow();
  /** Request traffic; sized for streams that hold a connection each. */
  readonly dispatcher: Pool;
  /** One connection of its own for /metrics, so scrapes never queue behind long streams. */
  readonly metricsClient: Client;
  closed = false;

  constructor(service: string, model: string, spec: EndpointSpec, settings: UpstreamSettings) {
    this.id = spec.address;
    this.idHash = fnv1a32(spec.address);
    this.service = service;
    this.model = model;
    this.origin = `http://${spec.address}`;
    this.pool = spec.pool;
    this.vendor = spec.vendor;
    this.ready = spec.ready;
    this.breaker = new CircuitBreaker({
      failureThreshold: settings.breakerFailures,
      openMs: settings.breakerOpenMs,
      maxOpenMs: Math.max(settings.breakerOpenMs, 30_000),
    });
    this.dispatcher = new Pool(this.origin, {
      connections: settings.connections > 0 ? settings.connections : null,
      connect: { timeout: settings.connectTimeoutMs, noDelay: true },
      headersTimeout: settings.firstByteTimeoutMs,
      bodyTimeout: settings.idleTimeoutMs,
      keepAliveTimeout: 30_000,
    });
    this.metricsClient = new Client(this.origin, {
      connect: { timeout: Math.min(settings.connectTimeoutMs, settings.scrapeTimeoutMs) },
      headersTimeout: settings.scrapeTimeoutMs,
      bodyTimeout: settings.scrapeTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** A successful scrape: the engine's load now, and speed and throughput since the last one. */
  observeScrape(snapshot: EngineSnapshot, now: number): void {
    const previous = this.lastSnapshot;
    const previousAt = this.lastScrapeAt;
    this.engine = {
      running: snapshot.running,
      waiting: snapshot.waiting,
      kvCacheUsage: snapshot.kvCacheUsage,
      outstandingAtScrape: this.outstanding,
    };
    if (previous) {
      const tpot = tpotBetween(previous, snapshot);
      if (tpot !== undefined) this.observeSecondsPerToken(tpot);
      const tokens = tokensBetween(previous, snapshot);
      if (tokens !== undefined && now > previousAt)
        this.engineTokensPerSecond = (tokens * 1000) / (now - previousAt);
    }
    this.lastSnapshot = snapshot;
    this.lastScrapeAt = now;
    this.scrapeFailures = 0;
  }

  /** The engine could not be scraped: its figures are no longer current. */
  observeScrapeFailure(): void {
    this.scrapeFailures++;
    this.engine = undefined;
  }

  /** A stream's mean inter-token time, used when the engine has no histogram of its own. */
  observeStreamTpot(seconds: number): void {
    if (this.lastSnapshot?.tpotCount === undefined) this.observeSecondsPerToken(seconds);
  }

  private observeSecondsPerToken(seconds: number): void {
    if (!(seconds > 0) || !Number.isFinite(seconds)) return;
    this.secondsPerToken =
      this.secondsPerToken === undefined
        ? seconds
        : this.secondsPerToken + speedAlpha * (seconds - this.secondsPerToken);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.dispatcher.close(), this.metricsClient.close()]);
  }
}

export interface ModelGroup {
  model: string;
  /** Services that serve this model, in the order they were configured. */
  services: string[];
  replicas: Replica[];
  requests: RateWindow;
  tokens: RateWindow;
  lastRequestTime: number | undefined;
  inFlight: number;
}

export class ReplicaRegistry {
  private readonly settings: UpstreamSettings;
  private readonly maxInflightPerReplica: number;
  private readonly groups = new Map<string, ModelGroup>();
  private readonly serviceModel = new Map<string, string>();
  /** Called after a source changed a service's endpoints (capacity may have grown). */
  onChange: () => void = () => {};

  constructor(settings: UpstreamSettings, maxInflightPerReplica: number) {
    this.settings = settings;
    this.maxInflightPerReplica = maxInflightPerReplica;
  }

  /** Declares that `service` serves `model`, before any of its endpoints are known. */
  addService(service: string, model: string): void {
    const known = this.serviceModel.get(service);
    if (known !== undefined && known !== model)
      throw new Error(`service ${service} is mapped to two models, ${known} and ${model}`);
    this.serviceModel.set(service, model);
    const group = this.group(model);
    if (!group.services.includes(service)) group.services.push(service);
  }

  get models(): string[] {
    return [...this.groups.keys()];
  }

  groupOf(model: string): ModelGroup | undefined {
    return this.groups.get(model);
  }

  allGroups(): IterableIterator<ModelGroup> {
    return this.groups.values();
  }

  /** Replaces the endpoints of one service; replicas that left close once their requests end. */
  setEndpoints(service: string, endpoints: readonly EndpointSpec[]): void {
    const model = this.serviceModel.get(service);
    if (model === undefined) throw new Error(`service ${service} was not declared`);
    const group = this.group(model);
    const wanted = new Map(endpoints.map((e) => [e.address, e]));
    const kept: Replica[] = [];
    for (const r of group.replicas) {
      if (r.service !== service) {
        kept.push(r);
        continue;
      }
      const spec = wanted.get(r.id);
      if (!spec) {
        void r.close();
        continue;
      }
      r.ready = spec.ready;
      r.pool = spec.pool;
      r.vendor = spec.vendor;
      wanted.delete(r.id);
      kept.push(r);
    }
    for (const spec of wanted.values()) {
      // One engine in two services of the same model is one replica.
      if (kept.some((r) => r.id === spec.address)) continue;
      kept.push(new Replica(service, model, spec, this.settings));
    }
    group.replicas = kept;
    this.onChange();
  }

  /** Replicas that may take a request now. */
  available(group: ModelGroup, now: number): Replica[] {
    const cap = this.maxInflightPerReplica;
    const out: Replica[] = [];
    for (const r of group.replicas)
      if (r.ready && !r.closed && (cap === 0 || r.outstanding < cap) && r.breaker.allows(now)) out.push(r);
    return out;
  }

  /** What admission may send to a model now; `cold` when no replica is ready at all. */
  capacity(model: string, now: number): { free: number; cold: boolean } {
    const group = this.groups.get(model);
    if (!group) return { free: 0, cold: true };
    let free = 0;
    let ready = 0;
    const cap = this.maxInflightPerReplica;
    for (const r of group.replicas) {
      if (!r.ready || r.closed) continue;
      ready++;
      const state = r.breaker.state(now);
      if (state === "open") continue;
      if (state === "half-open") {
        if (r.breaker.allows(now)) free += 1;
        continue;
      }
      free += cap === 0 ? Number.POSITIVE_INFINITY : Math.max(0, cap - r.outstanding);
    }
    return { free, cold: ready === 0 };
  }

  async close(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const g of this.groups.values()) for (const r of g.replicas) all.push(r.close());
    await Promise.all(all);
  }

  private group(model: string): ModelGroup {
    let g = this.groups.get(model);
    if (!g) {
      g = {
        model,
        services: [],
        replicas: [],
        requests: new RateWindow(),
        tokens: new RateWindow(),
        lastRequestTime: undefined,
        inFlight: 0,
      };
      this.groups.set(model, g);
    }
    return g;
  }
}
