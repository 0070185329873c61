// Which replica gets a request: a pure function of the replicas' load and speed and of the
// request's affinity key, so every policy here is unit-tested without a socket.
//
// 1. Load. The router's own count of requests in flight to a replica is exact but blind to
//    other routers; the engine's running and waiting counts see everyone but are up to one
//    scrape old. The estimate takes the engine's count, adds what this router sent (net)
//    since that scrape, and never goes below the router's own count. The cost of a replica
//    counts its waiting requests once more: they queue behind the running ones.
// 2. Speed. Each replica's seconds per output token (an EWMA of what it delivers) makes a
//    replica twice as slow count as twice as loaded: an H100 and an MI300X behind one model
//    are weighted by what they do. A replica not measured yet counts as the mean of the others.
// 3. Affinity (prefix, or session): rendezvous hashing picks the replica that owns the key,
//    as long as its load stays within (1+ε) of its speed-weighted share of the total, plus a
//    small slack ("consistent hashing with bounded loads"); beyond it the key's next owner in
//    rendezvous order is tried, so a hot prefix spreads over a few replicas instead of
//    overloading one.
// 4. Otherwise the least cost wins, with power of two choices among the candidates within δ
//    of the best: stale metrics then spread a burst instead of sending it all to one replica
//    that looked idle 200 ms ago.
import { fnv1a32, rendezvousScore } from "./hash.ts";

export interface Candidate {
  /** Stable identity, e.g. "10.0.0.7:8000". */
  id: string;
  /** fnv1a32(id), computed once per replica. */
  idHash: number;
  /** Requests this router has in flight to the replica. */
  outstanding: number;
  /** The engine's own figures from the last scrape; undefined before the first one. */
  engine?: {
    running: number;
    waiting: number;
    kvCacheUsage: number | undefined;
    outstandingAtScrape: number;
  };
  /** Seconds per output token (EWMA); undefined until measured. */
  secondsPerToken: number | undefined;
}

export interface PickerOptions {
  /** ε: how far above its fair share an affinity owner may be loaded. */
  loadBound: number;
  /**
   * Requests an affinity owner may take beyond its (1+ε) share: under light load a share is
   * one or two requests, and a continuously batching engine runs a few more at almost no cost.
   */
  loadSlack: number;
  /** δ: costs within (1+δ) of the best are near-equal. */
  nearEqual: number;
  random: () => number;
}

export const defaultPickerOptions: PickerOptions = {
  loadBound: 0.25,
  loadSlack: 4,
  nearEqual: 0.1,
  random: Math.random,
};

export interface Affinity {
  /** fnv1a32 of the prefix or session id. */
  keyHash: number;
  /** The replica this key went to last (session affinity); preferred when within its bound. */
  previous?: string;
}

export type PickReason = "session" | "affinity" | "least-load" | "only";

export interface Pick {
  candidate: Candidate;
  reason: PickReason;
}

/** Requests on a replica, as described above: what the affinity bound counts. */
export function estimatedLoad(c: Candidate): number {
  if (!c.engine) return c.outstanding;
  const e = c.engine;
  const sinceScrape = c.outstanding - e.outstandingAtScrape;
  return Math.max(c.outstanding, e.running + e.waiting + sinceScrape);
}

/** Relative speed of each candidate (1 / seconds per token), unknowns at the known mean. */
export function speedWeights(candidates: readonly Candidate[]): number[] {
  let sum = 0;
  let known = 0;
  for (const c of candidates)
    if (c.secondsPerToken !== undefined && c.secondsPerToken > 0) {
      sum += 1 / c.secondsPerToken;
      known++;
    }
  const fallback = known > 0 ? sum / known : 1;
  return candidates.map((c) =>
    c.secondsPerToken !== undefined && c.secondsPerToken > 0 ? 1 / c.secondsPerToken : fallback,
  );
}

/**
 * Expected cost of one more request on a candidate: its load, with the engine's waiting
 * requests counted twice (they have no KV-cache room yet, so they wait for running ones to
 * end), divided by its speed, and raised as the KV cache fills.
 */
export function cost(c: Candidate, weight: number): number {
  const kv = Math.min(1, Math.max(0, c.engine?.kvCacheUsage ?? 0));
  const waiting = c.engine?.waiting ?? 0;
  return ((estimatedLoad(c) + waiting + 1) / weight) * (1 / (1 - 0.5 * kv));
}

/** Picks among `candidates` (ready, breaker closed); undefined only when there are none. */
export function pickReplica(
  candidates: readonly Candidate[],
  affinity: Affinity | undefined,
  options: PickerOptions = defaultPickerOptions,
): Pick | undefined {
  const first = candidates[0];
  if (!first) return undefined;
  if (candidates.length === 1) return { candidate: first, reason: "only" };
  const weights = speedWeights(candidates);
  const loads = candidates.map(estimatedLoad);

  if (affinity) {
    const chosen = affinityOwner(candidates, weights, loads, affinity, options.loadBound, options.loadSlack);
    if (chosen) return chosen;
  }

  const costs = candidates.map((c, i) => cost(c, weights[i] as number));
  let best = Number.POSITIVE_INFINITY;
  for (const x of costs) best = Math.min(best, x);
  const near: number[] = [];
  for (let i = 0; i < costs.length; i++)
    if ((costs[i] as number) <= best * (1 + options.nearEqual)) near.push(i);
  if (near.length === 1)
    return { candidate: candidates[near[0] as number] as Candidate, reason: "least-load" };
  // Power of two choices among the near-equal: two distinct at random, the cheaper wins.
  const ia = Math.min(near.length - 1, Math.floor(options.random() * near.length));
  let ib = Math.min(near.length - 2, Math.floor(options.random() * (near.length - 1)));
  if (ib >= ia) ib++;
  const a = near[ia] as number;
  const b = near[ib] as number;
  const winner = (costs[b] as number) < (costs[a] as number) ? b : a;
  return { candidate: candidates[winner] as Candidate, reason: "least-load" };
}

/**
 * The affinity owner within its bound: the remembered replica first, then replicas in
 * rendezvous order. A replica's bound is (1+ε) × (total load + 1) × its speed share, rounded
 * up, plus the slack; the total exceeds the sum of loads, so some replica is always within.
 */
function affinityOwner(
  candidates: readonly Candidate[],
  weights: readonly number[],
  loads: readonly number[],
  affinity: Affinity,
  loadBound: number,
  loadSlack: number,
): Pick | undefined {
  let totalLoad = 1;
  let totalWeight = 0;
  for (let i = 0; i < candidates.length; i++) {
    totalLoad += loads[i] as number;
    totalWeight += weights[i] as number;
  }
  const within = (i: number): boolean =>
    (loads[i] as number) <
    Math.ceil(((1 + loadBound) * totalLoad * (weights[i] as number)) / totalWeight) + loadSlack;

  if (affinity.previous !== undefined) {
    const i = candidates.findIndex((c) => c.id === affinity.previous);
    if (i >= 0 && within(i)) return { candidate: candidates[i] as Candidate, reason: "session" };
  }
  // Ownership ignores speed: measured speeds wobble, and a key whose owner changes with
  // every wobble never finds its prefix cached. Speed enters through the bound instead.
  const order = candidates.map((c, i) => ({ i, score: rendezvousScore(affinity.keyHash, c.idHash, 1) }));
  order.sort((x, y) => y.score - x.score);
  for (const { i } of order)
    if (within(i)) return { candidate: candidates[i] as Candidate, reason: "affinity" };
  return undefined;
}

/** The affinity key of a request: its session id when it has one, else its prompt prefix. */
export function affinityKeyHash(
  sessionId: string | undefined,
  prefix: string,
  minPrefix: number,
): number | undefined {
  if (sessionId) return fnv1a32(`s:${sessionId}`);
  if (prefix.length >= minPrefix && prefix.length > 0) return fnv1a32(prefix);
  return undefined;
}
