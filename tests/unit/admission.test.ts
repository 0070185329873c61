import { describe, expect, it } from "vitest";
import { toAdmissionStatus } from "../../controllers/admission/admission-status.ts";
import {
  clusterView,
  type NodeLike,
  type PodLike,
  poolStatus,
} from "../../controllers/admission/cluster-view.ts";
import { evictionCheck } from "../../controllers/admission/eviction.ts";
import { type PodTemplateLike, placePod } from "../../controllers/admission/pod-placement.ts";
import { bytes, cpuMillis, parseQuantity } from "../../controllers/admission/quantity.ts";
import { heldByWorkload, reservationFromAdmission } from "../../controllers/admission/reservations.ts";
import { matchesSelector } from "../../controllers/admission/selector.ts";
import type { Workload } from "../../controllers/placement/types.ts";
import type { AcceleratorPool } from "../../crds/index.ts";

const pool = (name: string, spec: Partial<AcceleratorPool["spec"]> = {}): AcceleratorPool =>
  ({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "AcceleratorPool",
    metadata: { name },
    spec: { vendor: "nvidia", model: "H100", memoryGiB: 80, paused: false, ...spec },
  }) as AcceleratorPool;

const node = (name: string, poolName: string, gpus: number, extra: Partial<NodeLike> = {}): NodeLike => ({
  metadata: { name, labels: { "sovereign.dev/pool": poolName } },
  spec: {},
  status: {
    allocatable: { cpu: "64", memory: "512Gi", "nvidia.com/gpu": String(gpus) },
    conditions: [{ type: "Ready", status: "True" }],
  },
  ...extra,
});

const pod = (
  name: string,
  nodeName: string | undefined,
  gpus: number,
  phase = "Running",
  labels = {},
): PodLike => ({
  metadata: { name, namespace: "ns", labels },
  spec: {
    ...(nodeName ? { nodeName } : {}),
    containers: [
      { resources: { requests: { cpu: "2", memory: "8Gi" }, limits: { "nvidia.com/gpu": String(gpus) } } },
    ],
  },
  status: { phase },
});

describe("quantities", () => {
  it.each([
    ["500m", 0.5],
    ["2", 2],
    ["1Gi", 2 ** 30],
    ["1G", 1e9],
    ["1.5Ki", 1536],
    ["1e3", 1000],
  ])("%s is %d", (q, v) => expect(parseQuantity(q)).toBe(v));
  it("rejects what is not a quantity", () => expect(parseQuantity("lots")).toBeNaN());
  it("converts cpu and memory", () => {
    expect(cpuMillis("250m")).toBe(250);
    expect(cpuMillis(undefined)).toBe(0);
    expect(bytes("64Mi")).toBe(64 * 2 ** 20);
  });
});

describe("label selectors", () => {
  const l = { pool: "a", tier: "x" };
  it.each([
    [{ matchLabels: { pool: "a" } }, true],
    [{ matchLabels: { pool: "b" } }, false],
    [{ matchExpressions: [{ key: "tier", operator: "In" as const, values: ["x", "y"] }] }, true],
    [{ matchExpressions: [{ key: "tier", operator: "NotIn" as const, values: ["x"] }] }, false],
    [{ matchExpressions: [{ key: "gpu", operator: "DoesNotExist" as const }] }, true],
    [{ matchExpressions: [{ key: "gpu", operator: "Exists" as const }] }, false],
    [{}, true],
  ])("%j -> %s", (selector, expected) => expect(matchesSelector(l, selector)).toBe(expected));
});

describe("the cluster view", () => {
  const pools = [pool("h100"), pool("empty")];
  const nodes = [
    node("n0", "h100", 8),
    node("n1", "h100", 8),
    node("n2", "h100", 8, {
      status: { allocatable: { "nvidia.com/gpu": "8" }, conditions: [{ type: "Ready", status: "False" }] },
    }),
    node("loose", "none", 8),
  ];
  const pods = [
    pod("a", "n0", 6),
    pod("b", "n0", 1, "Succeeded"),
    pod("c", "n1", 2),
    pod("pending", undefined, 8, "Pending"),
  ];
  const view = clusterView(pools, nodes, pods);

  it("subtracts only the requests of live pods bound to a node", () => {
    const n0 = view.nodes.find((n) => n.name === "n0");
    expect(n0).toMatchObject({ allocatableDevices: 8, freeDevices: 2, freeCpuMillis: 62_000, ready: true });
    expect(view.nodes.find((n) => n.name === "n1")?.freeDevices).toBe(6);
  });

  it("leaves nodes of no pool out of placement", () => {
    expect(view.nodes.map((n) => n.name)).toEqual(["n0", "n1", "n2"]);
    expect(view.pools.find((p) => p.name === "h100")?.nodeNames).toEqual(["n0", "n1", "n2"]);
  });

  it("gives a pool's status over its ready nodes only", () => {
    const { ready, ...counts } = poolStatus(pools[0] as AcceleratorPool, view);
    expect(counts).toEqual({
      nodes: 3,
      readyNodes: 2,
      capacity: 16,
      allocated: 8,
      free: 8,
      largestFreePerNode: 6,
    });
    expect(ready.status).toBe("True");
    expect(poolStatus(pools[1] as AcceleratorPool, view).ready).toMatchObject({
      status: "False",
      reason: "NoNodes",
    });
  });
});

describe("reservations of admitted workloads", () => {
  const workload: Workload = {
    key: "TrainingJob/ns/job",
    priority: 0,
    creationTimestamp: 0,
    groups: [
      { name: "workers", pods: 2, cpuMillis: 2000, memoryBytes: 8 * 2 ** 30, accelerators: { count: 8 } },
    ],
  };
  const admission = { placements: [{ group: "workers", pool: "h100", nodes: ["n0", "n1"] }] };
  const poolOf = () => ({ resourceName: "nvidia.com/gpu", memoryGiB: 80 });

  it("holds every assigned node while no pod is bound", () => {
    const r = reservationFromAdmission(workload, admission, poolOf, []);
    expect(r.nodes.map((n) => [n.node, n.devices])).toEqual([
      ["n0", 8],
      ["n1", 8],
    ]);
  });

  it("holds the pool's device count per pod for an automatic shape", () => {
    const shaped: Workload = {
      ...workload,
      mode: "replicas",
      groups: [
        {
          ...(workload.groups[0] as Workload["groups"][number]),
          accelerators: { count: 1, replicaShape: { memoryGiB: 150 } },
        },
      ],
    };
    const r = reservationFromAdmission(shaped, admission, poolOf, []);
    expect(r.nodes.map((n) => [n.node, n.devices])).toEqual([
      ["n0", 2],
      ["n1", 2],
    ]);
  });

  it("releases what the workload's own bound pods already use", () => {
    const r = reservationFromAdmission(workload, admission, poolOf, [
      pod("job-0", "n0", 8),
      pod("job-1", undefined, 8, "Pending"),
    ]);
    expect(r.nodes.map((n) => [n.node, n.devices])).toEqual([["n1", 8]]);
  });

  it("for its team's quota: what it reserves plus what its bound pods use, nodes forgotten or not", () => {
    const pods = [pod("job-0", "n0", 8), pod("job-1", undefined, 8, "Pending")];
    expect(heldByWorkload(workload, admission, poolOf, pods).nodes.map((n) => [n.node, n.devices])).toEqual([
      ["n0", 8],
      ["n1", 8],
    ]);
    // A serving workload forgets the nodes of a pool once its pods there are bound.
    const forgotten = { placements: [{ group: "workers", pool: "h100", replicas: 2 }] };
    const bound = [pod("job-0", "n0", 8), pod("job-1", "n1", 8), pod("old", "n1", 8, "Failed")];
    expect(heldByWorkload(workload, forgotten, poolOf, bound).nodes.map((n) => [n.node, n.devices])).toEqual([
      ["n0", 8],
      ["n1", 8],
    ]);
  });

  it("holds again the share of a pod that terminated (a gang restart keeps its place)", () => {
    const r = reservationFromAdmission(workload, admission, poolOf, [
      pod("job-0", "n0", 8, "Failed"),
      pod("job-1", "n1", 8),
    ]);
    expect(r.nodes.map((n) => n.node)).toEqual(["n0"]);
  });
});

describe("admission status", () => {
  const admission = {
    key: "k",
    pendingPods: 0,
    groups: [
      {
        group: "server",
        pods: 3,
        placements: [
          {
            pool: "h100",
            vendor: "nvidia" as const,
            resourceName: "nvidia.com/gpu",
            pods: 2,
            nodes: [{ node: "n0", pods: 2, devices: 2, cpuMillis: 0, memoryBytes: 0 }],
          },
          {
            pool: "mi300x",
            vendor: "amd" as const,
            resourceName: "amd.com/gpu",
            pods: 1,
            nodes: [{ node: "m0", pods: 1, devices: 1, cpuMillis: 0, memoryBytes: 0 }],
          },
        ],
      },
    ],
  };
  it("lists a node per pod and keys replicas spanning pools by group and pool", () => {
    const s = toAdmissionStatus(admission, new Date("2026-01-01T00:00:00Z"));
    expect(s.admittedAt).toBe("2026-01-01T00:00:00.000Z");
    expect(s.placements).toEqual([
      {
        group: "server/h100",
        pool: "h100",
        vendor: "nvidia",
        resourceName: "nvidia.com/gpu",
        nodes: ["n0", "n0"],
        replicas: 2,
      },
      {
        group: "server/mi300x",
        pool: "mi300x",
        vendor: "amd",
        resourceName: "amd.com/gpu",
        nodes: ["m0"],
        replicas: 1,
      },
    ]);
  });
});

describe("pod placement", () => {
  const template: PodTemplateLike = {
    metadata: { labels: { app: "x" } },
    spec: {
      containers: [
        { name: "main", image: "train:cuda", env: [{ name: "HSA_FORCE_FINE_GRAIN_PCIE", value: "0" }] },
      ],
      tolerations: [{ key: "own", operator: "Exists" }],
    },
  };
  const amd = pool("mi300x", {
    vendor: "amd",
    tolerations: [{ key: "amd.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    nodeSelector: {
      matchLabels: { "sovereign.dev/pool": "mi300x" },
      matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }],
    },
  });
  const placed = placePod(template, {
    pool: amd,
    devicesPerPod: 8,
    node: "mi300x-1",
    images: { amd: "train:rocm" },
  });

  it("uses the vendor's image, resource name and environment, keeping the workload's own settings", () => {
    const main = placed.spec.containers[0];
    expect(main?.image).toBe("train:rocm");
    expect(main?.resources?.limits).toEqual({ "amd.com/gpu": "8" });
    expect(main?.resources?.requests).toEqual({ "amd.com/gpu": "8" });
    expect(main?.env).toEqual([{ name: "HSA_FORCE_FINE_GRAIN_PCIE", value: "0" }]);
  });

  it("confines the pod to the pool and to its reserved node", () => {
    expect(placed.spec.nodeSelector).toEqual({ "sovereign.dev/pool": "mi300x" });
    expect(
      placed.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ).toEqual([
      {
        matchExpressions: [
          { key: "zone", operator: "In", values: ["a"] },
          { key: "kubernetes.io/hostname", operator: "In", values: ["mi300x-1"] },
        ],
      },
    ]);
    expect(placed.spec.tolerations).toHaveLength(2);
    expect(placed.metadata?.labels).toEqual({ app: "x", "stack.sovereign.dev/pool": "mi300x" });
  });

  it("falls back to the main image for a vendor without its own, and leaves the input unchanged", () => {
    const nvidia = placePod(template, {
      pool: pool("h100"),
      devicesPerPod: 1,
      images: { amd: "train:rocm" },
    });
    expect(nvidia.spec.containers[0]?.image).toBe("train:cuda");
    expect(nvidia.spec.containers[0]?.env?.map((e) => e.name)).toContain("NVIDIA_DRIVER_CAPABILITIES");
    expect(template.spec.containers[0]).not.toHaveProperty("resources");
  });
});

describe("eviction of admitted gangs the scheduler cannot place", () => {
  const stuck: PodLike & { status: { conditions: unknown[] } } = {
    metadata: { name: "job-0" },
    spec: {},
    status: {
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/12 nodes are available",
        },
      ],
    },
  };
  const at = "2026-01-01T00:00:00Z";
  const t0 = Date.parse(at);
  it("waits out the timeout, then evicts with a reason", () => {
    expect(evictionCheck(at, [stuck as never], t0 + 1000, 60_000)).toEqual({
      evict: false,
      recheckAfterMs: 59_000,
    });
    const verdict = evictionCheck(at, [stuck as never], t0 + 61_000, 60_000);
    expect(verdict.evict).toBe(true);
    if (verdict.evict) expect(verdict.reason).toContain("0/12 nodes are available");
  });
  it("never evicts pods that were scheduled", () => {
    expect(evictionCheck(at, [pod("ok", "n0", 8) as never], t0 + 10_000_000, 60_000)).toEqual({
      evict: false,
    });
  });
});
