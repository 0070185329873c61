// The admitter: one per operator process, built by the entry point (cmd/operator.ts) and handed
// to every workload controller. It watches pools, nodes, pods and every workload
// kind, and after any change runs the placement engine over the whole cluster, so admission
// decisions are made with one consistent view and one queue order across all kinds. Decisions
// live in memory; what is admitted is persisted by the workload's controller in
// status.admission before any pod exists, which is what a restarted operator trusts.
//
// Only a leader with every watched kind listed decides. A standby replica's informers run (so a
// new leader starts warm), but a decision it made would sit in its memory as an assumption
// while the leader books the same devices in status; on takeover it would be written, and the
// node booked twice. Likewise a pass over half-listed workloads cannot see admissions that are
// recorded in status but not yet listed. Until then a pass decides nothing.
import { type AdmissionStatus, labels } from "../../crds/runtime/index.ts";
import type { Cache, Informer, KubeObject, Logger, ResourceType } from "../../operator/index.ts";
import { objectKey } from "../../operator/index.ts";
import type { Admission, PlacementResult, Preemption, Reservation, Workload } from "../placement/index.ts";
import { reservationFor, schedule } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";
import { type ClusterView, clusterView, isTerminated, type NodeLike, type PodLike } from "./cluster-view.ts";
import { heldByPods, heldByWorkload, reservationFromAdmission } from "./reservations.ts";
import type { AdmittedForQuota, AdmitterApi, Decision, QuotaHook, WorkloadAdapter } from "./types.ts";

/** The engine's key for a workload: kind, then namespace/name. */
export const workloadKey = (rt: ResourceType, obj: KubeObject): string => `${rt.kind}/${objectKey(obj)}`;

/** A gang waiting this long holds the pools it is closest to fitting on (see the engine). */
const starvationAfterMs = 10 * 60_000;
/**
 * The least wait before a pass. Every status write and pod binding asks for one, so under a
 * burst passes would otherwise follow each other back to back; a tenth of a second is nothing
 * to a job waiting for admission (bench/trainingjob.ts, 500 jobs: passes were a tenth of the
 * operator's CPU at 20 ms).
 */
const debounceMs = 100;
/** How often a standby (or a still-listing leader) looks again whether it may decide. */
const notDecidingRetryMs = 500;
/**
 * How long a victim's re-admission waits at most for the workload that preempted it (see
 * `reclaimed`): longer than any eviction takes, short enough that a preemptor stuck for another
 * reason does not keep the victim out for good.
 */
const reclaimHoldMs = 10 * 60_000;
/** Pod index: "kind/namespace/name" of the workload a pod belongs to (from its labels). */
const workloadPodIndex = "sovereign.dev/workload";

/**
 * An admission decided but not yet seen in the object's status. It holds its nodes for as long
 * as the object it was decided for exists unchanged: under a backlog the controller may take
 * minutes to persist it, and a hold that lapsed by the clock would give the same nodes away
 * twice. A new uid (deleted and recreated) or generation (spec edited) voids it, since the
 * decision was made for a gang that no longer exists.
 */
interface Assumed {
  admission: Admission;
  uid: string | undefined;
  generation: number | undefined;
}

const stillFor = (assumed: Assumed | undefined, obj: KubeObject): assumed is Assumed =>
  assumed !== undefined && assumed.uid === obj.metadata.uid && assumed.generation === obj.metadata.generation;

type WithAdmission = KubeObject & { status?: { admission?: AdmissionStatus } };

export const hasAdmission = (obj: KubeObject): boolean =>
  ((obj as WithAdmission).status?.admission?.placements?.length ?? 0) > 0;

/** What the admitter reads from: the manager (`new Admitter(manager)`), or a test's stand-in. */
export interface AdmitterOptions {
  cache: Cache;
  informer(rt: ResourceType, scope?: { allNamespaces?: boolean }): Informer;
  log: Logger;
  now?: () => number;
  /** Whether this process may decide now (the manager: it holds the lease); absent means always. */
  readonly isLeader?: boolean;
}

export class Admitter implements AdmitterApi {
  private readonly adapters = new Map<string, WorkloadAdapter>();
  private decisions = new Map<string, Decision>();
  private readonly assumed = new Map<string, Assumed>();
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly cache: Cache;
  private readonly informer: AdmitterOptions["informer"];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly leading: () => boolean;
  private readonly podInformer: Informer;
  /** Every informer a pass reads: it decides only once all have listed. */
  private readonly informers: Informer[] = [];
  private quota: QuotaHook | undefined;
  private preemptions = new Map<string, Preemption>();
  /**
   * Victim key → the preemptor it gave room to, and since when. Until the preemptor is admitted
   * (or gone), the victim does not queue for what it lost: it would be first in line for the
   * room it just freed (it is often the older of the two) and take it back, and the preemptor
   * would preempt it again. The engine cannot see this: once the victim's pods are going it
   * chooses no preemption, so the decision would be lost with the next pass.
   */
  private readonly reclaimed = new Map<string, { by: string; since: number }>();
  /** Passes run so far, for tests and metrics. */
  passes = 0;
  private lastPassMs = 0;

  constructor(options: AdmitterOptions) {
    this.cache = options.cache;
    this.informer = (rt, scope) => options.informer(rt, scope);
    this.log = options.log.with({ component: "admitter" });
    this.now = options.now ?? Date.now;
    // Read at each pass: the manager's isLeader is a getter that turns true on taking the lease.
    this.leading = () => options.isLeader ?? true;
    for (const rt of [resourceTypes.acceleratorPool, resourceTypes.node]) this.watch(rt);
    this.podInformer = this.watch(resourceTypes.pod, true);
    // A pass looks up the pods of every admitted workload: an index keeps that O(own pods).
    this.podInformer.store.addIndexer(workloadPodIndex, (pod) => {
      const kind = pod.metadata.labels?.[labels.kind];
      const name = pod.metadata.labels?.[labels.name];
      return kind && name ? [`${kind}/${pod.metadata.namespace}/${name}`] : [];
    });
  }

  private watch(rt: ResourceType, allNamespaces = false): Informer {
    const informer = this.informer(rt, { allNamespaces });
    this.informers.push(informer);
    const poke = (): void => this.requestPass();
    informer.addHandler({
      onAdd: poke,
      // Pod status churns (readiness, IPs) without changing what it holds; only binding to a node
      // or ending (Succeeded, Failed) moves capacity.
      onUpdate: (old, obj) => {
        if (rt !== resourceTypes.pod || podCapacityChanged(old as PodLike, obj as PodLike)) poke();
      },
      onDelete: poke,
    });
    return informer;
  }

  register(adapter: WorkloadAdapter): void {
    this.adapters.set(adapter.resource.kind, adapter);
    this.watch(adapter.resource);
  }

  decisionFor(resource: ResourceType, key: string): Decision | undefined {
    return this.decisions.get(`${resource.kind}/${key}`);
  }

  /** Team quotas apply from the next pass on (controllers/queueing). */
  useQuota(hook: QuotaHook): void {
    this.quota = hook;
    this.requestPass();
  }

  preemptionFor(resource: ResourceType, key: string): Preemption | undefined {
    return this.preemptions.get(`${resource.kind}/${key}`);
  }

  requestPass(): void {
    if (this.timer) return;
    // A pass costs O(pods + nodes + workloads) and every status write or pod binding asks
    // for another: waiting four times as long as the last pass took keeps passes to at most a
    // fifth of the CPU on a big cluster, and costs nothing on a small one.
    const delay = Math.max(debounceMs, 4 * this.lastPassMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = performance.now();
      try {
        this.pass();
      } catch (error) {
        this.log.error("admission pass failed", { error: String(error) });
        this.requestPass();
      } finally {
        this.lastPassMs = performance.now() - started;
      }
    }, delay);
    this.timer.unref?.();
  }

  private retryLater(): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.requestPass();
    }, notDecidingRetryMs);
    this.retry.unref?.();
  }

  /** Stops pending timers (manager shutdown, tests). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.timer = undefined;
    this.retry = undefined;
  }

  /** Whether a pass may decide: this process leads and every watched kind has listed. */
  get deciding(): boolean {
    return this.leading() && this.informers.every((i) => i.hasSynced);
  }

  /** One scheduling pass over the cluster as the cache shows it now. Synchronous and pure but for the cache read. */
  pass(): PlacementResult {
    const none: PlacementResult = { admitted: [], queued: [], unschedulable: [], holds: [] };
    const { cache } = this;
    if (!cache.has(resourceTypes.acceleratorPool)) return none;
    if (!this.deciding) {
      // Nothing is decided, so nothing is assumed either; look again soon (taking the lease or
      // finishing a list fires no event of its own here).
      this.decisions.clear();
      this.assumed.clear();
      this.retryLater();
      return none;
    }
    this.passes++;
    const now = this.now();
    // What admitted workloads hold costs O(pods) to work out, and only a waiting workload
    // needs it: those reads are deferred until one is found (a cluster where everything is
    // admitted passes in O(workloads)).
    let view: ClusterView | undefined;
    const poolOf = (pool: string) => view?.pools.find((p) => p.name === pool);

    // Keys that hold an admission (recorded or assumed), for the reclaim holds below.
    const admittedKeys = new Set<string>();
    // What queues, with the key of the object it belongs to (a victim's extra replicas too).
    const candidates: { workload: Workload; owner: string }[] = [];
    const holding: (() => Reservation)[] = [];
    const keep = new Map<string, Decision>();
    // Every engine key seen this pass (a workload, or its additional replicas), with its object
    // and the adapter that enqueues it.
    const seen = new Map<string, { obj: KubeObject; adapter: WorkloadAdapter }>();
    // Admitted workloads with all they hold, for team quotas (the reservations above leave out
    // what bound pods hold, which the nodes' usage already counts).
    const forQuota: (() => AdmittedForQuota)[] = [];
    for (const adapter of this.adapters.values()) {
      const kindLabel = adapter.resource.kind.toLowerCase();
      for (const obj of cache.list(adapter.resource)) {
        const key = workloadKey(adapter.resource, obj);
        seen.set(key, { obj, adapter });
        const workload = adapter.toWorkload(obj);
        const admission = (obj as WithAdmission).status?.admission;
        const ownPods = (): PodLike[] =>
          this.podInformer.store.byIndex(
            workloadPodIndex,
            `${kindLabel}/${obj.metadata.namespace}/${obj.metadata.name}`,
          ) as PodLike[];
        if (!workload) {
          this.assumed.delete(key);
          continue;
        }
        if (hasAdmission(obj) && admission) {
          admittedKeys.add(key);
          this.assumed.delete(key);
          holding.push(() => reservationFromAdmission(workload, admission, poolOf, ownPods()));
          if (this.quota)
            forQuota.push(() => ({
              key,
              obj,
              workload,
              holds: heldByWorkload(workload, admission, poolOf, ownPods()),
            }));
          // Replicas wanted beyond the admitted ones queue on their own key (see types.ts).
          const extra = adapter.toAdditionalWorkload?.(obj);
          if (extra) {
            seen.set(extra.key, { obj, adapter });
            const granted = this.assumed.get(extra.key);
            if (stillFor(granted, obj)) {
              keep.set(extra.key, { type: "admitted", admission: granted.admission });
              holding.push(() =>
                reservationFromAdmission(extra, assumedStatus(granted.admission), poolOf, []),
              );
              // Its team holds the grant too, until the record has it.
              if (this.quota)
                forQuota.push(() => ({
                  key: extra.key,
                  obj,
                  workload: extra,
                  holds: reservationFor(granted.admission),
                }));
            } else {
              this.assumed.delete(extra.key);
              candidates.push({ workload: extra, owner: key });
            }
          }
          continue;
        }
        const assumed = this.assumed.get(key);
        if (stillFor(assumed, obj)) {
          admittedKeys.add(key);
          keep.set(key, { type: "admitted", admission: assumed.admission });
          holding.push(() =>
            reservationFromAdmission(workload, assumedStatus(assumed.admission), poolOf, ownPods()),
          );
          if (this.quota)
            forQuota.push(() => ({ key, obj, workload, holds: reservationFor(assumed.admission) }));
          continue;
        }
        this.assumed.delete(key);
        candidates.push({ workload, owner: key });
        // Pods it runs while it waits for more (a RayCluster scaling up) count for its team.
        if (this.quota)
          forQuota.push(() => {
            const resources = new Set((view?.pools ?? []).map((p) => p.resourceName));
            const holds = heldByPods(`${key}#running`, ownPods(), resources);
            return { key: holds.key, obj, workload, holds, running: true };
          });
      }
    }
    // Forget assumptions about objects that no longer exist.
    for (const key of this.assumed.keys()) if (!seen.has(key)) this.assumed.delete(key);
    // A reclaim hold ends when its preemptor is admitted or gone, or after reclaimHoldMs.
    for (const [victim, hold] of this.reclaimed)
      if (
        !seen.has(victim) ||
        !seen.has(hold.by) ||
        admittedKeys.has(hold.by) ||
        now - hold.since > reclaimHoldMs
      )
        this.reclaimed.delete(victim);
    const waiting: Workload[] = [];
    const heldBack = new Map<string, string>();
    for (const { workload, owner } of candidates) {
      const hold = this.reclaimed.get(owner);
      if (hold) heldBack.set(workload.key, hold.by);
      else waiting.push(workload);
    }

    let result = none;
    let quota: ReturnType<QuotaHook["prepare"]> | undefined;
    if (waiting.length > 0 || this.quota?.inUse?.()) {
      const pools = cache.list(resourceTypes.acceleratorPool) as never[];
      const nodes = cache.list<NodeLike>(resourceTypes.node);
      // Every pod on the nodes, whatever namespaces this operator reconciles.
      const pods = this.podInformer.store.list() as PodLike[];
      const cluster = clusterView(pools, nodes, pods);
      view = cluster;
      const reservations = holding.map((reservation) => reservation());
      quota = this.quota?.prepare(
        waiting,
        forQuota.map((entry) => entry()).filter((a) => a.holds.nodes.length > 0),
        (key) => seen.get(key)?.obj,
        cluster.pools,
      );
      result = schedule(
        {
          pools: cluster.pools,
          nodes: cluster.nodes,
          reservations,
          workloads: quota?.waiting ?? waiting,
          now,
          ...(quota ? { quota: quota.input } : {}),
        },
        { starvationAfterMs },
      );
    }
    const next = new Map<string, Decision>(keep);
    // Held outside the engine (no such queue, or a reclaim hold): behind everything it queued.
    let behind = result.queued.length;
    for (const [key, d] of quota?.decisions ?? [])
      next.set(key, d.type === "queued" ? { ...d, position: ++behind } : d);
    for (const [key, by] of heldBack)
      next.set(key, {
        type: "queued",
        position: ++behind,
        code: "Reclaimed",
        reason: `waiting until ${by}, which took these devices back, is admitted`,
      });
    const preemptions = new Map((result.preempted ?? []).map((p) => [p.key, p]));
    for (const p of preemptions.values())
      if (!this.reclaimed.has(p.key)) this.reclaimed.set(p.key, { by: p.by, since: now });
    for (const a of result.admitted) {
      next.set(a.key, { type: "admitted", admission: a });
      const meta = seen.get(a.key)?.obj.metadata;
      this.assumed.set(a.key, { admission: a, uid: meta?.uid, generation: meta?.generation });
    }
    for (const q of result.queued)
      next.set(q.key, { type: "queued", position: q.position, code: q.code, reason: q.reason });
    for (const u of result.unschedulable)
      next.set(u.key, { type: "unschedulable", code: u.code, reason: u.reason });

    const previous = this.decisions;
    this.decisions = next;
    for (const [key, decision] of next) {
      if (sameDecision(previous.get(key), decision)) continue;
      const owner = seen.get(key);
      owner?.adapter.enqueue(objectKey(owner.obj));
    }
    // A victim's controller starts its checkpoint; the record is in its status from then on.
    const wasPreempted = this.preemptions;
    this.preemptions = preemptions;
    for (const key of preemptions.keys()) {
      if (wasPreempted.has(key)) continue;
      const owner = seen.get(key);
      owner?.adapter.enqueue(objectKey(owner.obj));
    }
    this.quota?.afterPass(result);
    if (result.admitted.length > 0) {
      this.log.info("admission pass", {
        admitted: result.admitted.length,
        queued: result.queued.length,
        unschedulable: result.unschedulable.length,
      });
    }
    return result;
  }
}

function assumedStatus(admission: Admission): AdmissionStatus {
  return {
    placements: admission.groups.flatMap((g) =>
      g.placements.map((p) => ({
        group: g.group,
        pool: p.pool,
        nodes: p.nodes.flatMap((n) => Array.from({ length: n.pods }, () => n.node)),
      })),
    ),
  };
}

/** Pending to Running holds the same devices; binding to a node and ending free or take them. */
function podCapacityChanged(old: PodLike, obj: PodLike): boolean {
  return old.spec?.nodeName !== obj.spec?.nodeName || isTerminated(old) !== isTerminated(obj);
}

function sameDecision(a: Decision | undefined, b: Decision): boolean {
  if (!a || a.type !== b.type) return false;
  if (a.type === "queued" && b.type === "queued") return a.position === b.position && a.reason === b.reason;
  if (a.type === "unschedulable" && b.type === "unschedulable") return a.reason === b.reason;
  return a.type === "admitted" && b.type === "admitted" && a.admission === b.admission;
}
