// The RayCluster autoscaler's decision as a table: Ray's pending bundles and idle nodes in,
// each group's worker count out.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Demand } from "../../controllers/ray-api/index.ts";
import {
  bundlesPerWorker,
  decideScale,
  type GroupState,
  groupsInForce,
  nextIdleSince,
  workerOffers,
} from "../../controllers/raycluster/autoscale.ts";
import { type RayWorkerGroup, rayClusterSpec } from "../../crds/index.ts";

const spec = rayClusterSpec.parse({
  rayVersion: "2.60.0",
  image: "rayproject/ray:2.60.0",
  autoscaling: { enabled: true, idleTimeoutSeconds: 60 },
  workerGroups: [
    { name: "cpu", replicas: 1, minReplicas: 1, maxReplicas: 10, resources: { cpu: "8", memory: "32Gi" } },
    {
      name: "gpu",
      replicas: 0,
      maxReplicas: 4,
      accelerators: { count: 2, vendors: ["nvidia", "amd"] },
      resources: { cpu: "8" },
    },
    { name: "tpu", replicas: 0, maxReplicas: 3, accelerators: { count: 4, vendors: ["google"] } },
  ],
});
const groups = spec.workerGroups as RayWorkerGroup[];
const group = (name: string) => groups.find((g) => g.name === name) as RayWorkerGroup;

type W = GroupState["workers"][number];
const worker = (g: string, index: number, joined = true, idle = false): W => ({
  name: `rc-${g}-${index}`,
  index,
  joined,
  idle,
});

const state = (overrides: Partial<Record<string, Partial<GroupState>>> = {}): GroupState[] =>
  groups.map((g) => ({
    group: g,
    vendor: undefined,
    replicas: g.replicas,
    workers: Array.from({ length: g.replicas }, (_, i) => worker(g.name, i)),
    ...overrides[g.name],
  }));

const decide = (
  demand: Demand[],
  groupStates = state(),
  idleSince = new Map<string, number>(),
  mode: "Default" | "Conservative" = "Default",
) =>
  Object.fromEntries(
    decideScale({
      autoscaling: { enabled: true, idleTimeoutSeconds: 60, upscalingMode: mode },
      demand,
      groups: groupStates,
      idleSince,
      now: 100_000,
    }).map((d) => [d.name, d.replicas]),
  );

describe("what a worker offers Ray", () => {
  it("declares its devices under the vendor's Ray resource, and CPUs and memory from its resources", () => {
    expect(workerOffers(group("gpu"), "nvidia")).toEqual([{ CPU: 8, GPU: 2 }]);
    expect(workerOffers(group("tpu"), "google")).toEqual([{ TPU: 4 }]);
    expect(workerOffers(group("cpu"), undefined)).toEqual([{ CPU: 8, memory: 32 * 1024 ** 3 }]);
    // Not placed yet: what any vendor it accepts would give (both GPU vendors say GPU).
    expect(
      workerOffers({ ...group("gpu"), accelerators: { count: 1 } } as RayWorkerGroup, undefined).map((o) =>
        Object.keys(o).filter((k) => k !== "CPU"),
      ),
    ).toEqual([["GPU"], ["HPU"], ["TPU"], ["neuron_cores"], ["accelerator"]]);
  });

  it("packs as many bundles per worker as every resource allows", () => {
    expect(bundlesPerWorker({ CPU: 8, GPU: 2 }, { GPU: 1 })).toBe(2);
    expect(bundlesPerWorker({ CPU: 8, GPU: 2 }, { GPU: 1, CPU: 6 })).toBe(1);
    expect(bundlesPerWorker({ CPU: 8 }, { GPU: 1 })).toBe(0);
    expect(bundlesPerWorker({ CPU: 8 }, { CPU: 0.5 })).toBe(16);
    expect(bundlesPerWorker({ CPU: 8 }, { CPU: 1, memory: 1e9 })).toBe(8);
  });
});

describe("decideScale", () => {
  it.each<[string, Demand[], Record<string, number>]>([
    ["no demand keeps every group", [], { cpu: 1, gpu: 0, tpu: 0 }],
    ["one GPU task: one GPU worker", [{ bundle: { GPU: 1 }, count: 1 }], { cpu: 1, gpu: 1, tpu: 0 }],
    [
      "three GPU tasks: two workers of two GPUs",
      [{ bundle: { GPU: 1 }, count: 3 }],
      { cpu: 1, gpu: 2, tpu: 0 },
    ],
    [
      "twenty GPU tasks: capped at maxReplicas 4",
      [{ bundle: { GPU: 1 }, count: 20 }],
      { cpu: 1, gpu: 4, tpu: 0 },
    ],
    ["TPU bundles go to the TPU group", [{ bundle: { TPU: 4 }, count: 2 }], { cpu: 1, gpu: 0, tpu: 2 }],
    [
      "CPU bundles go to the first group that holds them",
      [{ bundle: { CPU: 4 }, count: 5 }],
      { cpu: 4, gpu: 0, tpu: 0 },
    ],
    [
      "a bundle no group can hold scales nothing",
      [{ bundle: { GPU: 8 }, count: 1 }],
      { cpu: 1, gpu: 0, tpu: 0 },
    ],
    [
      "demand of several kinds at once",
      [
        { bundle: { GPU: 2 }, count: 1 },
        { bundle: { TPU: 1 }, count: 5 },
      ],
      { cpu: 1, gpu: 1, tpu: 2 },
    ],
  ])("%s", (_, demand, expected) => {
    expect(decide(demand)).toEqual(expected);
  });

  it("counts workers that exist but have not joined Ray as already taking the demand", () => {
    const starting = state({ gpu: { replicas: 1, workers: [worker("gpu", 0, false)] } });
    expect(decide([{ bundle: { GPU: 1 }, count: 2 }], starting).gpu).toBe(1);
    expect(decide([{ bundle: { GPU: 1 }, count: 4 }], starting).gpu).toBe(2);
  });

  it("Conservative adds at most as many workers as the group runs, one from zero", () => {
    const two = state({ gpu: { replicas: 1, workers: [worker("gpu", 0)] } });
    expect(decide([{ bundle: { GPU: 2 }, count: 4 }], two, new Map(), "Conservative").gpu).toBe(2);
    expect(decide([{ bundle: { GPU: 2 }, count: 4 }], state(), new Map(), "Conservative").gpu).toBe(1);
    expect(decide([{ bundle: { GPU: 2 }, count: 4 }], two, new Map(), "Default").gpu).toBe(4);
  });

  it("removes workers idle past the timeout, newest first, never a busy one nor below minReplicas", () => {
    const cpu = (idle: boolean[]) =>
      state({ cpu: { replicas: idle.length, workers: idle.map((i, n) => worker("cpu", n, true, i)) } });
    const since = (names: number[], at: number) => new Map(names.map((n) => [`rc-cpu-${n}`, at]));
    // Idle 100 s (> 60 s): the top three go; worker 0 stays for minReplicas 1.
    expect(decide([], cpu([true, true, true, true]), since([0, 1, 2, 3], 0)).cpu).toBe(1);
    // Worker 2 is busy: it stays, and the idle ones on either side of it go, down to minReplicas.
    expect(decide([], cpu([true, true, false, true]), since([0, 1, 3], 0)).cpu).toBe(1);
    // Idle only 30 s: nothing goes yet.
    expect(decide([], cpu([true, true]), since([0, 1], 70_000)).cpu).toBe(2);
    // The group has demand: its idle workers are about to get work.
    expect(decide([{ bundle: { CPU: 8 }, count: 1 }], cpu([true, true]), since([0, 1], 0)).cpu).toBe(3);
  });

  it("removes by name the idle workers below a busy one, newest first when minReplicas stops it", () => {
    const three = (idle: boolean[], min: number) =>
      decideScale({
        autoscaling: { enabled: true, idleTimeoutSeconds: 60, upscalingMode: "Default" },
        demand: [],
        groups: [
          {
            group: { ...group("cpu"), minReplicas: min },
            vendor: undefined,
            replicas: 3,
            workers: idle.map((i, n) => worker("cpu", n, true, i)),
          },
        ],
        idleSince: new Map([0, 1, 2].map((n) => [`rc-cpu-${n}`, 0])),
        now: 100_000,
      })[0];
    // The middle one idle, the newest busy: the middle one goes, by name and index.
    expect(three([false, true, false], 0)).toMatchObject({ replicas: 2, remove: ["rc-cpu-1"], retire: [1] });
    // 0 and 1 idle, room for one removal: the newer of the two.
    expect(three([true, true, false], 2)).toMatchObject({ replicas: 2, remove: ["rc-cpu-1"], retire: [1] });
    expect(three([true, true, false], 2)?.reason).toBe("idle for 60 s: rc-cpu-1");
    expect(three([true, true, false], 0)).toMatchObject({ replicas: 1, retire: [1, 0] });
    // A worker not yet in Ray is not idle, whatever its index.
    expect(three([false, false, false], 0)).toMatchObject({ replicas: 3, remove: [] });
  });

  it("keeps an idle worker whose removal the admission record cannot hold", () => {
    const [cpu] = decideScale({
      autoscaling: { enabled: true, idleTimeoutSeconds: 60, upscalingMode: "Default" },
      demand: [],
      groups: [
        {
          group: { ...group("cpu"), minReplicas: 0 },
          vendor: undefined,
          replicas: 3,
          workers: [0, 1, 2].map((n) => worker("cpu", n, true, n !== 2)),
        },
      ],
      idleSince: new Map([0, 1].map((n) => [`rc-cpu-${n}`, 0])),
      now: 100_000,
      // Only removals from the start of a run fit (each split adds a placement).
      mayRemove: (ws) => ws.every((w) => w.index === 0),
    });
    expect(cpu).toMatchObject({ replicas: 2, retire: [0] });
  });

  it("property: a busy worker is never removed; the removed are the idle-past-timeout, newest first, down to minReplicas", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ idle: fc.boolean(), joined: fc.boolean(), idleFor: fc.nat(120_000) }), {
          maxLength: 12,
        }),
        fc.nat(12),
        fc.boolean(),
        (ws, minRaw, demand) => {
          const min = Math.min(minRaw, ws.length);
          const workers = ws.map((w, n) => worker("cpu", n, w.joined, w.joined && w.idle));
          const idleSince = new Map(ws.map((w, n) => [`rc-cpu-${n}`, 100_000 - w.idleFor]));
          const [cpu] = decideScale({
            autoscaling: { enabled: true, idleTimeoutSeconds: 60, upscalingMode: "Default" },
            demand: demand ? [{ bundle: { CPU: 1 }, count: 1 }] : [],
            groups: [
              {
                group: { ...group("cpu"), minReplicas: min, maxReplicas: 1000 },
                vendor: undefined,
                replicas: ws.length,
                workers,
              },
            ],
            idleSince,
            now: 100_000,
          });
          const removed = new Set(cpu?.retire);
          // Never a busy or not-joined one.
          for (const i of removed) expect(workers[i]?.idle).toBe(true);
          if (demand) {
            expect(removed.size).toBe(0);
            return;
          }
          const eligible = ws
            .map((w, n) => ({ n, ok: w.joined && w.idle && w.idleFor >= 60_000 }))
            .filter((x) => x.ok)
            .map((x) => x.n)
            .sort((a, b) => b - a);
          // Exactly the eligible ones, newest first, as many as minReplicas leaves room for.
          const room = Math.max(0, ws.length - min);
          expect(cpu?.retire).toEqual(eligible.slice(0, room));
          expect(cpu?.replicas).toBe(Math.max(min, ws.length) - removed.size);
        },
      ),
    );
  });

  it("says why in words", () => {
    const [, gpu] = decideScale({
      autoscaling: { enabled: true, idleTimeoutSeconds: 60, upscalingMode: "Default" },
      demand: [{ bundle: { GPU: 1 }, count: 20 }],
      groups: state(),
      idleSince: new Map(),
      now: 0,
    });
    expect(gpu?.reason).toBe('20 pending {"GPU":1}: needs 10, capped at maxReplicas 4');
  });
});

describe("idle timers and the counts in force", () => {
  it("starts a timer when a worker turns idle and drops it when it is busy again", () => {
    const first = nextIdleSince(
      new Map(),
      [
        { name: "a", idle: true },
        { name: "b", idle: false },
      ],
      10,
    );
    expect([...first]).toEqual([["a", 10]]);
    const second = nextIdleSince(
      first,
      [
        { name: "a", idle: true },
        { name: "b", idle: true },
      ],
      20,
    );
    expect([...second]).toEqual([
      ["a", 10],
      ["b", 20],
    ]);
    expect([...nextIdleSince(second, [{ name: "a", idle: false }], 30)]).toEqual([]);
  });

  it("uses the autoscaler's counts within min and max when enabled, spec replicas otherwise", () => {
    const status = {
      autoscaling: {
        groups: [
          { name: "gpu", replicas: 3 },
          { name: "cpu", replicas: 0 },
        ],
      },
    };
    const inForce = groupsInForce({ spec, status });
    expect(inForce.map((g) => [g.name, g.replicas])).toEqual([
      ["cpu", 1],
      ["gpu", 3],
      ["tpu", 0],
    ]);
    const off = groupsInForce({ spec: { ...spec, autoscaling: undefined }, status });
    expect(off.map((g) => g.replicas)).toEqual([1, 0, 0]);
  });
});
