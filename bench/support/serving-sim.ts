// A model service in discrete time, for the autoscaler benchmark: 1 s ticks, replicas that
// take a stated time to exist and to load the model, a fixed number of concurrent sequences per
// replica, each request in service for a fixed time, and one FIFO queue in front (the router's
// and the engines' queues together). Each tick yields the figures the router's /router/stats
// would report, so every autoscaler under test reads the same signal.
import type { RouterSample } from "../../controllers/inferenceservice/autoscaling/demand.ts";

export interface ServingModel {
  /** Sequences one replica runs at once (vLLM's batch). */
  slotsPerReplica: number;
  /** Seconds a request is in service (prefill and decode), whole seconds. */
  serviceSeconds: number;
  /** Seconds from the decision to the pod existing (API write, scheduling, container start). */
  podStartSeconds: number;
  /** Seconds from the pod existing to the engine ready (model load), the figure that hurts. */
  modelLoadSeconds: number;
  /** Tokens one sequence generates per second. */
  tokensPerSequenceSecond: number;
}

interface Replica {
  createdAt: number;
  existsAt: number;
  readyAt: number;
}

interface Cohort {
  enqueuedAt: number;
  count: number;
}

export interface Tick {
  t: number;
  arrivals: number;
  /** Replicas asked for and not removed (the autoscaler's view: existing or about to). */
  replicas: number;
  /** Pods that exist (created, loading or ready). */
  existing: number;
  ready: number;
  queued: number;
  inService: number;
}

export class ServingSim {
  readonly model: ServingModel;
  private replicas: Replica[] = [];
  private queue: Cohort[] = [];
  /** In-service counts by the tick they finish at. */
  private finishing = new Map<number, number>();
  private inService = 0;
  private lastArrival: number | undefined;
  /** Requests that waited more than a second for a slot, and all requests started. */
  waitedOverOneSecond = 0;
  started = 0;
  /** Pod-seconds: every second a pod exists costs its devices, loading or not. */
  replicaSeconds = 0;

  constructor(model: ServingModel, initialReplicas: number) {
    this.model = model;
    for (let i = 0; i < initialReplicas; i++)
      this.replicas.push({ createdAt: -1e9, existsAt: -1e9, readyAt: -1e9 });
  }

  /** Starts the figures afresh, after a warm-up. */
  resetCounters(): void {
    this.waitedOverOneSecond = 0;
    this.started = 0;
    this.replicaSeconds = 0;
  }

  /** Asks for `n` replicas at tick t: new ones start now; removal takes loading ones first, newest first. */
  scaleTo(t: number, n: number): void {
    const want = Math.max(0, Math.round(n));
    while (this.replicas.length < want) {
      const existsAt = t + this.model.podStartSeconds;
      this.replicas.push({ createdAt: t, existsAt, readyAt: existsAt + this.model.modelLoadSeconds });
    }
    if (this.replicas.length > want) {
      // Newest first: those are the ones still loading, or the last to become ready.
      this.replicas.sort((a, b) => a.readyAt - b.readyAt);
      this.replicas.length = want;
    }
  }

  countReplicas(t: number): { replicas: number; existing: number; ready: number } {
    let existing = 0;
    let ready = 0;
    for (const r of this.replicas) {
      if (r.existsAt <= t) existing++;
      if (r.readyAt <= t) ready++;
    }
    return { replicas: this.replicas.length, existing, ready };
  }

  /** Advances to tick t with `arrivals` requests that came during (t-1, t]. */
  step(t: number, arrivals: number): Tick {
    const { replicas, existing, ready } = this.countReplicas(t);
    this.replicaSeconds += existing;
    const done = this.finishing.get(t) ?? 0;
    this.finishing.delete(t);
    this.inService -= done;
    if (arrivals > 0) {
      this.queue.push({ enqueuedAt: t, count: arrivals });
      this.lastArrival = t;
    }
    // Removed replicas finish what they run (a graceful drain); new work only fits free slots.
    let free = Math.max(0, ready * this.model.slotsPerReplica - this.inService);
    while (free > 0 && this.queue.length > 0) {
      const head = this.queue[0] as Cohort;
      const take = Math.min(free, head.count);
      // Arrivals of (t-1, t] that start at t waited under a second; a tick later, over one.
      if (t - head.enqueuedAt >= 1) this.waitedOverOneSecond += take;
      this.started += take;
      head.count -= take;
      free -= take;
      this.inService += take;
      const end = t + this.model.serviceSeconds;
      this.finishing.set(end, (this.finishing.get(end) ?? 0) + take);
      if (head.count === 0) this.queue.shift();
    }
    return { t, arrivals, replicas, existing, ready, queued: this.queued(), inService: this.inService };
  }

  queued(): number {
    let n = 0;
    for (const c of this.queue) n += c.count;
    return n;
  }

  /** The router's figures at this tick. */
  sample(tick: Tick): RouterSample {
    const served = tick.ready > 0;
    return {
      time: tick.t * 1000,
      readyReplicas: tick.ready,
      // With a ready replica the router forwards and the engines queue; with none it holds.
      routerQueued: served ? 0 : tick.queued,
      inFlight: tick.inService + (served ? tick.queued : 0),
      engineRunning: tick.inService,
      engineWaiting: served ? tick.queued : 0,
      kvCacheUsageMean: served ? Math.min(1, tick.inService / (tick.ready * this.model.slotsPerReplica)) : 0,
      requestsPerSecond: tick.arrivals,
      tokensPerSecond: tick.inService * this.model.tokensPerSequenceSecond,
      lastRequestTime: this.lastArrival === undefined ? undefined : this.lastArrival * 1000,
    };
  }
}
