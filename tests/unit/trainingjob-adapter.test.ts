// How a TrainingJob asks for admission: the gang it offers the placement engine, when it asks
// at all, and the size range of an elastic job.
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
      { min: 4, max: 4 },
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
    expect(workloadFor(job({ accelerators: undefined }), { min: 1, max: 1 }).groups[0]?.accelerators).toEqual(
      { count: 0 },
    );
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
  const elastic = (status?: Parameters<typeof job>[1]) =>
    job({ nodes: undefined, elastic: { minNodes: 2, maxNodes: 4 } }, status);

  it("ask for a gang of minNodes to maxNodes pods, the same on every pass (nothing is remembered)", () => {
    const a = adapter();
    const first = a.toWorkload(elastic());
    expect(first?.groups[0]?.pods).toBe(4);
    expect(first?.minPods).toBe(2);
    expect(a.toWorkload(elastic())).toEqual(first);
    expect(adapter().toWorkload(elastic())).toEqual(first);
  });

  it("once admitted hold exactly the admitted size", () => {
    const w = adapter().toWorkload(elastic(admittedStatus()));
    expect(w?.groups[0]?.pods).toBe(2);
    expect(w?.minPods).toBeUndefined();
  });

  it("a fixed-size job has no range", () => {
    expect(adapter().toWorkload(job({ nodes: 4 }))?.minPods).toBeUndefined();
  });
});
