import { describe, expect, test } from "vitest";
import { clusterWorkload, type RayClusterObject } from "../../controllers/raycluster/adapter.ts";
import type { WorkerView } from "../../controllers/raycluster/workers.ts";
import { type RayClusterStatus, rayClusterResource } from "../../crds/index.ts";

const GiB = 2 ** 30;

const cluster = (
  over: { spec?: Record<string, unknown>; status?: RayClusterStatus; deleting?: boolean } = {},
): RayClusterObject => {
  const parsed = rayClusterResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "RayCluster",
    metadata: { name: "rc", namespace: "ns", uid: "u", creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: {
      rayVersion: "2.52.0",
      image: "rayproject/ray:2.52.0",
      workerGroups: [
        {
          name: "gpu",
          replicas: 2,
          accelerators: { count: 1, minMemoryGiB: 24, vendors: ["nvidia", "amd"] },
          resources: { cpu: "8", memory: "64Gi" },
        },
        {
          name: "tpu",
          replicas: 2,
          accelerators: { count: 4, vendors: ["google"] },
          resources: { cpu: "24", memory: "96Gi" },
        },
        { name: "small", replicas: 1 },
      ],
      ...over.spec,
    },
  });
  const rc = { ...parsed, status: over.status } as RayClusterObject;
  if (over.deleting) rc.metadata.deletionTimestamp = "2026-01-01T00:00:01Z";
  return rc;
};

const w = (group: string, index: number, more: Partial<WorkerView> = {}): WorkerView => ({
  name: `rc-${group}-${index}`,
  uid: "u",
  group,
  index,
  node: `${group}-node`,
  pool: `${group}-pool`,
  terminating: false,
  finished: false,
  ready: true,
  broken: false,
  createdAt: 0,
  ...more,
});

describe("the cluster as a placement workload", () => {
  test("a new cluster is one gang of every worker group; the head is not in it", () => {
    const wl = clusterWorkload(cluster(), [], 0);
    expect(wl).toEqual({
      key: "RayCluster/ns/rc",
      priority: 0,
      creationTimestamp: Date.parse("2026-01-01T00:00:00Z"),
      mode: "gang",
      groups: [
        {
          name: "gpu",
          pods: 2,
          cpuMillis: 8000,
          memoryBytes: 64 * GiB,
          accelerators: {
            count: 1,
            minMemoryGiB: 24,
            vendors: ["nvidia", "amd"],
            models: undefined,
            pools: undefined,
            interconnect: undefined,
          },
        },
        {
          name: "tpu",
          pods: 2,
          cpuMillis: 24000,
          memoryBytes: 96 * GiB,
          accelerators: {
            count: 4,
            minMemoryGiB: 0,
            vendors: ["google"],
            models: undefined,
            pools: undefined,
            interconnect: undefined,
          },
        },
        // No resources: the pod still holds what its init container asks for.
        {
          name: "small",
          pods: 1,
          cpuMillis: 100,
          memoryBytes: 128 * 2 ** 20,
          accelerators: { count: 0, pools: undefined },
        },
      ],
    });
  });

  test("suspended, deleted or without workers: no admission wanted", () => {
    expect(clusterWorkload(cluster({ spec: { suspend: true } }), [], 0)).toBeUndefined();
    expect(clusterWorkload(cluster({ deleting: true }), [], 0)).toBeUndefined();
    expect(clusterWorkload(cluster({ spec: { workerGroups: [] } }), [], 0)).toBeUndefined();
    expect(
      clusterWorkload(cluster({ spec: { workerGroups: [{ name: "gpu", replicas: 0 }] } }), [], 0),
    ).toBeUndefined();
  });

  test("admitted: the admitted groups and their shapes, so the admitter knows what each pod holds", () => {
    const status: RayClusterStatus = {
      admission: {
        admittedAt: "2026-01-01T00:00:05Z",
        placements: [
          { group: "gpu", pool: "h100", replicas: 2, nodes: ["a", "b"] },
          { group: "gone", pool: "h100", replicas: 1, nodes: ["c"] },
        ],
      },
    };
    const wl = clusterWorkload(cluster({ status }), [], 0);
    expect(wl?.groups.map((g) => [g.name, g.pods, g.accelerators.count])).toEqual([["gpu", 2, 1]]);
  });

  test("scaling up without admission asks only for the missing workers, their group's pool first", () => {
    const pools = () => ["v5e", "h100", "tpu-pool"];
    const wl = clusterWorkload(cluster(), [w("gpu", 0), w("gpu", 1), w("tpu", 0), w("small", 0)], 0, pools);
    expect(wl?.groups.map((g) => [g.name, g.pods, g.accelerators.pools])).toEqual([
      ["tpu", 1, ["tpu-pool", "h100", "v5e"]],
    ]);
  });

  test("a group with its own pool list grows on its pools, the ones it runs on first", () => {
    const spec = {
      workerGroups: [
        { name: "gpu", replicas: 4, accelerators: { count: 1, pools: ["h100", "mi300x", "a100"] } },
      ],
    };
    const live = [w("gpu", 0, { pool: "h100" }), w("gpu", 1, { pool: "mi300x" })];
    const wl = clusterWorkload(cluster({ spec }), live, 0, () => ["other"]);
    expect(wl?.groups.map((g) => [g.pods, g.accelerators.pools])).toEqual([[2, ["mi300x", "h100", "a100"]]]);
  });

  test("a cluster whose runs would pass the record's 64 placements grows only where it runs", () => {
    const spec = { workerGroups: [{ name: "gpu", replicas: 70, accelerators: { count: 1 } }] };
    // 64 workers alternating between two pools: 64 runs already.
    const live = Array.from({ length: 64 }, (_, i) => w("gpu", i, { pool: i % 2 === 0 ? "a" : "b" }));
    const wl = clusterWorkload(cluster({ spec }), live, 0, () => ["a", "b", "c"]);
    expect(wl?.groups.map((g) => g.accelerators.pools)).toEqual([["b", "a"]]);
    const few = clusterWorkload(cluster({ spec }), live.slice(0, 2), 0, () => ["a", "b", "c"]);
    expect(few?.groups.map((g) => g.accelerators.pools)).toEqual([["b", "a", "c"]]);
  });

  test("admitted on two pools: one pod group with every run's workers", () => {
    const status: RayClusterStatus = {
      admission: {
        admittedAt: "2026-01-01T00:00:05Z",
        placements: [
          { group: "gpu", pool: "h100", replicas: 2, nodes: ["a", "b"] },
          { group: "gpu/2", pool: "mi300x", replicas: 3, nodes: ["c", "c", "d"] },
        ],
      },
    };
    const wl = clusterWorkload(cluster({ status }), [], 0);
    expect(wl?.groups.map((g) => [g.name, g.pods])).toEqual([["gpu", 5]]);
  });

  test("nothing missing: nothing to admit", () => {
    expect(
      clusterWorkload(cluster(), [w("gpu", 0), w("gpu", 1), w("tpu", 0), w("tpu", 1), w("small", 0)], 0),
    ).toBeUndefined();
  });

  test("unbound workers without admission (our own write not yet cached): full shapes, so a held admission stays held", () => {
    const wl = clusterWorkload(cluster(), [w("gpu", 0, { node: undefined, createdAt: 0 })], 1000);
    expect(wl?.groups.map((g) => [g.name, g.pods])).toEqual([
      ["gpu", 2],
      ["tpu", 2],
      ["small", 1],
    ]);
  });
});
