// How TrainingJobs meet the admitter on the real control plane: a queue of jobs that each need
// a whole pool, a vendor-neutral manifest that runs on AMD when an NVIDIA pool is busy, a
// spec that can never be placed, and an elastic job that starts with what fits. The queue and
// elastic tests use a pool of simulated H100 nodes that only this file's pods tolerate, so no
// other test file's pods or queue move its numbers (the admitter of this file's manager only
// sees this file's namespace, so queue positions count this file's jobs only).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/cluster.ts";
import { condition, dedicatedJob, env, type Harness, startHarness } from "./trainingjob-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("tjadm", { nodes: 4, amdNodes: 1 });
});

afterAll(async () => {
  await h?.stop();
});

const exit = (code: number, runFor: string) => ({
  "sim.sovereign.dev/exit-code": String(code),
  "sim.sovereign.dev/run-for": runFor,
});

describe("TrainingJob admission", () => {
  it("queues jobs that each need the whole pool: one runs, two wait in order, the next follows", async () => {
    await h.create("first", dedicatedJob(h, 4, exit(0, "6s")));
    await h.when("first", "Running", (j) => j.status?.phase === "Running");
    await h.create("second", dedicatedJob(h, 4, exit(0, "2s")));
    await h.create("third", dedicatedJob(h, 4, exit(0, "2s")));

    const second = await h.when("second", "position 1", (j) => j.status?.queuePosition === 1);
    const third = await h.when("third", "position 2", (j) => j.status?.queuePosition === 2);
    for (const waiting of [second, third]) {
      expect(waiting.status?.phase).toBe("Queued");
      expect(waiting.status?.admission).toBeUndefined();
      const admitted = condition(waiting, "Admitted");
      expect(admitted).toMatchObject({ status: "False", reason: "InsufficientCapacity" });
      expect(admitted?.message).toContain(h.pool);
    }
    expect(await h.pods("second")).toEqual([]);

    const firstDone = await h.when("first", "Succeeded", (j) => j.status?.phase === "Succeeded");
    const secondRuns = await h.when("second", "Running", (j) => j.status?.phase === "Running");
    expect(secondRuns.status?.queuePosition).toBeUndefined();
    expect(Date.parse(secondRuns.status?.startTime ?? "")).toBeGreaterThanOrEqual(
      Date.parse(firstDone.status?.completionTime ?? "") - 1000,
    );
    await h.when("third", "position 1", (j) => j.status?.queuePosition === 1 || j.status?.phase !== "Queued");
    await h.when("second", "Succeeded", (j) => j.status?.phase === "Succeeded");
    await h.when("third", "Succeeded", (j) => j.status?.phase === "Succeeded", 60_000);
    // The phase log comes from the manager's watch, which may trail the GET that saw Succeeded.
    await eventually(
      async () => (h.phases.get("third")?.includes("Succeeded") ? true : undefined),
      10_000,
      "the watch",
    );
    expect(h.phases.get("third")).toEqual(expect.arrayContaining(["Queued", "Running", "Succeeded"]));
    const notes = (await h.events("third")).filter((e) => e.reason === "Queued").map((e) => e.note);
    expect(notes.join(" ")).toMatch(/position 2/);
  });

  it("runs a vendor-neutral manifest on an MI300X pool with the AMD image when the NVIDIA pool is busy", async () => {
    // This file's own NVIDIA pool is filled first. Both pools are this file's own: the admitter
    // of another file's manager would race this one for a shared pool, not seeing its admissions.
    await h.create("filler", dedicatedJob(h, 4, exit(0, "30s")));
    await h.when("filler", "admitted", (j) => (j.status?.admission?.placements?.length ?? 0) > 0);
    try {
      const busy = dedicatedJob(h, 1);
      await h.create("portable", {
        image: "ghcr.io/acme/train:1.0",
        images: { amd: "ghcr.io/acme/train:1.0-rocm" },
        nodes: 1,
        // No vendor, no resource name: either pool will do (both are tainted for this file only).
        accelerators: { count: 8, minMemoryGiB: 80, pools: [h.pool, h.amdPool] },
        template: busy.template,
      } as never);
      const running = await h.when("portable", "Running", (j) => j.status?.phase === "Running");
      expect(running.status?.pool).toBe(h.amdPool);
      const [pod] = await h.pods("portable");
      expect(pod?.spec.nodeName).toBe(`${h.amdPool}-0`);
      const trainer = pod?.spec.containers.find((c) => c.name === "trainer");
      expect(trainer?.image).toBe("ghcr.io/acme/train:1.0-rocm");
      expect(trainer?.resources?.limits?.["amd.com/gpu"]).toBe("8");
      expect(trainer?.resources?.limits?.["nvidia.com/gpu"]).toBeUndefined();
      expect(pod && env(pod)).toMatchObject({ HSA_FORCE_FINE_GRAIN_PCIE: "1", WORLD_SIZE: "8" });
    } finally {
      await h.retire("filler");
      await h.retire("portable");
    }
  });

  it("marks a spec that can never be placed Unschedulable instead of queueing it forever", async () => {
    await h.create(
      "huge",
      // More devices per node than either pool's nodes have (tolerated, so that is the reason).
      dedicatedJob(h, 2, {}, {
        accelerators: { count: 16, minMemoryGiB: 80, pools: [h.pool, h.amdPool] },
      } as never),
    );
    const job = await h.when(
      "huge",
      "Unschedulable",
      (j) => condition(j, "Unschedulable")?.status === "True",
    );
    expect(job.status?.phase).toBe("Queued");
    expect(job.status?.queuePosition).toBeUndefined();
    const unschedulable = condition(job, "Unschedulable");
    // Both pools match (≥80 GiB, tolerated); no node of either has 16 devices.
    expect(unschedulable?.reason).toBe("ExceedsNodeCapacity");
    expect(unschedulable?.message).toMatch(
      /^needs 2 pods × 16 devices .*the largest node of the matching pools has 8 devices$/,
    );
    expect(condition(job, "Admitted")).toMatchObject({ status: "False", reason: "Unschedulable" });
    expect(await h.pods("huge")).toEqual([]);
    await expect
      .poll(async () => (await h.events("huge")).find((e) => e.reason === "Unschedulable")?.type, {
        timeout: 10_000,
      })
      .toBe("Warning");
    await h.retire("huge");
  });

  it("starts an elastic job with the largest gang that fits between minNodes and maxNodes", async () => {
    await h.create("busy", dedicatedJob(h, 2));
    await h.when("busy", "Running", (j) => j.status?.phase === "Running");
    try {
      // maxNodes 6 is more than the pool has; 2 of its 4 nodes are busy: 2 is what fits.
      await h.create(
        "stretchy",
        dedicatedJob(h, 0, {}, { nodes: undefined, elastic: { minNodes: 2, maxNodes: 6 } }),
      );
      const running = await h.when("stretchy", "Running", (j) => j.status?.phase === "Running");
      expect(running.status?.nodes).toBe(2);
      const pods = await h.pods("stretchy");
      expect(pods.map((p) => p.metadata.name)).toEqual(["stretchy-0-0", "stretchy-0-1"]);
      expect(pods[0] && env(pods[0])).toMatchObject({ PET_NNODES: "2", WORLD_SIZE: "16" });
      const busyNodes = new Set((await h.pods("busy")).map((p) => p.spec.nodeName));
      for (const p of pods) expect(busyNodes.has(p.spec.nodeName)).toBe(false);
    } finally {
      await h.retire("busy");
      await h.retire("stretchy");
    }
    // With the whole pool free, the same elastic job gets maxNodes capped by what fits: 4.
    await h.create(
      "wide",
      dedicatedJob(h, 0, {}, { nodes: undefined, elastic: { minNodes: 2, maxNodes: 6 } }),
    );
    const wide = await h.when("wide", "Running", (j) => j.status?.phase === "Running", 60_000);
    expect(wide.status?.nodes).toBe(4);
    await h.retire("wide");
  });
});
