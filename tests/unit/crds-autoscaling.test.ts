// spec.autoscaling of an InferenceService: defaults, what is accepted, and each CEL rule's
// message naming its field, offline (the API server's side is tests/integration/crds.test.ts,
// which runs the same fixtures in tests/fixtures/invalid).
import { describe, expect, test } from "vitest";
import { autoscalingTarget, inferenceServiceResource } from "../../crds/index.ts";
import { validateObject } from "../../crds/validate.ts";

const service = (spec: Record<string, unknown>) => ({
  apiVersion: "stack.sovereign.dev/v1alpha1",
  kind: "InferenceService",
  metadata: { name: "llama" },
  spec: {
    model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
    engine: { image: "vllm/vllm-openai:v0.11.0" },
    ...spec,
  },
});

test("defaults: min 1, concurrency, 1000% steps, 120 s down delay, 6 s and 60 s windows, 300 s idle", () => {
  const parsed = inferenceServiceResource.schema.parse(service({ autoscaling: { maxReplicas: 8 } }));
  expect(parsed.spec.autoscaling).toEqual({
    minReplicas: 1,
    maxReplicas: 8,
    metric: "concurrency",
    scaleUpLimit: "1000%",
    scaleDownDelaySeconds: 120,
    panicWindowSeconds: 6,
    stableWindowSeconds: 60,
    idleTimeoutSeconds: 300,
  });
  expect(parsed.spec.autoscaling?.target).toBeUndefined();
});

test("the target defaults per metric, and a given target wins", () => {
  expect(autoscalingTarget({ metric: "concurrency" })).toBe(32);
  expect(autoscalingTarget({ metric: "queueDepth" })).toBe(8);
  expect(autoscalingTarget({ metric: "kvCacheUsage" })).toBe(0.8);
  expect(autoscalingTarget({ metric: "tokensPerSecond" })).toBe(2000);
  expect(autoscalingTarget({ metric: "queueDepth", target: 16 })).toBe(16);
});

describe("accepted", () => {
  test.each([
    [
      "scale to zero with the router on",
      { router: { enabled: true }, autoscaling: { minReplicas: 0, maxReplicas: 4 } },
    ],
    [
      "a KV-cache target of exactly 1",
      { autoscaling: { maxReplicas: 4, metric: "kvCacheUsage", target: 1 } },
    ],
    [
      "a fractional KV-cache target",
      { autoscaling: { maxReplicas: 4, metric: "kvCacheUsage", target: 0.75 } },
    ],
    ["a step limit as a count", { autoscaling: { maxReplicas: 40, scaleUpLimit: 10 } }],
    ["a step limit over 100%", { autoscaling: { maxReplicas: 40, scaleUpLimit: "250%" } }],
    ["min equal to max", { autoscaling: { minReplicas: 3, maxReplicas: 3 } }],
    ["no scale-down delay", { autoscaling: { maxReplicas: 3, scaleDownDelaySeconds: 0 } }],
    ["equal windows", { autoscaling: { maxReplicas: 3, panicWindowSeconds: 30, stableWindowSeconds: 30 } }],
  ])("%s", (_name, spec) => {
    expect(validateObject(service(spec)).errors).toEqual([]);
  });
});

describe("rejected with the rule's message at the field", () => {
  test.each([
    [
      "min above max",
      { autoscaling: { minReplicas: 5, maxReplicas: 2 } },
      "spec.autoscaling.minReplicas",
      "minReplicas must be less than or equal to maxReplicas",
    ],
    [
      "a zero target",
      { autoscaling: { maxReplicas: 2, target: 0 } },
      "spec.autoscaling.target",
      "target must be greater than 0",
    ],
    [
      "a negative target",
      { autoscaling: { maxReplicas: 2, metric: "tokensPerSecond", target: -1 } },
      "spec.autoscaling.target",
      "target must be greater than 0",
    ],
    [
      "a KV-cache target given as a percentage",
      { autoscaling: { maxReplicas: 2, metric: "kvCacheUsage", target: 80 } },
      "spec.autoscaling.target",
      "target must be a fraction in (0, 1] when metric is kvCacheUsage",
    ],
    [
      "zero without a router",
      { autoscaling: { minReplicas: 0, maxReplicas: 2 } },
      "spec.autoscaling.minReplicas",
      "autoscaling.minReplicas 0 needs router.enabled: true (the router holds requests while the first replica starts)",
    ],
    [
      "zero with the router off",
      { router: { enabled: false }, autoscaling: { minReplicas: 0, maxReplicas: 2 } },
      "spec.autoscaling.minReplicas",
      "autoscaling.minReplicas 0 needs router.enabled: true (the router holds requests while the first replica starts)",
    ],
    [
      "a panic window longer than the stable one",
      { autoscaling: { maxReplicas: 2, panicWindowSeconds: 61 } },
      "spec.autoscaling.panicWindowSeconds",
      "panicWindowSeconds must be less than or equal to stableWindowSeconds",
    ],
  ])("%s", (_name, spec, path, message) => {
    expect(validateObject(service(spec)).errors).toEqual([{ path, message }]);
  });

  test.each([
    ["0%", "spec.autoscaling.scaleUpLimit"],
    [0, "spec.autoscaling.scaleUpLimit"],
    ["ten", "spec.autoscaling.scaleUpLimit"],
    ["100000%", "spec.autoscaling.scaleUpLimit"],
  ])("scaleUpLimit %s", (limit, path) => {
    const { errors } = validateObject(service({ autoscaling: { maxReplicas: 2, scaleUpLimit: limit } }));
    expect(new Set(errors.map((e) => e.path))).toEqual(new Set([path]));
  });

  test("maxReplicas is required and metric must be known", () => {
    expect(validateObject(service({ autoscaling: {} })).errors).toEqual([
      { path: "spec.autoscaling.maxReplicas", message: "Required value" },
    ]);
    expect(validateObject(service({ autoscaling: { maxReplicas: 2, metric: "cpu" } })).errors).toEqual([
      {
        path: "spec.autoscaling.metric",
        message:
          'Unsupported value: "cpu": supported values: "concurrency", "queueDepth", "kvCacheUsage", "tokensPerSecond"',
      },
    ]);
  });
});
