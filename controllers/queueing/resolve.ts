// Which team a workload is in, and the TeamQuota objects as the placement engine's TeamInput.
// Pure over the cached objects.
import {
  type AcceleratorQueue,
  DEFAULT_QUEUE_LABEL,
  type QueueingFields,
  queueNameOf,
  type TeamQuota,
} from "../../crds/runtime/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import { bytes, cpuMillis } from "../admission/index.ts";
import type { ResourceQuota, TeamInput } from "../placement/index.ts";

export type QueueObject = AcceleratorQueue & KubeObject;
export type TeamQuotaObject = TeamQuota & KubeObject;
export interface PriorityClassLike extends KubeObject {
  value?: number;
}

export type Membership =
  /** No queue named and no namespace default: quotas do not apply. */
  | { kind: "none" }
  | { kind: "team"; queue: string; team: string }
  | { kind: "missing"; queue?: string | undefined; reason: string };

/** The namespace's default queue: the one labelled default-queue=true (the first by name if several). */
function defaultQueue(
  queues: readonly QueueObject[],
  namespace: string | undefined,
): QueueObject | undefined {
  return queues
    .filter((q) => q.metadata.namespace === namespace && q.metadata.labels?.[DEFAULT_QUEUE_LABEL] === "true")
    .sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))[0];
}

export function membershipOf(
  obj: KubeObject,
  queues: readonly QueueObject[],
  quotaExists: (name: string) => boolean,
): Membership {
  const fields = obj as unknown as QueueingFields;
  const namespace = obj.metadata.namespace;
  const named = fields.spec ? queueNameOf(fields) : undefined;
  const queue = named
    ? queues.find((q) => q.metadata.namespace === namespace && q.metadata.name === named)
    : defaultQueue(queues, namespace);
  if (!queue) {
    if (!named) return { kind: "none" };
    return {
      kind: "missing",
      queue: named,
      reason: `AcceleratorQueue ${named} does not exist in namespace ${namespace}; create it or change spec.queueName`,
    };
  }
  const queueName = queue.metadata.name ?? "";
  const team = queue.spec.teamQuota;
  if (!quotaExists(team)) {
    return {
      kind: "missing",
      queue: queueName,
      reason: `AcceleratorQueue ${queueName} points at TeamQuota ${team}, which does not exist`,
    };
  }
  return { kind: "team", queue: queueName, team };
}

/** The workload's admission priority from its PriorityClass, or a reason when it is missing. */
export function priorityOf(
  obj: KubeObject,
  classes: (name: string) => PriorityClassLike | undefined,
): { value: number } | { reason: string } | undefined {
  const name = (obj as unknown as QueueingFields).spec?.priorityClassName;
  if (!name) return undefined;
  const value = classes(name)?.value;
  if (value === undefined || !Number.isFinite(value))
    return { reason: `PriorityClass ${name} (spec.priorityClassName) does not exist` };
  return { value };
}

const compute = (
  q:
    | { nominal: string | number; borrowingLimit?: string | number; lendingLimit?: string | number }
    | undefined,
  parse: (v: string | number | undefined) => number,
): ResourceQuota | undefined =>
  q === undefined
    ? undefined
    : {
        nominal: parse(q.nominal),
        borrowingLimit: q.borrowingLimit === undefined ? undefined : parse(q.borrowingLimit),
        lendingLimit: q.lendingLimit === undefined ? undefined : parse(q.lendingLimit),
      };

export function teamInputOf(tq: TeamQuotaObject): TeamInput {
  const spec = tq.spec;
  return {
    name: tq.metadata.name ?? "",
    cohort: spec.cohort,
    devices: (spec.devices ?? []).map((d) => ({ ...d })),
    cpu: compute(spec.cpu, cpuMillis),
    memory: compute(spec.memory, bytes),
    withinTeam: spec.preemption?.withinTeam ?? "LowerPriority",
    reclaimBorrowed: spec.preemption?.reclaimBorrowed ?? "Any",
    weight: spec.fairSharing?.weight ?? 1,
  };
}

/**
 * What the API cannot check on one object: a borrowingLimit larger than all the other teams of
 * the cohort could ever lend. Undefined when the quota is consistent with its cohort.
 */
export function cohortProblem(tq: TeamQuotaObject, all: readonly TeamQuotaObject[]): string | undefined {
  const cohort = tq.spec.cohort;
  const devices = tq.spec.devices ?? [];
  for (let i = 0; i < devices.length; i++) {
    const d = devices[i];
    if (d?.borrowingLimit === undefined) continue;
    if (!cohort)
      return `spec.devices[${i}].borrowingLimit is set but spec.cohort is not: a team borrows only from its cohort`;
    let lendable = 0;
    for (const other of all) {
      if (other.metadata.name === tq.metadata.name || other.spec.cohort !== cohort) continue;
      const c = other.spec.devices?.find((x) => x.name === d.name);
      if (c) lendable += Math.min(c.nominal, c.lendingLimit ?? c.nominal);
    }
    if (d.borrowingLimit > lendable)
      return `spec.devices[${i}].borrowingLimit ${d.borrowingLimit} is more than cohort ${cohort} can lend of ${d.name} (${lendable})`;
  }
  return undefined;
}
