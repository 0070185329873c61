import { describe, expect, test } from "vitest";
import { eventsFor } from "../../controllers/raycluster/events.ts";
import { type AdmissionWait, computeStatus, type StatusInput } from "../../controllers/raycluster/status.ts";
import type { PodHealth, WorkerView } from "../../controllers/raycluster/workers.ts";
import {
  type AdmissionStatus,
  type RayCluster,
  type RayClusterStatus,
  rayClusterResource,
} from "../../crds/index.ts";

const now = new Date("2026-03-01T12:00:00Z");
const later = new Date("2026-03-01T12:05:00Z");

const cluster = (over: { spec?: Record<string, unknown>; status?: RayClusterStatus } = {}): RayCluster => ({
  ...rayClusterResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "RayCluster",
    metadata: { name: "rc", namespace: "ns", uid: "u", generation: 3 },
    spec: {
      rayVersion: "2.52.0",
      image: "rayproject/ray:2.52.0",
      workerGroups: [
        { name: "gpu", replicas: 2, accelerators: { count: 1 } },
        { name: "tpu", replicas: 1, accelerators: { count: 4, vendors: ["google"] } },
      ],
      ...over.spec,
    },
  }),
  status: over.status,
});

const w = (group: string, index: number, more: Partial<WorkerView> = {}): WorkerView => ({
  name: `rc-${group}-${index}`,
  uid: "u",
  group,
  index,
  node: `n-${group}-${index}`,
  pool: group === "gpu" ? "h100" : "tpu-v5e",
  terminating: false,
  finished: false,
  ready: true,
  broken: false,
  createdAt: 0,
  ...more,
});
const allWorkers = [w("gpu", 0), w("gpu", 1), w("tpu", 0)];

const admission: AdmissionStatus = {
  admittedAt: "2026-03-01T11:00:00.000Z",
  placements: [
    { group: "gpu", pool: "h100", replicas: 2, nodes: ["n-gpu-0", "n-gpu-1"] },
    { group: "tpu", pool: "tpu-v5e", replicas: 1, nodes: ["n-tpu-0"] },
  ],
};

const readyHead: PodHealth = { terminating: false, finished: false, ready: true, broken: false };
const startingHead: PodHealth = { ...readyHead, ready: false };
const queued: AdmissionWait = {
  type: "queued",
  position: 3,
  code: "InsufficientCapacity",
  reason: "needs 2 nodes",
};

const input = (over: Partial<StatusInput> = {}): StatusInput => ({
  rc: cluster(),
  head: readyHead,
  workers: allWorkers,
  admission,
  wantMore: new Map(),
  wait: undefined,
  now,
  ...over,
});

const cond = (s: RayClusterStatus, type: string) => s.conditions?.find((c) => c.type === type);
const readyStatus = computeStatus(input());

describe("phase and conditions", () => {
  test.each([
    {
      what: "a new cluster in the queue, head starting",
      in: { head: startingHead, workers: [], admission: undefined, wait: queued },
      phase: "Pending",
      ready: "HeadNotReady",
      admitted: ["False", "InsufficientCapacity"],
    },
    {
      what: "head ready, workers still queued",
      in: { workers: [], admission: undefined, wait: queued },
      phase: "Pending",
      ready: "WaitingForAdmission",
      admitted: ["False", "InsufficientCapacity"],
    },
    {
      what: "admitted, workers starting",
      in: { workers: allWorkers.map((x) => ({ ...x, ready: false })) },
      phase: "Pending",
      ready: "WorkersNotReady",
      admitted: ["True", "Admitted"],
    },
    {
      what: "everything ready",
      in: {},
      phase: "Ready",
      ready: "ClusterReady",
      admitted: ["True", "Admitted"],
    },
    {
      what: "a failing worker before the cluster was ever ready",
      in: { workers: [w("gpu", 0), w("gpu", 1, { broken: true, ready: false }), w("tpu", 0)] },
      phase: "Pending",
      ready: "WorkersFailing",
      admitted: ["True", "Admitted"],
    },
  ] as const)("$what -> $phase", (c) => {
    const s = computeStatus(input(c.in as Partial<StatusInput>));
    expect(s.phase).toBe(c.phase);
    expect(cond(s, "Ready")?.reason).toBe(c.ready);
    expect([cond(s, "Admitted")?.status, cond(s, "Admitted")?.reason]).toEqual(c.admitted);
  });

  test("a ready cluster reports endpoints, per-group pools and counts, and observedGeneration", () => {
    expect(readyStatus).toMatchObject({
      observedGeneration: 3,
      phase: "Ready",
      desiredWorkers: 3,
      readyWorkers: 3,
      endpoints: {
        gcs: "rc-head.ns.svc:6379",
        dashboard: "http://rc-head.ns.svc:8265",
        client: "ray://rc-head.ns.svc:10001",
      },
      workerGroups: [
        { name: "gpu", pool: "h100", replicas: 2, readyReplicas: 2 },
        { name: "tpu", pool: "tpu-v5e", replicas: 1, readyReplicas: 1 },
      ],
      admission,
    });
    expect(cond(readyStatus, "HeadReady")?.status).toBe("True");
    expect(cond(readyStatus, "Ready")?.message).toBe("head and 3 of 3 workers ready");
    expect(readyStatus.queuePosition).toBeUndefined();
  });

  const wasReady = cluster({ status: readyStatus });

  test("a lost head makes a ready cluster Degraded, and it is Ready again once the new head is", () => {
    const lost = computeStatus(input({ rc: wasReady, head: startingHead, now: later }));
    expect(lost.phase).toBe("Degraded");
    expect(cond(lost, "HeadReady")).toMatchObject({
      status: "False",
      reason: "HeadPodNotReady",
      lastTransitionTime: "2026-03-01T12:05:00Z",
    });
    const back = computeStatus(input({ rc: cluster({ status: lost }), now: later }));
    expect(back.phase).toBe("Ready");
  });

  test("a failing or missing worker makes a ready cluster Degraded", () => {
    const failing = computeStatus(
      input({
        rc: wasReady,
        workers: [w("gpu", 0), w("gpu", 1, { broken: true, ready: false }), w("tpu", 0)],
      }),
    );
    expect(failing.phase).toBe("Degraded");
    expect(cond(failing, "Ready")?.message).toContain("rc-gpu-1");
    const missing = computeStatus(input({ rc: wasReady, workers: [w("gpu", 0), w("tpu", 0)] }));
    expect(missing.phase).toBe("Degraded");
  });

  test("workers that are only starting (a replacement, a scale-up) keep a ready cluster Ready", () => {
    const s = computeStatus(
      input({ rc: wasReady, workers: [w("gpu", 0), w("gpu", 1, { ready: false }), w("tpu", 0)] }),
    );
    expect(s.phase).toBe("Ready");
    expect(s.readyWorkers).toBe(2);
  });

  test("while added workers wait for admission, the running cluster stays Ready and says why", () => {
    const grown = cluster({
      status: readyStatus,
      spec: {
        workerGroups: [
          { name: "gpu", replicas: 4 },
          { name: "tpu", replicas: 1 },
        ],
      },
    });
    const s = computeStatus(
      input({ rc: grown, admission: undefined, wantMore: new Map([["gpu", 2]]), wait: queued }),
    );
    expect(s.phase).toBe("Ready");
    expect(s.desiredWorkers).toBe(5);
    expect(s.queuePosition).toBe(3);
    expect(s.admission).toBeUndefined();
    expect(cond(s, "Admitted")).toMatchObject({ status: "False", reason: "InsufficientCapacity" });
    expect(cond(s, "Admitted")?.message).toBe(
      "2 more workers of group gpu: queued at position 3: needs 2 nodes",
    );
    expect(cond(s, "Ready")?.message).toContain("2 more workers of group gpu wait for admission");
  });

  test("an unschedulable cluster says so in its own condition, which goes once it is admitted", () => {
    const wait: AdmissionWait = { type: "unschedulable", code: "NoMatchingPool", reason: "no pool has TPUs" };
    const s = computeStatus(input({ workers: [], admission: undefined, wait }));
    expect(cond(s, "Unschedulable")).toMatchObject({
      status: "True",
      reason: "NoMatchingPool",
      message: "no pool has TPUs",
    });
    expect(s.queuePosition).toBeUndefined();
    const admitted = computeStatus(input({ rc: cluster({ status: s }) }));
    expect(cond(admitted, "Unschedulable")).toBeUndefined();
  });

  test("suspended: no pods, no admission, no endpoints; resuming starts from Pending", () => {
    const suspended = cluster({ status: readyStatus, spec: { suspend: true } });
    const s = computeStatus(input({ rc: suspended, head: undefined, workers: [], admission: undefined }));
    expect(s).toMatchObject({ phase: "Suspended", desiredWorkers: 0, readyWorkers: 0 });
    expect(s.endpoints).toBeUndefined();
    expect(s.admission).toBeUndefined();
    for (const type of ["Admitted", "HeadReady", "Ready"]) expect(cond(s, type)?.reason).toBe("Suspended");
    const resumed = computeStatus(
      input({
        rc: cluster({ status: s }),
        head: startingHead,
        workers: [],
        admission: undefined,
        wait: queued,
      }),
    );
    expect(resumed.phase).toBe("Pending");
  });

  test("a head-only cluster needs no admission and is Ready with its head", () => {
    const headOnly = cluster({ spec: { workerGroups: [] } });
    const s = computeStatus(input({ rc: headOnly, workers: [], admission: undefined }));
    expect(s).toMatchObject({ phase: "Ready", desiredWorkers: 0, readyWorkers: 0, workerGroups: [] });
    expect(cond(s, "Admitted")).toMatchObject({ status: "True", reason: "NoWorkers" });
  });

  test("the same observation twice gives the same status (no write on a repeated reconcile)", () => {
    const again = computeStatus(input({ rc: cluster({ status: readyStatus }), now: later }));
    expect(again).toEqual(readyStatus);
  });
});

describe("events", () => {
  const none = {
    deletes: [],
    headRecreated: false,
    released: false,
    trimmed: new Map<string, [number, number]>(),
  };
  const reasons = (previous: RayClusterStatus | undefined, next: RayClusterStatus, more = {}) =>
    eventsFor({ previous, next, ...none, ...more }).map((e) => `${e.type}/${e.reason}`);

  test("admission and readiness are announced once", () => {
    const pending = computeStatus(input({ workers: [], admission: undefined, wait: queued }));
    expect(reasons(undefined, pending)).toEqual([]);
    expect(reasons(pending, readyStatus)).toEqual(["Normal/Admitted", "Normal/Ready"]);
    expect(reasons(readyStatus, readyStatus)).toEqual([]);
  });

  test("degraded, recreated head, failed workers, scaling, suspend and resume", () => {
    const degraded = computeStatus(input({ rc: cluster({ status: readyStatus }), head: startingHead }));
    expect(reasons(readyStatus, degraded, { headRecreated: true })).toEqual([
      "Warning/HeadRecreated",
      "Warning/Degraded",
    ]);
    expect(
      reasons(readyStatus, readyStatus, {
        deletes: [{ name: "rc-gpu-0", uid: "u", group: "gpu", index: 0, reason: "Failed" }],
        trimmed: new Map([["tpu", [2, 1]]]),
        released: true,
      }),
    ).toEqual(["Normal/ScalingUp", "Normal/ScaledDown", "Warning/WorkerFailed"]);
    const suspended = { ...readyStatus, phase: "Suspended" as const, admission: undefined };
    expect(reasons(readyStatus, suspended)).toEqual(["Normal/Suspended"]);
    const pending = { ...readyStatus, phase: "Pending" as const };
    expect(reasons(suspended, pending)).toEqual(["Normal/Admitted", "Normal/Resumed"]);
  });
});

describe("a group on two pools", () => {
  const spec = { workerGroups: [{ name: "gpu", replicas: 4, accelerators: { count: 1 } }] };
  const twoPools: AdmissionStatus = {
    admittedAt: "2026-03-01T11:00:00.000Z",
    placements: [
      { group: "gpu", pool: "h100", replicas: 2, nodes: ["n-gpu-0", "n-gpu-1"] },
      { group: "gpu/2", pool: "mi300x", replicas: 2, nodes: ["n-gpu-2", "n-gpu-3"] },
    ],
  };
  const workers = [0, 1, 2, 3].map((i) => w("gpu", i, { pool: i < 2 ? "h100" : "mi300x" }));

  test("counts every run's workers, names the first run's pool and says where each run is", () => {
    const s = computeStatus(input({ rc: cluster({ spec }), workers, admission: twoPools }));
    expect(s.phase).toBe("Ready");
    expect(s.workerGroups).toEqual([{ name: "gpu", pool: "h100", replicas: 4, readyReplicas: 4 }]);
    expect(cond(s, "Admitted")?.message).toBe(
      "group gpu on pool h100 (2 workers), group gpu on pool mi300x (2 workers)",
    );
  });

  test("a worker of the second run missing is a worker being replaced", () => {
    const s = computeStatus(
      input({ rc: cluster({ spec }), workers: workers.slice(0, 3), admission: twoPools }),
    );
    expect(cond(s, "Ready")?.message).toBe("1 worker failing or being replaced: rc-gpu-3");
  });
});
