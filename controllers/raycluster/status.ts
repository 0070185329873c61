// The status of a RayCluster, computed whole from what the reconcile observed and decided.
//
// Phase: Suspended while spec.suspend; Ready when the head is ready and no worker is broken
// (and, the first time, once every admitted worker is ready); otherwise Pending until the
// cluster has been Ready once, and Degraded after that (a lost head, failing workers).
// Workers that are merely starting, after a scale-up or a replacement, do not make a Ready
// cluster Degraded: a cluster that grows is not unhealthy.
import type {
  AdmissionStatus,
  RayCluster,
  RayClusterPhase,
  RayClusterStatus,
} from "../../crds/runtime/index.ts";
import { type Condition, setCondition } from "../../operator/index.ts";
import { groupOfPlacement } from "../admission/index.ts";
import { groupsInForce } from "./autoscale.ts";
import { clusterEndpoints } from "./pods.ts";
import {
  admittedReplicas,
  countedWorkers,
  groupRuns,
  keptSlots,
  type PodHealth,
  type WorkerView,
} from "./workers.ts";

/** Why a cluster without admission is waiting, as the admitter last said. */
export type AdmissionWait =
  | { type: "queued"; position: number; code: string; reason: string }
  | { type: "unschedulable"; code: string; reason: string }
  | { type: "pending"; reason: string };

export interface StatusInput {
  rc: RayCluster;
  /** The head pod after this reconcile's actions; undefined when there is none. */
  head: PodHealth | undefined;
  /** Worker pods after this reconcile's creates and deletes. */
  workers: readonly WorkerView[];
  /** The admission the cluster holds after this reconcile. */
  admission: AdmissionStatus | undefined;
  /** Workers per group still to be admitted. */
  wantMore: ReadonlyMap<string, number>;
  wait: AdmissionWait | undefined;
  now: Date;
  /** The autoscaler's state and its condition, with spec.autoscaling.enabled. */
  autoscaling?: {
    status: RayClusterStatus["autoscaling"];
    condition: { status: "True" | "False"; reason: string; message: string } | undefined;
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const listNames = (names: string[], max = 3): string =>
  names.length <= max ? names.join(", ") : `${names.slice(0, max).join(", ")} and ${names.length - max} more`;

export function describeAdmission(admission: AdmissionStatus): string {
  const parts = (admission.placements ?? []).map(
    (p) => `group ${groupOfPlacement(p.group)} on pool ${p.pool} (${plural(admittedReplicas(p), "worker")})`,
  );
  return parts.length === 0 ? "no workers to place" : parts.join(", ");
}

function describeWantMore(wantMore: ReadonlyMap<string, number>): string {
  return [...wantMore].map(([g, n]) => `${plural(n, "more worker")} of group ${g}`).join(", ");
}

export function computeStatus(input: StatusInput): RayClusterStatus {
  const { rc, head, workers, admission, wantMore, wait, now } = input;
  const generation = rc.metadata.generation;
  const previous = rc.status;
  const groups = groupsInForce({
    spec: rc.spec,
    status: { autoscaling: input.autoscaling?.status ?? rc.status?.autoscaling },
  });
  const suspended = rc.spec.suspend === true;
  const active = workers.filter((w) => !w.terminating);

  const workerGroups = groups.map((g) => {
    const mine = active.filter((w) => w.group === g.name);
    // A group that grew onto other pools reports the pool of its first workers.
    const pool =
      groupRuns(admission, g.name)[0]?.pool ??
      [...mine].sort((a, b) => a.index - b.index).find((w) => w.pool)?.pool;
    const entry: NonNullable<RayClusterStatus["workerGroups"]>[number] = {
      name: g.name,
      replicas: mine.length,
      readyReplicas: mine.filter((w) => w.ready).length,
    };
    if (pool !== undefined) entry.pool = pool;
    return entry;
  });
  const desired = suspended ? 0 : groups.reduce((n, g) => n + g.replicas, 0);
  const readyWorkers = workerGroups.reduce((n, g) => n + (g.readyReplicas ?? 0), 0);

  // What the cluster holds now: its admitted workers, or without admission the ones running.
  let held = 0;
  let heldReady = 0;
  const missing: string[] = [];
  for (const g of groups) {
    // The workers in the group's kept slots (which a retirement may have left with gaps).
    const mine = countedWorkers(admission, g.name, g.replicas, active).filter((w) => !w.finished);
    const slots = admission ? keptSlots(admission, g.name, g.replicas) : mine.map((w) => w.index);
    held += slots.length;
    heldReady += Math.min(slots.length, mine.filter((w) => w.ready).length);
    for (const i of slots) {
      if (!mine.some((w) => w.index === i)) missing.push(`${rc.metadata.name}-${g.name}-${i}`);
    }
  }
  const broken = [...active.filter((w) => w.broken).map((w) => w.name), ...missing].sort();
  const waitingForFirstAdmission = !admission && desired > 0 && held === 0;
  const wasReady = previous?.phase === "Ready" || previous?.phase === "Degraded";
  const headReady = head?.ready === true;

  let ready: { status: "True" | "False"; reason: string; message: string };
  if (suspended) ready = { status: "False", reason: "Suspended", message: "the cluster is suspended" };
  else if (!headReady) ready = { status: "False", reason: "HeadNotReady", message: headMessage(head) };
  else if (waitingForFirstAdmission)
    ready = { status: "False", reason: "WaitingForAdmission", message: waitMessage(wait, wantMore) };
  else if (broken.length > 0)
    ready = {
      status: "False",
      reason: "WorkersFailing",
      message: `${plural(broken.length, "worker")} failing or being replaced: ${listNames(broken)}`,
    };
  else if (!wasReady && heldReady < held)
    ready = {
      status: "False",
      reason: "WorkersNotReady",
      message: `${heldReady} of ${plural(held, "admitted worker")} ready`,
    };
  else {
    let message = `head and ${readyWorkers} of ${plural(desired, "worker")} ready`;
    if (wantMore.size > 0) message += `; ${describeWantMore(wantMore)} wait for admission`;
    ready = { status: "True", reason: "ClusterReady", message };
  }

  const phase: RayClusterPhase = suspended
    ? "Suspended"
    : ready.status === "True"
      ? "Ready"
      : wasReady
        ? "Degraded"
        : "Pending";

  let conditions: Condition[] = previous?.conditions ?? [];
  const set = (type: string, status: "True" | "False", reason: string, message: string) => {
    conditions = setCondition(
      conditions,
      { type, status, reason, message, observedGeneration: generation },
      now,
    );
  };
  if (suspended) set("Admitted", "False", "Suspended", "a suspended cluster holds no capacity");
  else if (admission) {
    let message = describeAdmission(admission);
    if (wantMore.size > 0)
      message += `; ${describeWantMore(wantMore)} will be asked for once the current ones run`;
    set("Admitted", "True", "Admitted", message);
  } else if (desired === 0 && wantMore.size === 0)
    set("Admitted", "True", "NoWorkers", "no worker pods to place; the head needs no admission");
  else if (wait)
    set("Admitted", "False", wait.type === "pending" ? "Pending" : wait.code, waitMessage(wait, wantMore));
  else set("Admitted", "False", "Pending", "waiting for admission");
  if (wait?.type === "unschedulable" && !admission && !suspended)
    set("Unschedulable", "True", wait.code, wait.reason);
  else conditions = conditions.filter((c) => c.type !== "Unschedulable");
  if (suspended) set("HeadReady", "False", "Suspended", "the cluster is suspended");
  else if (headReady) set("HeadReady", "True", "HeadPodReady", "the head pod is ready");
  else set("HeadReady", "False", head ? "HeadPodNotReady" : "HeadPodMissing", headMessage(head));
  set("Ready", ready.status, ready.reason, ready.message);
  const autoscaled = rc.spec.autoscaling?.enabled === true && !suspended;
  const asCondition = input.autoscaling?.condition;
  if (autoscaled && asCondition)
    set("Autoscaling", asCondition.status, asCondition.reason, asCondition.message);
  else if (!autoscaled) conditions = conditions.filter((c) => c.type !== "Autoscaling");

  const status: RayClusterStatus = {
    phase,
    desiredWorkers: desired,
    readyWorkers: suspended ? 0 : readyWorkers,
    workerGroups,
    conditions,
  };
  if (generation !== undefined) status.observedGeneration = generation;
  if (!suspended) status.endpoints = clusterEndpoints(rc);
  if (!suspended && !admission && wait?.type === "queued") status.queuePosition = wait.position;
  if (admission) status.admission = admission;
  const autoscalingStatus = input.autoscaling?.status ?? previous?.autoscaling;
  if (rc.spec.autoscaling?.enabled && autoscalingStatus) status.autoscaling = autoscalingStatus;
  return status;
}

function headMessage(head: PodHealth | undefined): string {
  if (!head) return "the head pod does not exist yet";
  if (head.terminating) return "the head pod is being deleted; it will be recreated";
  if (head.finished) return "the head pod failed; it will be recreated";
  if (head.broken) return "the head pod is failing to start";
  return "the head pod is starting";
}

function waitMessage(wait: AdmissionWait | undefined, wantMore: ReadonlyMap<string, number>): string {
  const what = wantMore.size > 0 ? `${describeWantMore(wantMore)}: ` : "";
  if (!wait) return `${what}waiting for admission`;
  if (wait.type === "queued") return `${what}queued at position ${wait.position}: ${wait.reason}`;
  return `${what}${wait.reason}`;
}
