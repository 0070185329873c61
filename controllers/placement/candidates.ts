// Which pools a requirement may ever use, in preference order. Computed once per distinct
// requirement per pass: thousands of queued workloads usually share a handful of requirements.
import { poolMismatch, requirementSignature } from "./match.ts";
import type { AcceleratorRequirement, PoolInput } from "./types.ts";

export interface Candidate {
  /** Index into the name-sorted pools. */
  readonly pool: number;
  /** Position in the requirement's pin list; 0 for every pool when nothing is pinned. */
  readonly rank: number;
}

export interface PoolCandidates {
  /** Distinct per distinct requirement within a pass. */
  readonly id: number;
  readonly signature: string;
  /** By rank, then cost, then pool name: the order in which equally good fits are preferred. */
  readonly matching: readonly Candidate[];
  /** Pinned pool names that no AcceleratorPool has. */
  readonly missingPins: readonly string[];
  /** Pools that do not match, with why (only pinned pools when there is a pin). */
  readonly mismatched: readonly { readonly pool: number; readonly why: string }[];
}

/** Per pass: requirements already seen. */
export class CandidateCache {
  readonly bySignature = new Map<string, PoolCandidates>();
  /** Requirements with nothing but a memory floor, the common case, skip building a signature. */
  readonly byMemoryOnly = new Map<number, PoolCandidates>();
}

export function candidatesFor(
  req: AcceleratorRequirement,
  pools: readonly PoolInput[],
  cache: CandidateCache,
): PoolCandidates {
  const plain =
    !req.vendors?.length &&
    !req.models?.length &&
    !req.pools?.length &&
    !req.interconnect &&
    !req.replicaShape;
  const minMemory = req.minMemoryGiB ?? 0;
  if (plain) {
    const hit = cache.byMemoryOnly.get(minMemory);
    if (hit) return hit;
  }
  const signature = requirementSignature(req);
  const cached = cache.bySignature.get(signature);
  if (cached) {
    if (plain) cache.byMemoryOnly.set(minMemory, cached);
    return cached;
  }
  const pins = req.pools && req.pools.length > 0 ? req.pools : undefined;
  const matching: Candidate[] = [];
  const mismatched: { pool: number; why: string }[] = [];
  pools.forEach((pool, p) => {
    const pinRank = pins ? pins.indexOf(pool.name) : 0;
    if (pinRank < 0) return;
    const why = poolMismatch(pool, req);
    if (why === undefined) matching.push({ pool: p, rank: pinRank });
    else mismatched.push({ pool: p, why });
  });
  const cost = (c: Candidate) => pools[c.pool]?.costPerDeviceHour ?? Number.POSITIVE_INFINITY;
  matching.sort((a, b) => a.rank - b.rank || compareCost(cost(a), cost(b)) || a.pool - b.pool);
  const known = new Set(pools.map((p) => p.name));
  const missingPins = pins ? [...new Set(pins)].filter((name) => !known.has(name)) : [];
  const result: PoolCandidates = { id: cache.bySignature.size, signature, matching, missingPins, mismatched };
  cache.bySignature.set(signature, result);
  if (plain) cache.byMemoryOnly.set(minMemory, result);
  return result;
}

function compareCost(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
