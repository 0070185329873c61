// Replicas that span nodes (podsPerReplica): the counting rule, and the engine admitting a
// replica's pods all together on distinct nodes of one pool, or not at all.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type NodeInput,
  type PoolInput,
  schedule,
  type Workload,
} from "../../controllers/placement/index.ts";
import { dealPods, replicasFit } from "../../controllers/placement/replica-groups.ts";

const GiB = 2 ** 30;

function pool(name: string, nodes: number, memoryGiB = 80): PoolInput {
  return {
    name,
    vendor: "nvidia",
    model: name,
    memoryGiB,
    resourceName: "nvidia.com/gpu",
    paused: false,
    tolerations: [],
    nodeNames: Array.from({ length: nodes }, (_, i) => `${name}-${i}`),
  };
}

/** The pool's nodes with 8 devices each and `free[i]` of them free (8 when not given). */
function nodesOf(p: PoolInput, free: readonly number[] = []): NodeInput[] {
  return p.nodeNames.map((name, i) => ({
    name,
    ready: true,
    unschedulable: false,
    taints: [],
    allocatableDevices: 8,
    freeDevices: free[i] ?? 8,
    allocatableCpuMillis: 96_000,
    freeCpuMillis: 96_000,
    allocatableMemoryBytes: 1024 * GiB,
    freeMemoryBytes: 1024 * GiB,
  }));
}

function service(replicas: number, span: number, devices: number, key = "svc", memoryGiB?: number): Workload {
  return {
    key,
    priority: 0,
    creationTimestamp: 1,
    mode: "replicas",
    minPods: 1,
    groups: [
      {
        name: "server",
        pods: replicas,
        podsPerReplica: span,
        cpuMillis: 1000,
        memoryBytes: GiB,
        accelerators: memoryGiB ? { count: 1, replicaShape: { memoryGiB } } : { count: devices },
      },
    ],
  };
}

describe("replicasFit", () => {
  it.each([
    [[1, 1], 2, 5, 1],
    [[1], 2, 5, 0],
    [[2, 2], 2, 5, 2],
    [[4, 1], 2, 5, 1], // four pods on one node hold only one replica with the other node
    [[2, 2, 2], 2, 5, 3],
    [[3, 3, 3], 3, 5, 3],
    [[2, 2, 2], 2, 2, 2], // never more than wanted
    [[], 2, 5, 0],
  ])("rooms %j, %d pods per replica, up to %d: %d replicas", (rooms, n, want, expected) => {
    expect(replicasFit(rooms, n, want)).toBe(expected);
  });

  it("deals pods so that no node holds two pods of one replica", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 4 }),
        (rooms, n) => {
          const k = replicasFit(rooms, n, 100);
          const nodes = rooms.map((room, node) => ({ node, room }));
          const dealt = dealPods(nodes, n, k);
          expect(dealt).toBeDefined();
          // Dealt node by node to the k replicas in turn: replica r gets the pods at r, r + k, ...
          const order = (dealt ?? []).flatMap((d) => Array.from({ length: d.pods }, () => d.node));
          for (let r = 0; r < k; r++) {
            const mine = order.filter((_, j) => j % k === r);
            expect(mine).toHaveLength(n);
            expect(new Set(mine).size).toBe(n);
          }
          // One more replica never fits: k is the largest.
          expect(dealPods(nodes, n, k + 1)).toBeUndefined();
        },
      ),
    );
  });
});

describe("the engine with replicas spanning nodes", () => {
  it("admits a replica's pods together on distinct nodes of one pool", () => {
    const h100 = pool("h100", 4);
    const result = schedule({ pools: [h100], nodes: nodesOf(h100), workloads: [service(2, 2, 8)] });
    const placement = result.admitted[0]?.groups[0]?.placements[0];
    expect(placement?.pods).toBe(2);
    expect(placement?.nodes.map((n) => [n.node, n.pods, n.devices])).toEqual([
      ["h100-0", 1, 8],
      ["h100-1", 1, 8],
      ["h100-2", 1, 8],
      ["h100-3", 1, 8],
    ]);
    expect(result.admitted[0]?.pendingPods).toBe(0);
  });

  it("admits nothing while only one node has room for a pod, and says what a replica needs", () => {
    const h100 = pool("h100", 3);
    const result = schedule({
      pools: [h100],
      nodes: nodesOf(h100, [8, 4, 0]),
      workloads: [service(1, 2, 8)],
    });
    expect(result.admitted).toEqual([]);
    expect(result.queued[0]?.reason).toMatch(
      /needs 1 replica of 2 nodes × 8 devices.*pool h100 has room for 0/,
    );
  });

  it("admits the replicas that fit whole and leaves the rest pending, never half a replica", () => {
    const h100 = pool("h100", 3);
    const result = schedule({ pools: [h100], nodes: nodesOf(h100), workloads: [service(2, 2, 8)] });
    const admission = result.admitted[0];
    expect(admission?.groups[0]?.pods).toBe(1);
    expect(admission?.groups[0]?.placements[0]?.nodes.reduce((n, a) => n + a.pods, 0)).toBe(2);
    expect(admission?.pendingPods).toBe(1);
  });

  it("packs replicas of small pods two to a node without two pods of one replica on a node", () => {
    const h100 = pool("h100", 2);
    const result = schedule({ pools: [h100], nodes: nodesOf(h100), workloads: [service(2, 2, 4)] });
    const nodes = result.admitted[0]?.groups[0]?.placements[0]?.nodes ?? [];
    expect(nodes.map((n) => [n.node, n.pods])).toEqual([
      ["h100-0", 2],
      ["h100-1", 2],
    ]);
  });

  it("does not split a replica over two pools", () => {
    const a = pool("a", 1);
    const b = pool("b", 1);
    const result = schedule({
      pools: [a, b],
      nodes: [...nodesOf(a), ...nodesOf(b)],
      workloads: [service(1, 2, 8)],
    });
    expect(result.admitted).toEqual([]);
    expect(result.unschedulable[0]?.code).toBe("ExceedsPoolCapacity");
    expect(result.unschedulable[0]?.reason).toMatch(
      /no matching pool has 2 nodes that can each hold one of its pods/,
    );
  });

  it("gives the automatic shape per pod: the replica's memory over its nodes", () => {
    // 405B in bf16 with its KV cache: ~1020 GiB over 2 nodes is 510 GiB a pod, 8 × 80 GiB.
    const h100 = pool("h100", 4);
    const result = schedule({
      pools: [h100],
      nodes: nodesOf(h100),
      workloads: [service(1, 2, 0, "big", 510)],
    });
    const placement = result.admitted[0]?.groups[0]?.placements[0];
    expect(placement?.devicesPerPod).toBe(8);
    expect(placement?.nodes.map((n) => n.devices)).toEqual([8, 8]);
  });

  it("refuses podsPerReplica outside replicas mode, naming the field", () => {
    const w = { ...service(1, 2, 8), mode: "gang" as const, minPods: undefined };
    const h100 = pool("h100", 2);
    const result = schedule({ pools: [h100], nodes: nodesOf(h100), workloads: [w] });
    expect(result.unschedulable[0]?.reason).toMatch(/podsPerReplica takes mode "replicas"/);
  });

  it("never places more pods on a node than it has room for, on random clusters", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 6 }),
        fc.array(
          fc.record({
            replicas: fc.integer({ min: 1, max: 4 }),
            span: fc.integer({ min: 1, max: 3 }),
            devices: fc.constantFrom(1, 2, 4, 8),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        (free, specs) => {
          const p = pool("p", free.length);
          const nodes = nodesOf(p, free);
          const workloads = specs.map((s, i) => service(s.replicas, s.span, s.devices, `w${i}`));
          const result = schedule({ pools: [p], nodes, workloads });
          const used = new Map<string, number>();
          for (const a of result.admitted) {
            const spec = specs[Number(a.key.slice(1))] as (typeof specs)[number];
            const placement = a.groups[0]?.placements[0];
            const pods = placement?.nodes.reduce((n, x) => n + x.pods, 0) ?? 0;
            expect(pods).toBe((placement?.pods ?? 0) * spec.span);
            for (const x of placement?.nodes ?? []) {
              expect(x.pods).toBeLessThanOrEqual(placement?.pods ?? 0);
              used.set(x.node, (used.get(x.node) ?? 0) + x.devices);
            }
          }
          nodes.forEach((n) => {
            expect(used.get(n.name) ?? 0).toBeLessThanOrEqual(n.freeDevices);
          });
        },
      ),
    );
  });
});
