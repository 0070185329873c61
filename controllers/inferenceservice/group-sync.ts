// The reconcile's part for replicas spanning nodes: per pool in use, observe the member pods,
// plan (groups.ts) and write: the pool's headless Service, whole groups created, members deleted.
// A pool no longer in use loses its members and its Service.
import { type AcceleratorPool, type AdmissionStatus, labels } from "../../crds/runtime/index.ts";
import { ApiError, isNotFound, type KubeObject, type ReconcileContext } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import { desiredMembersService, type GroupTemplate, groupTemplate, memberPod } from "./group-pods.ts";
import { type GroupPlan, type MemberObservation, planGroups, resolveAmount } from "./groups.ts";
import type { DeploymentLike } from "./health.ts";
import { membersGroup } from "./names.ts";
import type { Placement } from "./replicas.ts";
import type { DeploymentStrategy } from "./rollout.ts";

/**
 * The engine lists a placement's pods node by node and deals them to its k replicas in turn
 * (placement/replica-groups.ts): replica i has pods i, i + k, ... Stored replica by replica
 * instead (member r of replica i at i × span + r), so records merged one after the other stay
 * in step with the replica indices, and a shrink that drops the last replicas drops their nodes.
 */
export function groupMajorNodes(nodes: readonly string[], span: number): string[] {
  const k = Math.floor(nodes.length / span);
  const out: string[] = [];
  for (let i = 0; i < k; i++) for (let r = 0; r < span; r++) out.push(nodes[i + r * k] as string);
  return out;
}

export function withGroupMajorNodes(admission: AdmissionStatus, span: number): AdmissionStatus {
  return {
    ...admission,
    placements: (admission.placements ?? []).map((p) =>
      p.nodes ? { ...p, nodes: groupMajorNodes(p.nodes, span) } : p,
    ),
  };
}

/**
 * The record's nodes where the members really are: the scheduler places them within the pool
 * (pinning them to the nodes the engine counted would strand them when a pod of another service
 * takes such a node first), so each bound member's node replaces the one counted for it. The
 * record then reserves exactly the nodes a group runs on, and a group restarting keeps them:
 * its deleted members' shares are reserved again (admission/reservations.ts).
 */
export function withMemberNodes(
  admission: AdmissionStatus | undefined,
  members: readonly MemberPodLike[],
  span: number,
): AdmissionStatus | undefined {
  if (!admission?.placements) return admission;
  let changed = false;
  const placements = admission.placements.map((p) => {
    const nodes = [...(p.nodes ?? [])];
    let moved = false;
    for (const m of members) {
      const l = m.metadata.labels ?? {};
      const node = m.spec?.nodeName;
      if (!node || m.metadata.deletionTimestamp || l[labels.pool] !== p.pool) continue;
      const at = Number(l[labels.replica]) * span + Number(l[labels.rank]);
      // Surge groups (beyond the count) are not admitted: they hold nothing in the record.
      if (!(at < (p.replicas ?? 0) * span) || nodes[at] === node || at > nodes.length) continue;
      nodes[at] = node;
      moved = true;
    }
    changed ||= moved;
    return moved ? { ...p, nodes } : p;
  });
  return changed ? { ...admission, placements } : admission;
}

/** A group short of a member for this long has lost it (rather than the cache lagging behind). */
export const memberGraceMs = 5000;

export interface MemberPodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export interface PoolGroups {
  pool: string;
  group: GroupTemplate;
  plan: GroupPlan;
}

/** Whether a pod is a member of a replica spanning nodes (it has a replica index). */
export const isMember = (pod: KubeObject): boolean => pod.metadata.labels?.[labels.replica] !== undefined;

/**
 * Pods this operator deleted, by uid, so a member someone else deleted restarts its group while
 * the operator's own deletions (the rest of a restarting group, a roll, a scale-down) do not
 * count as failures. Bounded: the oldest entries go first.
 */
export class OwnDeletions {
  private readonly uids = new Set<string>();
  private readonly max: number;
  constructor(max = 10_000) {
    this.max = max;
  }
  add(uid: string | undefined): void {
    if (!uid) return;
    this.uids.add(uid);
    if (this.uids.size > this.max) this.uids.delete(this.uids.values().next().value as string);
  }
  has(uid: string | undefined): boolean {
    return uid !== undefined && this.uids.has(uid);
  }
}

function observe(pod: MemberPodLike, own: OwnDeletions): MemberObservation {
  const l = pod.metadata.labels ?? {};
  return {
    deletedByUs: own.has(pod.metadata.uid),
    name: pod.metadata.name ?? "",
    uid: pod.metadata.uid,
    index: Number(l[labels.replica]),
    rank: Number(l[labels.rank]),
    hash: l[labels.templateHash],
    phase: pod.status?.phase,
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    createdAt: Date.parse(pod.metadata.creationTimestamp ?? "") || 0,
  };
}

/** The plan of each pool in use, in placement order. */
export function planPools(
  svc: InferenceServiceObject,
  pools: ReadonlyMap<string, AcceleratorPool & KubeObject>,
  placements: readonly Placement[],
  strategies: readonly DeploymentStrategy[],
  members: readonly MemberPodLike[],
  now: number,
  own: OwnDeletions,
): PoolGroups[] {
  return placements.flatMap((p, i) => {
    const pool = pools.get(p.pool);
    const strategy = strategies[i];
    if (!pool || !strategy) return [];
    const group = groupTemplate(svc, pool);
    const desired = p.replicas ?? 0;
    const plan = planGroups({
      desired,
      size: group.size,
      hash: group.hash,
      maxSurge: resolveAmount(strategy.rollingUpdate.maxSurge, desired, true),
      maxUnavailable: resolveAmount(strategy.rollingUpdate.maxUnavailable, desired, false),
      members: members.filter((m) => m.metadata.labels?.[labels.pool] === p.pool).map((m) => observe(m, own)),
      now,
      graceMs: memberGraceMs,
    });
    return [{ pool: p.pool, group, plan }];
  });
}

/** What the status reads of a pool's Deployment, from its groups: replicas are groups. */
export function groupsAsDeployments(planned: readonly PoolGroups[]): Map<string, DeploymentLike> {
  return new Map(
    planned.map((p) => [
      p.pool,
      { metadata: {}, status: { replicas: p.plan.existing, readyReplicas: p.plan.ready } },
    ]),
  );
}

/** The writes of every pool's plan; members and Services of pools not in use are deleted. */
export function groupWrites(
  ctx: ReconcileContext,
  svc: InferenceServiceObject,
  planned: readonly PoolGroups[],
  members: readonly MemberPodLike[],
  own: OwnDeletions,
): Promise<unknown>[] {
  const writes: Promise<unknown>[] = [];
  const inUse = new Set(planned.map((p) => p.pool));
  for (const { pool, group, plan } of planned) {
    writes.push(ctx.apply(resourceTypes.service, desiredMembersService(svc, pool)));
    for (const index of plan.create) {
      for (let rank = 0; rank < group.size; rank++) {
        writes.push(createPod(ctx, svc, memberPod(svc, pool, group, index, rank)));
      }
    }
    for (const d of plan.delete) {
      own.add(d.uid);
      writes.push(deletePod(ctx, svc, d.name, d.uid));
    }
    for (const r of plan.restarted) {
      ctx.recordEvent(svc, {
        type: "Warning",
        reason: "ReplicaRestarted",
        action: "Restart",
        note: `replica ${r.index} on pool ${pool} restarts whole: ${r.why}`,
      });
    }
  }
  for (const m of members) {
    const pool = m.metadata.labels?.[labels.pool] ?? "";
    if (!inUse.has(pool) && !m.metadata.deletionTimestamp) {
      own.add(m.metadata.uid);
      writes.push(deletePod(ctx, svc, m.metadata.name ?? "", m.metadata.uid));
    }
  }
  for (const s of ctx.cache.childrenOf<KubeObject>(resourceTypes.service, svc)) {
    const l = s.metadata.labels ?? {};
    if (l[labels.group] === membersGroup && !inUse.has(l[labels.pool] ?? "") && !s.metadata.deletionTimestamp)
      writes.push(
        ctx.client
          .delete(resourceTypes.service, s.metadata.name ?? "", s.metadata.namespace, { uid: s.metadata.uid })
          .catch(ignoreNotFound),
      );
  }
  return writes;
}

function createPod(ctx: ReconcileContext, svc: InferenceServiceObject, pod: KubeObject): Promise<unknown> {
  return ctx.apply(resourceTypes.pod, pod, { createWhenAbsent: true }).catch((error: unknown) => {
    if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
      ctx.recordEvent(svc, {
        type: "Warning",
        reason: "FailedCreatePod",
        action: "Create",
        note: `pod ${pod.metadata.name}: ${error.message}`,
      });
    }
    throw error;
  });
}

function deletePod(
  ctx: ReconcileContext,
  svc: InferenceServiceObject,
  name: string,
  uid: string | undefined,
) {
  return ctx.client
    .delete(resourceTypes.pod, name, svc.metadata.namespace, {
      propagationPolicy: "Background",
      ...(uid ? { uid } : {}),
    })
    .catch(ignoreNotFound);
}

function ignoreNotFound(error: unknown): void {
  if (isNotFound(error) || (error instanceof ApiError && error.status === 409)) return;
  throw error;
}
