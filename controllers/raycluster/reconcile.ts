// One reconcile of a RayCluster: read the cache, decide with the pure modules, apply the head
// Service and the pods, write the status once (twice when it records a new admission: the
// protocol wants status.admission stored before any pod of it exists), then the events.
import { type AcceleratorPool, poolResourceName, type RayClusterStatus } from "../../crds/index.ts";
import {
  isConflict,
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  statusEquals,
} from "../../operator/index.ts";
import { type AdmitterApi, evictionCheck, hasAdmission, toAdmissionStatus } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import type { RayClusterObject } from "./adapter.ts";
import { eventsFor } from "./events.ts";
import { headPodName } from "./names.ts";
import { headPod, headService, workerPod } from "./pods.ts";
import { type AdmissionWait, computeStatus } from "./status.ts";
import {
  mergeAdmission,
  type PlannedCreate,
  type PlannedDelete,
  type PodHealth,
  planAdmitted,
  planUnadmitted,
  podHealth,
  viewWorker,
  type WorkerView,
} from "./workers.ts";

export interface ReconcilerDeps {
  admitter: AdmitterApi;
  now?: () => Date;
}

const rt = resourceTypes.rayCluster;

/** How soon to look again at a cluster whose worker pods must settle before a decision. */
const settleRecheckMs = 2_000;

export function rayClusterReconciler(deps: ReconcilerDeps) {
  const clock = deps.now ?? (() => new Date());
  return async function reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const cached = ctx.object<RayClusterObject>();
    // Gone or going: garbage collection deletes the children and the admitter forgets it.
    if (!cached || cached.metadata.deletionTimestamp) return undefined;
    // The cached object is shared: never mutate it; `rc` moves on to what this reconcile wrote.
    let rc = cached;
    const now = clock();
    const name = rc.metadata.name as string;
    const namespace = rc.metadata.namespace as string;
    const pods = ctx.cache.childrenOf(resourceTypes.pod, rc);
    const headObj = pods.find((p) => p.metadata.name === headPodName(name));
    let workers = pods.flatMap((p) => viewWorker(p, name) ?? []);
    const groups = rc.spec.workerGroups ?? [];
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
      // Pods are immutable: apply only a missing one, never re-send an existing one.
      headWork.push(ctx.apply(resourceTypes.pod, headPod(rc)));
      head = { terminating: false, finished: false, ready: false, broken: false };
      headRecreated = wasUp;
    } else if (head?.finished && !head.terminating) {
      headWork.push(deletePod(headObj.metadata.name ?? "", headObj.metadata.uid));
      head = { ...head, terminating: true };
    }
    // Settled before any throw below, so a failed head request is never an unhandled rejection.
    const headDone = Promise.allSettled(headWork);

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
      const plan = planUnadmitted(groups, workers, now.getTime());
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

    let creates: PlannedCreate[] = [];
    let released = false;
    let trimmed = new Map<string, [number, number]>();
    if (admission) {
      const plan = planAdmitted(groups, admission, workers);
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
      const first = computeStatus({ rc, head, workers, admission, wantMore, wait, now });
      await ctx.writeStatus(rt, rc, first);
      rc = { ...rc, status: first };
    }
    await Promise.all(toCreate.map((c) => ctx.apply(resourceTypes.pod, c.pod)));
    for (const r of await headDone) if (r.status === "rejected") throw r.reason;

    // Blocked is what a stale cache looks like right after this controller recorded an
    // admission: writing a status computed from it would erase that admission again.
    if (blocked) return { requeueAfter: settleRecheckMs };
    if (unseen) return undefined;
    const status = computeStatus({ rc, head, workers, admission, wantMore, wait, now });
    await finish(ctx, rc, status, { deletes, headRecreated, released, trimmed }, previous, evicted);
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
  // unless it releases devices that others may wait for.
  const report = statusEquals(rc.status?.admission, status.admission);
  await ctx.writeStatus(rt, rc, status, { report });
  if (evicted) ctx.recordEvent(rc, { type: "Warning", reason: "Evicted", action: "Admit", note: evicted });
  for (const event of eventsFor({ previous, next: status, ...done })) ctx.recordEvent(rc, event);
}
