// One reconcile of a RayCluster: read the cache, decide with the pure modules, apply the head
// Service and the pods, write the status once (twice when it records a new admission: the
// protocol wants status.admission stored before any pod of it exists), then the events.
import {
  type AcceleratorPool,
  poolResourceName,
  type RayClusterStatus,
  type Vendor,
} from "../../crds/runtime/index.ts";
import {
  isConflict,
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  statusEquals,
} from "../../operator/index.ts";
import { type AdmitterApi, evictionCheck, hasAdmission, toAdmissionStatus } from "../admission/index.ts";
import { fetchClusterLoad, isIdleNode, type RayClusterLoad } from "../ray-api/index.ts";
import { resourceTypes } from "../resources.ts";
import type { RayClusterObject } from "./adapter.ts";
import { decideScale, groupsInForce, nextIdleSince } from "./autoscale.ts";
import { eventsFor } from "./events.ts";
import { RayLoadPoller } from "./load-poller.ts";
import { headPodName } from "./names.ts";
import { headPod, headService, workerPod } from "./pods.ts";
import { headPorts } from "./ray-start.ts";
import { type AdmissionWait, computeStatus, type StatusInput } from "./status.ts";
import {
  countedWorkers,
  groupRuns,
  keepWorkers,
  maxPlacements,
  mergeAdmission,
  type PlannedCreate,
  type PlannedDelete,
  type PodHealth,
  planAdmitted,
  planUnadmitted,
  podHealth,
  type Retire,
  retireSlots,
  viewWorker,
  type WorkerView,
} from "./workers.ts";

export interface ReconcilerDeps {
  admitter: AdmitterApi;
  now?: () => Date;
  /** Ray's report from a head's dashboard; tests and the benchmark keep the default. */
  clusterLoad?: (dashboardUrl: string) => Promise<RayClusterLoad>;
  /** Queues a cluster whose head reports a change (the controller's enqueue). */
  enqueue?: (key: string) => void;
}

/** How often an autoscaling cluster is reconciled without a change (idle timeouts expire). */
export const autoscalePeriodMs = 1_000;
/** How often the heads of autoscaling clusters are read (load-poller.ts). */
export const loadPollMs = 500;
const loadTimeoutMs = 2_000;

const rt = resourceTypes.rayCluster;

interface ScaleChange {
  ups: string[];
  downs: string[];
}

/** How soon to look again at a cluster whose worker pods must settle before a decision. */
const settleRecheckMs = 2_000;
/** How soon to look again at a scale-up held back until the admitter has seen the admission. */
const staleGrantRecheckMs = 200;
/** How soon to look again, and for how long at most, while the cache does not show a retirement. */
const ownWriteRecheckMs = 100;
const ownWriteWaitMs = 5_000;

export function rayClusterReconciler(deps: ReconcilerDeps) {
  const clock = deps.now ?? (() => new Date());
  const clusterLoad =
    deps.clusterLoad ?? ((url: string) => fetchClusterLoad(url, { timeoutMs: loadTimeoutMs }));
  // Per cluster, per worker pod: since when Ray reports it idle. In memory: a restarted
  // operator starts the timers again, which only delays a scale-down.
  const idleTimers = new Map<string, Map<string, number>>();
  // Per cluster: the resourceVersion a reconcile read before it wrote a retirement (idle workers
  // deleted by name). A reconcile that still reads that version works from a cache that does not
  // show the write yet; acting on it would write the retired slots back. Only delays: a
  // restarted operator starts from a synced cache.
  const ownWrites = new Map<string, { resourceVersion: string | undefined; until: number }>();
  const poller = new RayLoadPoller({
    fetch: clusterLoad,
    onChange: (key) => deps.enqueue?.(key),
    periodMs: loadPollMs,
    maxBackoffMs: 8_000,
    forgetAfterMs: 10 * autoscalePeriodMs,
  });
  async function autoscale(
    rc: RayClusterObject,
    workers: readonly WorkerView[],
    url: string,
    now: number,
  ): Promise<{
    autoscaling: NonNullable<StatusInput["autoscaling"]>;
    change: ScaleChange | undefined;
    retire: Retire[];
  }> {
    const key = `${rc.metadata.namespace}/${rc.metadata.name}`;
    const spec = rc.spec.autoscaling as NonNullable<RayClusterObject["spec"]["autoscaling"]>;
    const { load, error } = await poller.read(key, url);
    if (!load) {
      return {
        autoscaling: {
          status: rc.status?.autoscaling,
          condition: {
            status: "False",
            reason: "DashboardUnreachable",
            message: `reading Ray's demand from ${url}: ${error instanceof Error ? error.message : String(error)}; the counts in force stay`,
          },
        },
        change: undefined,
        retire: [],
      };
    }
    const nodesByIp = new Map(load.nodes.filter((n) => n.alive).map((n) => [n.ip, n]));
    const inForce = groupsInForce(rc);
    const admission = hasAdmission(rc) ? rc.status?.admission : undefined;
    // Only the workers a group's count keeps: one the plan deletes anyway is not a removal.
    const counted = inForce.flatMap((g) => countedWorkers(admission, g.name, g.replicas, workers));
    const views = counted.map((w) => {
      const node = w.ip ? nodesByIp.get(w.ip) : undefined;
      return {
        name: w.name,
        index: w.index,
        group: w.group,
        joined: node !== undefined,
        idle: node !== undefined && isIdleNode(node),
      };
    });
    const idleSince = nextIdleSince(idleTimers.get(key) ?? new Map(), views, now);
    idleTimers.set(key, idleSince);
    // A group on several pools declares its first pool's devices to the decision.
    const vendorOf = (group: string) =>
      groupRuns(rc.status?.admission, group)[0]?.vendor as Vendor | undefined;
    const decisions = decideScale({
      autoscaling: spec,
      demand: load.demand,
      idleSince,
      now,
      // Each removal inside a run splits it: the record holds a bounded number of runs.
      mayRemove: admission
        ? (retire) => (retireSlots(admission, retire).placements?.length ?? 0) <= maxPlacements
        : undefined,
      groups: inForce.map((g) => ({
        group: g,
        vendor: vendorOf(g.name),
        replicas: g.replicas,
        workers: views.filter((v) => v.group === g.name),
      })),
    });
    const changed = decisions.filter((d) => d.replicas !== inForce.find((g) => g.name === d.name)?.replicas);
    const status: NonNullable<RayClusterStatus["autoscaling"]> = {
      groups: decisions.map((d) => ({ name: d.name, replicas: d.replicas, reason: d.reason.slice(0, 1024) })),
    };
    const lastScaleTime =
      changed.length > 0 ? new Date(now).toISOString() : rc.status?.autoscaling?.lastScaleTime;
    if (lastScaleTime) status.lastScaleTime = lastScaleTime;
    const demand = load.demand.map((d) => `${d.count} x ${JSON.stringify(d.bundle)}`).join(", ");
    return {
      retire: decisions.flatMap((d) => d.retire.map((index) => ({ group: d.name, index }))),
      autoscaling: {
        status,
        condition: {
          status: "True",
          reason: "ReadingDemand",
          message: demand ? `Ray reports pending ${demand}` : "Ray reports no pending demand",
        },
      },
      change:
        changed.length === 0
          ? undefined
          : {
              ups: changed.filter((d) => d.remove.length === 0).map((d) => `group ${d.name}: ${d.reason}`),
              downs: changed.filter((d) => d.remove.length > 0).map((d) => `group ${d.name}: ${d.reason}`),
            },
    };
  }

  return async function reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const cached = ctx.object<RayClusterObject>();
    // Gone or going: garbage collection deletes the children and the admitter forgets it.
    if (!cached || cached.metadata.deletionTimestamp) {
      ownWrites.delete(key);
      return undefined;
    }
    // The cached object is shared: never mutate it; `rc` moves on to what this reconcile wrote.
    let rc = cached;
    const now = clock();
    const own = ownWrites.get(key);
    if (own && own.resourceVersion === cached.metadata.resourceVersion && now.getTime() < own.until)
      return { requeueAfter: ownWriteRecheckMs };
    ownWrites.delete(key);
    const name = rc.metadata.name as string;
    const namespace = rc.metadata.namespace as string;
    const pods = ctx.cache.childrenOf(resourceTypes.pod, rc);
    const headObj = pods.find((p) => p.metadata.name === headPodName(name));
    let workers = pods.flatMap((p) => viewWorker(p, name) ?? []);
    const previous = rc.status;
    const wasUp = previous?.phase === "Ready" || previous?.phase === "Degraded";

    const deletePod = async (podName: string, uid: string | undefined): Promise<void> => {
      try {
        await ctx.client.delete(resourceTypes.pod, podName, namespace, uid ? { uid } : {});
      } catch (error) {
        // Already gone, or replaced by a pod of the same name: either way not ours to delete.
        if (!isNotFound(error) && !isConflict(error)) throw error;
      }
    };
    const markDeleted = (ds: readonly PlannedDelete[]): void => {
      const gone = new Set(ds.map((d) => d.name));
      workers = workers.map((w) => (gone.has(w.name) ? { ...w, terminating: true, ready: false } : w));
    };

    if (rc.spec.suspend) {
      await Promise.all(
        pods
          .filter((p) => !p.metadata.deletionTimestamp)
          .map((p) => deletePod(p.metadata.name ?? "", p.metadata.uid)),
      );
      const status = computeStatus({
        rc,
        head: undefined,
        workers: [],
        admission: undefined,
        wantMore: new Map(),
        wait: undefined,
        now,
      });
      const nothing = { deletes: [], headRecreated: false, released: false, trimmed: new Map() };
      await finish(ctx, rc, status, nothing, previous);
      return undefined;
    }

    // The head: its Service, and its pod when there is none (a failed one is deleted first).
    // None of it waits for admission, so it runs alongside the worker steps below.
    const headWork: Promise<unknown>[] = [ctx.apply(resourceTypes.service, headService(rc))];
    let head: PodHealth | undefined = headObj ? podHealth(headObj) : undefined;
    let headRecreated = false;
    if (!headObj) {
      // Pods are immutable: create only a missing one, never re-send an existing one.
      headWork.push(ctx.apply(resourceTypes.pod, headPod(rc), { createWhenAbsent: true }));
      head = { terminating: false, finished: false, ready: false, broken: false };
      headRecreated = wasUp;
    } else if (head?.finished && !head.terminating) {
      headWork.push(deletePod(headObj.metadata.name ?? "", headObj.metadata.uid));
      head = { ...head, terminating: true };
    }
    // Settled before any throw below, so a failed head request is never an unhandled rejection.
    const headDone = Promise.allSettled(headWork);

    // The autoscaler: Ray's own report from the head decides each group's count in force.
    let autoscaling: StatusInput["autoscaling"];
    let autoscaled: ScaleChange | undefined;
    // The idle workers the autoscaler removes by name: their slots go, the others keep theirs.
    let retire: Retire[] = [];
    const headIp = (headObj as { status?: { podIP?: string } } | undefined)?.status?.podIP;
    if (rc.spec.autoscaling?.enabled && head?.ready && headIp && !headObj?.metadata.deletionTimestamp) {
      const url = `http://${headIp}:${headPorts(rc.spec.head.rayStartParams).dashboard}`;
      const result = await autoscale(rc, workers, url, now.getTime());
      autoscaling = result.autoscaling;
      autoscaled = result.change;
      retire = result.retire;
    } else if (!rc.spec.autoscaling?.enabled) {
      idleTimers.delete(key);
      poller.forget(key);
    }
    const groups = groupsInForce({
      spec: rc.spec,
      status: { autoscaling: autoscaling?.status ?? rc.status?.autoscaling },
    });

    // The workers.
    const poolOf = (pool: string) =>
      ctx.cache.get<AcceleratorPool & KubeObject>(resourceTypes.acceleratorPool, pool);
    const facts = (pool: string) => {
      const p = poolOf(pool);
      return p ? { vendor: p.spec.vendor, resourceName: poolResourceName(p.spec) } : undefined;
    };
    const deletes: PlannedDelete[] = [];
    let admission = hasAdmission(rc) ? rc.status?.admission : undefined;
    let wantMore = new Map<string, number>();
    let wait: AdmissionWait | undefined;
    let admittedNow = false;
    let requeueAfter: number | undefined;
    let blocked = false;
    let evicted: string | undefined;
    // A new cluster that no pass has seen yet: its first status would say only that, and the
    // pass, milliseconds away, enqueues it with a verdict worth the write.
    let unseen = false;

    if (admission) {
      const check = evictionCheck(
        admission.admittedAt,
        pods.filter((p) => viewWorker(p, name) && !p.metadata.deletionTimestamp),
        now.getTime(),
      );
      if (check.evict) {
        // Its pods cannot run where they were admitted (a node went away): start over.
        evicted = check.reason;
        const all = workers.filter((w) => !w.terminating).map((w) => ({ ...w, reason: "Failed" as const }));
        deletes.push(...all);
        markDeleted(all);
        admission = undefined;
      } else if (check.recheckAfterMs !== undefined) requeueAfter = check.recheckAfterMs;
    }

    if (!admission && !evicted) {
      const plan = planUnadmitted(groups, workers, now.getTime(), retire);
      deletes.push(...plan.deletes);
      markDeleted(plan.deletes);
      wantMore = new Map(plan.needs.filter((n) => n.pods > 0).map((n) => [n.group, n.pods]));
      blocked = plan.blocked;
      if (plan.blocked) requeueAfter = settleRecheckMs;
      else if (wantMore.size === 0) {
        // Nothing missing (a scale-up taken back before it was admitted): the running workers
        // are the admission.
        admission = mergeAdmission(plan.needs, undefined, facts, now.toISOString());
      } else {
        const decision = deps.admitter.decisionFor(rt, key);
        if (decision?.type === "admitted") {
          admission = mergeAdmission(
            plan.needs,
            toAdmissionStatus(decision.admission, now),
            facts,
            now.toISOString(),
          );
          if (admission) {
            admittedNow = true;
            wantMore = new Map();
          } else {
            // Admitted for workers that are no longer the missing ones: ask again.
            deps.admitter.requestPass();
            wait = { type: "pending", reason: "the workers changed since the last admission pass" };
          }
        } else if (decision?.type === "queued") wait = decision;
        else if (decision?.type === "unschedulable") wait = decision;
        else {
          wait = { type: "pending", reason: "waiting for the first admission pass" };
          unseen = rc.status === undefined;
        }
      }
      if (admission && (admission.placements?.length ?? 0) === 0) admission = undefined;
    }

    // A quota preemption takes back workers above minReplicas: the admission keeps fewer, so the
    // plan deletes the highest indices (a plain graceful delete) and asks for them again.
    const preempted = admission ? deps.admitter.preemptionFor?.(rt, key) : undefined;
    if (admission && preempted?.pods) {
      const kept = keepWorkers(admission, preempted.pods);
      if (kept !== admission) {
        admission = kept;
        ctx.recordEvent(rc, {
          type: "Warning",
          reason: "Preempted",
          action: "Preempt",
          note: preempted.reason,
        });
      }
    }

    let creates: PlannedCreate[] = [];
    let released = false;
    let trimmed = new Map<string, [number, number]>();
    if (admission) {
      // Until a pass has seen this admission, the admitter still offers the grant it was made
      // from: released now, that stale grant would be taken for the added workers (on devices
      // the running ones use). A pass that sees it drops the grant; look again right after.
      const staleGrant = deps.admitter.decisionFor(rt, key)?.type === "admitted";
      const plan = planAdmitted(groups, admission, workers, !staleGrant, retire);
      if (staleGrant && plan.wantMore.size > 0) {
        deps.admitter.requestPass();
        requeueAfter = Math.min(requeueAfter ?? staleGrantRecheckMs, staleGrantRecheckMs);
      }
      deletes.push(...plan.deletes);
      markDeleted(plan.deletes);
      creates = plan.creates;
      released = plan.released;
      trimmed = plan.trimmed;
      // A record without placements holds nothing; the admitter treats it as none anyway.
      admission = (plan.admission?.placements?.length ?? 0) > 0 ? plan.admission : undefined;
      if (plan.wantMore.size > 0) wantMore = plan.wantMore;
      if (released) wait = { type: "pending", reason: "asking for admission of the added workers" };
    }

    await Promise.all(deletes.map((d) => deletePod(d.name, d.uid)));

    const toCreate = creates.flatMap((c) => {
      const group = groups.find((g) => g.name === c.group);
      const pool = poolOf(c.placement.pool);
      if (!group || !pool) {
        ctx.log.warn("cannot create worker: its group or pool is gone", {
          group: c.group,
          pool: c.placement.pool,
        });
        return [];
      }
      const pod = workerPod(rc, group, c.index, { pool, node: c.node });
      const view: WorkerView = {
        name: pod.metadata.name as string,
        uid: "",
        group: c.group,
        index: c.index,
        node: undefined,
        pool: c.placement.pool,
        terminating: false,
        finished: false,
        ready: false,
        broken: false,
        createdAt: now.getTime(),
      };
      return [{ pod, view }];
    });
    workers = [...workers, ...toCreate.map((c) => c.view)];

    if (admittedNow) {
      // The admission is stored before its pods exist, so a restarted operator never runs
      // pods it does not know it admitted. The status already counts the pods about to be
      // created, so the write at the end has nothing left to change.
      const first = computeStatus({ rc, head, workers, admission, wantMore, wait, now, autoscaling });
      await ctx.writeStatus(rt, rc, first);
      rc = { ...rc, status: first };
    }
    await Promise.all(toCreate.map((c) => ctx.apply(resourceTypes.pod, c.pod, { createWhenAbsent: true })));
    for (const r of await headDone) if (r.status === "rejected") throw r.reason;

    // Blocked is what a stale cache looks like right after this controller recorded an
    // admission: writing a status computed from it would erase that admission again.
    if (blocked) return { requeueAfter: settleRecheckMs };
    if (unseen) return undefined;
    const status = computeStatus({ rc, head, workers, admission, wantMore, wait, now, autoscaling });
    await finish(ctx, rc, status, { deletes, headRecreated, released, trimmed }, previous, evicted);
    if (retire.length > 0)
      ownWrites.set(key, {
        resourceVersion: cached.metadata.resourceVersion,
        until: now.getTime() + ownWriteWaitMs,
      });
    if (autoscaled) {
      for (const note of autoscaled.ups)
        ctx.recordEvent(rc, { type: "Normal", reason: "AutoscaledUp", action: "Scale", note });
      for (const note of autoscaled.downs)
        ctx.recordEvent(rc, { type: "Normal", reason: "AutoscaledDown", action: "Scale", note });
    }
    if (rc.spec.autoscaling?.enabled)
      requeueAfter = Math.min(requeueAfter ?? autoscalePeriodMs, autoscalePeriodMs);
    return requeueAfter === undefined ? undefined : { requeueAfter };
  };
}

async function finish(
  ctx: ReconcileContext,
  rc: RayClusterObject,
  status: RayClusterStatus,
  done: {
    deletes: readonly PlannedDelete[];
    headRecreated: boolean;
    released: boolean;
    trimmed: ReadonlyMap<string, [number, number]>;
  },
  previous: RayClusterStatus | undefined,
  evicted?: string,
): Promise<void> {
  // The last write of the reconcile: it reports, and goes after other clusters' creates,
  // unless it releases devices that others may wait for, or stores an autoscaler's count that
  // the admitter waits for.
  const report =
    statusEquals(rc.status?.admission, status.admission) &&
    statusEquals(rc.status?.autoscaling?.groups, status.autoscaling?.groups);
  await ctx.writeStatus(rt, rc, status, { report });
  if (evicted) ctx.recordEvent(rc, { type: "Warning", reason: "Evicted", action: "Admit", note: evicted });
  for (const event of eventsFor({ previous, next: status, ...done })) ctx.recordEvent(rc, event);
}
