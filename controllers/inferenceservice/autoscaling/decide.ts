// The autoscaler's decision: a pure function of the router's recent samples, the replicas there
// are (and how many of them still load the model), the service's limits and the time, plus what
// the previous decision remembered. The operator calls it once a second per service and applies
// the count; see README.md in this folder for the rules and why they are what they are.
import { type AutoscalingSpec, autoscalingTarget } from "../../../crds/runtime/index.ts";
import {
  type DemandContext,
  isActive,
  type Learned,
  learn,
  metricValue,
  nothingLearned,
  type RouterSample,
  replicasWanted,
  requestsInSystem,
} from "./demand.ts";
import { type DemandFigures, describeDemand, formatCount, formatSeconds } from "./reason.ts";
import { fallPerSecond, highest, lastSeconds, mean, pushMax, type SlidingMax } from "./windows.ts";

/** Panic when the short window asks for this many times the replicas there are (KPA's 200%). */
export const PANIC_THRESHOLD = 2;
/** Outside panic, a wish within this fraction of the replicas there are changes nothing (HPA's 10%). */
export const TOLERANCE = 0.1;
/** The panic window's mean trails a step by half its length; a spike in the last seconds does not wait for it. */
export const FAST_WINDOW_SECONDS = 2;
/**
 * The last seconds count when they ask for this many times the panic window's mean: a rise the
 * mean has not caught up with, well past noise (Poisson arrivals at 10 requests/s vary by 22%
 * over 2 s).
 */
export const FAST_RISE = 1.5;
/** Outside panic, a short-window rise counts when it exceeds this many standard deviations of its noise. */
export const NOISE_DEVIATIONS = 3;

export type Mode = "stable" | "panic";

/** What one decision leaves for the next; start with undefined. */
export interface AutoscalerMemory {
  learned: Learned;
  /** While in panic: when it ends unless another spike comes (KPA: a stable window after the last). */
  panicUntil: number | undefined;
  /** The highest count asked for in this panic: panic never goes down. */
  panicReplicas: number;
  /** The counts wished for over the last scaleDownDelaySeconds. */
  wishes: SlidingMax;
  /** When the count last went up: the newest loading replicas were asked for then. */
  lastScaleUp: number | undefined;
}

export interface DecideInput {
  /** Milliseconds since the epoch, as the samples' times. */
  now: number;
  /** The router's figures, one per tick, oldest first, covering stableWindowSeconds once there. */
  samples: readonly RouterSample[];
  /** Replicas that exist: ready or still loading the model. */
  replicas: number;
  /** Of those, replicas not ready yet: capacity on its way. */
  loadingReplicas: number;
  limits: AutoscalingSpec;
  /**
   * Seconds a new replica of this service took from being asked for to ready, as last seen
   * (pod creation to Ready); undefined when not known yet.
   */
  replicaStartSeconds?: number | undefined;
  memory: AutoscalerMemory | undefined;
}

/** Why the count is not what the load alone asks for; the operator's ScalingLimited reasons. */
export type Limit = "maxReplicas" | "minReplicas" | "scaleUpLimit";

export interface Decision {
  replicas: number;
  mode: Mode;
  reason: string;
  /** Set when a limit cut the count the load asked for. */
  limitedBy: Limit | undefined;
  memory: AutoscalerMemory;
}

// A first decision has seen no lower wish for the delay yet, nor a silence as long as the idle
// timeout: the count there is counts as wished for now and the idle time starts now, so an
// autoscaler that starts (or an operator that restarts) neither scales down nor to zero at once.
const freshMemory = (now: number, replicas: number): AutoscalerMemory => ({
  learned: { ...nothingLearned(), lastRequestTime: now },
  panicUntil: undefined,
  panicReplicas: 0,
  wishes: { entries: [{ time: now, value: replicas }] },
  lastScaleUp: undefined,
});

/** ceil, forgiving float dust: 3.0000000001 replicas is 3. */
const ceilReplicas = (x: number): number => Math.max(0, Math.ceil(x - 1e-9));

/** The highest count one step may reach: scaleUpLimit above the ready replicas. */
export function stepCeiling(limit: AutoscalingSpec["scaleUpLimit"], ready: number): number {
  if (typeof limit === "number") return ready + limit;
  const percent = Number(limit.slice(0, -1));
  // A percentage of at least one replica, so a service with none ready can still start.
  return ready + Math.max(1, Math.ceil((Math.max(ready, 1) * percent) / 100));
}

const backlogMetric = (metric: AutoscalingSpec["metric"]) =>
  metric === "concurrency" || metric === "queueDepth";

/**
 * Seconds until the requests beyond what the replicas carry at target are gone at the rate the
 * queue falls (or, for concurrency, at the spare rate of the ready replicas running full
 * batches, which sees replicas that just turned ready before the samples do); 0 with no
 * excess, undefined when it does not fall.
 */
function secondsToClear(
  input: { metric: AutoscalingSpec["metric"]; target: number; replicas: number; ready: number },
  latest: RouterSample,
  window: readonly RouterSample[],
  learned: Learned,
): number | undefined {
  const excess = metricValue(input.metric, latest) - input.target * input.replicas;
  if (excess <= 0) return 0;
  if (input.ready === 0) return undefined;
  let rate = fallPerSecond(window, (s) => metricValue(input.metric, s));
  const { serviceSeconds, runningPerReplica } = learned;
  if (input.metric === "concurrency" && serviceSeconds && runningPerReplica) {
    const arrivals = mean(window.map((s) => s.requestsPerSecond));
    rate = Math.max(rate, (input.ready * runningPerReplica) / serviceSeconds - arrivals);
  }
  return rate > 0 ? excess / rate : undefined;
}

function figuresOf(window: readonly RouterSample[], learned: Learned): DemandFigures {
  const of = (f: (s: RouterSample) => number) => mean(window.map(f));
  return {
    inSystem: of(requestsInSystem),
    arrivals: of((s) => s.requestsPerSecond),
    waiting: of((s) => s.routerQueued + s.engineWaiting),
    running: of((s) => s.engineRunning),
    kvCacheUsage: of((s) => s.kvCacheUsageMean),
    tokensPerSecond: of((s) => s.tokensPerSecond),
    serviceSeconds: learned.serviceSeconds,
  };
}

export function decide(input: DecideInput): Decision {
  const { now, limits } = input;
  const replicas = Math.max(0, input.replicas);
  const ready = Math.max(0, replicas - Math.max(0, input.loadingReplicas));
  const loading = replicas > ready;
  const previous = input.memory ?? freshMemory(now, replicas);
  const samples = input.samples.filter((s) => s.time <= now);
  const learned = learn(previous.learned, samples);
  const memory: AutoscalerMemory = { ...previous, learned };
  const clamp = (n: number) => Math.min(limits.maxReplicas, Math.max(limits.minReplicas, n));
  const done = (to: number, mode: Mode, reason: string, limitedBy?: Limit): Decision => ({
    replicas: to,
    mode,
    reason,
    limitedBy,
    memory: mode === "panic" ? memory : { ...memory, panicUntil: undefined, panicReplicas: 0 },
  });

  const latest = samples[samples.length - 1];
  if (!latest) return done(clamp(replicas), "stable", "no figures from the router yet: keeps the replicas");

  const target = autoscalingTarget(limits);
  const stableWindow = lastSeconds(samples, now, limits.stableWindowSeconds);
  const panicWindow = lastSeconds(samples, now, limits.panicWindowSeconds);
  const fastWindow = lastSeconds(samples, now, Math.min(FAST_WINDOW_SECONDS, limits.panicWindowSeconds));
  // A backlog is drained within one replica start time when that is known, else within the
  // stable window. One the ready replicas clear by themselves before a replica ordered now would
  // have been ready that long needs none. While replicas load, the backlog to drain is the one
  // there will be when they are ready; without their start time the backlog that builds
  // meanwhile orders none: they were ordered for the arrivals and will work it off.
  const start = input.replicaStartSeconds;
  const known = start !== undefined && start > 0;
  const horizon = known ? start : limits.stableWindowSeconds;
  const clearsIn = secondsToClear(
    { metric: limits.metric, target, replicas, ready },
    latest,
    panicWindow,
    learned,
  );
  const clears =
    backlogMetric(limits.metric) && clearsIn !== undefined && clearsIn <= (known ? 2 * horizon : horizon);
  const projects = loading && known;
  const sinceUp = previous.lastScaleUp === undefined ? 0 : (now - previous.lastScaleUp) / 1000;
  const context: DemandContext = {
    metric: limits.metric,
    target,
    learned,
    drainSeconds: clears || (loading && !projects) ? undefined : horizon,
    loadRemainingSeconds: projects ? Math.max(0, horizon - sinceUp) : undefined,
    readyReplicas: ready,
  };
  // Wishes, which the scale-down delay keeps, are for the arrivals alone: replicas ordered to
  // drain a backlog go once it is drained.
  const arrivalsOnly: DemandContext = {
    ...context,
    drainSeconds: undefined,
    loadRemainingSeconds: undefined,
  };
  const wantedIn = (window: readonly RouterSample[], c = context) =>
    mean(window.map((s) => replicasWanted(s, c)));
  const shortWanted = (c: DemandContext) => {
    const fast = wantedIn(fastWindow, c);
    const mean = wantedIn(panicWindow, c);
    // Forgiving float dust: the rule depends on the ratio alone, so the same load scaled up must
    // take the same branch (one rounding past 1.5 once asked 0.3% more load for fewer replicas).
    return { fast, value: fast >= mean * FAST_RISE * (1 - 1e-9) ? fast : mean };
  };
  const stableWanted = wantedIn(stableWindow);
  const { fast: fastWanted, value: panicWanted } = shortWanted(context);
  // What the arrivals alone ask for, in the stable or the short window (a step up, which goes
  // to the last seconds' level, counts that too).
  const arrivalsShort = shortWanted(arrivalsOnly);
  const arrivalsWanted = Math.max(wantedIn(stableWindow, arrivalsOnly), arrivalsShort.value);
  const active = isActive(latest);

  // Zero and back.
  if (replicas === 0) {
    if (!active) {
      const to = clamp(0);
      return done(to, "stable", to === 0 ? "idle: no requests, no replicas" : `minReplicas ${to}`);
    }
    const wanted = Math.max(1, ceilReplicas(panicWanted));
    const to = clamp(Math.min(wanted, stepCeiling(limits.scaleUpLimit, 0)));
    let reason = `${formatCount(requestsInSystem(latest))} requests held at the router with no replica → ${wanted}`;
    let limitedBy: Limit | undefined;
    if (to < wanted) {
      limitedBy = to === limits.maxReplicas ? "maxReplicas" : "scaleUpLimit";
      reason += `, capped at ${limitedBy} ${limitedBy === "maxReplicas" ? to : `${limits.scaleUpLimit}: ${to}`}`;
    }
    memory.wishes = pushMax(previous.wishes, now, to, limits.scaleDownDelaySeconds);
    memory.lastScaleUp = to > 0 ? now : undefined;
    return done(to, "stable", reason, limitedBy);
  }
  const lastRequest = learned.lastRequestTime;
  const idleSeconds = lastRequest === undefined ? Number.POSITIVE_INFINITY : (now - lastRequest) / 1000;
  if (limits.minReplicas === 0 && !active && idleSeconds >= limits.idleTimeoutSeconds) {
    memory.wishes = { entries: [] };
    const since =
      lastRequest === undefined ? "no request seen" : `no requests for ${formatSeconds(idleSeconds)}`;
    return done(0, "stable", `${since} (idleTimeoutSeconds ${limits.idleTimeoutSeconds}) → 0`);
  }

  // Panic, as Knative's KPA: entered when the short window asks for twice the replicas there
  // are (loading ones count: they are coming), left a stable window after the last such spike.
  const spike = panicWanted >= PANIC_THRESHOLD * replicas;
  const panicUntil = spike ? now + limits.stableWindowSeconds * 1000 : previous.panicUntil;
  const panicking = panicUntil !== undefined && now < panicUntil;
  memory.panicUntil = panicking ? panicUntil : undefined;
  memory.panicReplicas = panicking ? Math.max(previous.panicReplicas, replicas) : 0;

  // Within the tolerance the count stays. Every tick records a wish: the higher of what its
  // stable and its short window ask for the arrivals (replicas for a backlog go once it is
  // drained), at most the count there is. The scale-down delay then counts from the last second
  // either window wanted more, and a burst that starts stops a scale-down at once.
  const wishNow = Math.abs(stableWanted / replicas - 1) <= TOLERANCE ? replicas : ceilReplicas(stableWanted);
  const wish = Math.min(replicas, ceilReplicas(arrivalsWanted));
  const held = highest(pushMax(previous.wishes, now, wish, limits.scaleDownDelaySeconds))?.value ?? wish;
  // A step up for the arrivals is wished for too, and kept for the delay like any other wish (a
  // count merely kept is not: it would renew itself for ever).
  const decided = (to: number, mode: Mode, reason: string, limitedBy?: Limit): Decision => {
    const stepWish = Math.min(to, ceilReplicas(Math.max(arrivalsWanted, arrivalsShort.fast)));
    const wished = to > replicas ? Math.max(wish, stepWish) : wish;
    memory.wishes = pushMax(previous.wishes, now, wished, limits.scaleDownDelaySeconds);
    memory.lastScaleUp = to > replicas ? now : loading ? previous.lastScaleUp : undefined;
    return done(to, mode, reason, limitedBy);
  };

  const words = describeDemand(limits.metric, target);
  let wanted: number;
  let explain: string;
  // Up fast, on the short window, in either mode. Within the tolerance a short-window wish
  // changes nothing; outside panic it must also rise beyond the window's Poisson noise (three
  // standard deviations of its arrival count), or noise alone would ratchet the count up.
  // Once the window's mean is clearly up, the count goes to the latest level, the last seconds'
  // mean, rather than to the mean that is still catching up.
  const arrived = panicWindow.reduce((n, s) => n + s.requestsPerSecond, 0);
  const noise = arrived > 0 ? NOISE_DEVIATIONS / Math.sqrt(arrived) : Number.POSITIVE_INFINITY;
  const tolerance = panicking ? TOLERANCE : TOLERANCE + noise;
  const shortWish =
    ceilReplicas(panicWanted) > replicas * (1 + tolerance)
      ? ceilReplicas(Math.max(panicWanted, fastWanted))
      : replicas;
  const shortWords = () => {
    const window = fastWanted === panicWanted ? fastWindow : panicWindow;
    const seconds = fastWanted === panicWanted ? fastWindow.length : limits.panicWindowSeconds;
    const wished = Math.max(shortWish, ceilReplicas(panicWanted));
    return `${words(figuresOf(window, learned), panicWanted)} over ${replicas} replicas (last ${seconds} s), target ${formatCount(target)} → ${wished}`;
  };
  if (panicking) {
    wanted = Math.max(replicas, shortWish, memory.panicReplicas, wishNow);
    explain = `panic: ${shortWords()}`;
    if (shortWish === replicas && ceilReplicas(panicWanted) > replicas)
      explain += `, within ${TOLERANCE * 100}%: keeps ${replicas}`;
    else if (wanted > shortWish) explain += `, never down in panic: ${wanted}`;
  } else if (shortWish > replicas) {
    wanted = Math.max(shortWish, wishNow);
    explain = shortWords();
  } else {
    // Down slow, on the stable window, never below what the short window asks for now; the
    // delay only keeps replicas, it never adds any.
    wanted =
      wishNow > replicas
        ? wishNow
        : Math.max(wishNow, Math.min(held, replicas), Math.min(replicas, ceilReplicas(panicWanted)));
    explain = `${words(figuresOf(stableWindow, learned), stableWanted)} over ${replicas} replicas, target ${formatCount(target)} → ${ceilReplicas(stableWanted)}`;
    if (wishNow === replicas && ceilReplicas(stableWanted) !== replicas)
      explain += `, within ${TOLERANCE * 100}%: keeps ${replicas}`;
    else if (wanted > wishNow)
      explain += `, keeps ${wanted} for scaleDownDelaySeconds ${limits.scaleDownDelaySeconds}`;
  }
  // Requests come, or came within the idle timeout: not to zero.
  if (wanted === 0) wanted = 1;

  let limitedBy: Limit | undefined;
  if (wanted > replicas) {
    // Without a run time to split arrivals from backlog, the requests in the system count whole:
    // hold while replicas load or the queue clears, or the backlog alone would order more.
    const unsplit = limits.metric === "concurrency" && learned.serviceSeconds === undefined;
    if (unsplit && (loading || clears)) {
      const why = loading
        ? `${replicas - ready} replicas still load`
        : `the queue clears in ${formatSeconds(clearsIn ?? 0)}`;
      return decided(
        clamp(replicas),
        panicking ? "panic" : "stable",
        `${explain}; holds ${replicas}: ${why}`,
      );
    }
    const ceiling = stepCeiling(limits.scaleUpLimit, ready);
    if (wanted > ceiling) {
      const capped = Math.max(replicas, ceiling);
      explain += `, capped at scaleUpLimit ${limits.scaleUpLimit}`;
      if (capped === replicas) explain += ` while ${replicas - ready} replicas load`;
      explain += `: ${capped}`;
      wanted = capped;
      limitedBy = "scaleUpLimit";
    }
  }
  if (wanted > limits.maxReplicas) {
    explain += `, capped at maxReplicas ${limits.maxReplicas}`;
    limitedBy = "maxReplicas";
  } else if (wanted < limits.minReplicas) {
    explain += `, held at minReplicas ${limits.minReplicas}`;
    limitedBy = "minReplicas";
  }
  const to = clamp(wanted);
  if (panicking) memory.panicReplicas = Math.max(memory.panicReplicas, to);
  return decided(to, panicking ? "panic" : "stable", explain, limitedBy);
}
