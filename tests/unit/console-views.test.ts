// The rows the console shows, from objects as the API server returns them.
import { describe, expect, it } from "vitest";
import { renderDescription } from "../../cli/output/describe.ts";
import { queueOrder } from "../../console/server/queue-order.ts";
import {
  countsFor,
  quantileBetween,
  rejectedPerSecond,
  wantedSeries,
} from "../../console/server/router-metrics.ts";
import { pointFrom } from "../../console/server/router-stats.ts";
import { ConsoleState } from "../../console/server/state.ts";
import {
  eventRow,
  nodeRow,
  podOwner,
  poolMatch,
  poolRow,
  serviceRow,
  timelineOf,
  workloadRow,
} from "../../console/server/views.ts";
import { trainingJobResource } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/resource.ts";
import { parsePrometheusText } from "../../router/prom-text.ts";

const pool = (name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject =>
  ({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "AcceleratorPool",
    metadata: { name },
    spec,
    status,
  }) as KubeObject;

const node = (
  name: string,
  labels: Record<string, string>,
  allocatable: Record<string, string>,
  ready = true,
): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels },
    status: { allocatable, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  }) as KubeObject;

const pod = (
  name: string,
  nodeName: string,
  limits: Record<string, string>,
  labels: Record<string, string> = {},
  phase = "Running",
): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "team-a", labels },
    spec: { nodeName, containers: [{ name: "c", resources: { limits } }] },
    status: { phase, containerStatuses: [{ name: "c", ready: phase === "Running", restartCount: 0 }] },
  }) as KubeObject;

const jobLabels = (name: string) => ({
  "stack.sovereign.dev/kind": "trainingjob",
  "stack.sovereign.dev/name": name,
});

describe("console rows", () => {
  it("counts a node's devices by its pool's resource and who holds them", () => {
    const pools = [poolMatch(pool("h100", { vendor: "nvidia" })), poolMatch(pool("mi", { vendor: "amd" }))];
    const n = node("h100-0", { "sovereign.dev/pool": "h100" }, { "nvidia.com/gpu": "8", cpu: "64" });
    const row = nodeRow(n, pools, [
      pod("a-0", "h100-0", { "nvidia.com/gpu": "4" }, jobLabels("a")),
      pod("a-1", "h100-0", { "nvidia.com/gpu": "2" }, jobLabels("a")),
      pod("stray", "h100-0", { "nvidia.com/gpu": "1" }),
      pod("done", "h100-0", { "nvidia.com/gpu": "1" }, jobLabels("b"), "Succeeded"),
      pod("cpu", "h100-0", { cpu: "1" }, jobLabels("c")),
    ]);
    expect(row).toMatchObject({ name: "h100-0", pool: "h100", vendor: "nvidia", devices: 8, ready: true });
    expect(row.holders).toEqual([
      { holder: "Pod/team-a/stray", devices: 1 },
      { holder: "TrainingJob/team-a/a", devices: 6 },
    ]);
  });

  it("matches nodes by a pool's own selector, and a node of no pool by the devices it advertises", () => {
    const custom = poolMatch(
      pool("big", {
        vendor: "amd",
        nodeSelector: { matchExpressions: [{ key: "gpu", operator: "In", values: ["mi300x"] }] },
      }),
    );
    expect(nodeRow(node("x", { gpu: "mi300x" }, { "amd.com/gpu": "8" }), [custom], []).pool).toBe("big");
    const loose = nodeRow(node("y", {}, { "google.com/tpu": "4" }, false), [custom], []);
    expect(loose).toMatchObject({ pool: undefined, vendor: "google", devices: 4, ready: false });
  });

  it("keeps a pool's status numbers and says when there are none yet", () => {
    expect(
      poolRow(
        pool(
          "h100",
          { vendor: "nvidia", model: "H100", memoryGiB: 80 },
          { capacity: 32, allocated: 8, free: 24 },
        ),
      ),
    ).toMatchObject({
      name: "h100",
      vendor: "nvidia",
      capacity: 32,
      allocated: 8,
      free: 24,
      paused: false,
    });
    expect(poolRow(pool("new", { vendor: "nvidia", paused: true })).capacity).toBeUndefined();
  });

  it("says why a job waits in describe's own words", () => {
    const job = {
      apiVersion: trainingJobResource.apiVersion,
      kind: "TrainingJob",
      metadata: {
        name: "big",
        namespace: "team-a",
        creationTimestamp: "2026-01-01T00:00:00Z",
        generation: 1,
      },
      spec: { image: "i", nodes: 2, accelerators: { count: 8, minMemoryGiB: 80, vendors: ["nvidia"] } },
      status: {
        phase: "Queued",
        queuePosition: 2,
        conditions: [
          {
            type: "Admitted",
            status: "False",
            reason: "InsufficientCapacity",
            message: "needs 2 nodes with 8 free devices; pool h100 has 1",
            lastTransitionTime: "2026-01-01T00:00:05Z",
          },
        ],
      },
    } as KubeObject;
    const row = workloadRow("TrainingJob", job, [], []);
    expect(row.admission).toEqual({
      label: "Queue",
      text: "position 2: needs 2 nodes with 8 free devices; pool h100 has 1",
    });
    expect(row.needs).toBe("2 x (8 devices of at least 80 GiB, vendor nvidia)");
    const described = renderDescription({
      kind: trainingJobResource,
      object: job as never,
      events: [],
      children: [],
      now: Date.parse("2026-01-01T00:01:00Z"),
    });
    expect(described).toContain(`Queue:`);
    expect(described).toContain(row.admission?.text);
    expect(podOwner(pod("big-0-0", "n", {}, jobLabels("big")))).toBe("TrainingJob/team-a/big");
  });

  it("orders the queue by position, then age, unpositioned last", () => {
    const w = (id: string, phase: string, queuePosition?: number, created?: string) =>
      ({ id, phase, queuePosition, created }) as never;
    const order = queueOrder([
      w("running", "Running"),
      w("c", "Queued", undefined, "2026-01-01T00:00:00Z"),
      w("b", "Queued", 2),
      w("a", "Queued", 1),
    ]).map((x: { id: string }) => x.id);
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("builds a timeline from status dates and the phases seen, without doubles", () => {
    const obj = {
      metadata: { name: "j", creationTimestamp: "2026-01-01T00:00:00Z" },
      status: {
        startTime: "2026-01-01T00:00:10Z",
        conditions: [{ type: "Admitted", status: "True", lastTransitionTime: "2026-01-01T00:00:08Z" }],
      },
    } as KubeObject;
    const seen = [
      { phase: "Admitted", time: "2026-01-01T00:00:09Z" },
      { phase: "Running", time: "2026-01-01T00:00:11Z" },
    ];
    expect(timelineOf(obj, seen).map((m) => m.phase)).toEqual(["Created", "Admitted", "Started", "Running"]);
  });

  it("shows a service's replicas per vendor from its placements", () => {
    const isvc = {
      metadata: { name: "llama", namespace: "ml" },
      spec: { router: { enabled: true } },
      status: {
        phase: "Ready",
        replicas: 3,
        readyReplicas: 2,
        placements: [
          { pool: "h100", replicas: 1, readyReplicas: 1, devicesPerReplica: 4 },
          { pool: "mi300x", replicas: 2, readyReplicas: 1, devicesPerReplica: 1 },
        ],
      },
    } as KubeObject;
    const row = serviceRow(
      isvc,
      new Map([
        ["h100", "nvidia"],
        ["mi300x", "amd"],
      ]),
    );
    expect(row).toMatchObject({ id: "InferenceService/ml/llama", routed: true, replicas: 3, ready: 2 });
    expect(row.perVendor.map((p) => `${p.vendor}:${p.ready}/${p.replicas}`)).toEqual([
      "nvidia:1/1",
      "amd:1/2",
    ]);
  });

  it("reads the project's events and the router's stats", () => {
    const e = eventRow({
      metadata: { name: "e1", namespace: "team-a" },
      involvedObject: { kind: "TrainingJob", namespace: "team-a", name: "big" },
      type: "Normal",
      reason: "Queued",
      message: "queued at\nposition 2",
      count: 3,
      source: { component: "sovereign.dev/trainingjob" },
    } as unknown as KubeObject);
    expect(e).toMatchObject({ about: "TrainingJob/team-a/big", count: 3, message: "queued at position 2" });
    const stats = {
      services: [
        {
          service: "llama",
          routerQueued: 4,
          inFlight: 2,
          requestsPerSecond: { "1s": 7.5 },
          tokensPerSecond: { "1s": 300 },
        },
      ],
    };
    expect(pointFrom(stats, { name: "llama" }, 1)).toEqual({
      t: 1,
      model: undefined,
      rejectedPerSecond: 0,
      requestsPerSecond: 7.5,
      queued: 4,
      inFlight: 2,
      tokensPerSecond: 300,
    });
    // The router's own name for what it fronts, found by the served model; one entry is the one.
    const named = {
      services: [
        { service: "pods:m1", model: "m1" },
        { service: "pods:m2", model: "m2", inFlight: 5 },
      ],
    };
    expect(pointFrom(named, { name: "svc", servedModel: "m2" }, 1)?.inFlight).toBe(5);
    expect(pointFrom(named, { name: "svc", servedModel: "m3" }, 1)).toBeUndefined();
    expect(pointFrom({ services: [{ service: "pods:x", inFlight: 1 }] }, { name: "svc" }, 1)?.inFlight).toBe(
      1,
    );
    expect(pointFrom("garbage", { name: "llama" }, 1)).toBeUndefined();
  });
});

describe("router figures from /metrics", () => {
  const page = (ttft: Record<string, number>, rejected: number) =>
    [
      ...Object.entries(ttft).map(
        ([le, n]) => `sovereign_router_time_to_first_token_seconds_bucket{model="llm",le="${le}"} ${n}`,
      ),
      'sovereign_router_time_to_first_token_seconds_bucket{model="other",le="+Inf"} 99',
      `sovereign_router_requests_total{tenant="a",model="llm",code="429"} ${rejected}`,
      'sovereign_router_requests_total{tenant="a",model="llm",code="200"} 50',
    ].join("\n");
  const counts = (text: string) => countsFor(parsePrometheusText(text, wantedSeries), "llm");

  it("takes percentiles and 429s over the interval between two scrapes, for the service's model", () => {
    const before = counts(page({ "0.1": 10, "0.2": 10, "0.4": 10, "+Inf": 10 }, 3));
    // Since then: 90 more under 0.1 s, 8 between 0.2 and 0.4 s, 2 slower than 0.4 s.
    const after = counts(page({ "0.1": 100, "0.2": 100, "0.4": 108, "+Inf": 110 }, 13));
    expect(quantileBetween(before, after, 0.5)).toBe(0.1);
    expect(quantileBetween(before, after, 0.95)).toBe(0.4);
    // Beyond the last finite bound: that bound, the most a histogram can say.
    expect(quantileBetween(before, after, 0.99)).toBe(0.4);
    expect(rejectedPerSecond(before, after, 2)).toBe(5);
    // Nothing happened: no percentile rather than a stale one.
    expect(quantileBetween(after, after, 0.5)).toBeUndefined();
    expect(rejectedPerSecond(undefined, after, 2)).toBe(0);
    // A restarted router (counters back at zero) is not a negative rate.
    expect(rejectedPerSecond(after, before, 2)).toBe(0);
  });
});

describe("console state", () => {
  it("sends a changed row once per flush, an unchanged one never, and a delete after an upsert as a delete", () => {
    const s = new ConsoleState("https://k");
    s.put("pools", { id: "a", name: "a", vendor: "nvidia", model: "", paused: false });
    s.put("pools", { id: "a", name: "a", vendor: "nvidia", model: "", paused: true });
    s.put("pools", { id: "b", name: "b", vendor: "amd", model: "", paused: false });
    expect(s.flush()).toEqual({
      upserts: {
        pools: [
          { id: "a", name: "a", vendor: "nvidia", model: "", paused: true },
          { id: "b", name: "b", vendor: "amd", model: "", paused: false },
        ],
      },
      deletes: {},
    });
    s.put("pools", { id: "a", name: "a", vendor: "nvidia", model: "", paused: true });
    expect(s.flush()).toBeUndefined();
    s.put("pools", { id: "b", name: "b", vendor: "amd", model: "x", paused: false });
    s.remove("pools", "b");
    expect(s.flush()).toEqual({ upserts: {}, deletes: { pools: ["b"] } });
    expect(s.snapshot().pools.map((p) => p.id)).toEqual(["a"]);
  });
});
