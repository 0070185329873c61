// The autoscaler's loop around the pure decision: one sample a second from the router's
// figures, windows trimmed to the stable window, the last decision kept when the router is
// silent; and what the status says of it.
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  AutoscalerLoop,
  type RouterServiceStats,
  toSample,
} from "../../controllers/inferenceservice/autoscaling/index.ts";
import { computeStatus } from "../../controllers/inferenceservice/status.ts";
import { autoscalingSpec, inferenceServiceResource } from "../../crds/index.ts";

const stats = (over: Partial<RouterServiceStats> = {}): RouterServiceStats => ({
  readyReplicas: 1,
  routerQueued: 0,
  inFlight: 2,
  engineRunning: 2,
  engineWaiting: 0,
  kvCacheUsageMean: 0.1,
  requestsPerSecond: { "1s": 2 },
  tokensPerSecond: { "1s": 100 },
  lastRequestTime: "2026-12-03T10:00:00.000Z",
  ...over,
});
const limits = autoscalingSpec.parse({ minReplicas: 1, maxReplicas: 10, target: 4, stableWindowSeconds: 10 });

describe("toSample", () => {
  it("reads the router's one-second figures and its last request time", () => {
    expect(toSample(stats({ kvCacheUsageMean: null, lastRequestTime: null }), 5)).toMatchObject({
      time: 5,
      kvCacheUsageMean: 0,
      requestsPerSecond: 2,
      tokensPerSecond: 100,
      lastRequestTime: undefined,
    });
    expect(toSample(stats(), 5).lastRequestTime).toBe(Date.parse("2026-12-03T10:00:00.000Z"));
  });
});

describe("AutoscalerLoop", () => {
  it("samples at most once a second and keeps the last decision while the router is silent", async () => {
    let calls = 0;
    let answer: RouterServiceStats | undefined = stats();
    const loop = new AutoscalerLoop(async () => {
      calls++;
      return answer;
    });
    const facts = { replicas: 1, loading: 0, replicaStartSeconds: undefined };
    const first = await loop.step("ns/a", limits, "127.64.0.1:8000", facts, 1_000);
    expect(first?.replicas).toBeGreaterThanOrEqual(1);
    expect(await loop.step("ns/a", limits, "127.64.0.1:8000", facts, 1_500)).toBe(first);
    expect(calls).toBe(1);
    answer = undefined;
    expect(await loop.step("ns/a", limits, "127.64.0.1:8000", facts, 2_500)).toBe(first);
    expect(await loop.step("ns/a", limits, undefined, facts, 3_500)).toBe(first);
    expect(calls).toBe(2);
  });

  it("orders more replicas when the router holds a burst, and forgets a service", async () => {
    const loop = new AutoscalerLoop(async () =>
      stats({ routerQueued: 200, inFlight: 8, engineRunning: 8, requestsPerSecond: { "1s": 100 } }),
    );
    const facts = { replicas: 1, loading: 0, replicaStartSeconds: undefined };
    let decision = await loop.step("ns/b", limits, "127.64.0.1:8000", facts, 1_000);
    for (let t = 2_000; t <= 4_000; t += 1_000) decision = await loop.step("ns/b", limits, "x:1", facts, t);
    expect(decision?.replicas).toBeGreaterThan(1);
    expect(decision?.reason).toMatch(/\S/);
    loop.forget("ns/b");
    const fresh = new AutoscalerLoop(async () => undefined);
    expect(await fresh.step("ns/b", limits, "x:1", facts, 5_000)).toBeUndefined();
  });
});

describe("status with autoscaling", () => {
  const svc = (status?: Record<string, unknown>) =>
    inferenceServiceResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "llama", namespace: "ml", uid: "u1", generation: 1 },
      spec: {
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        replicas: 3,
        router: { enabled: true },
        autoscaling: { minReplicas: 0, maxReplicas: 3 },
      },
      ...(status ? { status } : {}),
    }) as InferenceServiceObject;
  const decision = {
    replicas: 3,
    mode: "panic" as const,
    reason: "concurrency 120 over 1 replica, target 32 → 4, capped at maxReplicas 3",
    limitedBy: "maxReplicas" as const,
    memory: {} as never,
  };

  it("records the decision that changed the count, its mode, and the limit that holds it", () => {
    const st = computeStatus({
      svc: svc({ desiredReplicas: 1 }),
      admission: undefined,
      deployments: new Map(),
      problems: [],
      waiting: undefined,
      missingSecret: undefined,
      scaling: decision,
      previousReplicas: 1,
      now: new Date("2026-12-03T10:00:00Z"),
    });
    expect(st.desiredReplicas).toBe(3);
    expect(st.autoscaling).toEqual({
      mode: "panic",
      lastDecision: { time: "2026-12-03T10:00:00Z", from: 1, to: 3, reason: decision.reason },
    });
    expect(st.conditions?.find((c) => c.type === "ScalingLimited")).toMatchObject({
      status: "True",
      reason: "MaxReplicas",
    });
  });
});
