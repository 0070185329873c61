// The quota ledger of one pass: what each team uses of each quota resource (devices of a class,
// CPU, memory), what its cohort can lend, and whether a demand fits. The arithmetic is Kueue's:
// a team's guaranteed part (nominal minus lendingLimit) is never lent; the rest of every team's
// nominal is the cohort's pooled capacity, and the cohort's usage is what teams use beyond their
// guaranteed parts. A demand fits when the team stays within nominal + borrowingLimit and the
// cohort within its pooled capacity, so a cohort never lends what it does not have.
import { formatCpu, formatMemory } from "../format.ts";
import { globMatches } from "../match.ts";
import type { PoolInput } from "../types.ts";
import type { ResourceQuota, TeamInput } from "./types.ts";

/** Quota resource index and amount pairs. */
export type Demand = readonly (readonly [number, number])[];

interface Quota {
  readonly nominal: number;
  readonly borrowingLimit: number;
  /** Never lent: nominal - lendingLimit. */
  readonly guaranteed: number;
}

export interface TeamState {
  readonly index: number;
  readonly input: TeamInput;
  readonly cohort: number;
  /** Quota by resource index; a resource absent here is not limited (devices: not allowed). */
  readonly quotas: Map<number, Quota>;
  readonly used: Map<number, number>;
  /** Per pool index: the resource index of the device class the pool counts against, -1 none. */
  readonly classOfPool: Int32Array;
}

interface CohortState {
  /** Pooled (lendable) nominal per resource. */
  readonly capacity: Map<number, number>;
  /** Usage beyond guaranteed parts per resource. */
  readonly used: Map<number, number>;
}

/** Why a demand does not fit: the resource that holds it and the numbers a person needs. */
export interface QuotaBlock {
  readonly team: string;
  readonly resource: string;
  readonly used: number;
  readonly nominal: number;
  readonly need: number;
  /** What the cohort could lend the team now, beyond its own unused nominal. */
  readonly canLend: number;
  /** Whether more could never fit: beyond nominal + borrowingLimit, or beyond the cohort's capacity. */
  readonly never: boolean;
  /** A device demand on a pool no class of the team covers. */
  readonly noClassFor?: string | undefined;
}

const CPU = "cpu";
const MEMORY = "memory";

function poolInClass(pool: PoolInput, c: TeamInput["devices"][number]): boolean {
  if (c.pools && c.pools.length > 0 && !c.pools.includes(pool.name)) return false;
  if (c.vendor && c.vendor !== pool.vendor) return false;
  if (c.models && c.models.length > 0 && !c.models.some((g) => globMatches(g, pool.model))) return false;
  return true;
}

const toQuota = (q: ResourceQuota): Quota => {
  const nominal = Math.max(0, q.nominal);
  const lend = q.lendingLimit === undefined ? nominal : Math.min(nominal, Math.max(0, q.lendingLimit));
  return {
    nominal,
    borrowingLimit: q.borrowingLimit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, q.borrowingLimit),
    guaranteed: nominal - lend,
  };
};

const get = (m: ReadonlyMap<number, number>, k: number): number => m.get(k) ?? 0;

export class QuotaLedger {
  readonly teams: TeamState[] = [];
  readonly teamIndex = new Map<string, number>();
  readonly resourceNames: string[] = [];
  private readonly resourceIndex = new Map<string, number>();
  private readonly cohorts: CohortState[] = [];
  readonly cpu: number;
  readonly memory: number;

  constructor(teams: readonly TeamInput[], pools: readonly PoolInput[]) {
    this.cpu = this.resource(CPU);
    this.memory = this.resource(MEMORY);
    const cohortIndex = new Map<string, number>();
    for (const input of [...teams].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (this.teamIndex.has(input.name))
        throw new Error(`placement input: team "${input.name}" appears twice`);
      const cohortName = input.cohort ? `c:${input.cohort}` : `t:${input.name}`;
      let cohort = cohortIndex.get(cohortName);
      if (cohort === undefined) {
        cohort = this.cohorts.length;
        cohortIndex.set(cohortName, cohort);
        this.cohorts.push({ capacity: new Map(), used: new Map() });
      }
      const quotas = new Map<number, Quota>();
      const classOfPool = new Int32Array(pools.length).fill(-1);
      for (const c of input.devices) {
        const r = this.resource(`devices/${c.name}`);
        if (quotas.has(r)) continue;
        quotas.set(r, toQuota(c));
        pools.forEach((pool, p) => {
          if (classOfPool[p] === -1 && poolInClass(pool, c)) classOfPool[p] = r;
        });
      }
      if (input.cpu) quotas.set(this.cpu, toQuota(input.cpu));
      if (input.memory) quotas.set(this.memory, toQuota(input.memory));
      const state = this.cohorts[cohort] as CohortState;
      for (const [r, q] of quotas) state.capacity.set(r, get(state.capacity, r) + q.nominal - q.guaranteed);
      const index = this.teams.length;
      this.teams.push({ index, input, cohort, quotas, used: new Map(), classOfPool });
      this.teamIndex.set(input.name, index);
    }
  }

  private resource(name: string): number {
    let r = this.resourceIndex.get(name);
    if (r === undefined) {
      r = this.resourceNames.length;
      this.resourceNames.push(name);
      this.resourceIndex.set(name, r);
    }
    return r;
  }

  team(t: number): TeamState {
    return this.teams[t] as TeamState;
  }

  /** The quota demand of devices on pools (by pool index) plus CPU and memory; undefined pool = no class. */
  demand(
    t: number,
    devicesByPool: readonly (readonly [number, number])[],
    cpuMillis: number,
    memoryBytes: number,
  ): { demand: Demand; noClassPool: number | undefined } {
    const team = this.team(t);
    // Small and hot (every pool a gate looks at): a list merged in place, no map.
    const out: [number, number][] = [];
    let noClassPool: number | undefined;
    for (const [p, devices] of devicesByPool) {
      if (devices <= 0) continue;
      const r = team.classOfPool[p] as number;
      if (r < 0) {
        noClassPool ??= p;
        continue;
      }
      const entry = out.find((e) => e[0] === r);
      if (entry) entry[1] += devices;
      else out.push([r, devices]);
    }
    if (cpuMillis > 0 && team.quotas.has(this.cpu)) out.push([this.cpu, cpuMillis]);
    if (memoryBytes > 0 && team.quotas.has(this.memory)) out.push([this.memory, memoryBytes]);
    return { demand: out, noClassPool };
  }

  /** The most of resource r team t may add now. */
  maxAdmissible(t: number, r: number): number {
    const team = this.team(t);
    const q = team.quotas.get(r);
    if (!q) return Number.POSITIVE_INFINITY;
    const cohort = this.cohorts[team.cohort] as CohortState;
    const used = get(team.used, r);
    const beyond = Math.max(0, used - q.guaranteed);
    const room = get(cohort.capacity, r) - get(cohort.used, r) + beyond;
    return Math.max(0, Math.min(q.nominal + q.borrowingLimit - used, room + q.guaranteed - used));
  }

  /** Undefined when the demand fits team t's quota and its cohort's; else the first resource that holds it. */
  check(t: number, demand: Demand): QuotaBlock | undefined {
    const team = this.team(t);
    for (const [r, need] of demand) {
      const q = team.quotas.get(r);
      if (!q) continue;
      const max = this.maxAdmissible(t, r);
      if (need <= max) continue;
      const used = get(team.used, r);
      const ownLeft = Math.max(0, q.nominal - used);
      const cohortCapacity = get((this.cohorts[team.cohort] as CohortState).capacity, r);
      return {
        team: team.input.name,
        resource: this.resourceNames[r] as string,
        used,
        nominal: q.nominal,
        need,
        canLend: Math.max(0, max - ownLeft),
        never: need > q.nominal + q.borrowingLimit || need > cohortCapacity + q.guaranteed,
      };
    }
    return undefined;
  }

  /** Bumped by every charge to a team's cohort: shares computed before are stale. */
  private readonly versions: number[] = [];

  cohortVersion(t: number): number {
    return this.versions[this.team(t).cohort] ?? 0;
  }

  /**
   * Whether `demand` of team t would fit once the usage of `freed` (team and demand pairs) is
   * gone; the ledger itself is left as it is (a preemption search asks this many times).
   */
  fitsWithout(t: number, demand: Demand, freed: readonly { team: number; demand: Demand }[]): boolean {
    const team = this.team(t);
    for (const [r, need] of demand) {
      const q = team.quotas.get(r);
      if (!q) continue;
      // Each freeing team's use of r, before and after, and so the cohort's use beyond guarantees.
      const byTeam = new Map<number, number>();
      for (const f of freed) {
        if (!this.sameCohort(f.team, t)) continue;
        for (const [fr, amount] of f.demand)
          if (fr === r) byTeam.set(f.team, (byTeam.get(f.team) ?? 0) + amount);
      }
      let cohortUsed = get((this.cohorts[team.cohort] as CohortState).used, r);
      let used = get(team.used, r);
      for (const [ft, amount] of byTeam) {
        const g = this.team(ft).quotas.get(r)?.guaranteed ?? 0;
        const before = get(this.team(ft).used, r);
        cohortUsed -= Math.max(0, before - g) - Math.max(0, before - amount - g);
        if (ft === t) used -= amount;
      }
      const capacity = get((this.cohorts[team.cohort] as CohortState).capacity, r);
      const room = capacity - cohortUsed + Math.max(0, used - q.guaranteed);
      const max = Math.min(q.nominal + q.borrowingLimit - used, room + q.guaranteed - used);
      if (need > max) return false;
    }
    return true;
  }

  /** Adds (sign 1) or removes (sign -1) usage of team t. */
  charge(t: number, demand: Demand, sign: 1 | -1 = 1): void {
    const team = this.team(t);
    this.versions[team.cohort] = (this.versions[team.cohort] ?? 0) + 1;
    const cohort = this.cohorts[team.cohort] as CohortState;
    for (const [r, amount] of demand) {
      const q = team.quotas.get(r);
      const before = get(team.used, r);
      const after = before + sign * amount;
      team.used.set(r, after);
      if (!q) continue;
      const delta = Math.max(0, after - q.guaranteed) - Math.max(0, before - q.guaranteed);
      cohort.used.set(r, get(cohort.used, r) + delta);
    }
  }

  /**
   * Dominant resource share of team t once `extra` is added: the largest fraction, over the
   * resources `extra` asks for (all of the team's when it asks for none), of the cohort's pooled
   * capacity that the team uses beyond nominal, divided by its weight. Only the resources asked
   * for count: borrowing idle A100s that nobody wants must not cost a team its share of the H100s.
   * Within nominal on all of them it is negative, the largest fraction of nominal the team would
   * use minus 1: entitled work always goes before borrowing, and among entitled teams the one
   * furthest below its nominal goes first (when the cluster cannot give every team its nominal,
   * queue age alone would decide who gets it).
   */
  share(t: number, extra: Demand = []): number {
    const team = this.team(t);
    const cohort = this.cohorts[team.cohort] as CohortState;
    let dominant = 0;
    let within = Number.NEGATIVE_INFINITY;
    const consider = (r: number, add: number): void => {
      const q = team.quotas.get(r);
      if (!q) return;
      const used = get(team.used, r) + add;
      const borrowed = used - q.nominal;
      if (borrowed <= 0) {
        if (q.nominal > 0) within = Math.max(within, used / q.nominal - 1);
        return;
      }
      const capacity = get(cohort.capacity, r);
      dominant = Math.max(dominant, capacity > 0 ? borrowed / capacity : Number.POSITIVE_INFINITY);
    };
    if (extra.length > 0) for (const [r, amount] of extra) consider(r, amount);
    else for (const r of team.quotas.keys()) consider(r, 0);
    if (dominant === 0) return Number.isFinite(within) ? within : 0;
    const weight = team.input.weight;
    return weight > 0 ? dominant / weight : Number.POSITIVE_INFINITY;
  }

  /** Team t uses more than nominal of resource r (or of any resource when r is absent). */
  borrows(t: number, r?: number): boolean {
    const team = this.team(t);
    for (const [res, q] of team.quotas) {
      if (r !== undefined && res !== r) continue;
      if (get(team.used, res) > q.nominal) return true;
    }
    return false;
  }

  /** Within nominal on every resource of the demand once it is added. */
  withinNominal(t: number, demand: Demand): boolean {
    const team = this.team(t);
    for (const [r, need] of demand) {
      const q = team.quotas.get(r);
      if (q && get(team.used, r) + need > q.nominal) return false;
    }
    return true;
  }

  sameCohort(a: number, b: number): boolean {
    return this.team(a).cohort === this.team(b).cohort;
  }

  used(t: number, r: number): number {
    return get(this.team(t).used, r);
  }

  nominal(t: number, r: number): number | undefined {
    return this.team(t).quotas.get(r)?.nominal;
  }
}

/** "team ml-research uses 56 of 64 h100; needs 16; cohort can lend 0". */
export function describeBlock(block: QuotaBlock): string {
  const unit = (n: number): string =>
    block.resource === CPU
      ? `${formatCpu(n)} CPU`
      : block.resource === MEMORY
        ? `${formatMemory(n)} memory`
        : `${n}`;
  const name = block.resource.startsWith("devices/") ? ` ${block.resource.slice("devices/".length)}` : "";
  if (block.resource === CPU || block.resource === MEMORY) {
    return `team ${block.team} uses ${unit(block.used)} of ${unit(block.nominal)}; needs ${unit(block.need)}; cohort can lend ${unit(block.canLend)}`;
  }
  return `team ${block.team} uses ${block.used} of ${block.nominal}${name}; needs ${block.need}; cohort can lend ${block.canLend}`;
}
