// The automatic replica shape: the per-pool device count rule, and the engine placing replicas
// of different shapes on pools of different vendors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_DEVICES_PER_REPLICA,
  type NodeInput,
  type PoolInput,
  type ReplicaShape,
  schedule,
  shapeOnDevices,
  type Workload,
} from "../../controllers/placement/index.ts";
import type { Vendor } from "../../crds/vendors.ts";

const GiB = 2 ** 30;

/** A pool of two nodes, `${name}-0` and `${name}-1`. */
function pool(name: string, vendor: Vendor, memoryGiB: number, costPerDeviceHour?: number): PoolInput {
  const resourceName =
    vendor === "nvidia" ? "nvidia.com/gpu" : vendor === "amd" ? "amd.com/gpu" : "habana.ai/gaudi";
  const nodeNames = [`${name}-0`, `${name}-1`];
  return {
    name,
    vendor,
    model: name,
    memoryGiB,
    resourceName,
    paused: false,
    tolerations: [],
    nodeNames,
    costPerDeviceHour,
  };
}

/** Idle nodes of `devices` each, with CPU and memory to spare. */
function nodesOf(p: PoolInput, devices = 8): NodeInput[] {
  const cpu = 96_000;
  const memory = 1024 * GiB;
  const idle = { ready: true, unschedulable: false, taints: [] };
  const free = { freeDevices: devices, freeCpuMillis: cpu, freeMemoryBytes: memory };
  const alloc = { allocatableDevices: devices, allocatableCpuMillis: cpu, allocatableMemoryBytes: memory };
  return p.nodeNames.map((name) => ({ name, ...idle, ...free, ...alloc }));
}

function service(pods: number, replicaShape: ReplicaShape, key = "svc"): Workload {
  return {
    key,
    priority: 0,
    creationTimestamp: 1,
    mode: "replicas",
    minPods: 1,
    groups: [
      { name: "server", pods, cpuMillis: 1000, memoryBytes: GiB, accelerators: { count: 1, replicaShape } },
    ],
  };
}

/** [pool, devices per replica] of one replica placed on idle pools. */
function shapesChosen(pools: PoolInput[], shape: ReplicaShape) {
  const result = schedule({ pools, nodes: pools.flatMap((p) => nodesOf(p)), workloads: [service(1, shape)] });
  return result.admitted[0]?.groups[0]?.placements.map((p) => [p.pool, p.devicesPerPod]);
}

const devices = (memoryGiB: number, shape: ReplicaShape) => {
  const v = shapeOnDevices(memoryGiB, shape);
  return "devices" in v ? v.devices : v.why;
};

describe("shapeOnDevices", () => {
  it.each([
    [80, 80, 1],
    [80, 80.01, 2],
    [80, 160, 2],
    [80, 160.5, 4],
    [80, 162.7, 4],
    [192, 162.7, 1],
    [192, 192, 1],
    [192, 193, 2],
    [16, 1024, 64],
  ])("%d GiB devices, %d GiB replica: %d devices", (memory, need, expected) => {
    expect(devices(memory, { memoryGiB: need })).toBe(expected);
  });

  it("refuses more than the maximum and says what it would need", () => {
    expect(devices(16, { memoryGiB: 1025 })).toBe(
      "16 GiB per device: a replica of 1025 GiB would need 65 devices, more than 64",
    );
  });

  it("needs the count to divide the attention heads", () => {
    expect(devices(80, { memoryGiB: 300, attentionHeads: 64 })).toBe(4);
    expect(devices(80, { memoryGiB: 300, attentionHeads: 12 })).toBe(4);
    expect(devices(80, { memoryGiB: 300, attentionHeads: 6 })).toMatch(
      /needs 4 devices, which do not divide its 6 attention heads/,
    );
    expect(devices(192, { memoryGiB: 300, attentionHeads: 6 })).toBe(2);
  });

  it("says so when the pool's device memory is unknown", () => {
    expect(devices(0, { memoryGiB: 1 })).toBe("device memory unknown");
  });

  it("is the smallest power of two that holds the replica", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.double({ min: 0.1, max: 100_000, noNaN: true }),
        (memory, need) => {
          const v = shapeOnDevices(memory, { memoryGiB: need });
          if (!("devices" in v)) {
            expect(MAX_DEVICES_PER_REPLICA * memory).toBeLessThan(need);
            return;
          }
          const d = v.devices;
          expect(Number.isInteger(Math.log2(d))).toBe(true);
          expect(d * memory).toBeGreaterThanOrEqual(need);
          if (d > 1) expect((d / 2) * memory).toBeLessThan(need);
        },
      ),
    );
  });
});

describe("the engine with automatic shapes", () => {
  const h100 = pool("h100", "nvidia", 80);
  const mi300x = pool("mi300x", "amd", 192);
  const gaudi = pool("gaudi", "intel", 128);

  it("gives each pool its own device count and prefers fewer devices per replica", () => {
    const result = schedule({
      pools: [h100, mi300x, gaudi],
      nodes: [...nodesOf(h100), ...nodesOf(mi300x), ...nodesOf(gaudi)],
      workloads: [service(20, { memoryGiB: 162.7 })],
    });
    const placements = result.admitted[0]?.groups[0]?.placements ?? [];
    // 1 per replica on mi300x (16), then 2 on gaudi (8 on 16 devices), then 4 on h100 (none left).
    expect(placements.map((p) => [p.pool, p.devicesPerPod, p.pods])).toEqual([
      ["mi300x", 1, 16],
      ["gaudi", 2, 4],
    ]);
    const gaudiNodes = placements[1]?.nodes ?? [];
    expect(gaudiNodes.reduce((n, a) => n + a.devices, 0)).toBe(8);
  });

  it("spills to the pool that needs more devices per replica, using them for each replica", () => {
    const result = schedule({
      pools: [h100, mi300x],
      nodes: [...nodesOf(h100), ...nodesOf(mi300x, 1)],
      workloads: [service(4, { memoryGiB: 162.7 })],
    });
    const placements = result.admitted[0]?.groups[0]?.placements ?? [];
    expect(placements.map((p) => [p.pool, p.devicesPerPod, p.pods])).toEqual([
      ["mi300x", 1, 2],
      ["h100", 4, 2],
    ]);
    expect(placements[1]?.nodes.reduce((n, a) => n + a.devices, 0)).toBe(8);
  });

  it("lets a stated cost per device-hour decide: the cheaper replica wins", () => {
    const cheap = pool("h100", "nvidia", 80, 1);
    const dear = pool("mi300x", "amd", 192, 5);
    // 2 × 1 on h100 is cheaper than 1 × 5 on mi300x.
    expect(shapesChosen([cheap, dear], { memoryGiB: 150 })).toEqual([["h100", 2]]);
  });

  it("leaves out pools where no count divides the attention heads", () => {
    expect(shapesChosen([h100, mi300x], { memoryGiB: 300, attentionHeads: 6 })).toEqual([["mi300x", 2]]);
  });

  it("is unschedulable when no pool holds a replica, naming the largest pool and its need", () => {
    const result = schedule({
      pools: [h100, mi300x],
      nodes: [...nodesOf(h100), ...nodesOf(mi300x)],
      workloads: [service(1, { memoryGiB: 20_000 })],
    });
    expect(result.admitted).toEqual([]);
    expect(result.unschedulable[0]?.code).toBe("NoMatchingPool");
    expect(result.unschedulable[0]?.reason).toMatch(
      /the largest pool, mi300x \(192 GiB per device\), would need 105 devices/,
    );
  });

  it("is unschedulable when the shape is larger than any node", () => {
    const result = schedule({
      pools: [h100],
      nodes: nodesOf(h100, 4),
      workloads: [service(1, { memoryGiB: 500 })],
    });
    expect(result.unschedulable[0]?.code).toBe("ExceedsNodeCapacity");
    expect(result.unschedulable[0]?.reason).toMatch(
      /8 devices.*the largest node of the matching pools has 4 devices/,
    );
  });

  it("says each pool's room at that pool's shape when the replicas wait", () => {
    // Five wanted at once; mi300x has room for 3 of its 1-device replicas, h100 for none of 4.
    const nodes = [...nodesOf(h100).map((n) => ({ ...n, freeDevices: 0 })), ...nodesOf(mi300x, 8)];
    const mi = nodes.filter((n) => n.name.startsWith("mi300x"));
    (mi[0] as NodeInput).freeDevices = 3;
    (mi[1] as NodeInput).freeDevices = 0;
    const w = { ...service(5, { memoryGiB: 162.7 }), minPods: 5 };
    const result = schedule({ pools: [h100, mi300x], nodes, workloads: [w] });
    expect(result.queued[0]?.reason).toMatch(
      /pool mi300x has room for 3 on 1 node, pool h100 has room for 0/,
    );
  });

  it("takes replicas mode only", () => {
    const w = { ...service(1, { memoryGiB: 10 }), mode: "gang" as const, minPods: undefined };
    const result = schedule({ pools: [h100], nodes: nodesOf(h100), workloads: [w] });
    expect(result.unschedulable[0]?.reason).toMatch(/replicaShape.*takes mode "replicas"/);
  });
});

describe("the engine with automatic shapes, on random clusters", () => {
  const memories = [16, 24, 48, 80, 96, 128, 141, 192];
  const clusterArb = fc.record({
    pools: fc.array(
      fc.record({
        memoryGiB: fc.constantFrom(...memories),
        devices: fc.constantFrom(1, 2, 4, 8),
        free: fc.integer({ min: 0, max: 8 }),
        cost: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    services: fc.array(
      fc.record({
        memoryGiB: fc.double({ min: 1, max: 1500, noNaN: true }),
        heads: fc.option(fc.constantFrom(8, 12, 32, 40, 64), { nil: undefined }),
        pods: fc.integer({ min: 1, max: 6 }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
  });

  it("places every replica at its pool's shape, within free devices", () => {
    fc.assert(
      fc.property(clusterArb, ({ pools: specs, services }) => {
        const pools = specs.map((s, i) => pool(`p${i}`, "nvidia", s.memoryGiB, s.cost));
        const nodes = pools.flatMap((p, i) => {
          const s = specs[i] as (typeof specs)[number];
          return nodesOf(p, s.devices).map((n) => ({ ...n, freeDevices: Math.min(s.devices, s.free) }));
        });
        const workloads = services.map((s, i) =>
          service(s.pods, { memoryGiB: s.memoryGiB, attentionHeads: s.heads }, `w${i}`),
        );
        const result = schedule({ pools, nodes, workloads });
        const used = new Map<string, number>();
        for (const a of result.admitted) {
          const shape = workloads.find((w) => w.key === a.key)?.groups[0]?.accelerators.replicaShape;
          for (const p of a.groups[0]?.placements ?? []) {
            const memory = pools.find((x) => x.name === p.pool)?.memoryGiB ?? 0;
            const expected = shapeOnDevices(memory, shape as ReplicaShape);
            expect(expected).toEqual({ devices: p.devicesPerPod });
            for (const n of p.nodes) {
              expect(n.devices).toBe(n.pods * (p.devicesPerPod ?? 0));
              used.set(n.node, (used.get(n.node) ?? 0) + n.devices);
            }
          }
        }
        for (const n of nodes) expect(used.get(n.name) ?? 0).toBeLessThanOrEqual(n.freeDevices);
        // A service no pool can hold at any shape is unschedulable, never queued.
        for (const [i, s] of services.entries()) {
          const fitsSomewhere = pools.some((p, k) => {
            const v = shapeOnDevices(p.memoryGiB, { memoryGiB: s.memoryGiB, attentionHeads: s.heads });
            return "devices" in v && v.devices <= (specs[k]?.devices ?? 0);
          });
          if (!fitsSomewhere) expect(result.unschedulable.map((u) => u.key)).toContain(`w${i}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
