// Quotas within one scheduling pass: the engine (engine.ts) asks this object which workload goes
// next (fair sharing between teams, priority and age within a team), which pools a workload's
// team may use (the pool gate), whether what was placed fits the team's quota (else the engine
// rolls it back), and, for a workload that did not fit, whom to preempt. Pure and deterministic:
// a function of the pass's input only.
import type { ClusterState, Plan, Shape } from "../cluster.ts";
import { plural } from "../format.ts";
import {
  type Placed,
  type PreparedGroup,
  type PreparedWorkload,
  podsNeeded,
  poolKeyOn,
  shapeOn,
} from "../pass.ts";
import type { QueuedCode } from "../types.ts";
import { type Demand, describeBlock, type QuotaBlock, QuotaLedger } from "./ledger.ts";
import type { AdmittedWorkload, Preemption, QuotaInput, TeamUsage } from "./types.ts";
import { chooseVictims, type VictimCandidate } from "./victims.ts";

interface Victim extends VictimCandidate {
  readonly admitted: AdmittedWorkload;
  readonly team: number;
  readonly demand: Demand;
  /** What its eviction frees on the nodes of the pool searched: node index, devices, CPU, memory. */
  readonly freed: readonly number[];
  /** Only these of its surplus pods go (a RayCluster's workers, serving replicas). */
  readonly surplus?: readonly SurplusFacts[] | undefined;
  /** All the surplus pods it offers, and how many of them may go. */
  readonly offered?: { readonly pods: readonly SurplusFacts[]; readonly limit: number } | undefined;
}

/** A surplus pod resolved to indices (undefined node or pool: not in the cluster as known). */
interface SurplusFacts {
  readonly group: string;
  readonly index: number;
  readonly name: string | undefined;
  /** Pods of its group: the first surplus pod's index plus one. */
  readonly groupSize: number;
  readonly pool: number | undefined;
  readonly node: number | undefined;
  readonly devices: number;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

/** An admitted workload's facts, resolved to indices once per pass. */
interface AdmittedFacts {
  readonly admitted: AdmittedWorkload;
  readonly team: number;
  readonly demand: Demand;
  /** Pool index and devices pairs, flattened. */
  readonly pools: readonly number[];
  /** Node index, devices, CPU and memory, flattened. */
  readonly nodes: readonly number[];
  readonly surplus: readonly SurplusFacts[];
  /** How many of `surplus` may go. */
  readonly surplusLimit: number;
}

/** Devices, CPU (millicores) and memory (bytes) on a node. */
type Room = readonly [number, number, number];
const NO_ROOM: Room = [0, 0, 0];

/** Where a waiting workload would go now, and its quota demand there (see demandWhereRoom). */
interface Where {
  readonly demand: Demand;
  readonly pools: readonly number[];
  readonly groups: readonly PreparedGroup[];
  readonly versions: number[];
}

interface Attempt {
  /** The gate turned a pool down for quota. */
  gated: boolean;
  block: QuotaBlock | undefined;
}

export class QuotaPass {
  readonly ledger: QuotaLedger;
  private readonly state: ClusterState;
  private readonly poolIndex = new Map<string, number>();
  private readonly admitted: readonly AdmittedWorkload[];
  /** Victims chosen in this pass or before (preempting): not chosen again. */
  private readonly taken = new Set<string>();
  readonly preemptions: Preemption[] = [];
  private attemptsLeft: number;
  private readonly attempts = new Map<string, Attempt>();
  private readonly pendingDevices = new Map<number, Map<number, number>>();
  private readonly pendingCount = new Map<number, number>();
  private readonly admittedCount = new Map<number, number>();
  private readonly failedSearches = new Set<string>();
  /** Each admitted workload's team and quota demand, computed once. */
  private readonly admittedByTeam = new Map<number, AdmittedFacts[]>();
  /** Scratch per node for summing what victims free, reset after each use. */
  private readonly scratch: Float64Array;
  private readonly touched: number[] = [];
  /** Quota charged for preemptors that are not admitted: not part of what a team uses. */
  private readonly heldQuota = new Map<number, Map<number, number>>();
  /** Per node: devices, CPU and memory of leaving victims already promised to a preemptor. */
  private readonly promised = new Map<number, Room>();

  constructor(input: QuotaInput, state: ClusterState) {
    this.state = state;
    const pools = state.pools.map((p) => p.input);
    pools.forEach((p, i) => {
      this.poolIndex.set(p.name, i);
    });
    this.ledger = new QuotaLedger(input.teams, pools);
    this.admitted = [...input.admitted].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.attemptsLeft = input.maxPreemptionAttempts ?? 64;
    this.scratch = new Float64Array(state.nodeNames.length * 3);
    for (const a of this.admitted) {
      const t = this.ledger.teamIndex.get(a.team);
      if (t === undefined) continue;
      const demand = this.demandOfAdmitted(t, a);
      const pools: number[] = [];
      for (const { pool, devices } of a.pools) {
        const q = this.poolIndex.get(pool);
        if (q !== undefined) pools.push(q, devices);
      }
      const nodes: number[] = [];
      for (const r of a.nodes) {
        const i = state.nodeIndex.get(r.node);
        if (i !== undefined) nodes.push(i, r.devices, r.cpuMillis, r.memoryBytes);
      }
      const mine = this.admittedByTeam.get(t) ?? [];
      const groupSize = new Map<string, number>();
      for (const x of a.surplus ?? [])
        groupSize.set(x.group, Math.max(groupSize.get(x.group) ?? 0, x.index + 1));
      const surplus = (a.surplus ?? []).map((x) => ({
        group: x.group,
        index: x.index,
        name: x.name,
        groupSize: groupSize.get(x.group) ?? x.index + 1,
        pool: this.poolIndex.get(x.pool),
        node: state.nodeIndex.get(x.node),
        devices: x.devices,
        cpuMillis: x.cpuMillis,
        memoryBytes: x.memoryBytes,
      }));
      const surplusLimit = Math.max(0, Math.min(surplus.length, a.surplusLimit ?? surplus.length));
      mine.push({ admitted: a, team: t, demand, pools, nodes, surplus, surplusLimit });
      this.admittedByTeam.set(t, mine);
      this.ledger.charge(t, demand);
      this.admittedCount.set(t, (this.admittedCount.get(t) ?? 0) + 1);
      if (a.preempting) this.taken.add(a.key);
    }
  }

  /** The team index of w, or undefined when it is in no team (quotas do not apply). */
  teamOf(w: PreparedWorkload): number | undefined {
    const name = w.workload.team;
    return name === undefined ? undefined : this.ledger.teamIndex.get(name);
  }

  private demandOfAdmitted(t: number, a: AdmittedWorkload): Demand {
    const byPool: [number, number][] = [];
    for (const { pool, devices } of a.pools) {
      const p = this.poolIndex.get(pool);
      if (p !== undefined) byPool.push([p, devices]);
    }
    return this.ledger.demand(t, byPool, a.cpuMillis, a.memoryBytes).demand;
  }

  /** What group g of w takes on pool p with `pods` pods, for the team's quota. */
  private groupDemand(t: number, g: PreparedGroup, p: number, pods: number) {
    const shape = shapeOn(g, p);
    return this.ledger.demand(
      t,
      [[p, pods * shape.devices]],
      pods * shape.cpuMillis,
      pods * shape.memoryBytes,
    );
  }

  /** The demand w would make on its first candidate pool: what it is counted as waiting for. */
  private nominalDemand(t: number, w: PreparedWorkload): Demand {
    return this.demandOn(t, w, false, (g) => g.candidates.matching[0]?.pool);
  }

  /**
   * The demand w would make where it would go now: per group, the first candidate pool that may
   * have room (a bound, never below the room). Fair sharing orders it by this, not by its first
   * pool: a serving job whose cheapest pools are full lands on the next kind of device, and that
   * is the class its team's share must count, or a team low on L4s floods the inf2 pools too.
   * Also the pools chosen and their versions: capacity only shrinks in a pass, so the choice
   * holds while they are unchanged.
   */
  private demandWhereRoom(t: number, w: PreparedWorkload): Where {
    const pools: number[] = [];
    const groups: PreparedGroup[] = [];
    const demand = this.demandOn(t, w, w.mode === "replicas", (g) => {
      let chosen: number | undefined;
      for (const { pool: p } of g.candidates.matching) {
        if (this.mayHaveRoom(w, g, p)) {
          chosen = p;
          break;
        }
      }
      chosen ??= g.candidates.matching[0]?.pool;
      if (chosen !== undefined) {
        pools.push(chosen);
        groups.push(g);
      }
      return chosen;
    });
    return { demand, pools, groups, versions: pools.map((p) => this.state.pool(p).version) };
  }

  /** Pool p may have room for the fewest pods of group g that admit w (a bound, never below). */
  private mayHaveRoom(w: PreparedWorkload, g: PreparedGroup, p: number): boolean {
    const pool = this.state.pool(p);
    if (pool.input.paused) return false;
    const classes = this.state.toleratedClasses(p, w.tolerationId, w.tolerations);
    if (classes.length === 0) return false;
    const pods = w.mode === "replicas" ? w.minPods : podsNeeded(w, g);
    return this.state.roomUpperBound(p, classes, shapeOn(g, p), pods) >= pods;
  }

  /**
   * The quota demand of w with each group on the pool `poolOf` gives. `all`: every pod a replicas
   * workload asks for (it takes as many as fit), not only the fewest that admit it.
   */
  private demandOn(
    t: number,
    w: PreparedWorkload,
    all: boolean,
    poolOf: (g: PreparedGroup) => number | undefined,
  ): Demand {
    const merged = new Map<number, number>();
    for (const g of w.groups) {
      const p = poolOf(g);
      if (p === undefined) continue;
      const pods = all ? g.pods : w.mode === "replicas" ? w.minPods : podsNeeded(w, g);
      for (const [r, n] of this.groupDemand(t, g, p, pods).demand) merged.set(r, (merged.get(r) ?? 0) + n);
    }
    return [...merged];
  }

  /**
   * Queue order with quotas: repeatedly the workload whose team's share would be lowest after
   * admitting it (dominant resource share over what it asks for, weighted; 0 within nominal),
   * then the higher priority, then the older. Workloads of no team have share 0. Each team's
   * workloads queue per device class they ask for, in priority-then-age order (`sorted`), and
   * only the heads of those queues compete: a team whose oldest job asks to borrow many MI250Xs
   * must not wait behind it for the H100s it is entitled to.
   */
  *order(sorted: readonly PreparedWorkload[]): Generator<PreparedWorkload> {
    interface Lane {
      team: number;
      items: PreparedWorkload[];
      at: number;
      /** The head's share, while the cohort's ledger is at `version` and the head at `for`. */
      share: number;
      version: number;
      for: number;
      /** The head's demand where it would go, while those pools are at these versions. */
      where: Where | undefined;
    }
    const lanes = new Map<string, Lane>();
    for (const w of sorted) {
      const t = this.teamOf(w) ?? -1;
      const demand = t >= 0 ? this.nominalDemand(t, w) : [];
      const laneKey = `${t}|${demand[0]?.[0] ?? -1}`;
      let lane = lanes.get(laneKey);
      if (!lane) {
        lane = { team: t, items: [], at: 0, share: 0, version: -1, for: -1, where: undefined };
        lanes.set(laneKey, lane);
      }
      lane.items.push(w);
    }
    const heads = [...lanes.values()];
    // A pool changed since: still the choice while it may have room (pools before it only filled).
    const stale = (w: PreparedWorkload, where: Lane["where"]): boolean => {
      if (!where) return true;
      for (let k = 0; k < where.pools.length; k++) {
        const p = where.pools[k] as number;
        const version = this.state.pool(p).version;
        if (version === where.versions[k]) continue;
        if (!this.mayHaveRoom(w, where.groups[k] as PreparedGroup, p)) return true;
        where.versions[k] = version;
      }
      return false;
    };
    for (;;) {
      let best: Lane | undefined;
      let bestShare = 0;
      let bestOrder = 0;
      for (const lane of heads) {
        const w = lane.items[lane.at];
        if (!w) continue;
        // A share moves only when its cohort's usage does, or where the head would go: recomputed
        // then, or for a new head.
        if (lane.team >= 0) {
          const version = this.ledger.cohortVersion(lane.team);
          const moved = lane.for !== lane.at || stale(w, lane.where);
          if (moved) lane.where = this.demandWhereRoom(lane.team, w);
          if (moved || lane.version !== version) {
            lane.share = this.ledger.share(lane.team, lane.where?.demand ?? []);
            lane.version = version;
            lane.for = lane.at;
          }
        }
        const share = lane.share;
        if (!best || share < bestShare || (share === bestShare && w.order < bestOrder)) {
          best = lane;
          bestShare = share;
          bestOrder = w.order;
        }
      }
      const next = best?.items[best.at];
      if (!best || !next) return;
      best.at++;
      yield next;
    }
  }

  /** Before w is placed: the pools its team's quota lets it use, and how many pods there. */
  gate(w: PreparedWorkload, t: number): void {
    const attempt: Attempt = { gated: false, block: undefined };
    this.attempts.set(w.key, attempt);
    if (w.groups.length === 1 && (w.elastic || w.mode === "replicas"))
      w.podCap = (g, p, placed) => {
        const cap = this.podCap(t, g, p, placed);
        // Held to fewer pods by the quota: a failure says nothing about room for others.
        if (cap < g.pods) attempt.gated = true;
        return cap;
      };
    const one = w.groups.length === 1 ? w.groups[0] : undefined;
    w.poolAllowed = (p) => {
      // Several groups: the total is checked once placed; here only that the pool is covered.
      const g = one ?? w.groups[0];
      if (!g) return true;
      const pods = one ? (w.mode === "replicas" ? w.minPods : podsNeeded(w, one)) : 1;
      const { demand, noClassPool } = this.groupDemand(t, g, p, pods);
      const block =
        noClassPool !== undefined
          ? noClass(this.ledger.team(t).input.name, this.state.pool(p).input.name)
          : one
            ? this.ledger.check(t, demand)
            : undefined;
      if (!block) return true;
      attempt.gated = true;
      if (!attempt.block || (attempt.block.noClassFor !== undefined && block.noClassFor === undefined))
        attempt.block = block;
      return false;
    };
  }

  /**
   * The most pods of g team t's quota allows on pool p on top of `placed` (plans of the same
   * workload), for a workload that may be admitted at less than its size.
   */
  private podCap(t: number, g: PreparedGroup, p: number, placed: readonly Plan[]): number {
    const one = this.groupDemand(t, g, p, 1);
    if (one.noClassPool !== undefined) return 0;
    const before = new Map<number, number>();
    for (const plan of placed)
      for (const [r, n] of this.groupDemand(t, g, plan.pool, plan.placed).demand)
        before.set(r, (before.get(r) ?? 0) + n);
    let cap = Number.POSITIVE_INFINITY;
    for (const [r, perPod] of one.demand) {
      const left = this.ledger.maxAdmissible(t, r) - (before.get(r) ?? 0);
      cap = Math.min(cap, Math.floor(Math.max(0, left) / perPod));
    }
    return cap;
  }

  /** After w was placed: charges its team, or returns why its quota does not allow it (roll back). */
  admit(w: PreparedWorkload, t: number, placed: readonly Placed[]): QuotaBlock | undefined {
    w.poolAllowed = undefined;
    w.podCap = undefined;
    const byPool: [number, number][] = [];
    let cpu = 0;
    let memory = 0;
    for (const { group, plans } of placed) {
      for (const plan of plans) {
        const shape = shapeOn(group, plan.pool);
        byPool.push([plan.pool, plan.placed * shape.devices]);
        cpu += plan.placed * shape.cpuMillis;
        memory += plan.placed * shape.memoryBytes;
      }
    }
    const { demand, noClassPool } = this.ledger.demand(t, byPool, cpu, memory);
    const block =
      noClassPool !== undefined
        ? noClass(this.ledger.team(t).input.name, this.state.pool(noClassPool).input.name)
        : this.ledger.check(t, demand);
    if (block) {
      const attempt = this.attempts.get(w.key);
      if (attempt) {
        attempt.gated = true;
        attempt.block = block;
      }
      return block;
    }
    this.ledger.charge(t, demand);
    this.admittedCount.set(t, (this.admittedCount.get(t) ?? 0) + 1);
    return undefined;
  }

  /** After w did not fit: whether the quota (not capacity) held it, so no failure may be memoized. */
  wasGated(w: PreparedWorkload): boolean {
    w.poolAllowed = undefined;
    w.podCap = undefined;
    return this.attempts.get(w.key)?.gated ?? false;
  }

  /** The quota reason of a workload the gate held, when no pool was left to it. */
  quotaReason(w: PreparedWorkload): { code: QueuedCode; reason: string; never: boolean } | undefined {
    const block = this.attempts.get(w.key)?.block;
    if (!block) return undefined;
    const reason = block.noClassFor !== undefined ? block.noClassFor : describeBlock(block);
    return { code: "QuotaExceeded", reason, never: block.never };
  }

  /** Counts a workload that stays queued, for the per-team figures. */
  pending(w: PreparedWorkload, t: number): void {
    this.pendingCount.set(t, (this.pendingCount.get(t) ?? 0) + 1);
    const d = this.nominalDemand(t, w);
    let m = this.pendingDevices.get(t);
    if (!m) {
      m = new Map();
      this.pendingDevices.set(t, m);
    }
    for (const [r, n] of d) m.set(r, (m.get(r) ?? 0) + n);
  }

  /**
   * For a workload of team t that did not fit: victims whose eviction makes it fit, within the
   * team's preemption policy. Returns the reason it waits with, or undefined when no preemption
   * can help. Victims are recorded in this.preemptions.
   */
  preempt(w: PreparedWorkload, t: number): { code: QueuedCode; reason: string } | undefined {
    const team = this.ledger.team(t);
    const g = w.groups.length === 1 ? w.groups[0] : undefined;
    // Gangs of several groups and replicas are placed without preempting anyone.
    if (!g || w.mode !== "gang") return undefined;
    if (team.input.withinTeam === "Never" && team.input.reclaimBorrowed === "Never") return undefined;
    const searchKey = `${t}|${w.signature}`;
    if (this.failedSearches.has(searchKey) || this.attemptsLeft <= 0) return undefined;
    this.attemptsLeft--;
    const need = podsNeeded(w, g);
    let best: { victims: Victim[]; leaving: Victim[]; pool: number } | undefined;
    for (const { pool: p } of g.candidates.matching) {
      if (this.state.pool(p).input.paused) continue;
      const classes = this.state.toleratedClasses(p, w.tolerationId, w.tolerations);
      if (classes.length === 0) continue;
      const { demand, noClassPool } = this.groupDemand(t, g, p, need);
      if (noClassPool !== undefined) continue;
      const candidates = this.candidatesFor(w, t, p, classes, demand);
      const leaving = candidates.filter((v) => this.taken.has(v.key));
      const open = candidates.filter(
        (v) => !this.taken.has(v.key) && (v.admitted.preemptible || v.surplus !== undefined),
      );
      const fits = (victims: readonly Victim[]): boolean =>
        this.fitsWithout([...leaving, ...victims], t, g, p, classes, demand, need);
      const chosen = chooseVictims(open, fits);
      if (!chosen) continue;
      // Of a workload that gives back surplus pods, only as many as needed, counting the others
      // as already cut: the set stays one that fits after every cut.
      const victims = [...chosen];
      let cut = true;
      for (const [k, v] of chosen.entries()) {
        if (!v.surplus) continue;
        const part = this.fewestSurplus(v, p, classes, (x) => fits(victims.map((y, j) => (j === k ? x : y))));
        if (!part) {
          cut = false;
          break;
        }
        victims[k] = part;
      }
      if (!cut) continue;
      const devices = victims.reduce((n, v) => n + v.devices, 0);
      if (
        !best ||
        victims.length < best.victims.length ||
        (victims.length === best.victims.length && devices < best.victims.reduce((n, v) => n + v.devices, 0))
      ) {
        best = { victims, leaving, pool: p };
      }
      if (victims.length === 0) break;
    }
    if (!best) {
      this.failedSearches.add(searchKey);
      return undefined;
    }
    const poolName = this.state.pool(best.pool).input.name;
    // What it counted on stays its own for the pass: the capacity its victims will free, and the
    // free capacity it will use beside it (taken as if placed), and the quota (charged though it
    // is not admitted), so that nobody behind it takes what it will need once they are gone.
    const classes = this.state.toleratedClasses(best.pool, w.tolerationId, w.tolerations);
    this.keep([...best.leaving, ...best.victims], g, best.pool, classes, need);
    const held = this.groupDemand(t, g, best.pool, need).demand;
    this.ledger.charge(t, held);
    const mine = this.heldQuota.get(t) ?? new Map<number, number>();
    for (const [r, n] of held) mine.set(r, (mine.get(r) ?? 0) + n);
    this.heldQuota.set(t, mine);
    if (best.victims.length === 0) {
      const names = best.leaving.filter((v) => this.taken.has(v.key)).map((v) => v.key);
      return {
        code: "Preempting",
        reason: `waiting for ${plural(names.length, "preempted workload")} to checkpoint and leave pool ${poolName}: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}`,
      };
    }
    for (const v of best.victims) {
      this.taken.add(v.key);
      const own = v.team === t;
      const why = own
        ? `team ${team.input.name} needs its quota for ${w.key}, of higher priority (${w.workload.priority} > ${v.priority})`
        : `team ${team.input.name} reclaims the quota team ${this.ledger.team(v.team).input.name} borrowed, for ${w.key}`;
      this.preemptions.push({
        key: v.key,
        by: w.key,
        reason: why,
        ...(v.surplus ? { pods: podsByGroup(v.surplus) } : {}),
      });
    }
    const named = best.victims.map((v) =>
      v.surplus ? `${plural(v.surplus.length, "pod")} of ${v.key}` : v.key,
    );
    const whole = best.victims.filter((v) => !v.surplus).length;
    return {
      code: "Preempting",
      reason: `preempting ${named.join(", ")} to make room on pool ${poolName}; admitted once ${whole === 0 ? "they are gone" : `${whole === 1 ? "it has" : "they have"} checkpointed and left`}`,
    };
  }

  /** Admitted workloads the policy of team t lets w preempt, that hold something w could use. */
  private candidatesFor(
    w: PreparedWorkload,
    t: number,
    p: number,
    classes: readonly number[],
    demand: Demand,
  ): Victim[] {
    const team = this.ledger.team(t);
    const deviceClass = team.classOfPool[p] as number;
    const entitled = this.ledger.withinNominal(t, demand);
    const out: Victim[] = [];
    for (const [vt, list] of this.admittedByTeam) {
      let allowed: ((a: AdmittedWorkload) => boolean) | undefined;
      const lower = (a: AdmittedWorkload) => a.priority < w.workload.priority;
      if (vt === t) {
        if (team.input.withinTeam === "LowerPriority") allowed = lower;
      } else if (entitled && this.ledger.sameCohort(vt, t) && this.ledger.borrows(vt, deviceClass)) {
        const policy = team.input.reclaimBorrowed;
        if (policy === "Any") allowed = () => true;
        else if (policy === "LowerPriority") allowed = lower;
      }
      if (!allowed) continue;
      const victimTeam = this.ledger.team(vt);
      const borrower = this.ledger.borrows(vt, deviceClass);
      for (const f of list) {
        const a = f.admitted;
        if (a.key === w.key || !allowed(a)) continue;
        if (!a.preemptible && f.surplusLimit > 0) {
          // It stands for all the pods it offers, more than may go when a limit holds: which of
          // them make room is the cut's to find (a limit of 2 of 3 replicas may be any 2).
          const v = this.surplusVictim(
            {
              key: a.key,
              borrower,
              priority: a.priority,
              creationTimestamp: a.creationTimestamp,
              admitted: a,
              team: vt,
              offered: { pods: f.surplus, limit: f.surplusLimit },
            },
            f.surplus,
            p,
            classes,
          );
          const sameClass = f.surplus.some(
            (x) => x.pool !== undefined && victimTeam.classOfPool[x.pool] === deviceClass,
          );
          if (v.devices > 0 || sameClass) out.push(v);
          continue;
        }
        let devices = 0;
        let sameClass = false;
        for (let k = 0; k < f.pools.length; k += 2) {
          const q = f.pools[k] as number;
          if (q === p) devices += f.pools[k + 1] as number;
          if (victimTeam.classOfPool[q] === deviceClass) sameClass = true;
        }
        if (devices === 0 && !sameClass) continue;
        const freed: number[] = [];
        for (let k = 0; k < f.nodes.length; k += 4) {
          const i = f.nodes[k] as number;
          if (this.inPool(i, p, classes))
            freed.push(i, f.nodes[k + 1] as number, f.nodes[k + 2] as number, f.nodes[k + 3] as number);
        }
        out.push({
          key: a.key,
          borrower,
          priority: a.priority,
          creationTimestamp: a.creationTimestamp,
          devices,
          admitted: a,
          team: vt,
          demand: f.demand,
          freed,
        });
      }
    }
    return out;
  }

  /**
   * The fewest of a victim's surplus pods that still make room (`fits`), or undefined when no
   * set it may give does. Pods by index (a Ray cluster's workers): the shortest prefix of the
   * list. Named pods (any may go): the fewest pods of one node, when one node's suffice (a
   * preemptor of a node's worth is made room for there); else the shortest prefix, less each pod
   * of it that is not needed. Among equals the list's order decides.
   */
  private fewestSurplus(
    v: Victim,
    p: number,
    classes: readonly number[],
    fits: (part: Victim) => boolean,
  ): Victim | undefined {
    const pods = v.offered?.pods ?? v.surplus ?? [];
    const limit = Math.min(pods.length, v.offered?.limit ?? pods.length);
    const part = (list: readonly SurplusFacts[]) => this.surplusVictim(v, list, p, classes);
    const named = pods.every((x) => x.name !== undefined);
    if (named) {
      const byNode = new Map<number | undefined, SurplusFacts[]>();
      for (const x of pods) byNode.set(x.node, [...(byNode.get(x.node) ?? []), x]);
      let best: Victim | undefined;
      for (const [node, list] of byNode) {
        if (node === undefined) continue;
        const most = Math.min(list.length, limit, best?.surplus?.length ?? Number.POSITIVE_INFINITY);
        for (let n = 1; n <= most; n++) {
          const candidate = part(list.slice(0, n));
          if (!fits(candidate)) continue;
          if (!best || n < (best.surplus?.length ?? 0)) best = candidate;
          break;
        }
      }
      if (best) return best;
    }
    let n = 1;
    while (n <= limit && !fits(part(pods.slice(0, n)))) n++;
    if (n > limit) return undefined;
    let taken: readonly SurplusFacts[] = pods.slice(0, n);
    if (named)
      for (let k = taken.length - 2; k >= 0; k--) {
        const without: readonly SurplusFacts[] = taken.filter((_, j) => j !== k);
        if (fits(part(without))) taken = without;
      }
    return part(taken);
  }

  /** A victim that gives back only `pods` (some of its surplus pods), searched on pool p. */
  private surplusVictim(
    base: Pick<
      Victim,
      "key" | "borrower" | "priority" | "creationTimestamp" | "admitted" | "team" | "offered"
    >,
    pods: readonly SurplusFacts[],
    p: number,
    classes: readonly number[],
  ): Victim {
    const byPool: [number, number][] = [];
    const freed: number[] = [];
    let devices = 0;
    let cpu = 0;
    let memory = 0;
    for (const x of pods) {
      cpu += x.cpuMillis;
      memory += x.memoryBytes;
      if (x.pool !== undefined) byPool.push([x.pool, x.devices]);
      if (x.pool === p) devices += x.devices;
      if (x.node !== undefined && this.inPool(x.node, p, classes))
        freed.push(x.node, x.devices, x.cpuMillis, x.memoryBytes);
    }
    const demand = this.ledger.demand(base.team, byPool, cpu, memory).demand;
    return {
      key: base.key,
      borrower: base.borrower,
      priority: base.priority,
      creationTimestamp: base.creationTimestamp,
      admitted: base.admitted,
      team: base.team,
      devices,
      demand,
      freed,
      surplus: pods,
      offered: base.offered,
    };
  }

  /**
   * What the victims' eviction frees per node of the pool searched, less what an earlier
   * preemptor of this pass was promised of it (a leaving victim's room is counted once): calls
   * `each` per node with devices, CPU and memory, in node order, and stops when it returns true.
   */
  private freedOn(
    victims: readonly Victim[],
    each: (i: number, d: number, c: number, m: number) => boolean,
  ): boolean {
    const sum = this.scratch;
    const touched = this.touched;
    for (const v of victims) {
      const f = v.freed;
      for (let k = 0; k < f.length; k += 4) {
        const i = f[k] as number;
        const at = i * 3;
        if (sum[at] === 0 && sum[at + 1] === 0 && sum[at + 2] === 0) touched.push(i);
        sum[at] = (sum[at] as number) + (f[k + 1] as number);
        sum[at + 1] = (sum[at + 1] as number) + (f[k + 2] as number);
        sum[at + 2] = (sum[at + 2] as number) + (f[k + 3] as number);
      }
    }
    if (touched.length > 1) touched.sort((a, b) => a - b);
    let stopped = false;
    for (const i of touched) {
      const at = i * 3;
      let d = sum[at] as number;
      let c = sum[at + 1] as number;
      let m = sum[at + 2] as number;
      sum[at] = 0;
      sum[at + 1] = 0;
      sum[at + 2] = 0;
      if (stopped) continue;
      const promised = this.promised.get(i);
      if (promised) {
        d = Math.max(0, d - promised[0]);
        c = Math.max(0, c - promised[1]);
        m = Math.max(0, m - promised[2]);
      }
      if (each(i, d, c, m)) stopped = true;
    }
    touched.length = 0;
    return stopped;
  }

  /**
   * Keeps for a preemptor, for the rest of the pass, the room it was found to fit in: on the
   * victims' nodes, pods up to what those nodes hold once the victims are gone, their part of the
   * victims' capacity promised and the rest taken from what is free there; then what is free on
   * other nodes, taken as if placed. Taking only the free part of nodes the victims leave would
   * let a workload behind it take the few free devices that, with the freed ones, make a pod.
   */
  private keep(
    victims: readonly Victim[],
    g: PreparedGroup,
    p: number,
    classes: readonly number[],
    need: number,
  ) {
    const s = this.state;
    const shape = shapeOn(g, p);
    let left = need;
    this.freedOn(victims, (i, d, c, m) => {
      const fd = s.freeDevices[i] as number;
      const fc = s.freeCpu[i] as number;
      const fm = s.freeMemory[i] as number;
      const pods = Math.min(left, podsOn(shape, fd + d, fc + c, fm + m));
      if (pods <= 0) return false;
      left -= pods;
      // The victims' part first: what is free now stays free for others where it can.
      const vd = Math.min(pods * shape.devices, d);
      const vc = Math.min(pods * shape.cpuMillis, c);
      const vm = Math.min(pods * shape.memoryBytes, m);
      const [pd, pc, pm] = this.promised.get(i) ?? NO_ROOM;
      this.promised.set(i, [pd + vd, pc + vc, pm + vm]);
      s.reserve(i, pods * shape.devices - vd, pods * shape.cpuMillis - vc, pods * shape.memoryBytes - vm);
      return left <= 0;
    });
    if (left > 0) {
      const free = s.plan(p, classes, shape, left);
      if (free.placed > 0) s.commit(free, shape);
    }
    s.settle();
  }

  private inPool(i: number, p: number, classes: readonly number[]): boolean {
    const m = this.state.memberships[i] as number[];
    for (let k = 0; k < m.length; k += 2) if (m[k] === p && classes.includes(m[k + 1] as number)) return true;
    return false;
  }

  /** Whether w fits pool p, by capacity and quota, once `victims` are gone. */
  private fitsWithout(
    victims: readonly Victim[],
    t: number,
    g: PreparedGroup,
    p: number,
    classes: readonly number[],
    demand: Demand,
    need: number,
  ): boolean {
    if (!this.ledger.fitsWithout(t, demand, victims)) return false;
    const shape = shapeOn(g, p);
    const s = this.state;
    let room = s.roomNow(p, classes, shape, poolKeyOn(g, p)).pods;
    if (room >= need) return true;
    return this.freedOn(victims, (i, d, c, m) => {
      const fd = s.freeDevices[i] as number;
      const fc = s.freeCpu[i] as number;
      const fm = s.freeMemory[i] as number;
      room += podsOn(shape, fd + d, fc + c, fm + m) - podsOn(shape, fd, fc, fm);
      return room >= need;
    });
  }

  /** Per team: nominal, used, borrowed and pending devices per class, as the pass leaves them. */
  usage(): TeamUsage[] {
    return this.ledger.teams.map((team) => {
      const devices: TeamUsage["devices"] = [];
      for (const [r, q] of team.quotas) {
        const name = this.ledger.resourceNames[r] as string;
        if (!name.startsWith("devices/")) continue;
        const used = this.ledger.used(team.index, r) - (this.heldQuota.get(team.index)?.get(r) ?? 0);
        devices.push({
          name: name.slice("devices/".length),
          nominal: q.nominal,
          used,
          borrowed: Math.max(0, used - q.nominal),
          pending: this.pendingDevices.get(team.index)?.get(r) ?? 0,
        });
      }
      return {
        team: team.input.name,
        devices,
        admitted: this.admittedCount.get(team.index) ?? 0,
        pending: this.pendingCount.get(team.index) ?? 0,
      };
    });
  }
}

/**
 * Per group, how many pods go and how many the group keeps: from the lowest index taken up, or
 * for named pods (any of the group's may go) its size less those taken, and their names.
 */
function podsByGroup(pods: readonly SurplusFacts[]): NonNullable<Preemption["pods"]> {
  const out: NonNullable<Preemption["pods"]> = [];
  for (const x of pods) {
    let entry = out.find((e) => e.group === x.group);
    if (!entry) {
      entry = { group: x.group, pods: 0, keep: x.name === undefined ? x.index : x.groupSize };
      out.push(entry);
    }
    entry.pods++;
    if (x.name === undefined) entry.keep = Math.min(entry.keep, x.index);
    else {
      entry.keep = x.groupSize - entry.pods;
      entry.names = [...(entry.names ?? []), x.name];
    }
  }
  return out;
}

/** Pods of the shape that free devices, CPU and memory d, c, m hold. */
function podsOn(shape: Shape, d: number, c: number, m: number): number {
  let k = Number.POSITIVE_INFINITY;
  if (shape.devices > 0) k = Math.min(k, Math.floor(d / shape.devices));
  if (shape.cpuMillis > 0) k = Math.min(k, Math.floor(c / shape.cpuMillis));
  if (shape.memoryBytes > 0) k = Math.min(k, Math.floor(m / shape.memoryBytes));
  return Number.isFinite(k) ? Math.max(0, k) : 1;
}

function noClass(team: string, pool: string): QuotaBlock {
  return {
    team,
    resource: "devices",
    used: 0,
    nominal: 0,
    need: 0,
    canLend: 0,
    never: false,
    noClassFor: `team ${team} has no device quota that covers pool ${pool}`,
  };
}
