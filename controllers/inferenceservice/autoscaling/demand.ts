// What one sample of the router's figures asks for, in replicas (a real number, before any
// rounding), for each metric; and what the autoscaler learns from the samples about the
// service: how long a request stays in flight, how many requests a replica runs at most.
import type { AutoscalingMetric } from "../../../crds/runtime/index.ts";

/** The router's per-service figures at one tick (GET /router/stats), times in ms. */
export interface RouterSample {
  time: number;
  /** Replicas the router sends to (ready endpoints). */
  readyReplicas: number;
  /** Requests held at the router: tenant queues and the cold-start hold while no replica is ready. */
  routerQueued: number;
  /** Requests sent to engines and not yet finished. */
  inFlight: number;
  /** Sums over the ready engines of vllm:num_requests_running and vllm:num_requests_waiting. */
  engineRunning: number;
  engineWaiting: number;
  /** Mean of vllm:kv_cache_usage_perc over the ready engines, 0..1. */
  kvCacheUsageMean: number;
  /** Requests arriving at the router per second (including those it then queues), over the last second or two. */
  requestsPerSecond: number;
  /** Tokens the engines generate per second. */
  tokensPerSecond: number;
  /** The last request's arrival; undefined when none arrived since the router started. */
  lastRequestTime: number | undefined;
}

/** What the autoscaler has learned from samples; carried from one decision to the next. */
export interface Learned {
  /** The newest sample already learned from (each is learned from once). */
  seenUntil: number;
  /** Seconds a request runs at an engine: running / throughput, Little's law on the engines. */
  serviceSeconds: number | undefined;
  /** The most requests one ready replica has been seen running. */
  runningPerReplica: number | undefined;
  /** The last time a request was seen: arriving, held or in flight. */
  lastRequestTime: number | undefined;
}

export const nothingLearned = (): Learned => ({
  seenUntil: Number.NEGATIVE_INFINITY,
  serviceSeconds: undefined,
  runningPerReplica: undefined,
  lastRequestTime: undefined,
});

// The run time is an average over batches that speed up and slow down; a short memory follows
// a change of workload within a few seconds without jumping on one odd window.
const SERVICE_TIME_WEIGHT = 0.2;
/** The throughput behind a run-time reading is taken over this many seconds of samples. */
export const THROUGHPUT_WINDOW_SECONDS = 6;

export const waiting = (s: RouterSample): number => s.routerQueued + s.engineWaiting;
export const requestsInSystem = (s: RouterSample): number => s.routerQueued + s.inFlight;
export const isActive = (s: RouterSample): boolean => requestsInSystem(s) > 0 || s.requestsPerSecond > 0;

/** A window is steady when, in each of its halves, the requests in the system change by at most this share of the arrivals. */
export const STEADY_SHARE = 0.1;

/**
 * Seconds a request runs, from the samples `window` (oldest first): requests finished =
 * requests that arrived - growth of the requests in the system; run time = mean running /
 * finished per second. It holds whether or not requests wait, so a saturated service still
 * learns it (in flight / arrivals would only hold while nothing waits). Only a steady window
 * counts: right after a step the running requests grow for a whole run time before the
 * finished ones catch up, and a reading then would be off by the step's factor.
 */
export function runSeconds(window: readonly RouterSample[]): number | undefined {
  const first = window[0];
  const last = window[window.length - 1];
  if (!first || !last || window.length < 3) return undefined;
  const seconds = (last.time - first.time) / 1000;
  if (seconds <= 0) return undefined;
  // A window over which replicas turned ready (or went) can look steady while it is not: the
  // queue that rose before falls after.
  if (window.some((s) => s.readyReplicas !== first.readyReplicas)) return undefined;
  const middle = Math.floor(window.length / 2);
  const halves = [window.slice(0, middle + 1), window.slice(middle)];
  let arrived = 0;
  let running = 0;
  for (const half of halves) {
    let arrivedInHalf = 0;
    for (let i = 1; i < half.length; i++) {
      const s = half[i] as RouterSample;
      arrivedInHalf += (s.requestsPerSecond * (s.time - (half[i - 1] as RouterSample).time)) / 1000;
      running += s.engineRunning;
    }
    const growth =
      requestsInSystem(half[half.length - 1] as RouterSample) - requestsInSystem(half[0] as RouterSample);
    if (Math.abs(growth) > STEADY_SHARE * arrivedInHalf) return undefined;
    arrived += arrivedInHalf;
  }
  const finishedPerSecond = (arrived - (requestsInSystem(last) - requestsInSystem(first))) / seconds;
  running /= window.length - 1;
  if (finishedPerSecond <= 0 || running <= 0) return undefined;
  return running / finishedPerSecond;
}

export function learn(learned: Learned, samples: readonly RouterSample[]): Learned {
  let { seenUntil, serviceSeconds, runningPerReplica, lastRequestTime } = learned;
  let windowStart = 0;
  samples.forEach((s, i) => {
    while ((samples[windowStart] as RouterSample).time <= s.time - THROUGHPUT_WINDOW_SECONDS * 1000)
      windowStart++;
    if (s.time <= seenUntil) return;
    seenUntil = s.time;
    const observed = runSeconds(samples.slice(windowStart, i + 1));
    if (observed !== undefined) {
      serviceSeconds =
        serviceSeconds === undefined
          ? observed
          : serviceSeconds + SERVICE_TIME_WEIGHT * (observed - serviceSeconds);
    }
    if (s.readyReplicas > 0 && s.engineRunning > 0) {
      runningPerReplica = Math.max(runningPerReplica ?? 0, s.engineRunning / s.readyReplicas);
    }
    const seen = isActive(s) ? s.time : s.lastRequestTime;
    if (seen !== undefined) lastRequestTime = Math.max(lastRequestTime ?? seen, seen);
  });
  return { seenUntil, serviceSeconds, runningPerReplica, lastRequestTime };
}

/** The metric's value in a sample, as the reason shows it. */
export function metricValue(metric: AutoscalingMetric, s: RouterSample): number {
  switch (metric) {
    case "concurrency":
      return requestsInSystem(s);
    case "queueDepth":
      return waiting(s);
    case "kvCacheUsage":
      return s.kvCacheUsageMean;
    case "tokensPerSecond":
      return s.tokensPerSecond;
  }
}

export interface DemandContext {
  metric: AutoscalingMetric;
  target: number;
  learned: Learned;
  /** How soon a backlog should be gone: replicas are ordered to drain it within this time; undefined: not at all. */
  drainSeconds: number | undefined;
  /**
   * While replicas load and their start time is known: how long until they are ready. The
   * backlog to drain is then the one there will be by then, at the rate the ready replicas
   * fall behind.
   */
  loadRemainingSeconds: number | undefined;
  /** Replicas ready now: the capacity there is until the loading ones are ready. */
  readyReplicas: number;
}

/** Replicas one sample asks for. */
export function replicasWanted(s: RouterSample, c: DemandContext): number {
  switch (c.metric) {
    case "concurrency":
      return concurrencyReplicas(s, c);
    case "queueDepth": {
      // Replicas for what runs (at the most one replica was seen running) plus replicas for what
      // waits, at target per replica. Without the first term a drained queue would ask for
      // none and the service would shrink into the next queue.
      // While replicas load, or while the queue clears by itself, the waiting term drops out
      // (a queue depth has no arrival rate to project a backlog with).
      const perReplica = c.learned.runningPerReplica;
      const running = perReplica ? s.engineRunning / perReplica : 0;
      const drains = c.drainSeconds !== undefined && c.loadRemainingSeconds === undefined;
      return running + (drains ? waiting(s) / c.target : 0);
    }
    case "kvCacheUsage":
      // A fraction per ready replica: proportional, as an HPA does with utilisation.
      return (s.readyReplicas * s.kvCacheUsageMean) / c.target;
    case "tokensPerSecond":
      return s.tokensPerSecond / c.target;
  }
}

// Requests in the system per replica, as Knative counts concurrency, but split by Little's law
// once the run time is known: the arrivals bring (arrival rate x run time) requests whether or
// not they are served yet, which sizes a step from its first second on, before requests pile
// up. What is in the system beyond that is a backlog. It asks for no replica per `target`
// queued requests (after a minute of model loading that would order the whole pool), only for
// enough replicas that, running full batches as they do under a backlog, they serve the
// arrivals and drain it within `drainSeconds`.
function concurrencyReplicas(s: RouterSample, c: DemandContext): number {
  const inSystem = requestsInSystem(s);
  const serviceSeconds = c.learned.serviceSeconds;
  if (serviceSeconds === undefined) return inSystem / c.target;
  const arriving = s.requestsPerSecond * serviceSeconds;
  const atTarget = arriving / c.target;
  if (c.drainSeconds === undefined) return atTarget;
  const fullBatch = Math.max(c.target, c.learned.runningPerReplica ?? c.target);
  const behind = s.requestsPerSecond - (c.readyReplicas * fullBatch) / serviceSeconds;
  const backlog = inSystem - arriving + Math.max(0, behind) * (c.loadRemainingSeconds ?? 0);
  if (backlog <= 0) return atTarget;
  const draining = ((s.requestsPerSecond + backlog / c.drainSeconds) * serviceSeconds) / fullBatch;
  return Math.max(atTarget, draining);
}
