// The RayCluster autoscaler's decision: how many workers each group should have, from what Ray
// itself reports (pending resource bundles, idle nodes) and what each group's workers offer
// Ray. Pure; the reconcile reads Ray's report from the head's dashboard and carries it out
// through the usual worker plan and gang admission.
//
// Up: each pending bundle goes to the first group (in spec order) whose one worker can hold
// it, packed as many per worker as fit; workers that exist but have not joined Ray yet count
// as already on their way, so a demand reported again while they start asks for nothing more.
// Down: while the group has no demand, the workers Ray reports idle for idleTimeoutSeconds are
// removed by name, down to minReplicas, the newest (highest index) first when minReplicas leaves
// room for only some; a busy or not yet joined worker is never removed, whatever its index
// (workers.ts retires the named workers' slots, so the others keep their pods and nodes).
import type { RayClusterSpec, RayWorkerGroup, Vendor } from "../../crds/runtime/index.ts";
import { vendorCatalog, vendors } from "../../crds/runtime/index.ts";
import { bytes, parseQuantity } from "../admission/index.ts";
import type { Demand, ResourceBundle } from "../ray-api/index.ts";

const defaultMax = 1000;

/** What one worker of a group declares to Ray, given the vendor it runs on (or may run on). */
export function workerOffers(group: RayWorkerGroup, vendor: Vendor | undefined): ResourceBundle[] {
  const base: ResourceBundle = {};
  const params = group.rayStartParams ?? {};
  const cpus =
    params["num-cpus"] ??
    (group.resources?.cpu === undefined ? undefined : Math.ceil(parseQuantity(group.resources.cpu)));
  if (cpus !== undefined && Number.isFinite(Number(cpus))) base.CPU = Number(cpus);
  if (group.resources?.memory !== undefined) base.memory = bytes(group.resources.memory);
  if (params.resources) {
    try {
      const custom = JSON.parse(params.resources) as Record<string, unknown>;
      for (const [k, v] of Object.entries(custom)) if (typeof v === "number") base[k] = v;
    } catch {
      // Ray itself reports a malformed --resources; the group then offers no custom resource.
    }
  }
  const devices = group.accelerators?.count ?? 0;
  if (devices <= 0) return [base];
  // Unplaced, a group may land on any vendor it accepts: it offers what any of them would.
  const candidates = vendor
    ? [vendor]
    : ((group.accelerators?.vendors as Vendor[] | undefined) ?? [...vendors]);
  const names = [
    ...new Set(
      candidates.map((v) => {
        const r = vendorCatalog[v].ray;
        return r.kind === "gpus" ? "GPU" : r.name;
      }),
    ),
  ];
  return names.map((name) => ({ ...base, [name]: devices }));
}

/** How many bundles one worker holds (0: it cannot hold one). Resources not asked for are free. */
export function bundlesPerWorker(offer: ResourceBundle, bundle: ResourceBundle): number {
  let fit = Number.POSITIVE_INFINITY;
  for (const [resource, amount] of Object.entries(bundle)) {
    if (amount <= 0) continue;
    // Ray reserves memory only for tasks that ask; a group that does not say offers the node's.
    if (resource === "memory" && offer.memory === undefined) continue;
    fit = Math.min(fit, Math.floor((offer[resource] ?? 0) / amount + 1e-9));
  }
  return Number.isFinite(fit) ? fit : 0;
}

export interface GroupState {
  group: RayWorkerGroup;
  /** The vendor the group is admitted on, when it is. */
  vendor: Vendor | undefined;
  /** Workers the group has now (the count in force). */
  replicas: number;
  /** Its worker pods by index, with what Ray says of each. */
  workers: Array<{ name: string; index: number; joined: boolean; idle: boolean }>;
}

export interface AutoscaleInput {
  autoscaling: NonNullable<RayClusterSpec["autoscaling"]>;
  demand: readonly Demand[];
  groups: readonly GroupState[];
  /** Pod name -> since when Ray reports it idle (ms), kept by the caller between decisions. */
  idleSince: ReadonlyMap<string, number>;
  now: number;
  /**
   * Whether the admission record can hold the removal of these workers (each removal inside a
   * run splits it); absent: always. A worker it refuses stays, as if it were not idle.
   */
  mayRemove?: ((workers: readonly { group: string; index: number }[]) => boolean) | undefined;
}

export interface GroupDecision {
  name: string;
  replicas: number;
  reason: string;
  /** Workers to remove by name (idle past the timeout, newest first), when scaling down. */
  remove: string[];
  /** The same workers by index. */
  retire: number[];
}

const fmt = (b: ResourceBundle) =>
  JSON.stringify(Object.fromEntries(Object.entries(b).filter(([k]) => k !== "memory")));

export function decideScale(input: AutoscaleInput): GroupDecision[] {
  const { autoscaling, groups, now } = input;
  const idleMs = autoscaling.idleTimeoutSeconds * 1000;
  const wanted = new Map<string, number>();
  const why = new Map<string, string[]>();
  const unplaced: string[] = [];
  for (const d of input.demand) {
    const target = groups.find((g) =>
      workerOffers(g.group, g.vendor).some((o) => bundlesPerWorker(o, d.bundle) > 0),
    );
    if (!target) {
      unplaced.push(`${d.count} x ${fmt(d.bundle)}`);
      continue;
    }
    const per = Math.max(
      ...workerOffers(target.group, target.vendor).map((o) => bundlesPerWorker(o, d.bundle)),
    );
    const name = target.group.name;
    wanted.set(name, (wanted.get(name) ?? 0) + Math.ceil(d.count / per));
    why.set(name, [...(why.get(name) ?? []), `${d.count} pending ${fmt(d.bundle)}`]);
  }

  // Removals so far, over all groups: the record's limit is the cluster's.
  const chosen: { group: string; index: number }[] = [];
  return groups.map((g) => {
    const { name } = g.group;
    const min = g.group.minReplicas;
    const max = g.group.maxReplicas ?? defaultMax;
    const current = Math.min(max, Math.max(min, g.replicas));
    const need = wanted.get(name) ?? 0;
    if (need > 0) {
      // Workers asked for but not yet in Ray will take this demand when they join.
      const starting = Math.max(0, current - g.workers.filter((w) => w.joined).length);
      let add = Math.max(0, need - starting);
      if (autoscaling.upscalingMode === "Conservative") add = Math.min(add, Math.max(1, current - starting));
      const replicas = Math.min(max, current + add);
      const reason =
        add === 0
          ? `${why.get(name)?.join(", ")}: ${starting} starting worker(s) will take it`
          : replicas < current + add
            ? `${why.get(name)?.join(", ")}: needs ${current + add}, capped at maxReplicas ${max}`
            : `${why.get(name)?.join(", ")}: ${current} -> ${replicas}`;
      return { name, replicas, reason, remove: [], retire: [] };
    }
    // No demand for this group: remove the workers idle past the timeout, newest first, down to
    // minReplicas; busy ones are skipped, never a stop.
    const idlePast = g.workers
      .filter((w) => {
        const since = input.idleSince.get(w.name);
        return w.idle && since !== undefined && now - since >= idleMs;
      })
      .sort((a, b) => b.index - a.index);
    const remove: string[] = [];
    const retire: number[] = [];
    for (const w of idlePast) {
      if (current - remove.length <= min) break;
      const next = { group: name, index: w.index };
      if (input.mayRemove && !input.mayRemove([...chosen, next])) continue;
      chosen.push(next);
      remove.push(w.name);
      retire.push(w.index);
    }
    const replicas = current - remove.length;
    const reason =
      remove.length > 0
        ? `idle for ${autoscaling.idleTimeoutSeconds} s: ${remove.join(", ")}`
        : unplaced.length > 0
          ? `no group offers ${unplaced.join(", ")}`
          : `no pending demand; ${current} worker(s)`;
    return { name, replicas, reason, remove, retire };
  });
}

/** Idle timers after a report: started for newly idle workers, dropped for busy or gone ones. */
export function nextIdleSince(
  previous: ReadonlyMap<string, number>,
  workers: ReadonlyArray<{ name: string; idle: boolean }>,
  now: number,
): Map<string, number> {
  const next = new Map<string, number>();
  for (const w of workers) if (w.idle) next.set(w.name, previous.get(w.name) ?? now);
  return next;
}

/**
 * The worker groups in force: with autoscaling enabled, each group's replicas are the
 * autoscaler's count (status.autoscaling), within minReplicas and maxReplicas; spec replicas
 * is where a group starts.
 */
export function groupsInForce(rc: {
  spec: Pick<RayClusterSpec, "workerGroups" | "autoscaling">;
  status?: { autoscaling?: { groups?: Array<{ name: string; replicas: number }> } } | undefined;
}): RayWorkerGroup[] {
  const groups = rc.spec.workerGroups ?? [];
  if (!rc.spec.autoscaling?.enabled) return groups;
  const decided = rc.status?.autoscaling?.groups ?? [];
  return groups.map((g) => {
    const d = decided.find((x) => x.name === g.name);
    if (d === undefined) return g;
    const replicas = Math.min(g.maxReplicas ?? defaultMax, Math.max(g.minReplicas, d.replicas));
    return { ...g, replicas };
  });
}
