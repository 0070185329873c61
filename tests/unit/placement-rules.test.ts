// One table per placement rule: each row is a small cluster, a queue, and what must happen.
import { describe, expect, it } from "vitest";
import {
  type Admission,
  type NodeInput,
  type PlacementInput,
  type PlacementResult,
  type PodGroup,
  type PoolInput,
  podNodes,
  reservationFor,
  schedule,
  type Workload,
} from "../../controllers/placement/index.ts";

const GiB = 2 ** 30;

function pool(name: string, over: Partial<PoolInput> = {}): PoolInput {
  return {
    name,
    vendor: "nvidia",
    model: "H100-SXM",
    memoryGiB: 80,
    interconnect: "nvlink",
    resourceName: "nvidia.com/gpu",
    paused: false,
    tolerations: [],
    costPerDeviceHour: 2,
    nodeNames: [],
    ...over,
  };
}

function node(name: string, over: Partial<NodeInput> = {}): NodeInput {
  const devices = over.allocatableDevices ?? 8;
  return {
    name,
    ready: true,
    unschedulable: false,
    taints: [],
    allocatableDevices: devices,
    freeDevices: devices,
    allocatableCpuMillis: 96_000,
    freeCpuMillis: 96_000,
    allocatableMemoryBytes: 1024 * GiB,
    freeMemoryBytes: 1024 * GiB,
    ...over,
  };
}

/** A pool and its nodes in one go: nodes are named `${pool}-${i}`. */
function poolWithNodes(name: string, nodes: Partial<NodeInput>[], over: Partial<PoolInput> = {}) {
  const ns = nodes.map((n, i) => node(`${name}-${i}`, n));
  return { pool: pool(name, { ...over, nodeNames: ns.map((n) => n.name) }), nodes: ns };
}

function group(pods: number, devices: number, over: Partial<PodGroup> = {}): PodGroup {
  return {
    name: "main",
    pods,
    cpuMillis: 1000,
    memoryBytes: 4 * GiB,
    ...over,
    accelerators: { count: devices, ...over.accelerators },
  };
}

let clock = 0;
function workload(key: string, groups: PodGroup[], over: Partial<Workload> = {}): Workload {
  clock += 1000;
  return { key, priority: 0, creationTimestamp: clock, groups, ...over };
}

function cluster(...parts: { pool: PoolInput; nodes: NodeInput[] }[]) {
  return { pools: parts.map((p) => p.pool), nodes: parts.flatMap((p) => p.nodes) };
}

function run(input: PlacementInput, options = {}): PlacementResult {
  return schedule(input, options);
}

function admission(result: PlacementResult, key: string): Admission | undefined {
  return result.admitted.find((a) => a.key === key);
}

function poolOf(result: PlacementResult, key: string): string | undefined {
  return admission(result, key)?.groups[0]?.placements[0]?.pool;
}

/** node -> pods, over every admission. */
function podsPerNode(result: PlacementResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of result.admitted) {
    for (const g of a.groups) {
      for (const p of g.placements) for (const n of p.nodes) out[n.node] = (out[n.node] ?? 0) + n.pods;
    }
  }
  return out;
}

function state(result: PlacementResult, key: string): "admitted" | "queued" | "unschedulable" | "missing" {
  if (result.admitted.some((a) => a.key === key)) return "admitted";
  if (result.queued.some((q) => q.key === key)) return "queued";
  if (result.unschedulable.some((u) => u.key === key)) return "unschedulable";
  return "missing";
}

describe("static pool filters", () => {
  // One device per pool, so that with one single-device workload per pool each allowed pool is
  // used exactly once and the set of used pools is the set of allowed ones.
  const one = [{ allocatableDevices: 1 }];
  const h100 = poolWithNodes("h100", one, {
    vendor: "nvidia",
    model: "H100-SXM",
    memoryGiB: 80,
    interconnect: "nvlink",
  });
  const h200 = poolWithNodes("h200", one, {
    vendor: "nvidia",
    model: "H200-SXM",
    memoryGiB: 141,
    interconnect: "nvlink",
  });
  const mi300 = poolWithNodes("mi300x", one, {
    vendor: "amd",
    model: "MI300X",
    memoryGiB: 192,
    interconnect: "xgmi",
    resourceName: "amd.com/gpu",
  });
  const l4 = poolWithNodes("l4", one, { model: "L4", memoryGiB: 24, interconnect: "pcie" });
  const all = cluster(h100, h200, mi300, l4);

  const rows: { name: string; accelerators: PodGroup["accelerators"]; allowed: string[] }[] = [
    { name: "no filter: any pool", accelerators: { count: 1 }, allowed: ["h100", "h200", "mi300x", "l4"] },
    { name: "vendor amd", accelerators: { count: 1, vendors: ["amd"] }, allowed: ["mi300x"] },
    {
      name: "vendor nvidia or amd",
      accelerators: { count: 1, vendors: ["nvidia", "amd"] },
      allowed: ["h100", "h200", "mi300x", "l4"],
    },
    { name: "vendor intel: none", accelerators: { count: 1, vendors: ["intel"] }, allowed: [] },
    { name: "model glob H100*", accelerators: { count: 1, models: ["H100*"] }, allowed: ["h100"] },
    {
      name: "model glob is case-insensitive",
      accelerators: { count: 1, models: ["h?00-sxm"] },
      allowed: ["h100", "h200"],
    },
    { name: "model exact MI300X", accelerators: { count: 1, models: ["MI300X"] }, allowed: ["mi300x"] },
    { name: "model glob must match whole model", accelerators: { count: 1, models: ["H100"] }, allowed: [] },
    {
      name: "minimum memory 80",
      accelerators: { count: 1, minMemoryGiB: 80 },
      allowed: ["h100", "h200", "mi300x"],
    },
    {
      name: "minimum memory 100",
      accelerators: { count: 1, minMemoryGiB: 100 },
      allowed: ["h200", "mi300x"],
    },
    { name: "interconnect xgmi", accelerators: { count: 1, interconnect: "xgmi" }, allowed: ["mi300x"] },
    { name: "pin", accelerators: { count: 1, pools: ["l4"] }, allowed: ["l4"] },
    {
      name: "pin plus a filter that excludes it",
      accelerators: { count: 1, pools: ["l4"], minMemoryGiB: 80 },
      allowed: [],
    },
  ];

  it.each(rows)("$name", ({ accelerators, allowed }) => {
    const workloads = Array.from({ length: 4 }, (_, i) =>
      workload(`w${i}`, [group(1, accelerators.count, { accelerators })]),
    );
    const result = run({ ...all, workloads });
    const used = result.admitted.map((a) => a.groups[0]?.placements[0]?.pool ?? "").sort();
    expect(used).toEqual([...allowed].sort());
    if (allowed.length === 0) {
      expect(result.unschedulable.map((u) => u.code)).toEqual([
        "NoMatchingPool",
        "NoMatchingPool",
        "NoMatchingPool",
        "NoMatchingPool",
      ]);
    }
  });

  it("tells the vendor and resource name of the chosen pool", () => {
    const result = run({
      ...all,
      workloads: [workload("w", [group(1, 1, { accelerators: { count: 1, vendors: ["amd"] } })])],
    });
    expect(admission(result, "w")?.groups[0]?.placements[0]).toMatchObject({
      pool: "mi300x",
      vendor: "amd",
      resourceName: "amd.com/gpu",
    });
  });
});

describe("pins", () => {
  const a = poolWithNodes("a", [{}], { costPerDeviceHour: 5 });
  const b = poolWithNodes("b", [{}], { costPerDeviceHour: 1 });
  it.each([
    { pins: ["a", "b"], expected: "a" },
    { pins: ["b", "a"], expected: "b" },
    { pins: ["a"], expected: "a" },
  ])("pin order $pins is a preference: $expected", ({ pins, expected }) => {
    const result = run({
      ...cluster(a, b),
      workloads: [workload("w", [group(1, 8, { accelerators: { count: 8, pools: pins } })])],
    });
    expect(poolOf(result, "w")).toBe(expected);
  });

  it("falls back to the next pinned pool when the first is full", () => {
    const full = poolWithNodes("a", [{ freeDevices: 0 }]);
    const result = run({
      ...cluster(full, b),
      workloads: [workload("w", [group(1, 8, { accelerators: { count: 8, pools: ["a", "b"] } })])],
    });
    expect(poolOf(result, "w")).toBe("b");
  });

  it("a pin to a pool that does not exist is unschedulable and says so", () => {
    const result = run({
      ...cluster(a),
      workloads: [workload("w", [group(1, 1, { accelerators: { count: 1, pools: ["nope"] } })])],
    });
    expect(result.unschedulable[0]).toMatchObject({ key: "w", code: "NoMatchingPool" });
    expect(result.unschedulable[0]?.reason).toContain("pool nope does not exist");
  });
});

describe("paused pools", () => {
  it("admit nothing new; the workload waits with a reason naming the pause", () => {
    const p = poolWithNodes("mi300x", [{}], { paused: true, vendor: "amd" });
    const result = run({ ...cluster(p), workloads: [workload("w", [group(1, 8)])] });
    expect(result.admitted).toEqual([]);
    expect(result.queued[0]).toMatchObject({ key: "w", position: 1, code: "PoolPaused" });
    expect(result.queued[0]?.reason).toContain("pool mi300x has room for 0 (paused)");
  });

  it("the workload goes to another pool instead", () => {
    const paused = poolWithNodes("a", [{}], { paused: true, costPerDeviceHour: 0.1 });
    const open = poolWithNodes("b", [{}], { costPerDeviceHour: 9 });
    expect(poolOf(run({ ...cluster(paused, open), workloads: [workload("w", [group(1, 8)])] }), "w")).toBe(
      "b",
    );
  });
});

describe("taints and tolerations", () => {
  const dedicated = { key: "dedicated", value: "research", effect: "NoSchedule" as const };
  const rows = [
    { name: "untainted node", taints: [], pool: [], workload: [], admitted: true },
    { name: "NoSchedule, no toleration", taints: [dedicated], pool: [], workload: [], admitted: false },
    {
      name: "NoSchedule, workload tolerates (Equal)",
      taints: [dedicated],
      pool: [],
      workload: [
        { key: "dedicated", operator: "Equal" as const, value: "research", effect: "NoSchedule" as const },
      ],
      admitted: true,
    },
    {
      name: "NoSchedule, wrong value",
      taints: [dedicated],
      pool: [],
      workload: [{ key: "dedicated", operator: "Equal" as const, value: "other" }],
      admitted: false,
    },
    {
      name: "NoSchedule, pool tolerates (Exists)",
      taints: [dedicated],
      pool: [{ key: "dedicated", operator: "Exists" as const }],
      workload: [],
      admitted: true,
    },
    {
      name: "empty key with Exists tolerates everything",
      taints: [dedicated],
      pool: [],
      workload: [{ operator: "Exists" as const }],
      admitted: true,
    },
    {
      name: "toleration for another effect",
      taints: [dedicated],
      pool: [],
      workload: [{ key: "dedicated", operator: "Exists" as const, effect: "NoExecute" as const }],
      admitted: false,
    },
    {
      name: "NoExecute needs a toleration too",
      taints: [{ key: "gpu", effect: "NoExecute" as const }],
      pool: [],
      workload: [],
      admitted: false,
    },
    {
      name: "PreferNoSchedule never blocks",
      taints: [{ key: "gpu", effect: "PreferNoSchedule" as const }],
      pool: [],
      workload: [],
      admitted: true,
    },
    {
      name: "two taints, one tolerated by the pool, one by the workload",
      taints: [dedicated, { key: "gpu", effect: "NoSchedule" as const }],
      pool: [{ key: "gpu", operator: "Exists" as const }],
      workload: [{ key: "dedicated", operator: "Exists" as const }],
      admitted: true,
    },
  ];
  it.each(rows)("$name", ({ taints, pool: poolTolerations, workload: tolerations, admitted }) => {
    const p = poolWithNodes("p", [{ taints }], { tolerations: poolTolerations });
    const result = run({ ...cluster(p), workloads: [workload("w", [group(1, 1)], { tolerations })] });
    expect(state(result, "w")).toBe(admitted ? "admitted" : "unschedulable");
    if (!admitted) expect(result.unschedulable[0]?.code).toBe("Untolerated");
  });

  it("only the tolerated nodes of a pool are used", () => {
    const p = poolWithNodes("p", [{ taints: [dedicated] }, {}, { taints: [dedicated] }]);
    const result = run({ ...cluster(p), workloads: [workload("w", [group(3, 8)])] });
    expect(state(result, "w")).toBe("unschedulable");
    const fits = run({ ...cluster(p), workloads: [workload("v", [group(1, 8)])] });
    expect(podsPerNode(fits)).toEqual({ "p-1": 1 });
  });

  it("a condition taint (not-ready) queues instead of declaring the workload unschedulable", () => {
    const p = poolWithNodes("p", [
      { ready: false, taints: [{ key: "node.kubernetes.io/not-ready", effect: "NoExecute" }] },
    ]);
    const result = run({ ...cluster(p), workloads: [workload("w", [group(1, 8)])] });
    expect(result.queued[0]).toMatchObject({ key: "w", code: "NoReadyNodes" });
  });
});

describe("node state", () => {
  it.each([
    { name: "not ready", over: { ready: false } },
    { name: "cordoned", over: { unschedulable: true } },
  ])("a $name node takes nothing, and the workload waits rather than being unschedulable", ({ over }) => {
    const p = poolWithNodes("p", [over, {}]);
    const result = run({
      ...cluster(p),
      workloads: [workload("a", [group(1, 8)]), workload("b", [group(1, 8)])],
    });
    expect(podsPerNode(result)).toEqual({ "p-1": 1 });
    expect(state(result, "b")).toBe("queued");
  });

  it("a node listed by two pools is one node: its devices are not counted twice", () => {
    const shared = node("shared");
    const a = pool("a", { nodeNames: ["shared"] });
    const b = pool("b", { nodeNames: ["shared"] });
    const result = run({
      pools: [a, b],
      nodes: [shared],
      workloads: [
        workload("x", [group(1, 8, { accelerators: { count: 8, pools: ["a"] } })]),
        workload("y", [group(1, 8, { accelerators: { count: 8, pools: ["b"] } })]),
      ],
    });
    expect(state(result, "x")).toBe("admitted");
    expect(state(result, "y")).toBe("queued");
  });

  it("an absurd device count neither breaks the index nor loses room", () => {
    const p = poolWithNodes("p", [{ allocatableDevices: 5000 }]);
    const result = run({
      ...cluster(p),
      workloads: [workload("w", [group(3, 1500, { cpuMillis: 1, memoryBytes: 1 })])],
    });
    expect(podsPerNode(result)).toEqual({ "p-0": 3 });
  });

  it("nodes a pool lists that do not exist are ignored", () => {
    const p = poolWithNodes("p", [{}]);
    const result = run({
      pools: [{ ...p.pool, nodeNames: ["ghost", ...p.pool.nodeNames] }],
      nodes: p.nodes,
      workloads: [workload("w", [group(1, 8)])],
    });
    expect(podsPerNode(result)).toEqual({ "p-0": 1 });
  });
});

describe("node-by-node fit", () => {
  it.each([
    {
      name: "devices",
      over: {},
      pod: { devices: 8, cpuMillis: 1000, memoryBytes: GiB },
      nodes: 2,
      pods: 2,
      fits: true,
    },
    {
      name: "devices summed across nodes do not make a 16-device pod fit",
      over: {},
      pod: { devices: 16, cpuMillis: 1, memoryBytes: 1 },
      nodes: 2,
      pods: 1,
      fits: false,
    },
    {
      name: "cpu per node",
      over: { freeCpuMillis: 10_000 },
      pod: { devices: 1, cpuMillis: 6_000, memoryBytes: 1 },
      nodes: 2,
      pods: 3,
      fits: false,
    },
    {
      name: "cpu per node, enough",
      over: { freeCpuMillis: 12_000 },
      pod: { devices: 1, cpuMillis: 6_000, memoryBytes: 1 },
      nodes: 2,
      pods: 4,
      fits: true,
    },
    {
      name: "memory per node",
      over: { freeMemoryBytes: 100 * GiB },
      pod: { devices: 1, cpuMillis: 1, memoryBytes: 60 * GiB },
      nodes: 2,
      pods: 3,
      fits: false,
    },
    {
      name: "several pods share a node",
      over: {},
      pod: { devices: 2, cpuMillis: 1000, memoryBytes: GiB },
      nodes: 1,
      pods: 4,
      fits: true,
    },
    {
      name: "but not beyond its devices",
      over: {},
      pod: { devices: 2, cpuMillis: 1000, memoryBytes: GiB },
      nodes: 1,
      pods: 5,
      fits: false,
    },
    {
      name: "CPU-only pods",
      over: { freeDevices: 0 },
      pod: { devices: 0, cpuMillis: 32_000, memoryBytes: GiB },
      nodes: 1,
      pods: 3,
      fits: true,
    },
  ])("$name", ({ over, pod, nodes, pods, fits }) => {
    const p = poolWithNodes(
      "p",
      Array.from({ length: nodes }, () => over),
    );
    const g = group(pods, pod.devices, { cpuMillis: pod.cpuMillis, memoryBytes: pod.memoryBytes });
    const result = run({ ...cluster(p), workloads: [workload("w", [g])] });
    expect(state(result, "w") === "admitted").toBe(fits);
    const a = admission(result, "w");
    if (a) {
      const placement = a.groups[0]?.placements[0];
      expect(placement?.pods).toBe(pods);
      for (const n of placement?.nodes ?? []) {
        expect(n.devices).toBe(n.pods * pod.devices);
        expect(n.cpuMillis).toBe(n.pods * pod.cpuMillis);
      }
    }
  });

  // The reason describes the end of the pass, after "small" took the three free nodes.
  it("a gang is all or nothing: 3 of 4 pods fitting admits none and reserves nothing", () => {
    const p = poolWithNodes("p", [{}, {}, {}, { freeDevices: 0 }]);
    const result = run({
      ...cluster(p),
      workloads: [workload("big", [group(4, 8)]), workload("small", [group(3, 8)])],
    });
    expect(state(result, "big")).toBe("queued");
    expect(state(result, "small")).toBe("admitted");
    expect(result.queued[0]?.reason).toContain("pool p has room for 0");
  });

  it("each group of a gang gets one pool, possibly different ones, or the whole gang waits", () => {
    const gpu = poolWithNodes("gpu", [{}, {}]);
    const tpu = poolWithNodes("tpu", [{ allocatableDevices: 4 }, { allocatableDevices: 4 }], {
      vendor: "google",
      model: "v5e",
      memoryGiB: 16,
      interconnect: "ici",
    });
    const ray = workload("ray", [
      group(2, 8, { name: "gpu", accelerators: { count: 8, vendors: ["nvidia"] } }),
      group(2, 4, { name: "tpu", accelerators: { count: 4, vendors: ["google"] } }),
      group(1, 0, { name: "head", accelerators: { count: 0, vendors: ["nvidia"] } }),
    ]);
    const result = run({ ...cluster(gpu, tpu), workloads: [ray] });
    const groups = admission(result, "ray")?.groups ?? [];
    expect(groups.map((g) => [g.group, g.placements.map((p) => p.pool)])).toEqual([
      ["gpu", ["gpu"]],
      ["head", ["gpu"]],
      ["tpu", ["tpu"]],
    ]);
    const tooBig = workload("ray2", [
      group(2, 8, { name: "gpu" }),
      group(3, 4, { name: "tpu", accelerators: { count: 4, vendors: ["google"] } }),
    ]);
    const second = run({ ...cluster(gpu, tpu), workloads: [tooBig] });
    expect(second.admitted).toEqual([]);
    expect(second.unschedulable[0]?.reason).toContain('group "tpu"');
  });

  it("two groups of one gang do not count the same devices", () => {
    const p = poolWithNodes("p", [{}, {}, { freeDevices: 0 }]);
    const w = workload("w", [group(1, 8, { name: "a" }), group(2, 8, { name: "b" })]);
    const result = run({ ...cluster(p), workloads: [w] });
    expect(state(result, "w")).toBe("queued");
    expect(result.queued[0]?.reason).toContain("each group has room on its own but not all at once");
    const never = run({ ...cluster(poolWithNodes("p", [{}, {}])), workloads: [w] });
    expect(never.unschedulable[0]?.reason).toContain(
      "each fit an empty cluster on their own, but not all at once",
    );
  });
});

describe("reservations", () => {
  it("capacity reserved by admitted-but-unbound workloads is not offered again", () => {
    const p = poolWithNodes("p", [{}, {}]);
    const reservations = [
      { key: "old", nodes: [{ node: "p-0", devices: 8, cpuMillis: 1000, memoryBytes: GiB }] },
    ];
    const result = run({
      ...cluster(p),
      reservations,
      workloads: [workload("a", [group(1, 8)]), workload("b", [group(1, 8)])],
    });
    expect(podsPerNode(result)).toEqual({ "p-1": 1 });
    expect(state(result, "b")).toBe("queued");
  });

  it("two workloads in one pass never share the same free devices", () => {
    const p = poolWithNodes("p", [{ freeDevices: 4 }]);
    const result = run({
      ...cluster(p),
      workloads: [workload("a", [group(1, 4)]), workload("b", [group(1, 4)])],
    });
    expect(state(result, "a")).toBe("admitted");
    expect(state(result, "b")).toBe("queued");
  });

  it("reservationFor turns an admission into the reservation to pass back next time", () => {
    const p = poolWithNodes("p", [{}, {}]);
    const first = run({ ...cluster(p), workloads: [workload("a", [group(3, 4)])] });
    const a = admission(first, "a") as Admission;
    const reservation = reservationFor(a);
    expect(reservation.key).toBe("a");
    expect(reservation.nodes.reduce((n, r) => n + r.devices, 0)).toBe(12);
    const second = run({
      ...cluster(p),
      reservations: [reservation],
      workloads: [workload("b", [group(1, 8)]), workload("c", [group(1, 4)])],
    });
    expect(state(second, "b")).toBe("queued");
    expect(state(second, "c")).toBe("admitted");
  });

  it("podNodes gives one node per pod, in node order", () => {
    const p = poolWithNodes("p", [{ freeDevices: 2 }, { freeDevices: 4 }]);
    const result = run({ ...cluster(p), workloads: [workload("a", [group(3, 2)])] });
    const placement = admission(result, "a")?.groups[0]?.placements[0];
    expect(placement && podNodes(placement)).toEqual(["p-0", "p-1", "p-1"]);
  });
});

describe("queue order", () => {
  const one = () => poolWithNodes("p", [{}]);
  it.each([
    {
      name: "higher priority first",
      workloads: [
        { key: "low", priority: 0, creationTimestamp: 1 },
        { key: "high", priority: 10, creationTimestamp: 2 },
      ],
      winner: "high",
    },
    {
      name: "older first among equal priority",
      workloads: [
        { key: "new", priority: 0, creationTimestamp: 2 },
        { key: "old", priority: 0, creationTimestamp: 1 },
      ],
      winner: "old",
    },
    {
      name: "key breaks ties",
      workloads: [
        { key: "b", priority: 0, creationTimestamp: 1 },
        { key: "a", priority: 0, creationTimestamp: 1 },
      ],
      winner: "a",
    },
  ])("$name", ({ workloads, winner }) => {
    const result = run({
      ...cluster(one()),
      workloads: workloads.map((w) => ({ ...w, groups: [group(1, 8)] })),
    });
    expect(result.admitted.map((a) => a.key)).toEqual([winner]);
    expect(result.queued.map((q) => q.position)).toEqual([1]);
  });

  it("a big job at the head does not block smaller ones that fit", () => {
    const p = poolWithNodes("p", [{}, {}, { freeDevices: 0 }, { freeDevices: 0 }]);
    const result = run({
      ...cluster(p),
      workloads: [
        workload("big", [group(3, 8)], { priority: 10 }),
        workload("small", [group(1, 8)]),
        workload("tiny", [group(2, 1)]),
      ],
    });
    expect(result.admitted.map((a) => a.key)).toEqual(["small", "tiny"]);
    expect(result.queued).toMatchObject([{ key: "big", position: 1 }]);
  });

  it("queue positions count only the workloads still queued, in queue order", () => {
    const p = poolWithNodes("p", [{}]);
    const workloads = [
      workload("a", [group(1, 8)]),
      workload("b", [group(1, 8)]),
      workload("never", [group(1, 32)]),
      workload("c", [group(1, 8)], { priority: -1 }),
      workload("d", [group(1, 8)]),
    ];
    const result = run({ ...cluster(p), workloads });
    expect(result.admitted.map((a) => a.key)).toEqual(["a"]);
    expect(result.queued.map((q) => [q.key, q.position])).toEqual([
      ["b", 1],
      ["d", 2],
      ["c", 3],
    ]);
    expect(result.unschedulable.map((u) => u.key)).toEqual(["never"]);
  });
});

describe("scoring", () => {
  it("prefers the node whose free devices match the request exactly", () => {
    const p = poolWithNodes("p", [
      { freeDevices: 8 },
      { freeDevices: 5 },
      { freeDevices: 4 },
      { freeDevices: 6 },
    ]);
    const result = run({ ...cluster(p), workloads: [workload("a", [group(1, 4)])] });
    expect(podsPerNode(result)).toEqual({ "p-2": 1 });
  });

  it("fills holes before breaking into whole nodes", () => {
    const p = poolWithNodes("p", [{ freeDevices: 8 }, { freeDevices: 2 }, { freeDevices: 2 }]);
    const result = run({ ...cluster(p), workloads: [workload("a", [group(2, 2)])] });
    expect(podsPerNode(result)).toEqual({ "p-1": 1, "p-2": 1 });
  });

  it("without an exact fit takes the smallest node that fits", () => {
    const p = poolWithNodes("p", [{ freeDevices: 7 }, { freeDevices: 5 }, { freeDevices: 6 }]);
    const result = run({ ...cluster(p), workloads: [workload("a", [group(1, 4)])] });
    expect(podsPerNode(result)).toEqual({ "p-1": 1 });
  });

  it("prefers the pool where the placement leaves fewer stranded devices, even if it costs more", () => {
    const cheap = poolWithNodes("cheap", [{ freeDevices: 8 }], { costPerDeviceHour: 1 });
    const holey = poolWithNodes("holey", [{ freeDevices: 4 }], { costPerDeviceHour: 3 });
    expect(poolOf(run({ ...cluster(cheap, holey), workloads: [workload("a", [group(1, 4)])] }), "a")).toBe(
      "holey",
    );
  });

  it("among equally good fits, the cheaper pool, then the pool name", () => {
    const a = poolWithNodes("a", [{}], { costPerDeviceHour: 3 });
    const b = poolWithNodes("b", [{}], { costPerDeviceHour: 1 });
    const c = poolWithNodes("c", [{}], { costPerDeviceHour: 1 });
    const d = poolWithNodes("d", [{}], { costPerDeviceHour: undefined });
    expect(poolOf(run({ ...cluster(a, b, c, d), workloads: [workload("w", [group(1, 8)])] }), "w")).toBe("b");
    expect(poolOf(run({ ...cluster(a, d), workloads: [workload("w", [group(1, 8)])] }), "w")).toBe("a");
  });

  it("lands on MI300X when the H100 pool is full, for any vendor with at least 80 GiB", () => {
    const h100 = poolWithNodes("h100", [{ freeDevices: 0 }], { costPerDeviceHour: 2 });
    const mi = poolWithNodes("mi300x", [{}], {
      vendor: "amd",
      model: "MI300X",
      memoryGiB: 192,
      resourceName: "amd.com/gpu",
      costPerDeviceHour: 3,
    });
    const result = run({
      ...cluster(h100, mi),
      workloads: [workload("w", [group(1, 8, { accelerators: { count: 8, minMemoryGiB: 80 } })])],
    });
    expect(admission(result, "w")?.groups[0]?.placements[0]).toMatchObject({ pool: "mi300x", vendor: "amd" });
  });
});

describe("replicas", () => {
  const inference = (
    pods: number,
    over: Partial<Workload> = {},
    accelerators: PodGroup["accelerators"] = { count: 1 },
  ) =>
    workload("svc", [group(pods, accelerators.count, { name: "server", accelerators })], {
      mode: "replicas",
      ...over,
    });

  it("fills the cheapest pool, then spills to the next, with per-pool counts", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 2 }], { costPerDeviceHour: 1 });
    const b = poolWithNodes("b", [{ allocatableDevices: 4 }], { costPerDeviceHour: 2 });
    const result = run({ ...cluster(a, b), workloads: [inference(5)] });
    const g = admission(result, "svc")?.groups[0];
    expect(g?.placements.map((p) => [p.pool, p.pods])).toEqual([
      ["a", 2],
      ["b", 3],
    ]);
    expect(admission(result, "svc")?.pendingPods).toBe(0);
  });

  it("a pool that takes everything left wins over filling a cheaper one that cannot", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 2 }], { costPerDeviceHour: 1 });
    const b = poolWithNodes("b", [{ allocatableDevices: 8 }], { costPerDeviceHour: 2 });
    const result = run({ ...cluster(a, b), workloads: [inference(4)] });
    expect(admission(result, "svc")?.groups[0]?.placements.map((p) => [p.pool, p.pods])).toEqual([["b", 4]]);
  });

  it("pin order comes first", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 2 }], { costPerDeviceHour: 1 });
    const b = poolWithNodes("b", [{ allocatableDevices: 2 }], { costPerDeviceHour: 2 });
    const result = run({ ...cluster(a, b), workloads: [inference(3, {}, { count: 1, pools: ["b", "a"] })] });
    expect(admission(result, "svc")?.groups[0]?.placements.map((p) => [p.pool, p.pods])).toEqual([
      ["b", 2],
      ["a", 1],
    ]);
  });

  it("admits what fits and reports the rest as pending with a reason", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 2 }]);
    const result = run({ ...cluster(a), workloads: [inference(5)] });
    const adm = admission(result, "svc");
    expect(adm?.groups[0]?.pods).toBe(2);
    expect(adm?.pendingPods).toBe(3);
    expect(adm?.pendingReason).toContain("2 of 5 pods admitted");
    expect(result.queued).toEqual([]);
  });

  it("stays queued when fewer than minPods fit", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 8, freeDevices: 2 }]);
    const result = run({ ...cluster(a), workloads: [inference(5, { minPods: 3 })] });
    expect(state(result, "svc")).toBe("queued");
    expect(result.queued[0]?.reason).toContain("at least 3 of 5 pods");
  });

  it("is unschedulable only when even empty pools could not hold minPods", () => {
    const a = poolWithNodes("a", [{ allocatableDevices: 2 }]);
    const result = run({ ...cluster(a), workloads: [inference(5, { minPods: 3 })] });
    expect(result.unschedulable[0]).toMatchObject({ key: "svc", code: "ExceedsPoolCapacity" });
  });
});

describe("elastic gangs (a size range)", () => {
  // Nodes of 8 devices, one pod per node (8 devices each): the pod count is the node count.
  const elastic = (key: string, min: number, max: number, over: Partial<Workload> = {}) =>
    workload(key, [group(max, 8)], { minPods: min, ...over });

  it("takes the largest size that fits on one pool, in one pass, and leaves nothing pending", () => {
    const a = poolWithNodes("a", [{}, {}, {}, { freeDevices: 0 }]);
    const result = run({ ...cluster(a), workloads: [elastic("tj", 2, 6)] });
    const adm = admission(result, "tj");
    expect(adm?.groups[0]?.pods).toBe(3);
    expect(adm?.groups[0]?.placements).toHaveLength(1);
    expect(adm?.pendingPods).toBe(0);
  });

  it("prefers the pool with room for more, then the usual order among equal sizes", () => {
    const small = poolWithNodes("a-small", [{}, {}], { costPerDeviceHour: 1 });
    const big = poolWithNodes("b-big", [{}, {}, {}], { costPerDeviceHour: 9 });
    const result = run({ ...cluster(small, big), workloads: [elastic("tj", 2, 4)] });
    expect(admission(result, "tj")?.groups[0]?.placements.map((p) => [p.pool, p.pods])).toEqual([
      ["b-big", 3],
    ]);
    const even = run({
      ...cluster(small, poolWithNodes("b-big", [{}, {}], { costPerDeviceHour: 9 })),
      workloads: [elastic("tj", 2, 4)],
    });
    expect(admission(even, "tj")?.groups[0]?.placements[0]?.pool).toBe("a-small");
  });

  it("never splits across pools, and waits when fewer than minPods fit anywhere", () => {
    const a = poolWithNodes("a", [{}]);
    const b = poolWithNodes("b", [{}]);
    const result = run({ ...cluster(a, b), workloads: [elastic("tj", 2, 4)] });
    expect(state(result, "tj")).toBe("unschedulable");
    expect(result.unschedulable[0]?.reason).toContain("at least 2 of 4 pods");
    const busy = poolWithNodes("c", [{ freeDevices: 0 }, {}, {}]);
    const queued = run({ ...cluster(busy), workloads: [elastic("tj", 3, 4)] });
    expect(state(queued, "tj")).toBe("queued");
    expect(queued.queued[0]?.reason).toContain("at least 3 of 4 pods");
  });

  it("two elastic gangs in one pass do not count the same devices", () => {
    const a = poolWithNodes("a", [{}, {}, {}, {}, {}]);
    const result = run({ ...cluster(a), workloads: [elastic("first", 2, 4), elastic("second", 1, 4)] });
    expect(admission(result, "first")?.groups[0]?.pods).toBe(4);
    expect(admission(result, "second")?.groups[0]?.pods).toBe(1);
  });

  it("a size range over several groups is an invalid request", () => {
    const result = run({
      ...cluster(poolWithNodes("a", [{}])),
      workloads: [workload("w", [group(1, 1), group(1, 1, { name: "other" })], { minPods: 1 })],
    });
    expect(result.unschedulable[0]).toMatchObject({ code: "InvalidRequest" });
    expect(result.unschedulable[0]?.reason).toContain("minPods of a gang");
  });
});

describe("unschedulable ever", () => {
  const p = () => poolWithNodes("h100", [{}, {}], { memoryGiB: 80 });
  it.each([
    {
      name: "more devices per pod than any node has",
      g: group(1, 16),
      code: "ExceedsNodeCapacity",
      text: "largest node of the matching pools has 8 devices",
    },
    {
      name: "more CPU per pod than any node has",
      g: group(1, 1, { cpuMillis: 200_000 }),
      code: "ExceedsNodeCapacity",
      text: "has 96 CPU",
    },
    {
      name: "more memory per pod than any node has",
      g: group(1, 1, { memoryBytes: 2048 * GiB }),
      code: "ExceedsNodeCapacity",
      text: "has 1Ti memory",
    },
    {
      name: "more pods than the pool has nodes",
      g: group(3, 8),
      code: "ExceedsPoolCapacity",
      text: "has room for 2",
    },
    {
      name: "no pool with enough device memory",
      g: group(1, 1, { accelerators: { count: 1, minMemoryGiB: 141 } }),
      code: "NoMatchingPool",
      text: "h100 (80 GiB per device)",
    },
    {
      name: "no pool of the vendor",
      g: group(1, 1, { accelerators: { count: 1, vendors: ["google"] } }),
      code: "NoMatchingPool",
      text: "h100 (vendor nvidia)",
    },
  ])("$name", ({ g, code, text }) => {
    const result = run({ ...cluster(p()), workloads: [workload("w", [g])] });
    expect(result.unschedulable).toHaveLength(1);
    expect(result.unschedulable[0]?.code).toBe(code);
    expect(result.unschedulable[0]?.reason).toContain(text);
  });

  it("busy, paused, not-ready or cordoned capacity still counts as could-ever-fit", () => {
    const busy = poolWithNodes("busy", [{ freeDevices: 0 }, { ready: false }, { unschedulable: true }], {
      paused: true,
    });
    const result = run({ ...cluster(busy), workloads: [workload("w", [group(3, 8)])] });
    expect(state(result, "w")).toBe("queued");
  });

  it("no pools at all", () => {
    const result = run({ pools: [], nodes: [], workloads: [workload("w", [group(1, 1)])] });
    expect(result.unschedulable[0]).toMatchObject({
      code: "NoMatchingPool",
      reason: expect.stringContaining("no AcceleratorPool exists"),
    });
  });

  it("invalid requests are unschedulable with the reason", () => {
    const result = run({
      ...cluster(p()),
      workloads: [
        workload("fraction", [group(1.5, 1)]),
        workload("negative", [group(1, -1)]),
        workload("empty", []),
        workload("twice", [group(1, 1, { name: "x" }), group(1, 1, { name: "x" })]),
        workload("replicas2", [group(1, 1, { name: "a" }), group(1, 1, { name: "b" })], { mode: "replicas" }),
      ],
    });
    expect(result.unschedulable.map((u) => [u.key, u.code])).toEqual([
      ["fraction", "InvalidRequest"],
      ["negative", "InvalidRequest"],
      ["empty", "InvalidRequest"],
      ["twice", "InvalidRequest"],
      ["replicas2", "InvalidRequest"],
    ]);
  });

  it("duplicate workload keys or node names are a caller bug and throw", () => {
    expect(() =>
      run({ ...cluster(p()), workloads: [workload("w", [group(1, 1)]), workload("w", [group(1, 1)])] }),
    ).toThrow(/appears twice/);
    expect(() => run({ pools: [], nodes: [node("n"), node("n")], workloads: [] })).toThrow(
      /node "n" appears twice/,
    );
  });
});

describe("starvation guard", () => {
  const hour = 3_600_000;
  it("a gang waiting too long holds the pool it is closest to, so smaller jobs stop taking it", () => {
    const p = poolWithNodes("p", [{ freeDevices: 4 }, {}]);
    const q = poolWithNodes("q", [{ freeDevices: 0 }]);
    const input = {
      ...cluster(p, q),
      now: 10 * hour,
      workloads: [
        workload("big", [group(2, 8)], { priority: 1, creationTimestamp: 0 }),
        workload("small", [group(1, 4)], { creationTimestamp: 9 * hour }),
      ],
    };
    const guarded = run(input, { starvationAfterMs: 2 * hour });
    expect(guarded.holds).toEqual([{ pool: "p", key: "big" }]);
    expect(guarded.admitted).toEqual([]);
    expect(guarded.queued.map((q) => [q.key, q.code, q.starving])).toEqual([
      ["big", "InsufficientCapacity", true],
      ["small", "InsufficientCapacity", false],
    ]);
    expect(guarded.queued[0]?.reason).toContain("pool p is held for it");
    expect(guarded.queued[1]?.reason).toContain("held for big");

    const unguarded = run(input);
    expect(unguarded.holds).toEqual([]);
    expect(unguarded.admitted.map((a) => a.key)).toEqual(["small"]);
  });

  it("a workload whose only pool is held says so in its code", () => {
    const p = poolWithNodes("p", [{ freeDevices: 4 }, {}]);
    const result = run(
      {
        ...cluster(p),
        now: 10 * hour,
        workloads: [
          workload("big", [group(2, 8)], { creationTimestamp: 0 }),
          workload("small", [group(1, 4)], { creationTimestamp: 9 * hour }),
        ],
      },
      { starvationAfterMs: hour },
    );
    expect(result.queued.map((q) => [q.key, q.code])).toEqual([
      ["big", "InsufficientCapacity"],
      ["small", "PoolHeld"],
    ]);
  });

  it("one starving gang holds at a time unless maxHolders says more; the next one is told why it waits", () => {
    const p = poolWithNodes("p", [{ freeDevices: 4 }, {}]);
    const q = poolWithNodes("q", [{ freeDevices: 4 }, {}]);
    const input = {
      ...cluster(p, q),
      now: 10 * hour,
      workloads: [
        workload("first", [group(2, 8)], { creationTimestamp: 0 }),
        workload("second", [group(2, 8)], { creationTimestamp: 1 }),
      ],
    };
    const one = run(input, { starvationAfterMs: hour });
    expect(one.holds.map((h) => h.key)).toEqual(["first"]);
    expect(one.queued[1]?.reason).toContain("it holds pools once first, starving ahead of it, is admitted");
    const two = run(input, { starvationAfterMs: hour, maxHolders: 2 });
    expect(two.holds).toEqual([
      { pool: "p", key: "first" },
      { pool: "q", key: "second" },
    ]);
  });

  it("a workload ahead of the holder is not affected", () => {
    const p = poolWithNodes("p", [{ freeDevices: 4 }, {}]);
    const result = run(
      {
        ...cluster(p),
        now: 10 * hour,
        workloads: [
          workload("urgent", [group(1, 4)], { priority: 5, creationTimestamp: 9 * hour }),
          workload("big", [group(2, 8)], { creationTimestamp: 0 }),
        ],
      },
      { starvationAfterMs: hour },
    );
    expect(result.admitted.map((a) => a.key)).toEqual(["urgent"]);
    expect(result.holds).toEqual([{ pool: "p", key: "big" }]);
  });
});

describe("reasons", () => {
  it("say what is needed and what each matching pool has", () => {
    const h100 = poolWithNodes("h100", [
      { freeDevices: 8 },
      { freeDevices: 8 },
      { freeDevices: 2 },
      { freeDevices: 0 },
    ]);
    const mi = poolWithNodes("mi300x", [{}, {}, {}, {}], {
      vendor: "amd",
      model: "MI300X",
      memoryGiB: 192,
      paused: true,
    });
    const w = workload("train", [
      group(4, 8, {
        cpuMillis: 32_000,
        memoryBytes: 256 * GiB,
        accelerators: { count: 8, minMemoryGiB: 80 },
      }),
    ]);
    const result = run({ ...cluster(h100, mi), workloads: [w] });
    expect(result.queued[0]?.reason).toBe(
      "needs 4 pods × 8 devices (≥80 GiB), 32 CPU and 256Gi memory each; pool h100 has room for 2 on 2 nodes, pool mi300x has room for 0 (paused)",
    );
    expect(result.queued[0]?.code).toBe("InsufficientCapacity");
  });

  it("list a few pools and count the rest", () => {
    const parts = ["a", "b", "c", "d", "e", "f"].map((n) => poolWithNodes(n, [{ freeDevices: 0 }]));
    const result = run(
      { ...cluster(...parts), workloads: [workload("w", [group(1, 8)])] },
      { maxPoolsInReason: 2 },
    );
    expect(result.queued[0]?.reason).toBe(
      "needs 1 pod × 8 devices, 1 CPU and 4Gi memory each; pool a has room for 0, pool b has room for 0, 4 more matching pools with no room",
    );
  });
});
