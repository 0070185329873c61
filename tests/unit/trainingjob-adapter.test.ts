// How a TrainingJob asks for admission: the gang it offers the placement engine, when it asks
// at all, and how an elastic job steps down from maxNodes to what fits.
import { describe, expect, it } from "vitest";
import { TrainingJobAdapter, workloadFor } from "../../controllers/trainingjob/adapter.ts";
import { admittedStatus, job, NOW } from "./trainingjob-fixtures.ts";

const adapter = () =>
  new TrainingJobAdapter({ enqueue: () => {}, backoff: { baseMs: 10_000, maxMs: 300_000 }, now: () => NOW });

describe("workloadFor", () => {
  it("is one gang of identical pods, one per node, with the job's requirement and order", () => {
    const w = workloadFor(
      job({
        nodes: 4,
        priority: 100,
        resources: { cpu: "32", memory: "256Gi" },
        accelerators: { count: 8, minMemoryGiB: 80, vendors: ["nvidia", "amd"], pools: ["h100"] },
        template: { spec: { tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoSchedule" }] } },
      }),
      4,
    );
    expect(w).toEqual({
      key: "TrainingJob/ml/llama",
      priority: 100,
      creationTimestamp: Date.parse("2026-01-01T11:00:00Z"),
      tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoSchedule" }],
      groups: [
        {
          name: "workers",
          pods: 4,
          cpuMillis: 32_000,
          memoryBytes: 256 * 2 ** 30,
          accelerators: {
            count: 8,
            minMemoryGiB: 80,
            vendors: ["nvidia", "amd"],
            models: undefined,
            pools: ["h100"],
            interconnect: undefined,
          },
        },
      ],
    });
  });

  it("asks for CPU only when no accelerators are given", () => {
    expect(workloadFor(job({ accelerators: undefined }), 1).groups[0]?.accelerators).toEqual({ count: 0 });
  });
});

describe("toWorkload", () => {
  it.each([
    { what: "a queued job", j: job(), pods: 2 },
    { what: "a job with nodes unset runs on one", j: job({ nodes: undefined }), pods: 1 },
    { what: "an admitted job holds its admitted size", j: job({}, admittedStatus()), pods: 2 },
    { what: "a suspended job", j: job({ suspend: true }), pods: undefined },
    { what: "a finished job", j: job({}, { phase: "Succeeded" }), pods: undefined },
    {
      what: "a released gang during its restart backoff",
      j: job(
        {},
        {
          phase: "Restarting",
          restarts: 1,
          conditions: [
            {
              type: "Restarting",
              status: "True",
              reason: "NodeLost",
              message: "",
              lastTransitionTime: "2026-01-01T11:59:58Z",
            },
          ],
        },
      ),
      pods: undefined,
    },
  ])("$what: $pods pods", ({ j, pods }) => {
    expect(adapter().toWorkload(j)?.groups[0]?.pods).toBe(pods);
  });

  it("a job being deleted asks for nothing", () => {
    const j = job();
    j.metadata.deletionTimestamp = "2026-01-01T11:59:00Z";
    expect(adapter().toWorkload(j)).toBeUndefined();
  });
});

describe("elastic jobs", () => {
  const elastic = () => job({ nodes: undefined, elastic: { minNodes: 2, maxNodes: 4 } });

  it("offer maxNodes first, then one node fewer per pass that found no room, down to minNodes", () => {
    const a = adapter();
    const j = elastic();
    const sizes: number[] = [];
    for (let pass = 0; pass < 5; pass++) {
      sizes.push(a.toWorkload(j)?.groups[0]?.pods ?? 0);
      a.shrink(j);
    }
    expect(sizes).toEqual([4, 3, 2, 2, 2]);
  });

  it("never shrink twice on one decision: the pass must have seen the current offer", () => {
    const a = adapter();
    const j = elastic();
    a.toWorkload(j);
    expect(a.shrink(j)).toBe(true);
    expect(a.shrink(j)).toBe(false);
    expect(a.offered(j)).toBe(3);
  });

  it("start again from maxNodes once forgotten (admitted, suspended, finished)", () => {
    const a = adapter();
    const j = elastic();
    a.toWorkload(j);
    a.shrink(j);
    a.forget("ml/llama");
    expect(a.toWorkload(j)?.groups[0]?.pods).toBe(4);
  });

  it("a fixed-size job never shrinks", () => {
    const a = adapter();
    const j = job({ nodes: 4 });
    a.toWorkload(j);
    expect(a.shrink(j)).toBe(false);
    expect(a.toWorkload(j)?.groups[0]?.pods).toBe(4);
  });
});
