// Which replicas of an InferenceService a quota preemption may take (never below its minimum),
// in what order, and how the record gives them back.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  minimumReplicas,
  type ReplicaPod,
  replicaPodsOf,
  type SurplusFacts,
  surplusReplicas,
  takeReplicas,
} from "../../controllers/inferenceservice/preemption.ts";
import { admittedReplicas, type Placement } from "../../controllers/inferenceservice/replicas.ts";
import type { Preemption } from "../../controllers/placement/index.ts";
import { type AdmissionStatus, inferenceServiceResource } from "../../crds/index.ts";

const place = (pool: string, replicas: number): Placement => ({
  group: `server/${pool}`,
  pool,
  vendor: "nvidia",
  resourceName: "nvidia.com/gpu",
  replicas,
});
const record = (...placements: Placement[]): AdmissionStatus => ({
  admittedAt: "2025-01-01T00:00:00.000Z",
  placements,
});

function svc(spec: Record<string, unknown>, admission: AdmissionStatus | undefined): InferenceServiceObject {
  return inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1", creationTimestamp: "2025-01-01T00:00:00Z" },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      accelerators: { count: 4 },
      ...spec,
    },
    ...(admission ? { status: { admission } } : {}),
  }) as InferenceServiceObject;
}

const autoscaled = (min: number, replicas: number, admission?: AdmissionStatus) =>
  svc(
    {
      replicas,
      autoscaling: { minReplicas: min, maxReplicas: 16 },
      ...(min === 0 ? { router: { enabled: true } } : {}),
    },
    admission,
  );

const facts: SurplusFacts = {
  devicesOn: () => 4,
  costOf: () => undefined,
  cpuMillis: 8000,
  memoryBytes: 2 ** 35,
};

const pod = (name: string, pool: string, extra: Partial<ReplicaPod> = {}): ReplicaPod => ({
  name,
  pool,
  node: `${pool}-node-${name}`,
  ready: true,
  terminating: false,
  marked: false,
  createdAt: 0,
  ...extra,
});

describe("the minimum a preemption never takes", () => {
  it("autoscaled: autoscaling.minReplicas; fixed size: every replica; spanning nodes: every replica", () => {
    expect(minimumReplicas(autoscaled(1, 3))).toBe(1);
    expect(minimumReplicas(autoscaled(2, 2))).toBe(2);
    expect(minimumReplicas(svc({ replicas: 3 }, undefined))).toBe(3);
    expect(minimumReplicas(svc({ replicas: 3, nodesPerReplica: 2 }, undefined))).toBe(3);
  });

  it("a fixed-size service offers nothing", () => {
    const fixed = svc({ replicas: 3 }, record(place("h100", 3)));
    expect(
      surplusReplicas(
        fixed,
        ["a", "b", "c"].map((n) => pod(n, "h100")),
        facts,
      ),
    ).toBeUndefined();
  });
});

describe("which replicas go first", () => {
  it("not Ready first, then the newest; pools in scale-down order (the last admitted first)", () => {
    const s = autoscaled(1, 5, record(place("h100", 3), place("l4", 2)));
    const pods = [
      pod("h-old", "h100", { createdAt: 1 }),
      pod("h-new", "h100", { createdAt: 3 }),
      pod("h-loading", "h100", { createdAt: 2, ready: false }),
      pod("l-a", "l4", { createdAt: 1 }),
      pod("l-b", "l4", { createdAt: 2 }),
      pod("l-gone", "l4", { createdAt: 9, terminating: true }),
    ];
    const surplus = surplusReplicas(s, pods, facts);
    // Every live pod is offered (any may go), 4 of the 5 at most (the minimum is 1).
    expect(surplus?.limit).toBe(4);
    expect(surplus?.pods.map((x) => [x.name, x.group, x.index])).toEqual([
      ["l-b", "server/l4", 1],
      ["l-a", "server/l4", 0],
      ["h-loading", "server/h100", 2],
      ["h-new", "server/h100", 1],
      ["h-old", "server/h100", 0],
    ]);
    expect(surplus?.pods[0]).toMatchObject({ pool: "l4", node: "l4-node-l-b", devices: 4, cpuMillis: 8000 });
  });

  it("pods beyond the admitted count are going: the marked ones, else the first to go, are not offered again", () => {
    // An earlier preemption took one of 3 (the record keeps 2) and marked its pod, which has not
    // gone yet: offering it again would take a second replica for the room the first makes.
    const s = autoscaled(1, 3, record(place("h100", 2)));
    const marked = surplusReplicas(
      s,
      [
        pod("a", "h100", { createdAt: 1 }),
        pod("b", "h100", { createdAt: 2, marked: true }),
        pod("c", "h100", { createdAt: 3 }),
      ],
      facts,
    );
    expect(marked?.pods.map((x) => x.name)).toEqual(["c", "a"]);
    expect(marked?.limit).toBe(1);
    // Unmarked (an ordinary scale-down): the pod the scale-down takes first is the one going.
    const unmarked = surplusReplicas(
      s,
      [
        pod("a", "h100", { createdAt: 1 }),
        pod("b", "h100", { createdAt: 2 }),
        pod("c", "h100", { createdAt: 3 }),
      ],
      facts,
    );
    expect(unmarked?.pods.map((x) => x.name)).toEqual(["b", "a"]);
  });

  it("the server pods only: not the router's, not finished ones", () => {
    const meta = (name: string, group: string) => ({
      metadata: {
        name,
        labels: { "stack.sovereign.dev/group": group, "stack.sovereign.dev/pool": "h100" },
        creationTimestamp: "2025-01-01T00:00:00Z",
      },
    });
    const pods = replicaPodsOf([
      {
        ...meta("s", "server"),
        spec: { nodeName: "n1" },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      },
      { ...meta("r", "router"), spec: { nodeName: "n2" } },
      { ...meta("f", "server"), status: { phase: "Failed" } },
    ]);
    expect(pods).toEqual([
      {
        name: "s",
        pool: "h100",
        node: "n1",
        ready: true,
        terminating: false,
        marked: false,
        createdAt: Date.parse("2025-01-01T00:00:00Z"),
      },
    ]);
  });
});

const admissionArb = fc
  .array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 })
  .map((counts) => record(...counts.map((n, i) => place(`p${i}`, n))));

describe("never below the minimum", () => {
  it("over random services: what is offered and what a preemption of it takes leave the minimum", () => {
    fc.assert(
      fc.property(
        admissionArb,
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.boolean(), { maxLength: 16 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 16 }),
        (admission, min, readiness, take) => {
          const admitted = admittedReplicas(admission);
          const s = autoscaled(min, Math.max(min, admitted), admission);
          // One pod per admitted replica, some not ready, all of distinct ages.
          let n = 0;
          const pods = (admission.placements ?? []).flatMap((p) =>
            Array.from({ length: p.replicas ?? 0 }, () => {
              const k = n++;
              return pod(`pod-${k}`, p.pool, { ready: readiness[k] ?? true, createdAt: k });
            }),
          );
          const offered = surplusReplicas(s, pods, facts);
          const minimum = minimumReplicas(s);
          expect(offered?.limit ?? 0).toBe(Math.max(0, admitted - minimum));
          if (offered) expect(offered.pods).toHaveLength(admitted);
          // Any subset the engine may take (at most the limit), as it states it: per group, the
          // names and the count kept.
          const chosen = (offered?.pods ?? [])
            .filter((_, k) => (take[k] ?? 0) > 1)
            .slice(0, offered?.limit ?? 0);
          const pods_ = new Map<string, string[]>();
          for (const x of chosen) pods_.set(x.group, [...(pods_.get(x.group) ?? []), x.name ?? ""]);
          const preemption: Preemption = {
            key: "InferenceService/ml/llama",
            by: "TrainingJob/ml/b",
            reason: "reclaims",
            pods: [...pods_].map(([group, names]) => {
              const size = (admission.placements ?? []).find((p) => p.group === group)?.replicas ?? 0;
              return { group, pods: names.length, keep: size - names.length, names };
            }),
          };
          const once = takeReplicas(admission, preemption, minimum);
          expect(once.replicas).toBe(chosen.length);
          expect(admittedReplicas(once.admission)).toBe(admitted - chosen.length);
          expect(admittedReplicas(once.admission)).toBeGreaterThanOrEqual(Math.min(admitted, minimum));
          // Read twice, applied once.
          const twice = takeReplicas(once.admission, preemption, minimum);
          expect([twice.admission, twice.replicas]).toEqual([once.admission, 0]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a record that grew since the pass is never cut below the minimum", () => {
    const preemption: Preemption = {
      key: "k",
      by: "TrainingJob/ml/b",
      reason: "r",
      pods: [{ group: "server/h100", pods: 2, keep: 1, names: ["a", "b"] }],
    };
    // The pass saw 3 on h100 (min 1); meanwhile the service holds 2 on h100 and 0 elsewhere.
    expect(admittedReplicas(takeReplicas(record(place("h100", 2)), preemption, 2).admission)).toBe(2);
    expect(admittedReplicas(takeReplicas(record(place("h100", 3)), preemption, 1).admission)).toBe(1);
  });
});
