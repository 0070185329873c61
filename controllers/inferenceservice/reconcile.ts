// One reconcile of an InferenceService: settle status.admission (repair, record what the
// admitter granted, shrink), apply the children, write the status once, then events.
// Everything is recomputed from the cache; a repeat on unchanged input writes nothing.
import {
  type AcceleratorPool,
  type AdmissionStatus,
  type InferenceServiceStatus,
  labels,
} from "../../crds/runtime/index.ts";
import {
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  type ResourceType,
  statusEquals,
} from "../../operator/index.ts";
import { type AdmitterApi, type Decision, type PodLike, toAdmissionStatus } from "../admission/index.ts";
import { poolMismatch } from "../placement/match.ts";
import type { PoolInput } from "../placement/types.ts";
import { resourceTypes } from "../resources.ts";
import { additionalKeySuffix, type InferenceServiceObject, requirementOf } from "./adapter.ts";
import type { AutoscalerLoop, Decision as ScalingDecision } from "./autoscaling/index.ts";
import { desiredCacheClaim, desiredDeployment, desiredService } from "./children.ts";
import { wantedReplicas, withWantedReplicas } from "./desired.ts";
import {
  groupsAsDeployments,
  groupWrites,
  isMember,
  type MemberPodLike,
  type OwnDeletions,
  type PoolGroups,
  planPools,
  withGroupMajorNodes,
  withMemberNodes,
} from "./group-sync.ts";
import { type DeploymentLike, deploymentProblem, podProblem, type ServerPodLike } from "./health.ts";
import type { InferencePoolPublisher } from "./inference-pool.ts";
import { cacheClaimName, kindLabelValue, routerName, routerPort, serverPort } from "./names.ts";
import {
  lowestDeletionCost,
  minimumReplicas,
  podDeletionCostAnnotation,
  takeReplicas,
} from "./preemption.ts";
import {
  admittedReplicas,
  dropPlacements,
  forgetBoundNodes,
  mergeAdmission,
  type Placement,
  placementsOf,
  type Released,
  shrinkAdmission,
} from "./replicas.ts";
import { deploymentStrategies } from "./rollout.ts";
import {
  desiredInferencePool,
  desiredRouterDeployment,
  desiredRouterRole,
  desiredRouterRoleBinding,
  desiredRouterService,
  desiredRouterServiceAccount,
  routerEnabled,
  routerGroup,
  routerLabels,
} from "./router.ts";
import type { SecretCheck } from "./secret.ts";
import { nodesPerReplica } from "./sizing.ts";
import { computeStatus } from "./status.ts";

type PoolObject = AcceleratorPool & KubeObject;

/** A fallback only: the admitter enqueues the service as soon as a pass has seen it. */
const unseenRecheckMs = 5000;

export interface ReconcileDeps {
  rt: ResourceType;
  admitter: AdmitterApi;
  secrets: SecretCheck;
  /** How soon to look for a missing Secret again. */
  secretRecheckMs: number;
  /** The image router pods run when spec.router.image is unset. */
  routerImage: string;
  inferencePools: InferencePoolPublisher;
  autoscaler: AutoscalerLoop;
  /** Member pods of replicas spanning nodes that this operator deleted (group-sync.ts). */
  ownDeletions: OwnDeletions;
  now?: () => Date;
}

/** How often an autoscaled service reads its router's figures and decides: the loop's tick. */
export const autoscaleTickMs = 1000;

/** The pool as the placement engine's static matcher reads it. */
function poolInput(pool: PoolObject): PoolInput {
  return {
    name: pool.metadata.name ?? "",
    vendor: pool.spec.vendor,
    model: pool.spec.model,
    memoryGiB: pool.spec.memoryGiB,
    interconnect: pool.spec.interconnect,
    resourceName: "",
    paused: pool.spec.paused ?? false,
    tolerations: [],
    nodeNames: [],
  } as PoolInput;
}

export interface AdmissionChange {
  admission: AdmissionStatus | undefined;
  /** Placements dropped because their pool is gone or no longer matches, with why. */
  dropped: { placement: Placement; why: string }[];
  /** A decision merged in this reconcile. */
  added: AdmissionStatus | undefined;
  released: Released[];
}

/**
 * The admission record this reconcile leaves: placements on pools that are gone or no longer
 * match dropped, the admitter's grant for missing replicas merged in (unless the Secret is
 * missing: new pods would not start), then trimmed to spec.replicas, last pool first.
 */
export function settleAdmission(
  svc: InferenceServiceObject,
  pools: ReadonlyMap<string, PoolObject>,
  decision: Decision | undefined,
  secretMissing: boolean,
  now: Date,
  /** Per pool, the nodes of the service's live bound server pods (see mergeAdmission). */
  boundNodes?: (pool: string) => readonly string[],
): AdmissionChange {
  const desired = Math.max(0, svc.spec.replicas ?? 1);
  const requirement = requirementOf(svc);
  const span = nodesPerReplica(svc.spec);
  const why = new Map<string, string>();
  const repaired = dropPlacements(svc.status?.admission, (p) => {
    const pool = pools.get(p.pool);
    const mismatch = pool ? poolMismatch(poolInput(pool), requirement) : "the pool no longer exists";
    if (mismatch) why.set(p.group, mismatch);
    return mismatch === undefined;
  });
  let admission = repaired.admission;
  let added: AdmissionStatus | undefined;
  if (decision?.type === "admitted" && !secretMissing && admittedReplicas(admission) < desired) {
    added = toAdmissionStatus(decision.admission, now, true);
    if (span > 1) added = withGroupMajorNodes(added, span);
    admission = mergeAdmission(admission, added, span > 1 ? undefined : boundNodes);
  }
  // The autoscaler's scale-down takes from the most expensive pool first, unless the user
  // ranked the pools (accelerators.pools): then, as for any scale-down, the last pool first.
  const byCost = svc.spec.autoscaling !== undefined && !svc.spec.accelerators?.pools?.length;
  const shrunk = shrinkAdmission(
    admission,
    desired,
    byCost ? (pool) => pools.get(pool)?.spec.costPerDeviceHour : undefined,
    span,
  );
  return {
    admission: shrunk.admission,
    dropped: repaired.dropped.map((placement) => ({ placement, why: why.get(placement.group) ?? "" })),
    added,
    released: shrunk.released,
  };
}

/** Whether `next` holds a replica on some pool that `previous` did not: pods may not exist before it is recorded. */
export function grants(previous: AdmissionStatus | undefined, next: AdmissionStatus | undefined): boolean {
  const before = new Map(placementsOf(previous).map((p) => [p.pool, p.replicas ?? 0]));
  return placementsOf(next).some((p) => (p.replicas ?? 0) > (before.get(p.pool) ?? 0));
}

export async function reconcileInferenceService(
  ctx: ReconcileContext,
  deps: ReconcileDeps,
): Promise<ReconcileResult | undefined> {
  const cached = ctx.object<InferenceServiceObject>();
  // Gone or going: garbage collection removes the children; deleting releases the admission.
  if (!cached || cached.metadata.deletionTimestamp) {
    deps.autoscaler.forget(ctx.key);
    return undefined;
  }
  const { cache } = ctx;
  const scaling = await autoscale(ctx, deps, cached);
  // From here on the service reads as if spec.replicas were what is wanted: the autoscaler's
  // count with spec.autoscaling, spec.replicas without.
  const svc = withWantedReplicas(cached, scaling?.replicas ?? wantedReplicas(cached));
  const { rt } = deps;
  const now = deps.now?.() ?? new Date();
  const name = svc.metadata.name ?? "";
  const namespace = svc.metadata.namespace ?? "";

  const secretRef = svc.spec.model.secretRef?.name;
  const missingSecret =
    secretRef !== undefined && !(await deps.secrets.exists(namespace, secretRef)) ? secretRef : undefined;

  const pools = new Map(
    cache.list<PoolObject>(resourceTypes.acceleratorPool).map((p) => [p.metadata.name ?? "", p]),
  );
  // The admitter keys its decision by what the cached object had admitted (see adapter.ts).
  const cachedAdmitted = admittedReplicas(svc.status?.admission);
  const decision = deps.admitter.decisionFor(
    rt,
    cachedAdmitted === 0 ? ctx.key : `${ctx.key}${additionalKeySuffix(cachedAdmitted)}`,
  );
  // The model server pods: one per replica, or every member of replicas spanning nodes.
  const ownPods = cache
    .list<PodLike & ServerPodLike & MemberPodLike>(resourceTypes.pod, {
      namespace,
      labels: { [labels.kind]: kindLabelValue, [labels.name]: name },
    })
    .filter((p) => p.metadata.labels?.[labels.group] !== routerGroup);
  const boundNodes = (pool: string): string[] =>
    ownPods
      .filter((p) => p.metadata.labels?.[labels.pool] === pool && !p.metadata.deletionTimestamp)
      .flatMap((p) => (p.spec?.nodeName ? [p.spec.nodeName] : []))
      .sort();
  let change = settleAdmission(svc, pools, decision, missingSecret !== undefined, now, boundNodes);
  // A quota preemption takes back replicas above the service's minimum (preemption.ts): the
  // record keeps fewer, and the Deployment's scale-down removes the pods the engine named.
  const preemption = change.admission ? deps.admitter.preemptionFor?.(rt, ctx.key) : undefined;
  const taken = preemption?.pods
    ? takeReplicas(change.admission, preemption, minimumReplicas(svc))
    : undefined;
  if (preemption && taken && taken.replicas > 0) {
    change = { ...change, admission: taken.admission };
    ctx.recordEvent(svc, {
      type: "Warning",
      reason: "Preempted",
      action: "Preempt",
      note: `${taken.replicas} replica${taken.replicas === 1 ? "" : "s"} taken back for ${preemption.by}: ${preemption.reason}; asked for again once there is room`,
    });
  }

  const deployments = new Map<string, DeploymentLike & KubeObject>();
  let routerDeployment: (DeploymentLike & KubeObject) | undefined;
  for (const d of cache.childrenOf<DeploymentLike & KubeObject>(resourceTypes.deployment, svc)) {
    if (d.metadata.labels?.[labels.group] === routerGroup) routerDeployment = d;
    const pool = d.metadata.labels?.[labels.pool];
    if (pool) deployments.set(pool, d);
  }
  // Replicas spanning nodes are groups of pods the reconcile makes itself, planned here so the
  // status reads their counts as it reads a Deployment's.
  const span = nodesPerReplica(svc.spec);
  const members = ownPods.filter(isMember);
  const groups: PoolGroups[] | undefined =
    span > 1
      ? planPools(
          svc,
          pools,
          placementsOf(change.admission),
          deploymentStrategies(
            svc.spec.rollout,
            placementsOf(change.admission).map((p) => p.replicas ?? 0),
          ),
          members,
          now.getTime(),
          deps.ownDeletions,
        )
      : undefined;
  const servers: ReadonlyMap<string, DeploymentLike> = groups ? groupsAsDeployments(groups) : deployments;
  const problems = [
    ...placementsOf(change.admission).flatMap((p) => {
      const d = groups ? undefined : deployments.get(p.pool);
      const problem = d ? deploymentProblem(d) : undefined;
      return problem ? [problem] : [];
    }),
    ...ownPods
      .map(podProblem)
      .filter((p): p is string => p !== undefined)
      .sort(),
  ];
  const waiting = admittedReplicas(change.admission) < (svc.spec.replicas ?? 1) ? decision : undefined;
  const statusFor = (admission: AdmissionStatus | undefined) =>
    computeStatus({
      svc,
      admission,
      deployments: servers,
      routerDeployment,
      problems,
      waiting,
      missingSecret,
      scaling,
      poolMemoryGiB: (pool) => pools.get(pool)?.spec.memoryGiB,
      previousReplicas: wantedReplicas(cached),
      ...(preemption && taken && taken.replicas > 0
        ? { preempted: { by: preemption.by, reason: preemption.reason, replicas: taken.replicas } }
        : {}),
      now,
    });

  // Reserved nodes are forgotten once a pool's pods are all bound, but never by a status write
  // of their own: with the write that reports the pool ready, or with any other write.
  const bound = (pool: string): number =>
    ownPods.filter(
      (p) => p.spec?.nodeName && p.metadata.labels?.[labels.pool] === pool && !p.metadata.deletionTimestamp,
    ).length;
  const boundAndReady = (pool: string): number =>
    Math.min(bound(pool), servers.get(pool)?.status?.readyReplicas ?? 0);
  // Replicas spanning nodes keep their nodes, where the members run: a member deleted for a
  // restart leaves its share reserved, so a restarting group keeps its place.
  const forget =
    span > 1 ? (a: AdmissionStatus | undefined) => withMemberNodes(a, members, span) : forgetBoundNodes;
  let admission = forget(change.admission, boundAndReady);
  let status = statusFor(admission);
  if (!statusEquals(svc.status, status)) {
    admission = forget(change.admission, bound);
    status = statusFor(admission);
  }
  const placements = placementsOf(admission);

  // Before the admitter's first pass over a new service (a few milliseconds) there is nothing to
  // report; the decision enqueues the service, and the status is written once, with it.
  const unseen =
    decision === undefined &&
    admission === undefined &&
    missingSecret === undefined &&
    (svc.spec.replicas ?? 1) > 0 &&
    !svc.status?.conditions?.length;
  if (unseen) {
    await applyChildren(ctx, deps, svc, pools, [], deployments, routerDeployment, groups && [], members);
    return { requeueAfter: scaling ? Math.min(unseenRecheckMs, autoscaleTickMs) : unseenRecheckMs };
  }

  // The pods a preemption named go first when the Deployment scales down: marked before it does.
  if (taken && taken.replicas > 0 && !groups) await markToGo(ctx, ownPods, taken.names);

  // Protocol: a grant is recorded before any pod it allows exists.
  const recordFirst = grants(svc.status?.admission, admission);
  let written = false;
  if (recordFirst) written = await ctx.writeStatus(rt, svc, status);

  await applyChildren(ctx, deps, svc, pools, placements, deployments, routerDeployment, groups, members);

  // After the children: it reports, unless it releases devices that others may wait for.
  const report = statusEquals(svc.status?.admission, status.admission);
  if (!recordFirst) written = await ctx.writeStatus(rt, svc, status, { report });
  recordEvents(ctx, svc, svc.status, status, change, written);
  const after = [
    missingSecret ? deps.secretRecheckMs : undefined,
    scaling ? autoscaleTickMs : undefined,
    ...(groups ?? []).map((g) => g.plan.recheckMs),
  ].filter((ms): ms is number => ms !== undefined);
  return after.length > 0 ? { requeueAfter: Math.min(...after) } : undefined;
}

/**
 * One tick of the autoscaler, for a service with spec.autoscaling: the router's figures (from
 * a ready router pod) and the replicas there are go into the decision. Undefined without
 * spec.autoscaling; before the first decision, the count the status already holds.
 */
async function autoscale(
  ctx: ReconcileContext,
  deps: ReconcileDeps,
  svc: InferenceServiceObject,
): Promise<ScalingDecision | undefined> {
  const limits = svc.spec.autoscaling;
  if (!limits) {
    deps.autoscaler.forget(ctx.key);
    return undefined;
  }
  const namespace = svc.metadata.namespace ?? "";
  const name = svc.metadata.name ?? "";
  const routerPod = ctx.cache
    .list<KubeObject & { status?: { podIP?: string; conditions?: { type: string; status: string }[] } }>(
      resourceTypes.pod,
      { namespace, labels: routerLabels(name) },
    )
    .find(
      (p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
  const current = wantedReplicas(svc);
  const ready = svc.status?.readyReplicas ?? 0;
  return deps.autoscaler.step(
    ctx.key,
    limits,
    routerPod ? `${routerPod.status?.podIP}:${routerPort}` : undefined,
    { replicas: current, loading: Math.max(0, current - ready), replicaStartSeconds: undefined },
    (deps.now?.() ?? new Date()).getTime(),
  );
}

async function applyChildren(
  ctx: ReconcileContext,
  deps: ReconcileDeps,
  svc: InferenceServiceObject,
  pools: ReadonlyMap<string, PoolObject>,
  placements: readonly Placement[],
  deployments: ReadonlyMap<string, DeploymentLike & KubeObject>,
  routerDeployment: KubeObject | undefined,
  /** With replicas spanning nodes: each pool's plan (then no Deployment exists). */
  groups: readonly PoolGroups[] | undefined,
  members: readonly MemberPodLike[],
): Promise<void> {
  const { cache } = ctx;
  const namespace = svc.metadata.namespace ?? "";
  const name = svc.metadata.name ?? "";
  // The children are independent of one another: write them concurrently, so a reconcile
  // costs one round trip rather than one per child.
  const writes: Promise<unknown>[] = [ctx.apply(resourceTypes.service, desiredService(svc))];

  const claimKey = `${namespace}/${cacheClaimName(name)}`;
  const claim = cache.get(resourceTypes.persistentVolumeClaim, claimKey);
  const desiredClaim = desiredCacheClaim(svc, claim);
  if (desiredClaim) writes.push(ctx.apply(resourceTypes.persistentVolumeClaim, desiredClaim));
  else if (claim && isOwnedBy(claim, svc))
    writes.push(deleteChild(ctx, resourceTypes.persistentVolumeClaim, claim));

  const strategies = deploymentStrategies(
    svc.spec.rollout,
    placements.map((p) => p.replicas ?? 0),
  );
  const inUse = new Set<string>();
  if (groups) writes.push(...groupWrites(ctx, svc, groups, members, deps.ownDeletions));
  else {
    // Members left from when the replicas spanned nodes.
    for (const m of members)
      if (!m.metadata.deletionTimestamp) writes.push(deleteChild(ctx, resourceTypes.pod, m));
    writes.push(...groupWrites(ctx, svc, [], [], deps.ownDeletions));
  }
  for (const [i, p] of groups ? [] : placements.entries()) {
    const pool = pools.get(p.pool);
    const strategy = strategies[i];
    if (!pool || !strategy) continue;
    inUse.add(p.pool);
    writes.push(ctx.apply(resourceTypes.deployment, desiredDeployment(svc, pool, p.replicas ?? 0, strategy)));
  }
  for (const [pool, d] of deployments) {
    if (!inUse.has(pool)) writes.push(deleteChild(ctx, resourceTypes.deployment, d));
  }
  writes.push(...routerWrites(ctx, deps, svc, routerDeployment));
  // Every write is attempted even when one fails; the first failure fails the reconcile.
  const failed = (await Promise.allSettled(writes)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

/**
 * The router's children while it is enabled; when it is turned off they are deleted (the RBAC
 * objects with it, so no credential outlives its use). Garbage collection covers the service's
 * own deletion.
 */
function routerWrites(
  ctx: ReconcileContext,
  deps: ReconcileDeps,
  svc: InferenceServiceObject,
  routerDeployment: KubeObject | undefined,
): Promise<unknown>[] {
  const namespace = svc.metadata.namespace ?? "";
  const name = svc.metadata.name ?? "";
  const key = `${namespace}/${name}`;
  if (routerEnabled(svc)) {
    // The binding after its Role: the API server resolves the Role to check that the writer
    // holds what it grants, and answers 404 while the Role does not exist yet.
    const rbac = Promise.all([
      ctx.apply(resourceTypes.serviceAccount, desiredRouterServiceAccount(svc)),
      ctx.apply(resourceTypes.role, desiredRouterRole(svc)),
    ]).then(() => ctx.apply(resourceTypes.roleBinding, desiredRouterRoleBinding(svc)));
    return [
      rbac,
      ctx.apply(resourceTypes.deployment, desiredRouterDeployment(svc, deps.routerImage)),
      ctx.apply(resourceTypes.service, desiredRouterService(svc)),
      deps.inferencePools.sync(key, namespace, name, desiredInferencePool(svc, serverPort)),
    ];
  }
  const writes: Promise<unknown>[] = [deps.inferencePools.sync(key, namespace, name, undefined)];
  if (routerDeployment) writes.push(deleteChild(ctx, resourceTypes.deployment, routerDeployment));
  const routerKey = `${namespace}/${routerName(name)}`;
  for (const rt of [
    resourceTypes.service,
    resourceTypes.roleBinding,
    resourceTypes.role,
    resourceTypes.serviceAccount,
  ]) {
    const child = ctx.cache.get(rt, routerKey);
    if (child && isOwnedBy(child, svc)) writes.push(deleteChild(ctx, rt, child));
  }
  return writes;
}

/**
 * Marks the named pods to go first on the next scale-down. The ReplicaSet still takes unbound,
 * pending and unready pods before any ready one whatever their cost; the engine is offered those
 * first (preemption.ts), so it names them first too.
 */
async function markToGo(ctx: ReconcileContext, pods: readonly KubeObject[], names: readonly string[]) {
  const marked = pods.filter(
    (p) =>
      names.includes(p.metadata.name ?? "") &&
      !p.metadata.deletionTimestamp &&
      p.metadata.annotations?.[podDeletionCostAnnotation] !== String(lowestDeletionCost),
  );
  await Promise.all(
    marked.map((p) =>
      ctx.client
        .patch(
          resourceTypes.pod,
          p.metadata.name ?? "",
          p.metadata.namespace,
          { metadata: { annotations: { [podDeletionCostAnnotation]: String(lowestDeletionCost) } } },
          "merge",
          { fieldManager: ctx.fieldManager },
        )
        .catch((error) => {
          if (!isNotFound(error)) throw error;
        }),
    ),
  );
}

const isOwnedBy = (child: KubeObject, owner: KubeObject): boolean =>
  child.metadata.ownerReferences?.some((r) => r.controller && r.uid === owner.metadata.uid) ?? false;

async function deleteChild(ctx: ReconcileContext, rt: ResourceType, child: KubeObject): Promise<void> {
  if (child.metadata.deletionTimestamp) return;
  try {
    await ctx.client.delete(rt, child.metadata.name ?? "", child.metadata.namespace, {
      propagationPolicy: "Background",
      uid: child.metadata.uid,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

function recordEvents(
  ctx: ReconcileContext,
  svc: InferenceServiceObject,
  before: InferenceServiceStatus | undefined,
  after: InferenceServiceStatus,
  change: AdmissionChange,
  written: boolean,
): void {
  // Without a status write nothing changed that an event would report.
  if (!written) return;
  for (const { placement, why } of change.dropped) {
    ctx.recordEvent(svc, {
      type: "Warning",
      reason: "PlacementDropped",
      action: "Release",
      note: `${placement.replicas ?? 0} replicas on pool ${placement.pool} released (${why}); they are admitted again elsewhere`,
    });
  }
  if (change.added) {
    const where = placementsOf(change.added)
      .map((p) => `${p.replicas ?? 0} on ${p.pool}`)
      .join(", ");
    ctx.recordEvent(svc, {
      type: "Normal",
      reason: "Admitted",
      action: "Admit",
      note: `admitted replicas: ${where}`,
    });
  }
  if (change.released.length > 0) {
    ctx.recordEvent(svc, {
      type: "Normal",
      reason: "ScaledDown",
      action: "Release",
      note: `released ${change.released.map((r) => `${r.replicas} on ${r.pool}`).join(", ")}`,
    });
  }
  const decided = after.autoscaling?.lastDecision;
  if (decided && decided.time !== before?.autoscaling?.lastDecision?.time) {
    ctx.recordEvent(svc, {
      type: "Normal",
      reason: (decided.to ?? 0) > (decided.from ?? 0) ? "ScaledUp" : "ScaledDown",
      action: "Autoscale",
      note: `${decided.from} → ${decided.to} replicas: ${decided.reason}`,
    });
  }
  const readyBefore = before?.conditions?.find((c) => c.type === "Ready");
  const readyAfter = after.conditions?.find((c) => c.type === "Ready");
  if (readyAfter && (readyBefore?.reason !== readyAfter.reason || before?.phase !== after.phase)) {
    const warning = after.phase === "Degraded" || readyAfter.reason === "SecretNotFound";
    if (warning || after.phase === "Ready") {
      ctx.recordEvent(svc, {
        type: warning ? "Warning" : "Normal",
        reason: readyAfter.reason,
        action: "Observe",
        note: readyAfter.message,
      });
    }
  }
}
