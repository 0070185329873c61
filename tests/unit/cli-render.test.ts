// describe and pools, rendered from fixed objects and compared with golden files in
// tests/golden (update them with `npx vitest run -u`).
import { expect, test } from "vitest";
import type { StackObject } from "../../cli/kube/objects.ts";
import { capacityTable } from "../../cli/output/capacity.ts";
import { renderDescription } from "../../cli/output/describe.ts";
import { acceleratorPoolResource, inferenceServiceResource, trainingJobResource } from "../../crds/index.ts";

const now = Date.parse("2026-01-01T01:00:00Z");
const created = "2026-01-01T00:00:00Z";

test("describe trainingjob: spec, queue position and reason, conditions, children, events", async () => {
  const job: StackObject = {
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: {
      name: "llama",
      namespace: "research",
      generation: 1,
      creationTimestamp: created,
      labels: { team: "nlp" },
    },
    spec: {
      image: "ghcr.io/acme/train:1.0",
      images: { amd: "ghcr.io/acme/train:1.0-rocm" },
      command: ["python", "train.py", "--note", "two words"],
      elastic: { minNodes: 2, maxNodes: 4 },
      accelerators: { count: 8, minMemoryGiB: 80, vendors: ["nvidia", "amd"] },
      resources: { cpu: "32", memory: "256Gi" },
      checkpoint: { claimName: "ckpt" },
      priority: 100,
      maxRestarts: 3,
    },
    status: {
      observedGeneration: 1,
      phase: "Queued",
      queuePosition: 2,
      conditions: [
        {
          type: "Admitted",
          status: "False",
          reason: "InsufficientCapacity",
          message: "needs 2 nodes with 8 free devices of at least 80 GiB; h100 has 1, mi300x has 0",
          lastTransitionTime: "2026-01-01T00:59:30Z",
        },
      ],
    },
  };
  const text = renderDescription({
    kind: trainingJobResource,
    object: job,
    now,
    children: [{ kind: "Service", name: "llama", status: "ClusterIP None ports 29500", created }],
    events: [
      {
        type: "Normal",
        reason: "Queued",
        time: "2026-01-01T00:58:00Z",
        count: 3,
        from: "trainingjob-controller",
        message: "waiting for capacity",
      },
    ],
  });
  await expect(text).toMatchFileSnapshot("../golden/describe-trainingjob.txt");
});

test("describe inferenceservice: placement across pools", async () => {
  const service: StackObject = {
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama-8b", namespace: "serving", generation: 2, creationTimestamp: created },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
      engine: { image: "vllm/vllm-openai:v0.11.0", tensorParallelSize: 1 },
      accelerators: { count: 1, minMemoryGiB: 24 },
      replicas: 3,
    },
    status: {
      observedGeneration: 1,
      phase: "Ready",
      replicas: 3,
      readyReplicas: 3,
      url: "http://llama-8b.serving.svc:8000/v1",
      placements: [
        { pool: "h100", replicas: 2, readyReplicas: 2 },
        { pool: "mi300x", replicas: 1, readyReplicas: 1 },
      ],
    },
  };
  const text = renderDescription({
    kind: inferenceServiceResource,
    object: service,
    now,
    children: [],
    events: [],
  });
  await expect(text).toMatchFileSnapshot("../golden/describe-inferenceservice.txt");
});

test("describe inferenceservice: a shape per pool from the model's size", () => {
  const model = { uri: "hf://meta-llama/Llama-3.1-70B-Instruct", parameters: 70, attentionHeads: 64 };
  const placements = [
    { pool: "h100", devicesPerReplica: 4, replicas: 2, readyReplicas: 2 },
    { pool: "mi300x", devicesPerReplica: 1, replicas: 3, readyReplicas: 1 },
  ];
  const { apiVersion, kind } = inferenceServiceResource;
  const service: StackObject = {
    apiVersion,
    kind,
    metadata: { name: "llama-70b", namespace: "serving", creationTimestamp: created },
    spec: { model, engine: { image: "vllm/vllm-openai:v0.11.0" }, replicas: 5 },
    status: { placements },
  };
  const text = renderDescription({
    kind: inferenceServiceResource,
    object: service,
    now,
    children: [],
    events: [],
  });
  expect(text).toContain(
    "Model size:      70B parameters (bf16), 64 attention heads, KV cache from maxModelLen",
  );
  expect(text).toContain("Tensor parallel: per pool, from the model's size");
  expect(text).toContain("Accelerators:    devices per pool, from the model's size, any vendor");
  expect(text).toContain("Placement: h100: 2/2 ready, 4 devices per replica");
  expect(text).toContain("           mi300x: 1/3 ready, 1 device per replica");
});

test("describe inferenceservice: a replica spanning nodes", () => {
  const { apiVersion, kind } = inferenceServiceResource;
  const service: StackObject = {
    apiVersion,
    kind,
    metadata: { name: "llama-405b", namespace: "serving", creationTimestamp: created },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-405B-Instruct", parameters: 405 },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      nodesPerReplica: 2,
      replicas: 2,
    },
    status: {
      placements: [
        { pool: "h100", devicesPerReplica: 16, nodesPerReplica: 2, replicas: 2, readyReplicas: 1 },
      ],
    },
  };
  const text = renderDescription({
    kind: inferenceServiceResource,
    object: service,
    now,
    children: [],
    events: [],
  });
  expect(text).toContain(
    "Nodes/replica:   2 (pipeline parallel over nodes: a leader and 1 Ray worker a replica)",
  );
  expect(text).toContain("Placement: h100: 1/2 ready, 16 devices per replica (2 nodes × 8)");
});

test("pools: capacity with bars and a total", async () => {
  const pool = (
    name: string,
    spec: Record<string, unknown>,
    status?: Record<string, unknown>,
  ): StackObject => ({
    apiVersion: acceleratorPoolResource.apiVersion,
    kind: "AcceleratorPool",
    metadata: { name },
    spec,
    status,
  });
  const pools = [
    pool(
      "h100",
      { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80 },
      { nodes: 4, readyNodes: 4, capacity: 32, allocated: 24, free: 8, largestFreePerNode: 8 },
    ),
    pool(
      "mi300x",
      { vendor: "amd", model: "AMD-Instinct-MI300X", memoryGiB: 192, paused: true },
      { nodes: 2, readyNodes: 1, capacity: 8, allocated: 0, free: 8, largestFreePerNode: 8 },
    ),
    pool("new", { vendor: "google", model: "tpu-v5-lite-podslice", memoryGiB: 16 }),
  ];
  await expect(capacityTable(pools, { wide: false })).toMatchFileSnapshot("../golden/pools.txt");
  await expect(capacityTable(pools, { wide: true })).toMatchFileSnapshot("../golden/pools-wide.txt");
});

test("describe inferenceservice: the router and the autoscaler's last decision", () => {
  const service: StackObject = {
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama-8b", namespace: "serving", generation: 2, creationTimestamp: created },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
      engine: { image: "vllm/vllm-openai:v0.11.0", tensorParallelSize: 1 },
      replicas: 1,
      router: { enabled: true },
      autoscaling: { minReplicas: 1, maxReplicas: 8 },
    },
    status: {
      phase: "Loading",
      replicas: 4,
      readyReplicas: 1,
      desiredReplicas: 4,
      url: "http://llama-8b-router.serving.svc:8000/v1",
      router: { replicas: 1, readyReplicas: 1 },
      autoscaling: {
        mode: "panic",
        lastDecision: {
          time: "2026-12-03T10:00:00Z",
          from: 1,
          to: 4,
          reason: "concurrency 96 over 1 replica, target 32 → 3",
        },
      },
    },
  };
  const text = renderDescription({
    kind: inferenceServiceResource,
    object: service,
    now,
    children: [],
    events: [],
  });
  expect(text).toMatch(/URL:\s+http:\/\/llama-8b-router\.serving\.svc:8000\/v1/);
  expect(text).toMatch(/Router:\s+1\/1 ready/);
  expect(text).toMatch(/Desired:\s+4 \(autoscaler, panic\)/);
  expect(text).toMatch(/Last scaling:\s+1 → 4: concurrency 96 over 1 replica, target 32 → 3/);
});
