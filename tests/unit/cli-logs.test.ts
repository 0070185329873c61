// logs: which pods a target names, by the labels the controllers set.
import { expect, test } from "vitest";
import { podSelector } from "../../cli/commands/logs.ts";
import { CliError } from "../../cli/errors.ts";
import { labels } from "../../cli/labels.ts";
import {
  acceleratorPoolResource,
  inferenceServiceResource,
  rayClusterResource,
  trainingJobResource,
} from "../../crds/index.ts";

test("the label keys the controllers use", () => {
  expect(labels).toEqual({
    attempt: "stack.sovereign.dev/attempt",
    group: "stack.sovereign.dev/group",
    kind: "stack.sovereign.dev/kind",
    name: "stack.sovereign.dev/name",
    rank: "stack.sovereign.dev/rank",
    rayNodeType: "stack.sovereign.dev/ray-node-type",
    rayGroup: "stack.sovereign.dev/ray-group",
    pool: "stack.sovereign.dev/pool",
    replica: "stack.sovereign.dev/replica",
    templateHash: "stack.sovereign.dev/template-hash",
  });
});

test("a TrainingJob's rank 0 unless --rank", () => {
  const base = "stack.sovereign.dev/kind=trainingjob,stack.sovereign.dev/name=llama";
  expect(podSelector(trainingJobResource, "llama", {}).selector).toBe(`${base},stack.sovereign.dev/rank=0`);
  expect(podSelector(trainingJobResource, "llama", { rank: 3 })).toEqual({
    selector: `${base},stack.sovereign.dev/rank=3`,
    which: "rank 3 pod",
  });
  expect(podSelector(trainingJobResource, "llama", { allPods: true }).selector).toBe(base);
});

test("a RayCluster's head unless --group", () => {
  expect(podSelector(rayClusterResource, "r", {}).selector).toBe(
    "stack.sovereign.dev/kind=raycluster,stack.sovereign.dev/name=r,stack.sovereign.dev/ray-node-type=head",
  );
  expect(podSelector(rayClusterResource, "r", { group: "gpu" }).selector).toBe(
    "stack.sovereign.dev/kind=raycluster,stack.sovereign.dev/name=r,stack.sovereign.dev/ray-node-type=worker,stack.sovereign.dev/ray-group=gpu",
  );
});

test("every replica of an InferenceService", () => {
  expect(podSelector(inferenceServiceResource, "m", {}).selector).toBe(
    "stack.sovereign.dev/kind=inferenceservice,stack.sovereign.dev/name=m",
  );
});

test("flags that do not fit the kind are usage errors", () => {
  expect(() => podSelector(inferenceServiceResource, "m", { rank: 1 })).toThrow(CliError);
  expect(() => podSelector(trainingJobResource, "m", { head: true })).toThrow(/only for rayclusters/);
  expect(() => podSelector(rayClusterResource, "m", { head: true, group: "g" })).toThrow(/not both/);
  expect(() => podSelector(acceleratorPoolResource, "p", {})).toThrow(/no pods/);
});
