// Replicas spanning nodes on one pool: which groups of member pods to create and which to delete.
// Pure: the reconcile observes the members, this decides, the reconcile writes.
//
// - A group is whole or absent: it is created all at once (every member), and when any member
//   fails or disappears the whole group is deleted and, once it is gone, created again. Other
//   groups are untouched.
// - Rolling update, in groups: out-of-date groups (another template digest) are replaced, at most
//   maxSurge extra groups at a time (indices from `desired` up, removed when the roll is done) and
//   never more than maxUnavailable groups short of `desired` ready.
// - Scale: groups at indices beyond `desired` (and beyond the surge while rolling) are deleted.

export interface MemberObservation {
  name: string;
  uid?: string | undefined;
  index: number;
  rank: number;
  hash: string | undefined;
  /** Pod phase. */
  phase: string | undefined;
  /** The Ready condition (a worker has no probe, so Running is ready). */
  ready: boolean;
  deleting: boolean;
  /** Deleted by this operator (a restart, a roll, a scale-down), not by someone else. */
  deletedByUs?: boolean | undefined;
  /** creationTimestamp in ms. */
  createdAt: number;
}

export interface GroupPlanInput {
  desired: number;
  /** Members per group. */
  size: number;
  /** The current template digest. */
  hash: string;
  maxSurge: number;
  maxUnavailable: number;
  members: readonly MemberObservation[];
  now: number;
  /**
   * How long a group may lack a member before it counts as lost: the cache may show one member
   * of a group just created before the others.
   */
  graceMs: number;
}

export interface GroupState {
  index: number;
  members: MemberObservation[];
  current: boolean;
  ready: boolean;
  /** Why the group must restart; undefined when it need not. */
  broken: string | undefined;
  deleting: boolean;
}

export interface GroupPlan {
  /** Group indices to create (every member). */
  create: number[];
  /** Member pods to delete. */
  delete: { name: string; uid?: string | undefined }[];
  /** Groups restarted for a failed or lost member, with why. */
  restarted: { index: number; why: string }[];
  /** Groups that exist (any member, not being deleted). */
  existing: number;
  /** Groups whose leader is ready and every member running. */
  ready: number;
  /** When to look again: a group short of a member within its grace. */
  recheckMs: number | undefined;
}

/** Groups as observed, by index. */
export function observeGroups(input: GroupPlanInput): GroupState[] {
  const byIndex = new Map<number, MemberObservation[]>();
  for (const m of input.members) {
    const list = byIndex.get(m.index) ?? [];
    list.push(m);
    byIndex.set(m.index, list);
  }
  return [...byIndex.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([index, members]) => {
      members.sort((a, b) => a.rank - b.rank);
      const deleting = members.some((m) => m.deleting);
      const failed = members.find((m) => m.phase === "Failed" || m.phase === "Succeeded");
      // Someone else deleted a member (kubectl delete, an eviction) while the others still run.
      const deleted = members.find((m) => m.deleting && !m.deletedByUs);
      const alive = members.some((m) => !m.deleting);
      const ranks = new Set(members.map((m) => m.rank));
      const missing = Array.from({ length: input.size }, (_, r) => r).filter((r) => !ranks.has(r));
      const oldest = Math.min(...members.map((m) => m.createdAt));
      let broken: string | undefined;
      if (failed && alive)
        broken = `member ${failed.name} ${failed.phase === "Failed" ? "failed" : "exited"}`;
      else if (deleted && alive) broken = `member ${deleted.name} deleted`;
      else if (missing.length > 0 && input.now - oldest >= input.graceMs)
        broken = `member${missing.length > 1 ? "s" : ""} of rank ${missing.join(", ")} gone`;
      const leader = members.find((m) => m.rank === 0);
      const ready =
        !deleting &&
        !broken &&
        missing.length === 0 &&
        (leader?.ready ?? false) &&
        members.every((m) => m.phase === "Running");
      return {
        index,
        members,
        current: members.every((m) => m.hash === input.hash),
        ready,
        broken,
        deleting,
      };
    });
}

export function planGroups(input: GroupPlanInput): GroupPlan {
  const groups = observeGroups(input);
  const plan: GroupPlan = {
    create: [],
    delete: [],
    restarted: [],
    existing: 0,
    ready: 0,
    recheckMs: undefined,
  };
  const remove = (g: GroupState) => {
    for (const m of g.members) if (!m.deleting) plan.delete.push({ name: m.name, uid: m.uid });
  };
  const byIndex = new Map(groups.map((g) => [g.index, g]));
  const { desired } = input;

  // Groups on their way out, or that must restart: every member goes, none is replaced alone.
  const live: GroupState[] = [];
  for (const g of groups) {
    if (g.broken) {
      remove(g);
      plan.restarted.push({ index: g.index, why: g.broken });
    } else if (g.deleting || g.members.some((m) => m.phase === "Failed" || m.phase === "Succeeded"))
      remove(g);
    else live.push(g);
  }
  const outdated = live.filter((g) => g.index < desired && !g.current);
  const surge = Math.min(Math.max(0, input.maxSurge), outdated.length);
  const keepBelow = desired + surge;

  // Beyond the count (a scale-down, or surge no longer needed): gone.
  for (const g of live) if (g.index >= keepBelow) remove(g);
  const staying = live.filter((g) => g.index < keepBelow);
  let available = staying.filter((g) => g.ready).length;
  plan.existing = staying.filter((g) => g.index < desired).length;
  plan.ready = staying.filter((g) => g.index < desired && g.ready).length;

  // Out of date: those not serving first (they cost no availability), then while the budget lasts.
  const minAvailable = Math.max(0, desired - Math.max(0, input.maxUnavailable));
  const order = [...outdated].sort((a, b) => Number(a.ready) - Number(b.ready) || a.index - b.index);
  for (const g of order) {
    if (g.ready) {
      if (available - 1 < minAvailable) continue;
      available--;
    }
    remove(g);
  }

  // Absent groups within the count (and the surge) are created whole, once nothing of them is left.
  for (let index = 0; index < keepBelow; index++) if (!byIndex.has(index)) plan.create.push(index);

  for (const g of live) {
    const short = g.members.length < input.size;
    if (short) {
      const oldest = Math.min(...g.members.map((m) => m.createdAt));
      const left = Math.max(1, oldest + input.graceMs - input.now);
      plan.recheckMs = Math.min(plan.recheckMs ?? left, left);
    }
  }
  return plan;
}

/** A count from a rollout amount: a percentage of `of`, rounded up for surge and down otherwise. */
export function resolveAmount(amount: number | string, of: number, roundUp: boolean): number {
  if (typeof amount === "number") return amount;
  const percent = Number.parseInt(amount, 10);
  if (!Number.isFinite(percent)) return 0;
  const exact = (percent * of) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}
