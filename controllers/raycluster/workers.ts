// Which worker pods to create and delete, and what admission the cluster holds afterwards.
//
// Every worker group is one pod group of a single gang admission for the whole cluster
// (status.admission). A group holds one placement per run of consecutive workers on one pool:
// `<group>` for the run from worker 0, `<group>/<first index>` for each other run; worker i runs
// on the node at its offset in the run that holds i. The indices the runs hold are the group's
// slots; they need not be contiguous: retiring worker k (the autoscaler names an idle one) cuts
// k's slot out of its run, which splits in two, and the workers around it keep theirs. A group
// keeps its first `replicas` slots (the oldest); a retired index is taken again only when a
// scale-up fills the gaps, so the record itself is the state, and a restarted operator reads it.
// Changes of replicas on an admitted cluster:
//   - scale down: the workers named for retirement, then those in the highest slots (the
//     newest), are deleted and the admission is trimmed to the remaining ones, which releases
//     their capacity at once;
//   - scale up: once every worker the cluster holds is bound to its node, the admission is
//     released while those workers keep running (their pods now hold their nodes' capacity
//     as any bound pod does), and only the missing workers are asked for, as the cluster's
//     next gang, each group preferring the pools it already runs on but free to take any
//     pool its accelerators allow. When that gang is admitted, the new admission is the
//     running workers' nodes plus the admitted ones, a new run where they landed elsewhere.
//     If it does not fit, the running workers are untouched and the rest stays queued.
// A failed worker is deleted and then recreated on its admitted node; a deleted one is
// recreated there.
import type { AdmissionStatus, RayWorkerGroup } from "../../crds/runtime/index.ts";
import { labels } from "../../crds/runtime/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import { groupOfPlacement } from "../admission/index.ts";

export type Placement = NonNullable<AdmissionStatus["placements"]>[number];

/** What a reconcile needs to know about one worker pod. */
export interface WorkerView {
  name: string;
  uid: string;
  group: string;
  index: number;
  /** spec.nodeName: bound by the scheduler. */
  node: string | undefined;
  /** status.podIP: the address Ray knows the worker's node by. */
  ip?: string | undefined;
  pool: string | undefined;
  terminating: boolean;
  /** Phase Failed or Succeeded: the pod will never run again. */
  finished: boolean;
  ready: boolean;
  /** Not coming up without help: crash-looping, image not pulled, finished. */
  broken: boolean;
  createdAt: number;
}

interface PodLike {
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type?: string; status?: string }>;
    containerStatuses?: Array<{
      ready?: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string } };
    }>;
  };
}

const stuckReasons = new Set([
  "CrashLoopBackOff",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

export interface PodHealth {
  terminating: boolean;
  finished: boolean;
  ready: boolean;
  broken: boolean;
}

export function podHealth(pod: KubeObject): PodHealth {
  const p = pod as unknown as PodLike;
  const phase = p.status?.phase;
  const finished = phase === "Failed" || phase === "Succeeded";
  const ready =
    !finished && (p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
  const containers = p.status?.containerStatuses ?? [];
  const stuck = containers.some(
    (c) =>
      stuckReasons.has(c.state?.waiting?.reason ?? "") || (!ready && !c.ready && (c.restartCount ?? 0) > 0),
  );
  return {
    terminating: pod.metadata.deletionTimestamp !== undefined,
    finished,
    ready,
    broken: finished || stuck,
  };
}

/** The view of a pod of cluster `cluster`, or undefined when it is not one of its workers. */
export function viewWorker(pod: KubeObject, cluster: string): WorkerView | undefined {
  const l = pod.metadata.labels ?? {};
  const group = l[labels.rayGroup];
  const name = pod.metadata.name ?? "";
  if (l[labels.rayNodeType] !== "worker" || group === undefined) return undefined;
  const prefix = `${cluster}-${group}-`;
  if (!name.startsWith(prefix)) return undefined;
  const digits = name.slice(prefix.length);
  if (!/^(0|[1-9][0-9]*)$/.test(digits)) return undefined;
  return {
    name,
    uid: pod.metadata.uid ?? "",
    group,
    index: Number(digits),
    node: (pod as unknown as PodLike).spec?.nodeName || undefined,
    ip: (pod as unknown as PodLike).status?.podIP || undefined,
    pool: l[labels.pool],
    createdAt: Date.parse(pod.metadata.creationTimestamp ?? "") || 0,
    ...podHealth(pod),
  };
}

export type DeleteReason = "ScaleDown" | "Failed" | "GroupRemoved" | "Unbound";

export interface PlannedDelete {
  name: string;
  uid: string;
  group: string;
  index: number;
  reason: DeleteReason;
}

export interface PlannedCreate {
  group: string;
  index: number;
  placement: Placement;
  /** The admitted node, when the admission names one. */
  node: string | undefined;
}

export interface AdmittedPlan {
  creates: PlannedCreate[];
  deletes: PlannedDelete[];
  /** The admission after this reconcile; undefined when it is released to scale up. */
  admission: AdmissionStatus | undefined;
  /** Groups that want more workers than admitted: group -> how many more. */
  wantMore: Map<string, number>;
  /** The admission is released now, to ask for wantMore as the next gang. */
  released: boolean;
  /** Groups trimmed by a scale-down: group -> [from, to]. */
  trimmed: Map<string, [number, number]>;
}

/** A worker to delete by its index, with its slot (an idle worker the autoscaler names). */
export interface Retire {
  group: string;
  index: number;
}

export const admittedReplicas = (p: Placement | undefined): number =>
  p === undefined ? 0 : (p.replicas ?? p.nodes?.length ?? 0);

const byIndexDesc = (a: WorkerView, b: WorkerView) => b.index - a.index;

/** A run's first worker index, from its key: `gpu` holds worker 0 on, `gpu/3` worker 3 on. */
export function runStart(p: Placement): number {
  const tail = p.group.slice(groupOfPlacement(p.group).length + 1);
  return /^(0|[1-9][0-9]*)$/.test(tail) ? Number(tail) : 0;
}

export const runKey = (group: string, start: number): string => (start === 0 ? group : `${group}/${start}`);

/** The placements of `group`, by first worker index. */
export function groupRuns(admission: AdmissionStatus | undefined, group: string): Placement[] {
  return (admission?.placements ?? [])
    .filter((p) => groupOfPlacement(p.group) === group)
    .sort((a, b) => runStart(a) - runStart(b));
}

/** Workers the admission holds for `group`, over all its runs. */
export const groupAdmitted = (admission: AdmissionStatus | undefined, group: string): number =>
  groupRuns(admission, group).reduce((n, p) => n + admittedReplicas(p), 0);

/** The worker indices (slots) the runs of `group` hold, ascending. */
export function admittedSlots(admission: AdmissionStatus | undefined, group: string): number[] {
  return groupRuns(admission, group).flatMap((p) =>
    Array.from({ length: admittedReplicas(p) }, (_, i) => runStart(p) + i),
  );
}

/** The slots a group of `replicas` workers keeps: its first (oldest) admitted ones. */
export const keptSlots = (
  admission: AdmissionStatus | undefined,
  group: string,
  replicas: number,
): number[] => admittedSlots(admission, group).slice(0, Math.max(0, replicas));

/**
 * The workers a group of `replicas` counts (the ones its count in force keeps): those in its
 * kept slots, or without admission its first `replicas` by index. Ascending by index.
 */
export function countedWorkers<W extends { group: string; index: number; terminating: boolean }>(
  admission: AdmissionStatus | undefined,
  group: string,
  replicas: number,
  workers: readonly W[],
): W[] {
  const mine = workers.filter((w) => w.group === group && !w.terminating).sort((a, b) => a.index - b.index);
  if (!admission) return mine.slice(0, Math.max(0, replicas));
  const kept = new Set(keptSlots(admission, group, replicas));
  return mine.filter((w) => kept.has(w.index));
}

/**
 * The admission without the slots of `retire`: each run that holds one is split around it (a
 * run's nodes go with their slots), so every other worker keeps its index, node and pool. The
 * same object when it holds none of them.
 */
export function retireSlots(admission: AdmissionStatus, retire: readonly Retire[]): AdmissionStatus {
  if (retire.length === 0) return admission;
  let changed = false;
  const placements = (admission.placements ?? []).flatMap((p) => {
    const group = groupOfPlacement(p.group);
    const start = runStart(p);
    const n = admittedReplicas(p);
    const gone = new Set(
      retire
        .filter((r) => r.group === group && r.index >= start && r.index < start + n)
        .map((r) => r.index - start),
    );
    if (gone.size === 0) return [p];
    changed = true;
    const out: Placement[] = [];
    for (let a = 0; a < n; a++) {
      if (gone.has(a)) continue;
      let b = a + 1;
      while (b < n && !gone.has(b)) b++;
      const piece: Placement = { ...p, group: runKey(group, start + a), replicas: b - a };
      if (p.nodes) piece.nodes = p.nodes.slice(a, b);
      out.push(piece);
      a = b;
    }
    return out;
  });
  return changed ? { ...admission, placements } : admission;
}

/** Placements the record can hold (crds/admission.ts). */
export const maxPlacements = 64;

/** The run that holds worker `index`, and the worker's offset in it. */
function runOf(runs: readonly Placement[], index: number): [Placement, number] | undefined {
  for (const p of runs) {
    const offset = index - runStart(p);
    if (offset >= 0 && offset < admittedReplicas(p)) return [p, offset];
  }
  return undefined;
}

/**
 * The plan for a cluster that holds an admission. `mayRelease` false holds a scale-up back
 * (the admitter has not yet seen the admission it granted, and would offer that grant again).
 * `retire`: workers whose slots go first (the autoscaler's idle ones), whatever their index.
 */
export function planAdmitted(
  groups: readonly RayWorkerGroup[],
  admission: AdmissionStatus,
  workers: readonly WorkerView[],
  mayRelease = true,
  retire: readonly Retire[] = [],
): AdmittedPlan {
  const creates: PlannedCreate[] = [];
  const deletes: PlannedDelete[] = [];
  const wantMore = new Map<string, number>();
  const trimmed = new Map<string, [number, number]>();
  const placements: Placement[] = [];
  const specGroups = new Set(groups.map((g) => g.name));
  const held = retireSlots(admission, retire);
  let settled = true;

  for (const w of [...workers].sort(byIndexDesc)) {
    if (!specGroups.has(w.group) && !w.terminating) deletes.push({ ...pick(w), reason: "GroupRemoved" });
  }
  for (const g of groups) {
    const runs = groupRuns(held, g.name);
    const slots = admittedSlots(held, g.name);
    const before = groupAdmitted(admission, g.name);
    const keep = Math.min(g.replicas, slots.length);
    const kept = new Set(slots.slice(0, keep));
    if (g.replicas > slots.length) wantMore.set(g.name, g.replicas - slots.length);
    const mine = workers.filter((w) => w.group === g.name).sort(byIndexDesc);
    const taken = new Set<number>();
    for (const w of mine) {
      taken.add(w.index);
      if (w.terminating) {
        if (kept.has(w.index)) settled = false;
        continue;
      }
      if (!kept.has(w.index)) deletes.push({ ...pick(w), reason: "ScaleDown" });
      else if (w.finished) {
        deletes.push({ ...pick(w), reason: "Failed" });
        settled = false;
      } else if (w.node === undefined) settled = false;
    }
    if (keep === 0) continue;
    for (const i of kept) {
      if (taken.has(i)) continue;
      const at = runOf(runs, i);
      if (!at) continue;
      const [placement, offset] = at;
      creates.push({ group: g.name, index: i, placement, node: placement.nodes?.[offset] || undefined });
      settled = false;
    }
    if (keep < before) trimmed.set(g.name, [before, keep]);
    // The kept slots are the first ones: runs past them go whole, the one across the last is cut.
    for (const p of runs) {
      const inRun = admittedSlots({ placements: [p] }, g.name).filter((i) => kept.has(i)).length;
      if (inRun === 0) continue;
      placements.push(inRun < admittedReplicas(p) ? trimPlacement(p, inRun) : p);
    }
  }

  // Releasing drops the reservation of pods not yet bound, so wait until every worker kept
  // sits on its node: from then on the scheduler's own accounting holds their capacity.
  const released = wantMore.size > 0 && settled && mayRelease;
  const next: AdmissionStatus | undefined = released ? undefined : { ...admission, placements };
  return { creates: released ? [] : creates, deletes, admission: next, wantMore, released, trimmed };
}

/**
 * The admission with at most `keep` workers in each group a quota preemption names; the same
 * object when it already holds no more (a decision read twice is applied once).
 */
export function keepWorkers(
  admission: AdmissionStatus,
  cuts: readonly { group: string; keep: number }[],
): AdmissionStatus {
  let changed = false;
  // `keep` is an index (the engine's surplus pods are those from it up): runs that start at or
  // above it go whole and the one across it is cut, gaps a retirement left included.
  const placements = (admission.placements ?? []).flatMap((p) => {
    const cut = cuts.find((c) => c.group === groupOfPlacement(p.group));
    if (!cut) return [p];
    const start = runStart(p);
    if (start >= cut.keep) {
      changed = true;
      return [];
    }
    if (start + admittedReplicas(p) <= cut.keep) return [p];
    changed = true;
    return [trimPlacement(p, cut.keep - start)];
  });
  return changed ? { ...admission, placements } : admission;
}

function trimPlacement(p: Placement, keep: number): Placement {
  const out: Placement = { ...p, replicas: keep };
  if (p.nodes) out.nodes = p.nodes.slice(0, keep);
  return out;
}

function pick(w: WorkerView): Omit<PlannedDelete, "reason"> {
  return { name: w.name, uid: w.uid, group: w.group, index: w.index };
}

/** Workers of one group that a cluster without admission keeps: they run and are bound. */
export interface GroupNeed {
  group: string;
  /** Workers to admit. */
  pods: number;
  /** The pools the group's running workers are on, the newest worker's first: the new ones prefer them. */
  pools: string[];
  /** Running workers kept, by index. */
  live: WorkerView[];
}

export interface UnadmittedPlan {
  deletes: PlannedDelete[];
  /** Per spec group with replicas > 0. */
  needs: GroupNeed[];
  /**
   * Some worker is neither clearly running nor gone (not yet bound, say right after this
   * controller's own admission write that the cache does not show yet): decide nothing now.
   */
  blocked: boolean;
}

/** How long an unbound worker of a cluster without admission may wait before it is deleted. */
export const unboundGraceMs = 60_000;

/**
 * The plan for a cluster without admission: never admitted, released to scale up, or resumed.
 * A group keeps its first `replicas` workers by index (gaps a retirement left stay gaps);
 * `retire` names workers to delete first, whatever their index.
 */
export function planUnadmitted(
  groups: readonly RayWorkerGroup[],
  workers: readonly WorkerView[],
  now: number,
  retire: readonly Retire[] = [],
): UnadmittedPlan {
  const deletes: PlannedDelete[] = [];
  const needs: GroupNeed[] = [];
  const specGroups = new Map(groups.map((g) => [g.name, g]));
  const retired = new Set(retire.map((r) => `${r.group}/${r.index}`));
  let blocked = false;
  const live = new Map<string, WorkerView[]>();
  const ranked = new Map<string, number>();
  const rank = (w: WorkerView): number => {
    const n = ranked.get(w.group) ?? 0;
    ranked.set(w.group, n + 1);
    return n;
  };
  const byIndexAsc = [...workers].sort((a, b) => a.index - b.index);
  const decided: PlannedDelete[] = [];
  for (const w of byIndexAsc) {
    if (w.terminating) continue;
    const g = specGroups.get(w.group);
    if (!g) decided.push({ ...pick(w), reason: "GroupRemoved" });
    else if (retired.has(`${w.group}/${w.index}`) || rank(w) >= g.replicas)
      decided.push({ ...pick(w), reason: "ScaleDown" });
    else if (w.finished) decided.push({ ...pick(w), reason: "Failed" });
    else if (w.node === undefined) {
      if (now - w.createdAt > unboundGraceMs) decided.push({ ...pick(w), reason: "Unbound" });
      else blocked = true;
    } else live.set(w.group, [...(live.get(w.group) ?? []), w]);
  }
  // Blocked, the reconcile writes no status: a retired worker deleted now would have no count
  // stored, and the next reconcile would ask for it again. It stays until the plan is clear (the
  // ranks still leave it out, so no worker above it is cut instead).
  const applied = blocked ? decided.filter((d) => !retired.has(`${d.group}/${d.index}`)) : decided;
  // Newest first, as the admitted plan lists them.
  deletes.push(...applied.reverse());
  for (const g of groups) {
    if (g.replicas === 0) continue;
    const kept = live.get(g.name) ?? [];
    const pools = [...new Set(kept.flatMap((w) => (w.pool === undefined ? [] : [w.pool])).reverse())];
    needs.push({ group: g.name, pods: g.replicas - kept.length, pools, live: kept });
  }
  return { deletes, needs, blocked };
}

export interface PoolFacts {
  vendor: string | undefined;
  resourceName: string | undefined;
}

/**
 * The admission of a cluster whose running workers are `needs[].live` and whose missing
 * workers were admitted as `delta` (absent when none were missing), on any pool. Each group's
 * workers, by index, are cut into runs of one pool (the admitted ones fill the gaps between
 * running ones). Undefined when the delta no longer matches what is missing (a worker failed
 * since the pass): the next pass decides.
 */
export function mergeAdmission(
  needs: readonly GroupNeed[],
  delta: AdmissionStatus | undefined,
  poolFacts: (pool: string) => PoolFacts | undefined,
  now: string,
): AdmissionStatus | undefined {
  const placements: Placement[] = [];
  const deltaGroups = delta?.placements ?? [];
  for (const p of deltaGroups) {
    if (!needs.some((n) => n.group === groupOfPlacement(p.group) && n.pods > 0)) return undefined;
  }
  for (const need of needs) {
    const ds = deltaGroups.filter((p) => groupOfPlacement(p.group) === need.group);
    // A gang places each group on one pool.
    if (ds.length > 1) return undefined;
    const d = ds[0];
    if (need.pods > 0 && (d === undefined || admittedReplicas(d) !== need.pods)) return undefined;
    // The added workers fill the lowest free indices (gaps a retirement left first).
    const byIndex = new Map(need.live.map((w) => [w.index, w]));
    const fresh = [...(d?.nodes ?? [])];
    const slots: Array<{ index: number; pool: string | undefined; node: string | undefined }> = [];
    let added = 0;
    for (let i = 0; added < need.pods || slots.length < need.live.length + need.pods; i++) {
      const w = byIndex.get(i);
      if (w) slots.push({ index: i, pool: w.pool, node: w.node });
      else if (added < need.pods) {
        slots.push({ index: i, pool: d?.pool, node: fresh.shift() });
        added++;
      }
    }
    let start = 0;
    while (start < slots.length) {
      const pool = slots[start]?.pool;
      if (pool === undefined) return undefined;
      let end = start + 1;
      // A run is consecutive indices on one pool: a gap starts the next.
      while (
        end < slots.length &&
        slots[end]?.pool === pool &&
        slots[end]?.index === (slots[end - 1]?.index ?? 0) + 1
      )
        end++;
      const run = slots.slice(start, end);
      const facts =
        d && d.pool === pool ? { vendor: d.vendor, resourceName: d.resourceName } : poolFacts(pool);
      const first = slots[start]?.index ?? 0;
      const placement: Placement = { group: runKey(need.group, first), pool, replicas: end - start };
      if (facts?.vendor !== undefined) placement.vendor = facts.vendor;
      if (facts?.resourceName !== undefined) placement.resourceName = facts.resourceName;
      // Either every pod of the run has its node or the scheduler chooses for all of them within the pool.
      const nodes = run.flatMap((s) => (s.node ? [s.node] : []));
      if (nodes.length === run.length) placement.nodes = nodes;
      placements.push(placement);
      start = end;
    }
  }
  return { admittedAt: now, placements };
}
