// GET /router/stats: what an autoscaler needs per fronted service and model, as JSON. Built
// from counters the request path keeps anyway, so answering costs a walk over the replicas.
import type { Admission } from "./admission.ts";
import type { ReplicaRegistry } from "./replicas.ts";

export interface ReplicaStats {
  address: string;
  pool: string | null;
  vendor: string | null;
  ready: boolean;
  breaker: string;
  outstanding: number;
  running: number | null;
  waiting: number | null;
  kvCacheUsage: number | null;
  secondsPerToken: number | null;
  /** Tokens this router saw the replica deliver, per second over the last 10 s. */
  tokensPerSecond: number;
  /** The engine's own generation rate between its last two scrapes. */
  engineTokensPerSecond: number | null;
}

export interface ServiceStats {
  service: string;
  model: string;
  readyReplicas: number;
  /** Requests for the model waiting at the router (shared by every service of the model). */
  routerQueued: number;
  inFlight: number;
  engineRunning: number;
  engineWaiting: number;
  kvCacheUsageMean: number | null;
  requestsPerSecond: { "1s": number; "10s": number };
  tokensPerSecond: { "1s": number; "10s": number };
  lastRequestTime: string | null;
  replicas: ReplicaStats[];
}

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

export function routerStats(
  registry: ReplicaRegistry,
  admission: Admission,
  nowMs: number,
): { services: ServiceStats[] } {
  const services: ServiceStats[] = [];
  for (const group of registry.allGroups()) {
    for (const service of group.services) {
      const replicas = group.replicas.filter((r) => r.service === service);
      let running = 0;
      let waiting = 0;
      let kvSum = 0;
      let kvCount = 0;
      let inFlight = 0;
      for (const r of replicas) {
        inFlight += r.outstanding;
        if (!r.engine) continue;
        running += r.engine.running;
        waiting += r.engine.waiting;
        if (r.engine.kvCacheUsage !== undefined) {
          kvSum += r.engine.kvCacheUsage;
          kvCount++;
        }
      }
      // Rates are per model: one service per model is the usual case, and a request is only
      // tied to a service once it has a replica.
      services.push({
        service,
        model: group.model,
        readyReplicas: replicas.filter((r) => r.ready).length,
        routerQueued: admission.queuedForModel(group.model),
        inFlight,
        engineRunning: running,
        engineWaiting: waiting,
        kvCacheUsageMean: kvCount > 0 ? round(kvSum / kvCount) : null,
        requestsPerSecond: {
          "1s": round(group.requests.perSecond(nowMs, 1)),
          "10s": round(group.requests.perSecond(nowMs, 10)),
        },
        tokensPerSecond: {
          "1s": round(group.tokens.perSecond(nowMs, 1)),
          "10s": round(group.tokens.perSecond(nowMs, 10)),
        },
        lastRequestTime:
          group.lastRequestTime === undefined ? null : new Date(group.lastRequestTime).toISOString(),
        replicas: replicas.map((r) => ({
          address: r.id,
          pool: r.pool ?? null,
          vendor: r.vendor ?? null,
          ready: r.ready,
          breaker: r.breaker.state(nowMs),
          outstanding: r.outstanding,
          running: r.engine?.running ?? null,
          waiting: r.engine?.waiting ?? null,
          kvCacheUsage: r.engine?.kvCacheUsage ?? null,
          secondsPerToken: r.secondsPerToken === undefined ? null : round(r.secondsPerToken, 6),
          tokensPerSecond: round(r.tokens.perSecond(nowMs, 10)),
          engineTokensPerSecond:
            r.engineTokensPerSecond === undefined ? null : round(r.engineTokensPerSecond),
        })),
      });
    }
  }
  return { services };
}
