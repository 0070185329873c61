// The service's status, computed whole from what the reconcile observed (the status write
// compares the whole object, so nothing may be left to a previous value by accident).
//
// Phases:
//   Pending   nothing admitted yet (queued, unschedulable, waiting for its Secret), or scaled to 0
//   Loading   replicas admitted and starting; fewer ready than asked, none failing
//   Ready     at least spec.replicas ready
//   Degraded  fewer ready than asked and something is wrong: a replica failing, a rollout
//             stuck, or ready replicas serving while the rest wait for capacity
import type { AdmissionStatus, InferenceServiceStatus } from "../../crds/runtime/index.ts";
import { type Condition, removeCondition, setCondition } from "../../operator/index.ts";
import type { Decision } from "../admission/index.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import type { Decision as ScalingDecision } from "./autoscaling/index.ts";
import type { DeploymentLike } from "./health.ts";
import { routerUrl, selectorString, serviceUrl } from "./names.ts";
import { admittedReplicas, placementsOf } from "./replicas.ts";
import { secretNotFoundReason } from "./secret.ts";
import { devicesPerReplica, nodesPerReplica } from "./sizing.ts";

export interface StatusInput {
  svc: InferenceServiceObject;
  /** status.admission as this reconcile leaves it. */
  admission: AdmissionStatus | undefined;
  /** The Deployment of each pool in use, when it exists. */
  deployments: ReadonlyMap<string, DeploymentLike>;
  /** The router's Deployment, when spec.router is enabled and it exists. */
  routerDeployment?: DeploymentLike | undefined;
  /** What is wrong with replicas or rollouts (health.ts), in a stable order. */
  problems: readonly string[];
  /** The admitter's word on the replicas not admitted yet (all of them, or the missing ones). */
  waiting: Decision | undefined;
  /** The Secret named by spec.model.secretRef, when it does not exist. */
  missingSecret: string | undefined;
  /** The autoscaler's latest decision, with spec.autoscaling (its count is spec.replicas here). */
  scaling?: ScalingDecision | undefined;
  /** Memory per device of a pool, for its replica shape; absent or undefined: unknown. */
  poolMemoryGiB?: ((pool: string) => number | undefined) | undefined;
  /** The count wanted before this reconcile's decision (status.desiredReplicas, or spec's). */
  previousReplicas?: number | undefined;
  /** Replicas a quota preemption took back in this reconcile, and for whom. */
  preempted?: { by: string; reason: string; replicas: number } | undefined;
  now: Date;
}

const limitReasons = {
  maxReplicas: "MaxReplicas",
  minReplicas: "MinReplicas",
  scaleUpLimit: "ScaleUpLimit",
} as const;

interface Verdict {
  status: "True" | "False";
  reason: string;
  message: string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

function spread(admission: AdmissionStatus | undefined): string {
  return placementsOf(admission)
    .map((p) => `${p.replicas ?? 0} on ${p.pool}`)
    .join(", ");
}

function waitingReason(waiting: Decision | undefined): { reason: string; message: string } {
  if (!waiting) return { reason: "WaitingForAdmission", message: "waiting for the next admission pass" };
  if (waiting.type === "queued")
    return { reason: waiting.code, message: `queued at position ${waiting.position}: ${waiting.reason}` };
  if (waiting.type === "unschedulable")
    return { reason: waiting.code, message: `unschedulable: ${waiting.reason}` };
  return {
    reason: "WaitingForAdmission",
    message: waiting.admission.pendingReason ?? "waiting for the next admission pass",
  };
}

export function computeStatus(input: StatusInput): InferenceServiceStatus {
  const { svc, admission, deployments, routerDeployment, problems, waiting, missingSecret, scaling, now } =
    input;
  const name = svc.metadata.name ?? "";
  const namespace = svc.metadata.namespace ?? "";
  const generation = svc.metadata.generation;
  const desired = svc.spec.replicas ?? 1;
  const admitted = admittedReplicas(admission);
  const placements = placementsOf(admission).map((p) => {
    const perPod = devicesPerReplica(svc.spec, input.poolMemoryGiB?.(p.pool));
    const nodes = nodesPerReplica(svc.spec);
    return {
      pool: p.pool,
      ...(perPod === undefined ? {} : { devicesPerReplica: perPod * nodes }),
      ...(nodes > 1 ? { nodesPerReplica: nodes } : {}),
      replicas: p.replicas ?? 0,
      readyReplicas: deployments.get(p.pool)?.status?.readyReplicas ?? 0,
    };
  });
  let replicas = 0;
  let ready = 0;
  for (const p of placementsOf(admission)) {
    const d = deployments.get(p.pool);
    replicas += d?.status?.replicas ?? 0;
    ready += d?.status?.readyReplicas ?? 0;
  }
  const zeroMessage = svc.spec.autoscaling
    ? `scaled to zero by the autoscaler (${svc.status?.autoscaling?.lastDecision?.reason ?? "no requests"})`
    : "spec.replicas is 0";
  const secretMessage = missingSecret
    ? `Secret ${missingSecret} named in spec.model.secretRef does not exist in namespace ${namespace}; create it (the reconcile checks again periodically)`
    : "";
  const wait = waitingReason(waiting);

  let admittedCondition: Verdict;
  if (admitted === 0) {
    admittedCondition =
      desired === 0
        ? { status: "False", reason: "ScaledToZero", message: zeroMessage }
        : missingSecret
          ? { status: "False", reason: secretNotFoundReason, message: secretMessage }
          : { status: "False", ...wait };
  } else if (admitted >= desired) {
    admittedCondition = {
      status: "True",
      reason: "Admitted",
      message: `${plural(admitted, "replica")} admitted: ${spread(admission)}`,
    };
  } else if (missingSecret) {
    admittedCondition = {
      status: "True",
      reason: secretNotFoundReason,
      message: `${admitted} of ${desired} replicas admitted (${spread(admission)}); no more until the Secret exists: ${secretMessage}`,
    };
  } else {
    admittedCondition = {
      status: "True",
      reason: "PartiallyAdmitted",
      message: `${admitted} of ${desired} replicas admitted (${spread(admission)}); ${desired - admitted} ${wait.message}`,
    };
  }

  let phase: InferenceServiceStatus["phase"];
  let readyCondition: Verdict;
  const readyCount = `${ready} of ${plural(desired, "replica")} ready`;
  if (desired === 0) {
    phase = "Pending";
    readyCondition = { status: "False", reason: "ScaledToZero", message: zeroMessage };
  } else if (admitted === 0) {
    phase = "Pending";
    readyCondition = {
      status: "False",
      reason: admittedCondition.reason,
      message: admittedCondition.message,
    };
  } else if (ready >= desired) {
    phase = "Ready";
    readyCondition = {
      status: "True",
      reason: "AllReplicasReady",
      message: `${readyCount}: ${placements.map((p) => `${p.readyReplicas} on ${p.pool}`).join(", ")}`,
    };
  } else if (problems.length > 0 || (missingSecret && ready < admitted)) {
    phase = "Degraded";
    const why = missingSecret ? [secretMessage, ...problems] : problems;
    readyCondition = {
      status: "False",
      reason: missingSecret ? secretNotFoundReason : "ReplicasFailing",
      message: `${readyCount}; ${why.slice(0, 3).join("; ")}${why.length > 3 ? `; and ${why.length - 3} more` : ""}`,
    };
  } else if (ready > 0 && admitted < desired) {
    phase = "Degraded";
    readyCondition = {
      status: "False",
      reason: "WaitingForCapacity",
      message: `${readyCount}; ${desired - admitted} not admitted: ${wait.message}`,
    };
  } else {
    phase = "Loading";
    readyCondition = {
      status: "False",
      reason: "Loading",
      message: `${readyCount}; the model servers are starting`,
    };
  }

  let conditions: Condition[] | undefined = svc.status?.conditions;
  conditions = setCondition(
    conditions,
    { type: "Admitted", ...admittedCondition, observedGeneration: generation },
    now,
  );
  conditions = setCondition(
    conditions,
    { type: "Ready", ...readyCondition, observedGeneration: generation },
    now,
  );
  conditions =
    waiting?.type === "unschedulable" && admitted < desired
      ? setCondition(
          conditions,
          {
            type: "Unschedulable",
            status: "True",
            reason: waiting.code,
            message: waiting.reason,
            observedGeneration: generation,
          },
          now,
        )
      : removeCondition(conditions, "Unschedulable");

  conditions = preemptedCondition(conditions, input.preempted, admitted >= desired, generation, now);

  const routed = svc.spec.router?.enabled === true;
  const router = routed
    ? {
        replicas: routerDeployment?.status?.replicas ?? 0,
        readyReplicas: routerDeployment?.status?.readyReplicas ?? 0,
      }
    : undefined;
  conditions = router
    ? setCondition(
        conditions,
        {
          type: "RouterReady",
          ...(router.readyReplicas > 0
            ? {
                status: "True",
                reason: "RouterReady",
                message: `${router.readyReplicas} of ${plural(svc.spec.router?.replicas ?? 1, "router pod")} ready`,
              }
            : {
                status: "False",
                reason: "RouterStarting",
                message: `no router pod ready yet (${router.replicas} exist)`,
              }),
          observedGeneration: generation,
        },
        now,
      )
    : removeCondition(conditions, "RouterReady");

  let autoscaling: InferenceServiceStatus["autoscaling"];
  if (svc.spec.autoscaling) {
    // The last decision that changed the count stays until another changes it.
    const previous = input.previousReplicas ?? svc.status?.desiredReplicas;
    const changed = scaling !== undefined && previous !== undefined && previous !== desired;
    const lastDecision = changed
      ? {
          time: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
          from: previous,
          to: desired,
          reason: scaling.reason,
        }
      : svc.status?.autoscaling?.lastDecision;
    autoscaling = {
      ...(scaling
        ? { mode: scaling.mode }
        : svc.status?.autoscaling?.mode
          ? { mode: svc.status.autoscaling.mode }
          : {}),
      ...(lastDecision ? { lastDecision } : {}),
    };
    const noRoom = admitted < desired && (waiting?.type === "queued" || waiting?.type === "unschedulable");
    const limited: Verdict = noRoom
      ? {
          status: "True",
          reason: "NoCapacity",
          message: `${desired - admitted} of ${desired} replicas have no room: ${wait.message}`,
        }
      : scaling?.limitedBy
        ? { status: "True", reason: limitReasons[scaling.limitedBy], message: scaling.reason }
        : { status: "False", reason: "WithinLimits", message: `${desired} replicas, as the load asks` };
    conditions = setCondition(
      conditions,
      { type: "ScalingLimited", ...limited, observedGeneration: generation },
      now,
    );
  } else {
    conditions = removeCondition(conditions, "ScalingLimited");
  }

  const status: InferenceServiceStatus = {
    phase,
    replicas,
    readyReplicas: ready,
    selector: selectorString(name),
    url: routed ? routerUrl(name, namespace) : serviceUrl(name, namespace),
    conditions,
  };
  if (router) status.router = router;
  if (svc.spec.autoscaling) status.desiredReplicas = desired;
  if (autoscaling && Object.keys(autoscaling).length > 0) status.autoscaling = autoscaling;
  if (generation !== undefined) status.observedGeneration = generation;
  if (placements.length > 0) status.placements = placements;
  if (waiting?.type === "queued" && admitted < desired) status.queuePosition = waiting.position;
  if (admission) status.admission = admission;
  return status;
}

/**
 * `Preempted`: True, naming the preemptor, from the reconcile that gave replicas back until they
 * are all admitted again; then False. Absent on a service that was never preempted.
 */
function preemptedCondition(
  conditions: Condition[] | undefined,
  preempted: StatusInput["preempted"],
  whole: boolean,
  generation: number | undefined,
  now: Date,
): Condition[] | undefined {
  const current = conditions?.find((c) => c.type === "Preempted");
  if (preempted)
    return setCondition(
      conditions,
      {
        type: "Preempted",
        status: "True",
        reason: "QuotaPreemption",
        message: `${plural(preempted.replicas, "replica")} taken back for ${preempted.by}: ${preempted.reason}; asked for again`,
        observedGeneration: generation,
      },
      now,
    );
  if (current?.status !== "True" || !whole) return conditions;
  return setCondition(
    conditions,
    {
      type: "Preempted",
      status: "False",
      reason: "Readmitted",
      message: "the replicas taken back are admitted again",
      observedGeneration: generation,
    },
    now,
  );
}
