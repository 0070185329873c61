// Replicas and admission: how the record grows, shrinks and is repaired, what the adapter asks
// the admitter for, and how the rollout settings become each Deployment's strategy.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import type { Decision } from "../../controllers/admission/index.ts";
import {
  type InferenceServiceObject,
  inferenceServiceAdapter,
  requirementOf,
} from "../../controllers/inferenceservice/adapter.ts";
import { grants, settleAdmission } from "../../controllers/inferenceservice/reconcile.ts";
import {
  admittedReplicas,
  dropPlacements,
  forgetBoundNodes,
  mergeAdmission,
  type Placement,
  shrinkAdmission,
} from "../../controllers/inferenceservice/replicas.ts";
import { deploymentStrategies } from "../../controllers/inferenceservice/rollout.ts";
import { SecretCheck, secretBlocked } from "../../controllers/inferenceservice/secret.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import {
  type AcceleratorPool,
  type AdmissionStatus,
  acceleratorPoolResource,
  inferenceServiceResource,
} from "../../crds/index.ts";
import { ApiError, type KubeClient, type KubeObject } from "../../operator/index.ts";

const rt = resourceTypes.inferenceService;
const pools = new Map(
  ["h100", "mi300x", "tpu-v5e"].map((name) => {
    const pool = acceleratorPoolResource.schema.parse(
      load(readFileSync(new URL(`../../samples/acceleratorpool-${name}.yaml`, import.meta.url), "utf8")),
    ) as AcceleratorPool & KubeObject;
    return [name, pool] as const;
  }),
);

const place = (pool: string, replicas: number, nodes?: string[]): Placement => ({
  group: `server/${pool}`,
  pool,
  vendor: pool === "mi300x" ? "amd" : "nvidia",
  resourceName: pool === "mi300x" ? "amd.com/gpu" : "nvidia.com/gpu",
  replicas,
  ...(nodes ? { nodes } : {}),
});
const record = (...placements: Placement[]): AdmissionStatus => ({
  admittedAt: "2025-01-01T00:00:00.000Z",
  placements,
});

function svc(
  spec: Record<string, unknown> = {},
  status?: Record<string, unknown>,
  meta: Record<string, unknown> = {},
): InferenceServiceObject {
  return inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: {
      name: "llama",
      namespace: "ml",
      uid: "u1",
      generation: 1,
      creationTimestamp: "2025-01-01T00:00:00Z",
      ...meta,
    },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      accelerators: { count: 1, minMemoryGiB: 24 },
      resources: { cpu: "8", memory: "32Gi" },
      ...spec,
    },
    ...(status ? { status } : {}),
  }) as InferenceServiceObject;
}

describe("the admission record", () => {
  it("counts admitted replicas", () => {
    expect(admittedReplicas(undefined)).toBe(0);
    expect(admittedReplicas(record(place("h100", 2), place("mi300x", 3)))).toBe(5);
  });

  it.each([
    ["no change when at or below", [2, 2], 4, [2, 2], []],
    ["last pool first", [2, 4], 3, [2, 1], [{ pool: "mi300x", replicas: 3 }]],
    [
      "a pool that empties is dropped",
      [2, 2],
      1,
      [1],
      [
        { pool: "mi300x", replicas: 2 },
        { pool: "h100", replicas: 1 },
      ],
    ],
    [
      "to zero releases the record",
      [2, 2],
      0,
      [],
      [
        { pool: "mi300x", replicas: 2 },
        { pool: "h100", replicas: 2 },
      ],
    ],
  ])("shrink: %s", (_, counts, desired, after, released) => {
    const before = record(place("h100", counts[0] ?? 0), place("mi300x", counts[1] ?? 0));
    const out = shrinkAdmission(before, desired);
    expect(out.admission?.placements?.map((p) => p.replicas) ?? []).toEqual(after);
    expect(out.released).toEqual(released);
    if (after.length === 0) expect(out.admission).toBeUndefined();
  });

  it("shrinking takes from the most expensive pool first, whatever the admission order", () => {
    const before = record(place("h100", 2), place("mi300x", 2), place("l40s", 2));
    const cost = (pool: string) => ({ h100: 4, mi300x: 2.5 })[pool];
    const out = shrinkAdmission(before, 3, cost);
    expect(out.released).toEqual([
      { pool: "h100", replicas: 2 },
      { pool: "mi300x", replicas: 1 },
    ]);
    expect(out.admission?.placements?.map((p) => [p.pool, p.replicas])).toEqual([
      ["mi300x", 1],
      ["l40s", 2],
    ]);
  });

  it("shrinking trims the reserved nodes with the replicas", () => {
    const out = shrinkAdmission(record(place("h100", 3, ["a", "b", "c"])), 1);
    expect(out.admission?.placements).toEqual([place("h100", 1, ["a"])]);
  });

  it("merging adds to a pool in use and appends a new one, keeping the first admission time", () => {
    const merged = mergeAdmission(record(place("h100", 2, ["h100-0", "h100-1"])), {
      admittedAt: "2025-02-01T00:00:00.000Z",
      placements: [place("h100", 1, ["h100-2"]), place("mi300x", 2, ["mi300x-0", "mi300x-0"])],
    });
    expect(merged).toEqual({
      admittedAt: "2025-01-01T00:00:00.000Z",
      placements: [
        place("h100", 3, ["h100-0", "h100-1", "h100-2"]),
        place("mi300x", 2, ["mi300x-0", "mi300x-0"]),
      ],
    });
    expect(mergeAdmission(undefined, record(place("h100", 1)))).toEqual(record(place("h100", 1)));
  });

  it("drops placements the predicate rejects", () => {
    const out = dropPlacements(record(place("h100", 2), place("mi300x", 2)), (p) => p.pool !== "mi300x");
    expect(out.admission?.placements).toEqual([place("h100", 2)]);
    expect(out.dropped).toEqual([place("mi300x", 2)]);
    const all = dropPlacements(record(place("h100", 2)), () => false);
    expect(all.admission).toBeUndefined();
  });

  it("forgets the reserved nodes of a pool once all its pods are bound", () => {
    const before = record(place("h100", 2, ["a", "b"]), place("mi300x", 2, ["c", "c"]));
    const bound = (pool: string) => (pool === "h100" ? 2 : 1);
    expect(forgetBoundNodes(before, bound)?.placements).toEqual([
      place("h100", 2),
      place("mi300x", 2, ["c", "c"]),
    ]);
    const none = record(place("h100", 2));
    expect(forgetBoundNodes(none, () => 5)).toBe(none);
  });
});

describe("settling the admission in a reconcile", () => {
  const now = new Date("2025-03-01T00:00:00Z");
  const granted = (pods: Record<string, number>): Decision => ({
    type: "admitted",
    admission: {
      key: "InferenceService/ml/llama",
      pendingPods: 0,
      groups: [
        {
          group: "server",
          pods: Object.values(pods).reduce((a, b) => a + b, 0),
          placements: Object.entries(pods).map(([pool, n]) => ({
            pool,
            vendor: pool === "mi300x" ? "amd" : "nvidia",
            resourceName: pool === "mi300x" ? "amd.com/gpu" : "nvidia.com/gpu",
            pods: n,
            nodes: [{ node: `${pool}-0`, pods: n, devices: n, cpuMillis: 8000 * n, memoryBytes: 0 }],
          })),
        },
      ],
    },
  });

  it("records a first grant per pool, keyed server/<pool>", () => {
    const out = settleAdmission(svc({ replicas: 4 }), pools, granted({ h100: 2, mi300x: 2 }), false, now);
    expect(out.admission).toEqual({
      admittedAt: now.toISOString(),
      placements: [place("h100", 2, ["h100-0", "h100-0"]), place("mi300x", 2, ["mi300x-0", "mi300x-0"])],
    });
    expect(grants(undefined, out.admission)).toBe(true);
  });

  it("merges a grant for missing replicas into the record", () => {
    const s = svc({ replicas: 6 }, { admission: record(place("h100", 2), place("mi300x", 2)) });
    const out = settleAdmission(s, pools, granted({ mi300x: 2 }), false, now);
    expect(out.admission?.placements?.map((p) => [p.pool, p.replicas])).toEqual([
      ["h100", 2],
      ["mi300x", 4],
    ]);
    expect(grants(s.status?.admission, out.admission)).toBe(true);
  });

  it("records nothing while the Secret is missing", () => {
    const out = settleAdmission(svc({ replicas: 2 }), pools, granted({ h100: 2 }), true, now);
    expect(out.admission).toBeUndefined();
    expect(out.added).toBeUndefined();
  });

  it("never grows past spec.replicas, even with a stale grant", () => {
    const s = svc({ replicas: 3 }, { admission: record(place("h100", 2)) });
    const out = settleAdmission(s, pools, granted({ mi300x: 2 }), false, now);
    expect(admittedReplicas(out.admission)).toBe(3);
    expect(out.admission?.placements?.map((p) => [p.pool, p.replicas])).toEqual([
      ["h100", 2],
      ["mi300x", 1],
    ]);
  });

  it("shrinks last pool first when scaled down, and that is no grant", () => {
    const s = svc({ replicas: 1 }, { admission: record(place("h100", 2), place("mi300x", 2)) });
    const out = settleAdmission(s, pools, undefined, false, now);
    expect(out.admission?.placements).toEqual([place("h100", 1)]);
    expect(out.released).toEqual([
      { pool: "mi300x", replicas: 2 },
      { pool: "h100", replicas: 1 },
    ]);
    expect(grants(s.status?.admission, out.admission)).toBe(false);
  });

  it("an autoscaled service scales down on the most expensive pool first", () => {
    const s = svc(
      { replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 4 } },
      { admission: record(place("h100", 2), place("mi300x", 2)) },
    );
    const out = settleAdmission(s, pools, undefined, false, now);
    // h100 costs 2.5 a device-hour, mi300x 2.1: the H100 replicas go, though admitted first.
    expect(out.admission?.placements).toEqual([place("mi300x", 1)]);
    expect(out.released).toEqual([
      { pool: "h100", replicas: 2 },
      { pool: "mi300x", replicas: 1 },
    ]);
  });

  it("drops placements on pools that are gone or no longer match the requirement", () => {
    const s = svc(
      { replicas: 4, accelerators: { count: 1, vendors: ["nvidia"] } },
      { admission: record(place("h100", 2), place("mi300x", 1), place("gone", 1)) },
    );
    const out = settleAdmission(s, pools, undefined, false, now);
    expect(out.admission?.placements).toEqual([place("h100", 2)]);
    expect(out.dropped.map((d) => [d.placement.pool, d.why])).toEqual([
      ["mi300x", "vendor amd"],
      ["gone", "the pool no longer exists"],
    ]);
  });

  it("a queued or unschedulable decision changes nothing", () => {
    const s = svc({ replicas: 4 }, { admission: record(place("h100", 2)) });
    const queued: Decision = { type: "queued", position: 1, code: "InsufficientCapacity", reason: "full" };
    expect(settleAdmission(s, pools, queued, false, now).admission).toEqual(s.status?.admission);
  });
});

describe("the workload adapter", () => {
  const adapter = inferenceServiceAdapter(rt, () => {});

  it("asks for every replica as independent replicas of one group", () => {
    const w = adapter.toWorkload(svc({ replicas: 4 }));
    expect(w).toEqual({
      key: "InferenceService/ml/llama",
      priority: 0,
      creationTimestamp: Date.parse("2025-01-01T00:00:00Z"),
      mode: "replicas",
      minPods: 1,
      groups: [
        {
          name: "server",
          pods: 4,
          cpuMillis: 8000,
          memoryBytes: 32 * 2 ** 30,
          accelerators: { count: 1, minMemoryGiB: 24 },
        },
      ],
    });
    expect(adapter.toAdditionalWorkload?.(svc({ replicas: 4 }))).toBeUndefined();
  });

  it("defaults the device count to the tensor-parallel size", () => {
    const s = svc({ accelerators: undefined, engine: { image: "i", tensorParallelSize: 4 } });
    expect(requirementOf(s)).toEqual({ count: 4 });
  });

  it("for an admitted service: its admitted shape, and only the missing replicas on a key carrying the count", () => {
    const s = svc({ replicas: 6 }, { admission: record(place("h100", 2), place("mi300x", 2)) });
    expect(adapter.toWorkload(s)?.groups[0]?.pods).toBe(4);
    const extra = adapter.toAdditionalWorkload?.(s);
    expect(extra?.key).toBe("InferenceService/ml/llama@4");
    expect(extra?.groups[0]?.pods).toBe(2);
    expect(extra?.mode).toBe("replicas");
  });

  it("wants nothing when deleted, scaled to zero, or waiting for its Secret", () => {
    expect(
      adapter.toWorkload(svc({}, undefined, { deletionTimestamp: "2025-01-02T00:00:00Z" })),
    ).toBeUndefined();
    expect(adapter.toWorkload(svc({ replicas: 0 }))).toBeUndefined();
    const waiting = svc(
      { model: { uri: "hf://a/b", secretRef: { name: "t" } } },
      {
        conditions: [
          {
            type: "Admitted",
            status: "False",
            reason: "SecretNotFound",
            message: "",
            lastTransitionTime: "2025-01-01T00:00:00Z",
            observedGeneration: 1,
          },
        ],
      },
    );
    expect(secretBlocked(waiting)).toBe(true);
    expect(adapter.toWorkload(waiting)).toBeUndefined();
    // A new generation (the reference fixed, say) asks again.
    const edited = { ...waiting, metadata: { ...waiting.metadata, generation: 2 } };
    expect(secretBlocked(edited)).toBe(false);
    expect(adapter.toWorkload(edited)).toBeDefined();
  });

  it("a running service whose Secret went missing keeps its replicas but asks for no more", () => {
    const running = svc(
      { replicas: 4, model: { uri: "hf://a/b", secretRef: { name: "t" } } },
      {
        admission: record(place("h100", 2)),
        conditions: [
          {
            type: "Admitted",
            status: "True",
            reason: "SecretNotFound",
            message: "",
            lastTransitionTime: "2025-01-01T00:00:00Z",
            observedGeneration: 1,
          },
        ],
      },
    );
    expect(adapter.toWorkload(running)?.groups[0]?.pods).toBe(2);
    expect(adapter.toAdditionalWorkload?.(running)).toBeUndefined();
  });
});

describe("rollout strategy per Deployment", () => {
  it.each([
    [
      "defaults",
      undefined,
      [2, 2],
      [
        [1, 0],
        [1, 0],
      ],
    ],
    [
      "surge is kept per pool",
      { maxSurge: 2, maxUnavailable: 0 },
      [3, 1],
      [
        [2, 0],
        [2, 0],
      ],
    ],
    [
      "a count of unavailability is split in placement order",
      { maxSurge: 1, maxUnavailable: 3 },
      [2, 4],
      [
        [1, 2],
        [1, 1],
      ],
    ],
    [
      "percentages are kept",
      { maxSurge: "25%", maxUnavailable: "50%" },
      [4, 4],
      [
        ["25%", "50%"],
        ["25%", "50%"],
      ],
    ],
    [
      "no surge: every pool may still roll",
      { maxSurge: 0, maxUnavailable: 1 },
      [2, 2],
      [
        [0, 1],
        [0, 1],
      ],
    ],
    ["one pool: as asked", { maxSurge: 0, maxUnavailable: 2 }, [5], [[0, 2]]],
  ])("%s", (_, rollout, replicas, expected) => {
    const out = deploymentStrategies(rollout as never, replicas).map((s) => [
      s.rollingUpdate.maxSurge,
      s.rollingUpdate.maxUnavailable,
    ]);
    expect(out).toEqual(expected);
  });
});

describe("the Secret check", () => {
  const client = (present: Set<string>, calls: string[]) =>
    ({
      get: async (_rt: unknown, name: string, namespace: string) => {
        calls.push(`${namespace}/${name}`);
        if (!present.has(name)) throw new ApiError(404, "NotFound", "not found", undefined);
        return { metadata: { name } };
      },
    }) as unknown as KubeClient;

  it("GETs the named Secret, remembers a positive answer for a while and never a negative one", async () => {
    const calls: string[] = [];
    let t = 0;
    const check = new SecretCheck(client(new Set(["hf"]), calls), { positiveTtlMs: 1000, now: () => t });
    expect(await check.exists("ml", "hf")).toBe(true);
    expect(await check.exists("ml", "hf")).toBe(true);
    expect(await check.exists("ml", "nope")).toBe(false);
    expect(await check.exists("ml", "nope")).toBe(false);
    t = 2000;
    expect(await check.exists("ml", "hf")).toBe(true);
    expect(calls).toEqual(["ml/hf", "ml/nope", "ml/nope", "ml/hf"]);
  });

  it("passes other errors on", async () => {
    const failing = {
      get: async () => {
        throw new ApiError(403, "Forbidden", "forbidden", undefined);
      },
    } as unknown as KubeClient;
    await expect(new SecretCheck(failing).exists("ml", "x")).rejects.toThrow();
  });
});
