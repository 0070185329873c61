import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  admittedSlots,
  countedWorkers,
  keepWorkers,
  keptSlots,
  mergeAdmission,
  planAdmitted,
  planUnadmitted,
  podHealth,
  retireSlots,
  unboundGraceMs,
  viewWorker,
  type WorkerView,
} from "../../controllers/raycluster/workers.ts";
import { type AdmissionStatus, labels, type RayWorkerGroup } from "../../crds/index.ts";

const g = (name: string, replicas: number): RayWorkerGroup => ({ name, replicas, minReplicas: 0 });

const w = (group: string, index: number, more: Partial<WorkerView> = {}): WorkerView => ({
  name: `rc-${group}-${index}`,
  uid: `uid-${group}-${index}`,
  group,
  index,
  node: `${group}-node-${index}`,
  pool: `${group}-pool`,
  terminating: false,
  finished: false,
  ready: true,
  broken: false,
  createdAt: 0,
  ...more,
});

const placement = (group: string, n: number) => ({
  group,
  pool: `${group}-pool`,
  vendor: "nvidia",
  resourceName: "nvidia.com/gpu",
  replicas: n,
  nodes: Array.from({ length: n }, (_, i) => `${group}-node-${i}`),
});

const admission = (...ps: ReturnType<typeof placement>[]): AdmissionStatus => ({
  admittedAt: "2026-01-01T00:00:00.000Z",
  placements: ps,
});

describe("reading worker pods", () => {
  const pod = (
    name: string,
    extra: Record<string, unknown> = {},
    labelsOver: Record<string, string> = {},
  ) => ({
    metadata: {
      name,
      uid: "u",
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: {
        [labels.rayNodeType]: "worker",
        [labels.rayGroup]: "gpu",
        [labels.pool]: "h100",
        ...labelsOver,
      },
    },
    ...extra,
  });

  test.each([
    { name: "rc-gpu-0", index: 0 },
    { name: "rc-gpu-12", index: 12 },
    { name: "rc-gpu-01", index: undefined },
    { name: "rc-gpu-x", index: undefined },
    { name: "other-gpu-0", index: undefined },
  ])("$name -> index $index", ({ name, index }) => {
    expect(viewWorker(pod(name), "rc")?.index).toBe(index);
  });

  test("the head and foreign pods are not workers", () => {
    expect(viewWorker(pod("rc-head", {}, { [labels.rayNodeType]: "head" }), "rc")).toBeUndefined();
  });

  test.each([
    { what: "pending", status: { phase: "Pending" }, out: { finished: false, ready: false, broken: false } },
    {
      what: "running and ready",
      status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      out: { finished: false, ready: true, broken: false },
    },
    { what: "failed", status: { phase: "Failed" }, out: { finished: true, ready: false, broken: true } },
    {
      what: "crash-looping",
      status: {
        phase: "Running",
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          { ready: false, restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } } },
        ],
      },
      out: { finished: false, ready: false, broken: true },
    },
    {
      what: "image not pulled",
      status: {
        phase: "Pending",
        containerStatuses: [
          { ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff" } } },
        ],
      },
      out: { finished: false, ready: false, broken: true },
    },
  ])("health of a $what pod", ({ status, out }) => {
    expect(podHealth({ metadata: {}, status })).toMatchObject({ ...out, terminating: false });
  });

  test("binding and deletion are read", () => {
    const bound = viewWorker({ ...pod("rc-gpu-1"), spec: { nodeName: "n1" } }, "rc");
    expect(bound).toMatchObject({ node: "n1", pool: "h100", group: "gpu", index: 1, terminating: false });
    const going = viewWorker(
      { ...pod("rc-gpu-1"), metadata: { ...pod("rc-gpu-1").metadata, deletionTimestamp: "x" } },
      "rc",
    );
    expect(going?.terminating).toBe(true);
  });
});

describe("planAdmitted", () => {
  test("steady: nothing to do, the admission is kept", () => {
    const a = admission(placement("gpu", 2));
    const plan = planAdmitted([g("gpu", 2)], a, [w("gpu", 0), w("gpu", 1)]);
    expect(plan).toMatchObject({ creates: [], deletes: [], released: false });
    expect(plan.admission).toEqual(a);
    expect(plan.wantMore.size).toBe(0);
  });

  test("first creation: every admitted worker on its node", () => {
    const plan = planAdmitted(
      [g("gpu", 2), g("tpu", 1)],
      admission(placement("gpu", 2), placement("tpu", 1)),
      [],
    );
    expect(plan.creates.map((c) => [c.group, c.index, c.node])).toEqual([
      ["gpu", 0, "gpu-node-0"],
      ["gpu", 1, "gpu-node-1"],
      ["tpu", 0, "tpu-node-0"],
    ]);
  });

  test("a deleted worker is recreated on its node; a failed one is deleted first", () => {
    const a = admission(placement("gpu", 3));
    const plan = planAdmitted([g("gpu", 3)], a, [w("gpu", 0, { finished: true }), w("gpu", 2)]);
    expect(plan.deletes).toEqual([
      { name: "rc-gpu-0", uid: "uid-gpu-0", group: "gpu", index: 0, reason: "Failed" },
    ]);
    expect(plan.creates.map((c) => [c.index, c.node])).toEqual([[1, "gpu-node-1"]]);
  });

  test("a worker still terminating is not recreated until it is gone", () => {
    const plan = planAdmitted([g("gpu", 1)], admission(placement("gpu", 1)), [
      w("gpu", 0, { terminating: true }),
    ]);
    expect(plan.creates).toEqual([]);
    expect(plan.deletes).toEqual([]);
  });

  test("scale down deletes the newest workers and trims the admission", () => {
    const plan = planAdmitted([g("gpu", 1)], admission(placement("gpu", 3)), [
      w("gpu", 0),
      w("gpu", 1),
      w("gpu", 2),
    ]);
    expect(plan.deletes.map((d) => [d.name, d.reason])).toEqual([
      ["rc-gpu-2", "ScaleDown"],
      ["rc-gpu-1", "ScaleDown"],
    ]);
    expect(plan.admission?.placements).toEqual([
      { ...placement("gpu", 3), replicas: 1, nodes: ["gpu-node-0"] },
    ]);
    expect(plan.trimmed.get("gpu")).toEqual([3, 1]);
  });

  test("scale down to zero drops the group's placement", () => {
    const plan = planAdmitted(
      [g("gpu", 0), g("tpu", 1)],
      admission(placement("gpu", 1), placement("tpu", 1)),
      [w("gpu", 0), w("tpu", 0)],
    );
    expect(plan.admission?.placements?.map((p) => p.group)).toEqual(["tpu"]);
  });

  test("scale up with every worker bound releases the admission and keeps the pods", () => {
    const plan = planAdmitted([g("gpu", 4)], admission(placement("gpu", 2)), [w("gpu", 0), w("gpu", 1)]);
    expect(plan).toMatchObject({ released: true, creates: [], deletes: [], admission: undefined });
    expect(plan.wantMore.get("gpu")).toBe(2);
  });

  test("scale up is held back while the admitter may still offer the grant it was made from", () => {
    const a = admission(placement("gpu", 2));
    const plan = planAdmitted([g("gpu", 4)], a, [w("gpu", 0), w("gpu", 1)], false);
    expect(plan).toMatchObject({ released: false, creates: [], deletes: [] });
    expect(plan.admission).toEqual(a);
    expect(plan.wantMore.get("gpu")).toBe(2);
  });

  test("scale up waits while a kept worker is not bound yet, and creates what is missing first", () => {
    const a = admission(placement("gpu", 2));
    const unbound = planAdmitted([g("gpu", 4)], a, [w("gpu", 0), w("gpu", 1, { node: undefined })]);
    expect(unbound).toMatchObject({ released: false, creates: [] });
    expect(unbound.admission).toEqual(a);
    const missing = planAdmitted([g("gpu", 4)], a, [w("gpu", 0)]);
    expect(missing.released).toBe(false);
    expect(missing.creates.map((c) => c.index)).toEqual([1]);
  });

  test("a new group is a scale up; a removed group's pods and placement go", () => {
    const plan = planAdmitted([g("tpu", 1)], admission(placement("gpu", 1)), [w("gpu", 0)]);
    expect(plan.deletes.map((d) => [d.name, d.reason])).toEqual([["rc-gpu-0", "GroupRemoved"]]);
    expect(plan.released).toBe(true);
    expect(plan.wantMore.get("tpu")).toBe(1);
  });
});

describe("planUnadmitted", () => {
  test("a new cluster needs every worker, unpinned", () => {
    const plan = planUnadmitted([g("gpu", 2), g("tpu", 1), g("idle", 0)], [], 0);
    expect(plan.needs.map((n) => [n.group, n.pods, n.pools])).toEqual([
      ["gpu", 2, []],
      ["tpu", 1, []],
    ]);
    expect(plan.blocked).toBe(false);
  });

  test("a released cluster needs the missing workers, preferring the group's pool, gaps included", () => {
    const plan = planUnadmitted([g("gpu", 4)], [w("gpu", 0), w("gpu", 2)], 0);
    expect(plan.needs).toEqual([
      { group: "gpu", pods: 2, pools: ["gpu-pool"], live: [w("gpu", 0), w("gpu", 2)] },
    ]);
  });

  test("a group on two pools prefers the pool of its newest worker", () => {
    const plan = planUnadmitted(
      [g("gpu", 5)],
      [w("gpu", 0, { pool: "h100" }), w("gpu", 1, { pool: "h100" }), w("gpu", 2, { pool: "mi300x" })],
      0,
    );
    expect(plan.needs.map((n) => [n.pods, n.pools])).toEqual([[2, ["mi300x", "h100"]]]);
  });

  test("failed, surplus and removed-group workers are deleted and counted as missing", () => {
    const plan = planUnadmitted(
      [g("gpu", 2)],
      [w("gpu", 0, { finished: true }), w("gpu", 1), w("gpu", 2), w("old", 0)],
      0,
    );
    expect(plan.deletes.map((d) => `${d.name}:${d.reason}`).sort()).toEqual([
      "rc-gpu-0:Failed",
      "rc-gpu-2:ScaleDown",
      "rc-old-0:GroupRemoved",
    ]);
    expect(plan.needs.map((n) => [n.group, n.pods])).toEqual([["gpu", 1]]);
  });

  test("an unbound worker blocks the decision until it is bound, or deleted after the grace", () => {
    const young = planUnadmitted([g("gpu", 1)], [w("gpu", 0, { node: undefined, createdAt: 1000 })], 2000);
    expect(young.blocked).toBe(true);
    expect(young.deletes).toEqual([]);
    const old = planUnadmitted(
      [g("gpu", 1)],
      [w("gpu", 0, { node: undefined, createdAt: 0 })],
      unboundGraceMs + 1,
    );
    expect(old.blocked).toBe(false);
    expect(old.deletes.map((d) => d.reason)).toEqual(["Unbound"]);
  });
});

describe("mergeAdmission", () => {
  const facts = (pool: string) => ({ vendor: `${pool}-vendor`, resourceName: `${pool}/dev` });
  const now = "2026-02-02T00:00:00.000Z";

  test("a first admission is the delta itself", () => {
    const needs = planUnadmitted([g("gpu", 2)], [], 0).needs;
    const delta = admission(placement("gpu", 2));
    expect(mergeAdmission(needs, delta, facts, now)).toEqual({
      admittedAt: now,
      placements: [placement("gpu", 2)],
    });
  });

  test("running workers keep their nodes and the admitted ones fill the gaps, by index", () => {
    const needs = planUnadmitted(
      [g("gpu", 4), g("tpu", 1)],
      [w("gpu", 0), w("gpu", 2), w("tpu", 0)],
      0,
    ).needs;
    const delta: AdmissionStatus = {
      placements: [
        {
          group: "gpu",
          pool: "gpu-pool",
          vendor: "nvidia",
          resourceName: "nvidia.com/gpu",
          replicas: 2,
          nodes: ["n-a", "n-b"],
        },
      ],
    };
    expect(mergeAdmission(needs, delta, facts, now)?.placements).toEqual([
      {
        group: "gpu",
        pool: "gpu-pool",
        vendor: "nvidia",
        resourceName: "nvidia.com/gpu",
        replicas: 4,
        nodes: ["gpu-node-0", "n-a", "gpu-node-2", "n-b"],
      },
      {
        group: "tpu",
        pool: "tpu-pool",
        vendor: "tpu-pool-vendor",
        resourceName: "tpu-pool/dev",
        replicas: 1,
        nodes: ["tpu-node-0"],
      },
    ]);
  });

  test("nothing missing: the running workers are the admission", () => {
    const needs = planUnadmitted([g("gpu", 1)], [w("gpu", 0)], 0).needs;
    expect(mergeAdmission(needs, undefined, facts, now)?.placements).toEqual([
      {
        group: "gpu",
        pool: "gpu-pool",
        vendor: "gpu-pool-vendor",
        resourceName: "gpu-pool/dev",
        replicas: 1,
        nodes: ["gpu-node-0"],
      },
    ]);
  });

  test.each([
    { what: "fewer admitted than missing", delta: admission(placement("gpu", 1)) },
    { what: "a group that misses nothing", delta: admission(placement("gpu", 2), placement("tpu", 1)) },
    {
      what: "a group split over two pools by the gang",
      delta: admission(
        { ...placement("gpu", 1), pool: "a" },
        { ...placement("gpu", 1), group: "gpu/x", pool: "b" },
      ),
    },
    { what: "no delta although workers are missing", delta: undefined },
  ])("a stale decision ($what) is refused", ({ delta }) => {
    const needs = planUnadmitted([g("gpu", 3), g("tpu", 1)], [w("gpu", 0), w("tpu", 0)], 0).needs;
    expect(mergeAdmission(needs, delta, facts, now)).toBeUndefined();
  });
});

describe("a group on several pools", () => {
  const facts = (pool: string) => ({ vendor: `${pool}-vendor`, resourceName: `${pool}/dev` });
  const now = "2026-02-02T00:00:00.000Z";
  const nv = (n: number, start = 0) => ({
    group: start === 0 ? "gpu" : `gpu/${start}`,
    pool: "h100",
    vendor: "nvidia",
    resourceName: "nvidia.com/gpu",
    replicas: n,
    nodes: Array.from({ length: n }, (_, i) => `h100-${start + i}`),
  });
  const amd = (n: number, start: number) => ({
    group: start === 0 ? "gpu" : `gpu/${start}`,
    pool: "mi300x",
    vendor: "amd",
    resourceName: "amd.com/gpu",
    replicas: n,
    nodes: Array.from({ length: n }, (_, i) => `mi300x-${start + i}`),
  });
  const onNv = (i: number) => w("gpu", i, { pool: "h100", node: `h100-${i}` });
  const onAmd = (i: number) => w("gpu", i, { pool: "mi300x", node: `mi300x-${i}` });

  test("added workers admitted on a second pool become a second placement, keyed by their first index", () => {
    const needs = planUnadmitted([g("gpu", 4)], [onNv(0), onNv(1)], 0).needs;
    const delta = admission({ ...amd(2, 0), nodes: ["mi300x-2", "mi300x-3"] });
    expect(mergeAdmission(needs, delta, facts, now)).toEqual({
      admittedAt: now,
      placements: [{ ...nv(2), vendor: "h100-vendor", resourceName: "h100/dev" }, amd(2, 2)],
    });
  });

  test("added workers on the pool of the newest run extend that run", () => {
    const needs = planUnadmitted([g("gpu", 4)], [onNv(0), onNv(1), onAmd(2)], 0).needs;
    const delta = admission({ ...amd(1, 0), nodes: ["mi300x-3"] });
    expect(mergeAdmission(needs, delta, facts, now)?.placements).toEqual([
      { ...nv(2), vendor: "h100-vendor", resourceName: "h100/dev" },
      amd(2, 2),
    ]);
  });

  test("a gap in the first run filled on another pool cuts the runs by pool", () => {
    const needs = planUnadmitted([g("gpu", 3)], [onNv(0), onNv(2)], 0).needs;
    const delta = admission({ ...amd(1, 0), nodes: ["mi300x-1"] });
    expect(
      mergeAdmission(needs, delta, facts, now)?.placements?.map((p) => [p.group, p.pool, p.nodes]),
    ).toEqual([
      ["gpu", "h100", ["h100-0"]],
      ["gpu/1", "mi300x", ["mi300x-1"]],
      ["gpu/2", "h100", ["h100-2"]],
    ]);
  });

  test("each worker is created on its own run's pool and node", () => {
    const plan = planAdmitted([g("gpu", 4)], admission(amd(2, 2), nv(2)), []);
    expect(plan.creates.map((c) => [c.index, c.placement.pool, c.node])).toEqual([
      [0, "h100", "h100-0"],
      [1, "h100", "h100-1"],
      [2, "mi300x", "mi300x-2"],
      [3, "mi300x", "mi300x-3"],
    ]);
    expect(plan.wantMore.size).toBe(0);
  });

  test("steady on two pools: the admission is kept as it is", () => {
    const a = admission(nv(2), amd(2, 2));
    const plan = planAdmitted([g("gpu", 4)], a, [onNv(0), onNv(1), onAmd(2), onAmd(3)]);
    expect(plan).toMatchObject({ creates: [], deletes: [], released: false });
    expect(plan.admission).toEqual(a);
  });

  test("scale down removes the newest first across placements: the second run is cut, then dropped", () => {
    const all = [onNv(0), onNv(1), onAmd(2), onAmd(3)];
    const three = planAdmitted([g("gpu", 3)], admission(nv(2), amd(2, 2)), all);
    expect(three.deletes.map((d) => d.name)).toEqual(["rc-gpu-3"]);
    expect(three.admission?.placements).toEqual([nv(2), amd(1, 2)]);
    expect(three.trimmed.get("gpu")).toEqual([4, 3]);

    const one = planAdmitted([g("gpu", 1)], admission(nv(2), amd(2, 2)), all);
    expect(one.deletes.map((d) => d.name)).toEqual(["rc-gpu-3", "rc-gpu-2", "rc-gpu-1"]);
    expect(one.admission?.placements).toEqual([nv(1)]);
  });

  test("a quota preemption keeps the oldest workers across placements: the newest run goes first", () => {
    const a = admission(nv(2), amd(2, 2));
    expect(keepWorkers(a, [{ group: "gpu", keep: 3 }]).placements).toEqual([nv(2), amd(1, 2)]);
    expect(keepWorkers(a, [{ group: "gpu", keep: 1 }]).placements).toEqual([nv(1)]);
    // Applied twice, or asking for no fewer than it holds: the same record.
    expect(keepWorkers(a, [{ group: "gpu", keep: 4 }])).toBe(a);
    const cut = keepWorkers(a, [{ group: "gpu", keep: 3 }]);
    expect(keepWorkers(cut, [{ group: "gpu", keep: 3 }])).toBe(cut);
  });

  test("scale up of a group on two pools releases the admission once all are bound", () => {
    const plan = planAdmitted([g("gpu", 6)], admission(nv(2), amd(2, 2)), [
      onNv(0),
      onNv(1),
      onAmd(2),
      onAmd(3),
    ]);
    expect(plan).toMatchObject({ released: true, admission: undefined });
    expect(plan.wantMore.get("gpu")).toBe(2);
  });
});

describe("retiring a worker by name: slots that need not be contiguous", () => {
  const run = (start: number, nodes: string[]) => ({
    group: start === 0 ? "gpu" : `gpu/${start}`,
    pool: "gpu-pool",
    vendor: "nvidia",
    resourceName: "nvidia.com/gpu",
    replicas: nodes.length,
    nodes,
  });
  const three = admission(placement("gpu", 3));
  const all = [w("gpu", 0), w("gpu", 1), w("gpu", 2)];

  test("the middle worker's slot is cut out: its run splits, the others keep index and node", () => {
    const out = retireSlots(three, [{ group: "gpu", index: 1 }]);
    expect(out.placements).toEqual([run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"])]);
    expect(admittedSlots(out, "gpu")).toEqual([0, 2]);
    expect(keptSlots(out, "gpu", 1)).toEqual([0]);
    // Nothing of the group to retire: the same record.
    expect(retireSlots(three, [{ group: "tpu", index: 1 }])).toBe(three);
    expect(retireSlots(three, [{ group: "gpu", index: 7 }])).toBe(three);
  });

  test("planAdmitted deletes exactly the retired worker, releases its node, and touches no other", () => {
    const plan = planAdmitted([g("gpu", 2)], three, all, true, [{ group: "gpu", index: 1 }]);
    expect(plan.deletes).toEqual([
      { name: "rc-gpu-1", uid: "uid-gpu-1", group: "gpu", index: 1, reason: "ScaleDown" },
    ]);
    expect(plan.creates).toEqual([]);
    expect(plan.admission?.placements).toEqual([run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"])]);
    expect(plan.trimmed.get("gpu")).toEqual([3, 2]);
    expect(plan.wantMore.size).toBe(0);
  });

  test("the record with a gap is the state: steady afterwards, and a lost worker comes back on its node", () => {
    const gapped = admission(run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"]));
    const steady = planAdmitted([g("gpu", 2)], gapped, [
      w("gpu", 0),
      w("gpu", 1, { terminating: true }),
      w("gpu", 2),
    ]);
    expect(steady).toMatchObject({ creates: [], deletes: [], released: false });
    expect(steady.admission).toEqual(gapped);
    // Worker 2 deleted (or failed and deleted): created again on its own node, not as worker 1.
    const lost = planAdmitted([g("gpu", 2)], gapped, [w("gpu", 0)]);
    expect(lost.creates.map((c) => [c.index, c.node, c.placement.group])).toEqual([
      [2, "gpu-node-2", "gpu/2"],
    ]);
    // A smaller count keeps the oldest slots: 2 goes, 0 stays.
    const one = planAdmitted([g("gpu", 1)], gapped, [w("gpu", 0), w("gpu", 2)]);
    expect(one.deletes.map((d) => d.name)).toEqual(["rc-gpu-2"]);
    expect(one.admission?.placements).toEqual([run(0, ["gpu-node-0"])]);
  });

  test("a scale-up after a retirement fills the gap first, and the busy workers keep their nodes", () => {
    const live = [w("gpu", 0), w("gpu", 2)];
    const released = planAdmitted(
      [g("gpu", 4)],
      admission(run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"])),
      live,
    );
    expect(released).toMatchObject({ released: true, admission: undefined });
    expect(released.wantMore.get("gpu")).toBe(2);
    const needs = planUnadmitted([g("gpu", 4)], live, 0).needs;
    expect(needs.map((n) => [n.pods, n.live.map((x) => x.index)])).toEqual([[2, [0, 2]]]);
    const delta = admission({ ...placement("gpu", 2), nodes: ["n-a", "n-b"] });
    const merged = mergeAdmission(needs, delta, () => undefined, "2026-02-02T00:00:00.000Z");
    expect(merged?.placements).toEqual([
      { ...placement("gpu", 4), nodes: ["gpu-node-0", "n-a", "gpu-node-2", "n-b"] },
    ]);
  });

  test("a merge of running workers with a gap and nothing added keeps the gap as two runs", () => {
    const needs = planUnadmitted([g("gpu", 2)], [w("gpu", 0), w("gpu", 2)], 0).needs;
    const merged = mergeAdmission(
      needs,
      undefined,
      () => ({ vendor: "nvidia", resourceName: "nvidia.com/gpu" }),
      "t",
    );
    expect(merged?.placements).toEqual([run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"])]);
  });

  test("without admission the first `replicas` workers by index stay, and a retired one goes first", () => {
    const plan = planUnadmitted([g("gpu", 2)], [w("gpu", 0), w("gpu", 2), w("gpu", 5)], 0);
    expect(plan.deletes.map((d) => `${d.name}:${d.reason}`)).toEqual(["rc-gpu-5:ScaleDown"]);
    const retired = planUnadmitted([g("gpu", 2)], [w("gpu", 0), w("gpu", 2), w("gpu", 5)], 0, [
      { group: "gpu", index: 2 },
    ]);
    expect(retired.deletes.map((d) => d.name)).toEqual(["rc-gpu-2"]);
    expect(retired.needs.map((n) => n.live.map((x) => x.index))).toEqual([[0, 5]]);
  });

  test("a blocked plan (a worker not yet bound) retires nothing: no status is written with it", () => {
    // Worker 1 idle and retired, 2 not yet bound, 3 busy: nothing is deleted, 3 above all.
    const ws = [w("gpu", 0), w("gpu", 1), w("gpu", 2, { node: undefined, createdAt: 0 }), w("gpu", 3)];
    const plan = planUnadmitted([g("gpu", 3)], ws, 1, [{ group: "gpu", index: 1 }]);
    expect(plan.blocked).toBe(true);
    expect(plan.deletes).toEqual([]);
  });

  test("countedWorkers: the workers of the kept slots, or the first by index without admission", () => {
    const gapped = admission(run(0, ["gpu-node-0"]), run(2, ["gpu-node-2"]), run(3, ["gpu-node-3"]));
    const ws = [w("gpu", 0), w("gpu", 2), w("gpu", 3), w("gpu", 4)];
    expect(countedWorkers(gapped, "gpu", 2, ws).map((x) => x.index)).toEqual([0, 2]);
    expect(countedWorkers(undefined, "gpu", 3, ws).map((x) => x.index)).toEqual([0, 2, 3]);
  });

  test("a quota preemption cuts a gapped group by index, as the engine's surplus counts", () => {
    const gapped = admission(run(0, ["a", "b"]), run(3, ["d", "e"]));
    expect(keepWorkers(gapped, [{ group: "gpu", keep: 4 }]).placements).toEqual([
      run(0, ["a", "b"]),
      run(3, ["d"]),
    ]);
    expect(keepWorkers(gapped, [{ group: "gpu", keep: 1 }]).placements).toEqual([run(0, ["a"])]);
  });

  test("property: retiring idle workers deletes exactly them; every other worker keeps its pod and node", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
        (present, retireMask) => {
          // A group whose slots are the indices `present` marks, runs of consecutive ones.
          const slots = present.flatMap((p, i) => (p ? [i] : []));
          const runs: ReturnType<typeof run>[] = [];
          for (const i of slots) {
            const last = runs.at(-1);
            if (last && last.replicas + (last.group === "gpu" ? 0 : Number(last.group.slice(4))) === i) {
              last.replicas++;
              last.nodes.push(`node-${i}`);
            } else runs.push(run(i, [`node-${i}`]));
          }
          if (runs.length === 0) return;
          const a = admission(...runs);
          const workers = slots.map((i) => w("gpu", i, { node: `node-${i}` }));
          const retire = slots.filter((_, n) => retireMask[n]).map((index) => ({ group: "gpu", index }));
          const plan = planAdmitted([g("gpu", slots.length - retire.length)], a, workers, true, retire);
          const gone = new Set(retire.map((r) => r.index));
          expect(plan.deletes.map((d) => d.index).sort((x, y) => x - y)).toEqual(
            [...gone].sort((x, y) => x - y),
          );
          expect(plan.creates).toEqual([]);
          const kept = plan.admission ?? { placements: [] };
          expect(admittedSlots(kept, "gpu")).toEqual(slots.filter((i) => !gone.has(i)));
          // Each survivor's slot still names its own node.
          for (const p of kept.placements ?? [])
            p.nodes?.forEach((node, offset) => {
              expect(node).toBe(`node-${(p.group === "gpu" ? 0 : Number(p.group.slice(4))) + offset}`);
            });
        },
      ),
    );
  });
});
