// The autoscalers the benchmark compares, each fed the same per-second router figures:
// ours (decide() every second), and anchors simulated from their documented rules:
// - Knative's KPA: a 2 s tick; stable (60 s) and panic (6 s) windows of concurrency; panic when
//   the panic window asks for 200% of the ready pods, kept for a stable window after the last
//   such reading, never scaling down meanwhile; max scale-up rate 1000x and max scale-down rate
//   2x the ready pods per tick; scale-down-delay 0 (its defaults).
// - KEDA + HPA: KEDA reads the metric every 30 s (pollingInterval); the HPA syncs every 15 s on
//   the last value read, as an AverageValue target: ratio = value / (target x replicas), no
//   change within its 10% tolerance, else ceil(ratio x replicas); scale-up at most
//   max(100%, 4 pods) per sync, scale-down to the highest recommendation of the last 300 s
//   (the stabilisation window).
// - A fixed count, provisioned for the trace's peak.
import { type AutoscalerMemory, decide } from "../../controllers/inferenceservice/autoscaling/decide.ts";
import {
  type RouterSample,
  requestsInSystem,
} from "../../controllers/inferenceservice/autoscaling/demand.ts";
import type { AutoscalingSpec } from "../../crds/index.ts";

export interface Counts {
  /** Replicas asked for: existing, loading or about to exist. */
  replicas: number;
  ready: number;
}

export interface Autoscaler {
  readonly name: string;
  /** Called once a second after the router's figures; the count to ask for, or undefined for none. */
  tick(t: number, history: readonly RouterSample[], counts: Counts): number | undefined;
}

export interface Bounds {
  minReplicas: number;
  maxReplicas: number;
  /** Concurrency one replica should carry, the same for every autoscaler. */
  target: number;
}

const meanOfLast = (history: readonly RouterSample[], seconds: number): number => {
  const window = history.slice(-seconds);
  let sum = 0;
  for (const s of window) sum += requestsInSystem(s);
  return window.length === 0 ? 0 : sum / window.length;
};

const clamp = (n: number, b: Bounds) => Math.min(b.maxReplicas, Math.max(b.minReplicas, n));

export class Ours implements Autoscaler {
  readonly name: string;
  private memory: AutoscalerMemory | undefined;
  readonly decisions: { t: number; replicas: number; reason: string }[] = [];
  private readonly limits: AutoscalingSpec;
  private readonly replicaStartSeconds: number | undefined;
  /** `replicaStartSeconds`: what an operator would have seen its pods take to start, if anything. */
  constructor(limits: AutoscalingSpec, replicaStartSeconds?: number, name = "ours") {
    this.limits = limits;
    this.replicaStartSeconds = replicaStartSeconds;
    this.name = name;
  }

  tick(t: number, history: readonly RouterSample[], counts: Counts): number {
    const decision = decide({
      now: t * 1000,
      samples: history.slice(-this.limits.stableWindowSeconds),
      replicas: counts.replicas,
      loadingReplicas: counts.replicas - counts.ready,
      limits: this.limits,
      replicaStartSeconds: this.replicaStartSeconds,
      memory: this.memory,
    });
    this.memory = decision.memory;
    if (decision.replicas !== counts.replicas)
      this.decisions.push({ t, replicas: decision.replicas, reason: decision.reason });
    return decision.replicas;
  }
}

export class Kpa implements Autoscaler {
  readonly name = "knative-kpa";
  static readonly tickSeconds = 2;
  static readonly stableWindowSeconds = 60;
  static readonly panicWindowSeconds = 6;
  static readonly panicThreshold = 2;
  static readonly maxScaleUpRate = 1000;
  static readonly maxScaleDownRate = 2;
  private panicTime: number | undefined;
  private maxPanicPods = 0;
  private readonly bounds: Bounds;
  constructor(bounds: Bounds) {
    this.bounds = bounds;
  }

  tick(t: number, history: readonly RouterSample[], counts: Counts): number | undefined {
    if (t % Kpa.tickSeconds !== 0) return undefined;
    const readyPods = Math.max(1, counts.ready);
    const maxScaleUp = Math.ceil(Kpa.maxScaleUpRate * readyPods);
    const maxScaleDown = Math.floor(readyPods / Kpa.maxScaleDownRate);
    const stable = Math.ceil(meanOfLast(history, Kpa.stableWindowSeconds) / this.bounds.target);
    const panic = Math.ceil(meanOfLast(history, Kpa.panicWindowSeconds) / this.bounds.target);
    const desiredStable = Math.min(Math.max(stable, maxScaleDown), maxScaleUp);
    const desiredPanic = Math.min(Math.max(panic, maxScaleDown), maxScaleUp);
    const over = panic / readyPods >= Kpa.panicThreshold;
    if (over) this.panicTime = t;
    else if (this.panicTime !== undefined && this.panicTime + Kpa.stableWindowSeconds < t) {
      this.panicTime = undefined;
      this.maxPanicPods = 0;
    }
    let desired = desiredStable;
    if (this.panicTime !== undefined) {
      this.maxPanicPods = Math.max(this.maxPanicPods, desiredPanic);
      desired = this.maxPanicPods;
    }
    return clamp(desired, this.bounds);
  }
}

export class KedaHpa implements Autoscaler {
  readonly name = "keda-hpa";
  static readonly pollSeconds = 30;
  static readonly syncSeconds = 15;
  static readonly tolerance = 0.1;
  static readonly scaleDownStabilizationSeconds = 300;
  private polled: number | undefined;
  private recommendations: { t: number; replicas: number }[] = [];
  /**
   * Phases of the poll and the sync against the trace's clock: a step at a whole minute meets the
   * next poll 15 s later and the sync after that 7 s later, the mean waits of a 30 s poll and a
   * 15 s sync.
   */
  private readonly bounds: Bounds;
  private readonly pollPhase: number;
  private readonly syncPhase: number;
  constructor(bounds: Bounds, pollPhase = 15, syncPhase = 7) {
    this.bounds = bounds;
    this.pollPhase = pollPhase;
    this.syncPhase = syncPhase;
  }

  tick(t: number, history: readonly RouterSample[], counts: Counts): number | undefined {
    const latest = history[history.length - 1];
    if (latest && (t - this.pollPhase) % KedaHpa.pollSeconds === 0) this.polled = requestsInSystem(latest);
    if ((t - this.syncPhase) % KedaHpa.syncSeconds !== 0 || this.polled === undefined) return undefined;
    const current = counts.replicas;
    if (current === 0) return undefined;
    const ratio = this.polled / (this.bounds.target * current);
    const recommendation =
      Math.abs(ratio - 1) <= KedaHpa.tolerance ? current : Math.ceil(ratio * current - 1e-9);
    this.recommendations = this.recommendations.filter(
      (r) => r.t > t - KedaHpa.scaleDownStabilizationSeconds,
    );
    this.recommendations.push({ t, replicas: recommendation });
    // Scale-up stabilisation is 0 s by default: the newest recommendation; scale-down: the highest.
    const down = Math.max(...this.recommendations.map((r) => r.replicas));
    let desired = current;
    if (recommendation > current) desired = Math.min(recommendation, Math.max(2 * current, current + 4));
    else if (down < current) desired = down;
    return clamp(desired, this.bounds);
  }
}

export class Fixed implements Autoscaler {
  readonly name = "fixed";
  private readonly replicas: number;
  constructor(replicas: number) {
    this.replicas = replicas;
  }
  tick(): number {
    return this.replicas;
  }
}
