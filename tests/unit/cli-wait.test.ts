// What --wait makes of a workload's status: the line it prints, and whether waiting is over.
import { describe, expect, test } from "vitest";
import type { StackObject } from "../../cli/kube/objects.ts";
import { assess, progressLine } from "../../cli/kube/wait.ts";
import { inferenceServiceResource, rayClusterResource, trainingJobResource } from "../../crds/index.ts";

const object = (kind: string, status?: Record<string, unknown>, generation = 1): StackObject => ({
  apiVersion: "stack.sovereign.dev/v1alpha1",
  kind,
  metadata: { name: "x", generation },
  spec: {},
  status,
});

const condition = (type: string, status: string, reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

describe("TrainingJob", () => {
  const tj = (status?: Record<string, unknown>, generation?: number) =>
    assess(trainingJobResource, object("TrainingJob", status, generation));

  test("no status yet", () => {
    expect(tj()).toEqual({ phase: "Submitted", detail: "waiting for the operator to pick it up" });
  });

  test("queued: position and the admission reason", () => {
    const a = tj({
      observedGeneration: 1,
      phase: "Queued",
      queuePosition: 2,
      conditions: [
        condition("Admitted", "False", "NoCapacity", "needs 4 nodes with 8 free devices; h100 has 2"),
      ],
    });
    expect(a.outcome).toBeUndefined();
    expect(progressLine("trainingjob/x", a)).toBe(
      "trainingjob/x Queued: queue position 2; needs 4 nodes with 8 free devices; h100 has 2",
    );
  });

  test("running is ready; succeeded too", () => {
    const running = tj({ observedGeneration: 1, phase: "Running", pool: "h100", nodes: 2, readyNodes: 2 });
    expect(running).toEqual({ phase: "Running", detail: "pool h100; 2/2 nodes ready", outcome: "ready" });
    expect(tj({ phase: "Succeeded" }).outcome).toBe("ready");
  });

  test("failed, with the failure's message", () => {
    const a = tj({
      phase: "Failed",
      restarts: 3,
      conditions: [condition("Failed", "True", "BackoffLimit", "rank 1 exited 1")],
    });
    expect(a).toEqual({ phase: "Failed", detail: "3 restarts; rank 1 exited 1", outcome: "failed" });
  });

  test("a status from an older generation is not believed", () => {
    const stale = tj({ observedGeneration: 1, phase: "Failed" }, 2);
    expect(stale.outcome).toBeUndefined();
    expect(stale.detail).toBe("waiting for the operator to see the new spec");
  });
});

test("RayCluster: ready when Ready; Degraded keeps waiting", () => {
  const status = {
    phase: "Ready",
    readyWorkers: 3,
    desiredWorkers: 3,
    workerGroups: [{ name: "gpu", pool: "h100" }],
  };
  expect(assess(rayClusterResource, object("RayCluster", status))).toEqual({
    phase: "Ready",
    detail: "3/3 workers ready; gpu on h100",
    outcome: "ready",
  });
  expect(
    assess(rayClusterResource, object("RayCluster", { ...status, phase: "Degraded" })).outcome,
  ).toBeUndefined();
});

test("InferenceService: replicas, pools and URL", () => {
  const status = {
    phase: "Loading",
    replicas: 2,
    readyReplicas: 1,
    placements: [{ pool: "h100" }, { pool: "mi300x" }],
    conditions: [condition("Ready", "False", "Loading", "downloading the model")],
  };
  expect(
    progressLine("inferenceservice/x", assess(inferenceServiceResource, object("InferenceService", status))),
  ).toBe("inferenceservice/x Loading: 1/2 replicas ready; on h100, mi300x; downloading the model");
  expect(
    assess(inferenceServiceResource, object("InferenceService", { ...status, phase: "Ready" })).outcome,
  ).toBe("ready");
});
