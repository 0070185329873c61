// Builders for the TrainingJob unit tests: a job, a pool, pods in any state, and the observed
// world the state machine is computed from.

import type { Decision } from "../../controllers/admission/index.ts";
import type { Admission } from "../../controllers/placement/index.ts";
import type { ChildPod, JobStatus, Observed } from "../../controllers/trainingjob/planner.ts";
import type { TrainingJobObject } from "../../controllers/trainingjob/pods.ts";
import type { AcceleratorPool } from "../../crds/index.ts";
import { controllerReference } from "../../operator/index.ts";

export const NOW = Date.parse("2026-01-01T12:00:00Z");

/** spec.template is free-form in the API; the inferred type admits nothing, so tests pass `unknown`. */
export type SpecInput = Partial<Omit<TrainingJobObject["spec"], "template">> & { template?: unknown };

export function job(spec: SpecInput = {}, status?: JobStatus, name = "llama"): TrainingJobObject {
  return {
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: {
      name,
      namespace: "ml",
      uid: "uid-1",
      generation: 1,
      resourceVersion: "10",
      creationTimestamp: "2026-01-01T11:00:00Z",
    },
    spec: {
      image: "ghcr.io/acme/train:1.0",
      command: ["python", "train.py", "--epochs", "3"],
      nodes: 2,
      accelerators: { count: 8, minMemoryGiB: 80 },
      priority: 0,
      maxRestarts: 3,
      suspend: false,
      ...spec,
    } as TrainingJobObject["spec"],
    ...(status ? { status } : {}),
  };
}

export function pool(name = "h100", vendor: "nvidia" | "amd" = "nvidia"): AcceleratorPool {
  return {
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "AcceleratorPool",
    metadata: { name },
    spec: {
      vendor,
      model: vendor === "nvidia" ? "NVIDIA-H100-80GB-HBM3" : "AMD-Instinct-MI300X",
      memoryGiB: vendor === "nvidia" ? 80 : 192,
      nodeSelector: { matchLabels: { "sovereign.dev/pool": name } },
      tolerations: [{ key: `${vendor}.com/gpu`, operator: "Exists", effect: "NoSchedule" }],
      paused: false,
    },
  } as AcceleratorPool;
}

export function admission(poolName = "h100", nodes = ["h100-0", "h100-1"]): Admission {
  return {
    key: "TrainingJob/ml/llama",
    pendingPods: 0,
    groups: [
      {
        group: "workers",
        pods: nodes.length,
        placements: [
          {
            pool: poolName,
            vendor: poolName === "h100" ? "nvidia" : "amd",
            resourceName: poolName === "h100" ? "nvidia.com/gpu" : "amd.com/gpu",
            pods: nodes.length,
            nodes: [...new Set(nodes)].map((node) => ({
              node,
              pods: nodes.filter((n) => n === node).length,
              devices: 8,
              cpuMillis: 0,
              memoryBytes: 0,
            })),
          },
        ],
      },
    ],
  };
}

/** status.admission as the controller writes it. */
export function admissionStatus(
  poolName = "h100",
  nodes = ["h100-0", "h100-1"],
): NonNullable<JobStatus["admission"]> {
  return {
    admittedAt: "2026-01-01T11:59:00.000Z",
    placements: [
      {
        group: "workers",
        pool: poolName,
        vendor: poolName === "h100" ? "nvidia" : "amd",
        resourceName: poolName === "h100" ? "nvidia.com/gpu" : "amd.com/gpu",
        nodes,
        replicas: nodes.length,
      },
    ],
  };
}

export function admittedStatus(extra: Partial<JobStatus> = {}): JobStatus {
  return {
    phase: "Admitted",
    pool: "h100",
    nodes: 2,
    restarts: 0,
    startTime: "2026-01-01T11:59:00Z",
    admission: admissionStatus(),
    conditions: [
      {
        type: "Admitted",
        status: "True",
        reason: "Admitted",
        message: "admitted",
        lastTransitionTime: "2026-01-01T11:59:00Z",
      },
    ],
    ...extra,
  };
}

type PodState =
  | "Pending"
  | "Running"
  | "Succeeded"
  | { failed: number; at?: string; message?: string }
  | { evicted: true }
  | "Deleting";

export function pod(rank: number, state: PodState, attempt = 0, node = `h100-${rank}`): ChildPod {
  const name = `llama-${attempt}-${rank}`;
  const labels = {
    "stack.sovereign.dev/kind": "trainingjob",
    "stack.sovereign.dev/name": "llama",
    "stack.sovereign.dev/group": "workers",
    "stack.sovereign.dev/rank": String(rank),
    "stack.sovereign.dev/attempt": String(attempt),
  };
  const base: ChildPod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "ml", uid: `pod-${attempt}-${rank}`, labels },
    spec: { nodeName: node },
    status: {},
  };
  const ready = (s: "True" | "False") => [{ type: "Ready", status: s }];
  if (state === "Pending") return { ...base, spec: {}, status: { phase: "Pending" } };
  if (state === "Running")
    return {
      ...base,
      status: {
        phase: "Running",
        conditions: ready("True"),
        containerStatuses: [{ name: "trainer", ready: true, state: { running: {} } }],
      },
    };
  if (state === "Deleting")
    return {
      ...base,
      metadata: { ...base.metadata, deletionTimestamp: "2026-01-01T11:59:59Z" },
      status: { phase: "Running", conditions: ready("True") },
    };
  if (state === "Succeeded")
    return {
      ...base,
      status: {
        phase: "Succeeded",
        conditions: ready("False"),
        containerStatuses: [
          { name: "trainer", state: { terminated: { exitCode: 0, finishedAt: "2026-01-01T11:59:30Z" } } },
        ],
      },
    };
  if ("evicted" in state)
    return {
      ...base,
      status: { phase: "Failed", reason: "Evicted", message: "The node was low on memory." },
    };
  return {
    ...base,
    status: {
      phase: "Failed",
      conditions: ready("False"),
      containerStatuses: [
        {
          name: "trainer",
          state: {
            terminated: {
              exitCode: state.failed,
              finishedAt: state.at ?? "2026-01-01T11:59:30Z",
              ...(state.message ? { message: state.message } : {}),
            },
          },
        },
      ],
    },
  };
}

export function observed(j: TrainingJobObject, over: Partial<Observed> = {}): Observed {
  const pools = new Map([
    ["h100", pool("h100")],
    ["mi300x", pool("mi300x", "amd")],
  ]);
  return {
    job: j,
    status: (j.status ?? {}) as JobStatus,
    pods: [],
    decision: undefined as Decision | undefined,
    pool: (name) => pools.get(name),
    nodeExists: () => true,
    nodeUsable: () => true,
    now: NOW,
    backoff: { baseMs: 10_000, maxMs: 300_000 },
    owner: controllerReference(j),
    admissionTimeoutMs: 300_000,
    ...over,
  };
}

export const condition = (status: JobStatus, type: string) => status.conditions?.find((c) => c.type === type);
