// One scheduling pass: every queued workload, in queue order, is admitted onto pools with a
// node-by-node fit, or kept queued with a reason, or declared unschedulable when it could not fit
// even on an empty cluster. Pure: the same input gives the same result, whatever the order of the
// input arrays (only the pin order in a requirement carries meaning).
//
// Queue discipline is best-effort FIFO: a workload that does not fit is skipped and the ones behind
// it still get their chance, so one huge job at the head cannot idle a cluster that smaller jobs
// could use. The price is starvation: a steady stream of small jobs can keep a big gang waiting
// forever, because capacity freed on a node is taken again before the node is ever empty. The
// guard (options.starvationAfterMs) lets a gang that has waited too long hold the pools it is
// closest to fitting on: nothing behind it is admitted there, so freed capacity accumulates until
// the gang fits. Holding idles capacity on purpose; that is the trade, and why it is opt-in and
// bounded: one holder per pool, and by default one holding workload at a time (options.maxHolders).
//
// This file is the pass loop. Preparation is prepare.ts, the types every step shares pass.ts, the
// strategies gang.ts and replicas.ts (over fit.ts and the ClusterState of cluster.ts), the
// never-fits verdict and the starvation holds never-fits.ts, and the reasons reasons.ts.

import { ClusterState } from "./cluster.ts";
import { placeGang } from "./gang.ts";
import { TupleIds } from "./ids.ts";
import { holdFor, neverFits, type Verdict } from "./never-fits.ts";
import { Holds, type Pass, type Placed, type PreparedWorkload, shapeOn } from "./pass.ts";
import { assertUnique, compareStrings, prepareAll, sortedByName } from "./prepare.ts";
import { QuotaPass } from "./quota/pass.ts";
import { explainQueued } from "./reasons.ts";
import { placeReplicas } from "./replicas.ts";
import type {
  Admission,
  GroupAdmission,
  PlacementInput,
  PlacementOptions,
  PlacementResult,
  PoolHold,
  PoolInput,
  PoolPlacement,
  QueuedCode,
  QueuedWorkload,
  UnschedulableWorkload,
} from "./types.ts";

export { compareWorkloads } from "./prepare.ts";

export function schedule(input: PlacementInput, options: PlacementOptions = {}): PlacementResult {
  const pools = sortedByName(input.pools);
  const nodes = sortedByName(input.nodes);
  assertUnique(pools, "pool");
  assertUnique(nodes, "node");
  const keys = new Set<string>();
  for (const w of input.workloads) {
    if (keys.has(w.key)) throw new Error(`placement input: workload key "${w.key}" appears twice`);
    keys.add(w.key);
  }

  const now = new ClusterState("now", pools, nodes, input.reservations ?? []);
  let emptyState: ClusterState | undefined;
  const pass: Pass = {
    pools,
    now,
    holds: new Holds(pools.length),
    empty: () => {
      emptyState ??= new ClusterState("empty", pools, nodes, []);
      return emptyState;
    },
    maxPoolsInReason: options.maxPoolsInReason ?? 4,
    maxHolders: options.maxHolders ?? 1,
  };

  const workloads = prepareAll(input, options, pools);
  // With quotas, teams take turns by fair share (quota/pass.ts); without, the queue order.
  const quota = input.quota ? new QuotaPass(input.quota, pass.now) : undefined;
  const sequence: Iterable<PreparedWorkload> = quota ? quota.order(workloads) : workloads;
  let holders = 0;
  const admitted: Admission[] = [];
  const unschedulable: UnschedulableWorkload[] = [];
  const waiting: {
    workload: PreparedWorkload;
    pending: number;
    admission?: Admission;
    explained?: { code: QueuedCode; reason: string };
  }[] = [];
  // A failure is final for the pass: capacity only shrinks and holds are only added.
  const noRoomForSignature = new Map<number, number>();
  const verdicts = new Map<number, Verdict>();
  const emptyRoomByGroup = new Map<number, { best: number; total: number | undefined }>();
  const verdictOf = (w: PreparedWorkload) => {
    if (!verdicts.has(w.signature)) verdicts.set(w.signature, neverFits(pass, w, emptyRoomByGroup));
    return verdicts.get(w.signature);
  };

  for (const w of sequence) {
    if (w.invalid) {
      unschedulable.push({ key: w.key, code: "InvalidRequest", reason: w.invalid });
      continue;
    }
    const team = quota?.teamOf(w);
    if (w.workload.team !== undefined && team === undefined) {
      const reason = `TeamQuota ${w.workload.team} does not exist`;
      waiting.push({ workload: w, pending: 0, explained: { code: "QueueNotFound", reason } });
      continue;
    }
    if (quota && team !== undefined) quota.gate(w, team);
    const mark = pass.now.mark();
    const memoKey = w.failureKey;
    // Single-group demands fail monotonically in their pod count; several groups only by exact match.
    const need = w.groups.length > 1 ? 0 : w.minPods;
    const knownNoRoom = memoKey === undefined ? undefined : noRoomForSignature.get(memoKey);
    let placed =
      knownNoRoom !== undefined && knownNoRoom <= need ? undefined : place(pass.now, w, pass.holds);
    if (placed && quota && team !== undefined && quota.admit(w, team, placed)) {
      pass.now.rollback(mark);
      placed = undefined;
    }
    if (placed) {
      pass.now.settle();
      const admission = toAdmission(pass, w, placed);
      admitted.push(admission);
      if (admission.pendingPods > 0) waiting.push({ workload: w, pending: admission.pendingPods, admission });
      continue;
    }
    // A failure the quota caused says nothing about room for another team's equal demand.
    const gated = quota !== undefined && team !== undefined && quota.wasGated(w);
    if (memoKey !== undefined && !gated) {
      const known = noRoomForSignature.get(memoKey);
      if (known === undefined || need < known) noRoomForSignature.set(memoKey, need);
    }
    const verdict = verdictOf(w);
    if (verdict) {
      unschedulable.push({ key: w.key, ...verdict });
      continue;
    }
    if (quota && team !== undefined) {
      const held = gated ? quota.quotaReason(w) : undefined;
      if (held?.never) {
        unschedulable.push({
          key: w.key,
          code: "ExceedsQuota",
          reason: `${held.reason}: more than it may ever use`,
        });
        continue;
      }
      quota.pending(w, team);
      const explained = quota.preempt(w, team) ?? held;
      if (explained) {
        waiting.push({
          workload: w,
          pending: 0,
          explained: { code: explained.code, reason: explained.reason },
        });
        continue;
      }
    }
    if (w.starving && w.mode === "gang" && holders < pass.maxHolders) {
      if (holdFor(pass, w)) holders++;
    }
    waiting.push({ workload: w, pending: 0 });
  }

  // Reasons are written against the end-of-pass state: it is what the person reading them will
  // find, and a workload that did not fit earlier in the pass cannot fit now either.
  const reasons = new Map<number, { code: QueuedCode; reason: string }>();
  const reasonIds = new TupleIds();
  const queued: QueuedWorkload[] = [];
  for (const { workload: w, pending, admission, explained: given } of waiting) {
    if (given) {
      queued.push({ key: w.key, position: queued.length + 1, ...given, starving: w.starving });
      continue;
    }
    const holdsBefore = pass.holds.countBefore(w.order);
    const isHolder = pass.holds.list.some((h) => h.order === w.order);
    // A starving workload's reason says how long it has waited, so it is its own.
    const reasonKey = w.starving
      ? -1
      : reasonIds.id(w.signature, pending, holdsBefore, isHolder ? w.order : -1);
    let explained = reasons.get(reasonKey);
    if (!explained || reasonKey < 0) {
      explained = explainQueued(pass, w, pending);
      reasons.set(reasonKey, explained);
    }
    if (admission) {
      admission.pendingReason = explained.reason;
    } else {
      queued.push({
        key: w.key,
        position: queued.length + 1,
        code: explained.code,
        reason: explained.reason,
        starving: w.starving,
      });
    }
  }

  const holds: PoolHold[] = pass.holds.list.map((h) => ({
    pool: (pools[h.pool] as PoolInput).name,
    key: h.key,
  }));
  if (!quota) return { admitted, queued, unschedulable, holds };
  return { admitted, queued, unschedulable, holds, preempted: quota.preemptions, teams: quota.usage() };
}

function place(state: ClusterState, w: PreparedWorkload, holds: Holds | undefined): Placed[] | undefined {
  return w.mode === "gang" ? placeGang(state, w, holds) : placeReplicas(state, w, holds);
}

function toAdmission(pass: Pass, w: PreparedWorkload, placed: Placed[]): Admission {
  const { now } = pass;
  const byName = new Map(placed.map((p) => [p.group.name, p]));
  const groups: GroupAdmission[] = w.allGroups.map((g) => {
    const plans = byName.get(g.name)?.plans ?? [];
    const placements: PoolPlacement[] = plans.map((plan) => {
      const pool = now.pool(plan.pool).input;
      const shape = shapeOn(g, plan.pool);
      const nodes = plan.nodes
        .map((i, k) => {
          const pods = plan.pods[k] as number;
          return {
            node: now.nodeNames[i] as string,
            pods,
            devices: pods * shape.devices,
            cpuMillis: pods * shape.cpuMillis,
            memoryBytes: pods * shape.memoryBytes,
          };
        })
        .sort((a, b) => compareStrings(a.node, b.node));
      return {
        pool: pool.name,
        vendor: pool.vendor,
        resourceName: pool.resourceName,
        pods: plan.placed,
        ...(g.perPool ? { devicesPerPod: shape.devices } : {}),
        nodes,
      };
    });
    return { group: g.name, pods: placements.reduce((n, p) => n + p.pods, 0), placements };
  });
  const placedPods = groups.reduce((n, g) => n + g.pods, 0);
  const wanted = w.allGroups.reduce((n, g) => n + g.pods, 0);
  // An elastic gang's size is final once admitted: nothing of it waits.
  return { key: w.key, groups, pendingPods: w.mode === "gang" ? 0 : wanted - placedPods };
}
