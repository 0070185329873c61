// The autoscaler's loop: once a second per autoscaled service (the reconcile asks to run again
// after a second), one reading of the router's figures, one decision. The windows of samples
// and the decision's memory live in this process, as Knative's autoscaler keeps its own: they
// are rebuilt within a stable window after a restart, while status.desiredReplicas keeps the
// count itself, so a restarted operator neither forgets nor jumps.
import { request } from "node:http";
import type { AutoscalingSpec } from "../../../crds/runtime/index.ts";
import { type AutoscalerMemory, type Decision, decide } from "./decide.ts";
import type { RouterSample } from "./demand.ts";

/** The router's per-service entry of GET /router/stats, as far as the loop reads it. */
export interface RouterServiceStats {
  readyReplicas: number;
  routerQueued: number;
  inFlight: number;
  engineRunning: number;
  engineWaiting: number;
  kvCacheUsageMean: number | null;
  requestsPerSecond: { "1s": number };
  tokensPerSecond: { "1s": number };
  lastRequestTime: string | null;
}

export function toSample(stats: RouterServiceStats, time: number): RouterSample {
  return {
    time,
    readyReplicas: stats.readyReplicas,
    routerQueued: stats.routerQueued,
    inFlight: stats.inFlight,
    engineRunning: stats.engineRunning,
    engineWaiting: stats.engineWaiting,
    kvCacheUsageMean: stats.kvCacheUsageMean ?? 0,
    requestsPerSecond: stats.requestsPerSecond["1s"],
    tokensPerSecond: stats.tokensPerSecond["1s"],
    lastRequestTime: stats.lastRequestTime ? Date.parse(stats.lastRequestTime) : undefined,
  };
}

/** One GET of a router's stats; undefined when it does not answer within the timeout. */
export function fetchRouterStats(address: string, timeoutMs = 800): Promise<RouterServiceStats | undefined> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), path: "/router/stats", timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            services?: RouterServiceStats[];
          };
          // The operator's router fronts one service: its first entry is this service's.
          resolve(res.statusCode === 200 ? body.services?.[0] : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

export interface ReplicaFacts {
  /** Replicas that exist or are admitted, ready or loading. */
  replicas: number;
  loading: number;
  /** Seconds the newest replica took from creation to Ready, when known. */
  replicaStartSeconds: number | undefined;
}

interface State {
  samples: RouterSample[];
  memory: AutoscalerMemory | undefined;
  decision: Decision | undefined;
  sampledAt: number;
}

/** A reconcile may run more often than once a second (other events); one sample per second. */
const minSampleGapMs = 900;

export class AutoscalerLoop {
  private readonly states = new Map<string, State>();
  private readonly fetchStats: (address: string) => Promise<RouterServiceStats | undefined>;

  constructor(fetchStats = fetchRouterStats) {
    this.fetchStats = fetchStats;
  }

  /**
   * Takes a sample from the router at `address` (when a second has passed since the last) and
   * decides; returns the latest decision, or undefined before the first one.
   */
  async step(
    key: string,
    limits: AutoscalingSpec,
    address: string | undefined,
    facts: ReplicaFacts,
    now: number,
  ): Promise<Decision | undefined> {
    const state = this.states.get(key) ?? {
      samples: [],
      memory: undefined,
      decision: undefined,
      sampledAt: 0,
    };
    this.states.set(key, state);
    if (now - state.sampledAt < minSampleGapMs) return state.decision;
    const stats = address ? await this.fetchStats(address) : undefined;
    if (!stats) return state.decision;
    state.sampledAt = now;
    state.samples.push(toSample(stats, now));
    const keep = now - (limits.stableWindowSeconds + 2) * 1000;
    while ((state.samples[0]?.time ?? now) < keep) state.samples.shift();
    const decision = decide({
      now,
      samples: state.samples,
      replicas: facts.replicas,
      loadingReplicas: facts.loading,
      limits,
      ...(facts.replicaStartSeconds !== undefined ? { replicaStartSeconds: facts.replicaStartSeconds } : {}),
      memory: state.memory,
    });
    state.memory = decision.memory;
    state.decision = decision;
    return decision;
  }

  forget(key: string): void {
    this.states.delete(key);
  }
}
