// Status from observations: phase, counts, placements, conditions, and what counts as a failing
// replica.
import { describe, expect, it } from "vitest";
import type { Decision } from "../../controllers/admission/index.ts";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  type DeploymentLike,
  deploymentProblem,
  podProblem,
} from "../../controllers/inferenceservice/health.ts";
import type { Placement } from "../../controllers/inferenceservice/replicas.ts";
import { computeStatus, type StatusInput } from "../../controllers/inferenceservice/status.ts";
import { type AdmissionStatus, inferenceServiceResource } from "../../crds/index.ts";

const now = new Date("2025-03-01T00:00:00Z");
const place = (pool: string, replicas: number): Placement => ({ group: `server/${pool}`, pool, replicas });
const record = (...placements: Placement[]): AdmissionStatus => ({
  admittedAt: "2025-01-01T00:00:00.000Z",
  placements,
});
const svc = (replicas: number, status?: Record<string, unknown>): InferenceServiceObject =>
  inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1", generation: 3 },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      replicas,
    },
    ...(status ? { status } : {}),
  }) as InferenceServiceObject;
const dep = (
  replicas: number,
  ready: number,
  conditions?: DeploymentLike["status"] & object,
): DeploymentLike => ({
  metadata: { name: "d" },
  status: { replicas, readyReplicas: ready, ...conditions },
});

function status(partial: Partial<StatusInput> & { replicas: number }) {
  return computeStatus({
    svc: svc(partial.replicas),
    admission: undefined,
    deployments: new Map(),
    problems: [],
    waiting: undefined,
    missingSecret: undefined,
    now,
    ...partial,
  });
}
const condition = (s: ReturnType<typeof status>, type: string) => s.conditions?.find((c) => c.type === type);

describe("phase and Ready", () => {
  const queued: Decision = { type: "queued", position: 3, code: "InsufficientCapacity", reason: "no room" };
  const unschedulable: Decision = {
    type: "unschedulable",
    code: "NoMatchingPool",
    reason: "no pool has 200 GiB devices",
  };
  const twoPools = record(place("h100", 2), place("mi300x", 2));
  const ready = new Map([
    ["h100", dep(2, 2)],
    ["mi300x", dep(2, 2)],
  ]);

  it.each<[string, Partial<StatusInput> & { replicas: number }, string, string, string]>([
    ["not seen by admission yet", { replicas: 2 }, "Pending", "False", "WaitingForAdmission"],
    ["queued", { replicas: 2, waiting: queued }, "Pending", "False", "InsufficientCapacity"],
    ["unschedulable", { replicas: 2, waiting: unschedulable }, "Pending", "False", "NoMatchingPool"],
    [
      "waiting for its Secret",
      { replicas: 2, missingSecret: "hf-token" },
      "Pending",
      "False",
      "SecretNotFound",
    ],
    ["scaled to zero", { replicas: 0 }, "Pending", "False", "ScaledToZero"],
    ["admitted, nothing ready", { replicas: 4, admission: twoPools }, "Loading", "False", "Loading"],
    [
      "some ready, none failing",
      { replicas: 4, admission: twoPools, deployments: new Map([["h100", dep(2, 2)]]) },
      "Loading",
      "False",
      "Loading",
    ],
    [
      "all ready",
      { replicas: 4, admission: twoPools, deployments: ready },
      "Ready",
      "True",
      "AllReplicasReady",
    ],
    [
      "a replica failing",
      {
        replicas: 4,
        admission: twoPools,
        deployments: new Map([["h100", dep(2, 2)]]),
        problems: ["pod p: CrashLoopBackOff"],
      },
      "Degraded",
      "False",
      "ReplicasFailing",
    ],
    [
      "serving while the rest wait for capacity",
      {
        replicas: 6,
        admission: twoPools,
        deployments: ready,
        waiting: queued,
      },
      "Degraded",
      "False",
      "WaitingForCapacity",
    ],
    [
      "Secret gone while running short",
      { replicas: 4, admission: twoPools, deployments: new Map([["h100", dep(2, 2)]]), missingSecret: "t" },
      "Degraded",
      "False",
      "SecretNotFound",
    ],
    [
      "surge pods during a rollout still count as ready",
      {
        replicas: 4,
        admission: twoPools,
        deployments: new Map([
          ["h100", dep(3, 3)],
          ["mi300x", dep(2, 2)],
        ]),
      },
      "Ready",
      "True",
      "AllReplicasReady",
    ],
  ])("%s", (_, input, phase, readyStatus, reason) => {
    const s = status(input);
    expect(s.phase).toBe(phase);
    expect(condition(s, "Ready")).toMatchObject({ status: readyStatus, reason, observedGeneration: 3 });
  });

  it("names the Secret and what to do in the condition", () => {
    const s = status({ replicas: 2, missingSecret: "hf-token" });
    expect(condition(s, "Ready")?.message).toMatch(
      /Secret hf-token .* does not exist in namespace ml; create it/,
    );
    expect(condition(s, "Admitted")).toMatchObject({ status: "False", reason: "SecretNotFound" });
  });

  it("reports counts, placements, url, selector and the admission", () => {
    const s = status({
      replicas: 4,
      admission: twoPools,
      deployments: new Map([
        ["h100", dep(2, 2)],
        ["mi300x", dep(2, 1)],
      ]),
    });
    expect(s).toMatchObject({
      observedGeneration: 3,
      replicas: 4,
      readyReplicas: 3,
      url: "http://llama.ml.svc:8000/v1",
      selector:
        "stack.sovereign.dev/kind=inferenceservice,stack.sovereign.dev/name=llama,stack.sovereign.dev/group=server",
      placements: [
        { pool: "h100", replicas: 2, readyReplicas: 2 },
        { pool: "mi300x", replicas: 2, readyReplicas: 1 },
      ],
      admission: twoPools,
    });
    expect(s.queuePosition).toBeUndefined();
    expect(condition(s, "Admitted")).toMatchObject({ status: "True", reason: "Admitted" });
    expect(condition(s, "Admitted")?.message).toBe("4 replicas admitted: 2 on h100, 2 on mi300x");
  });

  it("while the Secret is missing a running service says no more replicas will be admitted", () => {
    const s = status({ replicas: 6, admission: twoPools, deployments: ready, missingSecret: "t" });
    expect(condition(s, "Admitted")).toMatchObject({ status: "True", reason: "SecretNotFound" });
    expect(condition(s, "Admitted")?.message).toContain("4 of 6 replicas admitted");
  });

  it("a partial admission says how many wait and why, with the queue position", () => {
    const s = status({ replicas: 6, admission: twoPools, deployments: ready, waiting: queued });
    expect(condition(s, "Admitted")).toMatchObject({ status: "True", reason: "PartiallyAdmitted" });
    expect(condition(s, "Admitted")?.message).toContain("4 of 6 replicas admitted");
    expect(s.queuePosition).toBe(3);
  });

  it("sets Unschedulable while it stands and removes it after", () => {
    const s = status({ replicas: 2, waiting: unschedulable });
    expect(condition(s, "Unschedulable")).toMatchObject({ status: "True", reason: "NoMatchingPool" });
    const later = computeStatus({
      svc: svc(2, { conditions: s.conditions }),
      admission: record(place("h100", 2)),
      deployments: new Map([["h100", dep(2, 2)]]),
      problems: [],
      waiting: undefined,
      missingSecret: undefined,
      now,
    });
    expect(condition(later, "Unschedulable")).toBeUndefined();
  });

  it("Preempted names the preemptor, stays while replicas are missing, and turns False once they are back", () => {
    const taken = {
      by: "TrainingJob/ml/b-job",
      reason: "team b reclaims the quota team a borrowed, for TrainingJob/ml/b-job",
      replicas: 1,
    };
    const s = status({ replicas: 3, admission: record(place("h100", 2)), preempted: taken });
    expect(condition(s, "Preempted")).toMatchObject({ status: "True", reason: "QuotaPreemption" });
    expect(condition(s, "Preempted")?.message).toBe(
      "1 replica taken back for TrainingJob/ml/b-job: team b reclaims the quota team a borrowed, for TrainingJob/ml/b-job; asked for again",
    );
    const next = (admission: AdmissionStatus) =>
      computeStatus({
        svc: svc(3, { conditions: s.conditions }),
        admission,
        deployments: new Map([["h100", dep(2, 2)]]),
        problems: [],
        waiting: undefined,
        missingSecret: undefined,
        now,
      });
    expect(condition(next(record(place("h100", 2))), "Preempted")?.status).toBe("True");
    expect(condition(next(record(place("h100", 3))), "Preempted")).toMatchObject({
      status: "False",
      reason: "Readmitted",
    });
    // A service never preempted has no such condition.
    expect(condition(status({ replicas: 2, admission: twoPools }), "Preempted")).toBeUndefined();
  });

  it("keeps lastTransitionTime while a condition's status stands", () => {
    const first = status({ replicas: 4, admission: twoPools });
    const again = computeStatus({
      svc: svc(4, { conditions: first.conditions }),
      admission: twoPools,
      deployments: new Map([["h100", dep(2, 2)]]),
      problems: [],
      waiting: undefined,
      missingSecret: undefined,
      now: new Date("2025-03-02T00:00:00Z"),
    });
    expect(condition(again, "Ready")?.lastTransitionTime).toBe(condition(first, "Ready")?.lastTransitionTime);
  });

  it("the same input gives the same status (a repeated reconcile writes nothing)", () => {
    const input = { replicas: 4, admission: twoPools, deployments: ready };
    const a = status(input);
    const b = computeStatus({
      svc: svc(4, a as Record<string, unknown>),
      admission: twoPools,
      deployments: ready,
      problems: [],
      waiting: undefined,
      missingSecret: undefined,
      now: new Date("2025-04-01T00:00:00Z"),
    });
    expect(b).toEqual(a);
  });
});

describe("failing replicas", () => {
  it.each([
    [
      {
        containerStatuses: [
          { name: "server", state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 5m" } } },
        ],
      },
      "pod p container server: CrashLoopBackOff: back-off 5m",
    ],
    [
      { containerStatuses: [{ name: "server", state: { waiting: { reason: "ImagePullBackOff" } } }] },
      "pod p container server: ImagePullBackOff",
    ],
    [
      {
        initContainerStatuses: [
          {
            name: "model-download",
            state: { waiting: { reason: "CreateContainerConfigError", message: 'secret "aws" not found' } },
          },
        ],
      },
      'pod p container model-download: CreateContainerConfigError: secret "aws" not found',
    ],
    [{ phase: "Failed", reason: "Evicted" }, "pod p failed (Evicted)"],
    [
      { containerStatuses: [{ name: "server", state: { waiting: { reason: "ContainerCreating" } } }] },
      undefined,
    ],
    [{ phase: "Running" }, undefined],
    [
      {
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "pod has unbound immediate PersistentVolumeClaims",
          },
        ],
      },
      "pod p cannot be scheduled: pod has unbound immediate PersistentVolumeClaims",
    ],
    [
      { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "SchedulerError" }] },
      undefined,
    ],
  ])("%#", (podStatus, problem) => {
    expect(podProblem({ metadata: { name: "p" }, status: podStatus })).toBe(problem);
  });

  it("a pod being deleted is not failing", () => {
    expect(
      podProblem({ metadata: { name: "p", deletionTimestamp: "x" }, status: { phase: "Failed" } }),
    ).toBeUndefined();
  });

  it("a rollout past its progress deadline is a problem", () => {
    const stuck: DeploymentLike = {
      metadata: { name: "llama-h100" },
      status: {
        conditions: [
          { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "timed out" },
        ],
      },
    };
    expect(deploymentProblem(stuck)).toBe("deployment llama-h100: timed out");
    expect(deploymentProblem(dep(1, 1))).toBeUndefined();
  });
});
