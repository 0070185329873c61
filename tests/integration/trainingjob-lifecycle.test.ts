// The TrainingJob controller on the real control plane, through a job's whole life: admission,
// rendezvous, success; exit codes that restart the gang or fail the job; maxRestarts; a lost
// pod and a lost node; deadline, TTL, suspend and resume. kwok runs the pods and ends them on
// cue (sim.sovereign.dev/exit-code, run-for). Jobs run on a pool of simulated H100 nodes that
// only this file's pods tolerate: the shared pools are left to the other files, whose admitters
// cannot see this file's admissions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  condition,
  createCheckpointVolume,
  dedicatedJob,
  env,
  type Harness,
  startHarness,
} from "./trainingjob-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("tjlife", { nodes: 4 });
});

afterAll(async () => {
  await h?.stop();
});

const exit = (code: number, runFor = "1s") => ({
  "sim.sovereign.dev/exit-code": String(code),
  "sim.sovereign.dev/run-for": runFor,
});

describe("a TrainingJob on the real control plane", () => {
  it("runs a 2-node × 8-device job on an H100 pool to Succeeded, with torchrun's rendezvous", async () => {
    await h.create(
      "llama",
      dedicatedJob(h, 2, exit(0, "4s"), { env: [{ name: "WANDB_PROJECT", value: "llama" }] } as never),
    );
    const running = await h.when("llama", "Running", (j) => j.status?.phase === "Running");
    expect(running.status).toMatchObject({ pool: h.pool, nodes: 2, readyNodes: 2, restarts: 0 });
    expect(running.status?.startTime).toBeDefined();

    const pods = await h.pods("llama");
    expect(pods.map((p) => p.metadata.name)).toEqual(["llama-0-0", "llama-0-1"]);
    for (const [rank, pod] of pods.entries()) {
      expect(pod.spec.nodeName).toMatch(new RegExp(`^${h.pool}-\\d+$`));
      expect(pod.spec.hostname).toBe(`llama-${rank}`);
      expect(pod.spec.subdomain).toBe("llama");
      expect(pod.spec.restartPolicy).toBe("Never");
      const trainer = pod.spec.containers.find((c) => c.name === "trainer");
      expect(trainer?.resources?.limits?.["nvidia.com/gpu"]).toBe("8");
      expect(trainer?.command).toEqual([
        "torchrun",
        "--nnodes=2",
        "--nproc-per-node=8",
        `--node-rank=${rank}`,
        `--master-addr=llama-0.llama.${h.ns}.svc`,
        "--master-port=29500",
        "train.py",
      ]);
      expect(env(pod)).toMatchObject({
        MASTER_ADDR: `llama-0.llama.${h.ns}.svc`,
        MASTER_PORT: "29500",
        WORLD_SIZE: "16",
        NODE_RANK: String(rank),
        PET_NNODES: "2",
        PET_NPROC_PER_NODE: "8",
        PET_NODE_RANK: String(rank),
        PET_MASTER_ADDR: `llama-0.llama.${h.ns}.svc`,
        PET_MASTER_PORT: "29500",
        WANDB_PROJECT: "llama",
      });
    }
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(2);
    const svc = await h.client.get<{ metadata: { name?: string }; spec: Record<string, unknown> }>(
      { apiVersion: "v1", kind: "Service", plural: "services", namespaced: true },
      "llama",
      h.ns,
    );
    expect(svc.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });

    const done = await h.when("llama", "Succeeded", (j) => j.status?.phase === "Succeeded");
    expect(done.status?.completionTime).toBeDefined();
    expect(done.status?.admission).toBeUndefined();
    expect(condition(done, "Succeeded")).toMatchObject({ status: "True", reason: "Completed" });
    // The phase log comes from the manager's watch and events are sent after the reconcile:
    // both may trail the GET that saw Succeeded.
    await expect.poll(() => h.phases.get("llama")?.at(-1), { timeout: 10_000 }).toBe("Succeeded");
    expect(h.phases.get("llama")).toEqual(expect.arrayContaining(["Admitted", "Running", "Succeeded"]));
    await expect
      .poll(async () => (await h.events("llama")).map((e) => e.reason), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["Admitted", "Running", "Completed"]));

    const metrics = await (await fetch(`http://${h.manager.metricsAddress}/metrics`)).text();
    expect(metrics).toMatch(/sovereign_trainingjobs\{phase="Succeeded"\} [1-9]/);
  });

  it("restarts the whole gang on exit code 137 and fails once maxRestarts are used up", async () => {
    await h.create("oom", dedicatedJob(h, 2, exit(137), { maxRestarts: 2 }));
    const failed = await h.when("oom", "Failed", (j) => j.status?.phase === "Failed", 90_000);
    expect(failed.status?.restarts).toBe(2);
    expect(condition(failed, "Failed")).toMatchObject({ status: "True", reason: "MaxRestartsExceeded" });
    expect(condition(failed, "Failed")?.message).toMatch(/exited with code 137/);
    await expect.poll(() => h.phases.get("oom"), { timeout: 10_000 }).toContain("Restarting");
    // Earlier attempts were deleted; of the last one, what had ended stays for its logs.
    const left = (await h.pods("oom")).map((p) => p.metadata.name);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((n) => n?.startsWith("oom-2-"))).toBe(true);
    await expect
      .poll(async () => (await h.events("oom")).map((e) => e.reason), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["Restarting", "Restarted", "MaxRestartsExceeded"]));
  });

  it("fails at once when a rank exits with code 1", async () => {
    await h.create("bug", dedicatedJob(h, 2, exit(1)));
    const failed = await h.when("bug", "Failed", (j) => j.status?.phase === "Failed");
    expect(failed.status?.restarts).toBe(0);
    expect(condition(failed, "Failed")).toMatchObject({ status: "True", reason: "PodFailed" });
    expect(condition(failed, "Failed")?.message).toMatch(/exited with code 1\b/);
    expect(h.phases.get("bug")).not.toContain("Restarting");
  });

  it("restarts the gang when one of its pods is deleted under it", async () => {
    await h.create("evicted", dedicatedJob(h, 2));
    await h.when("evicted", "Running", (j) => j.status?.phase === "Running");
    await h.core.deleteNamespacedPod({ name: "evicted-0-1", namespace: h.ns });
    const again = await h.when(
      "evicted",
      "Running after one restart",
      (j) => j.status?.phase === "Running" && j.status?.restarts === 1,
    );
    expect(condition(again, "Restarting")).toMatchObject({ status: "False", reason: "Restarted" });
    expect((await h.pods("evicted")).map((p) => p.metadata.name)).toEqual(["evicted-1-0", "evicted-1-1"]);
    await h.retire("evicted");
  });

  it("waits for its checkpoint claim, then mounts it and sets CHECKPOINT_DIR in every attempt", async () => {
    const storageClassName = await createCheckpointVolume(h);
    try {
      // Submitted before its claim exists: it waits, says why, and holds no devices.
      await h.create(
        "resumable",
        dedicatedJob(h, 2, exit(137), {
          maxRestarts: 1,
          checkpoint: { claimName: "ckpt", mountPath: "/ckpt" },
        }),
      );
      const waiting = await h.when(
        "resumable",
        "ClaimNotFound",
        (j) => condition(j, "Admitted")?.reason === "ClaimNotFound",
      );
      expect(waiting.status?.phase).toBe("Queued");
      expect(waiting.status?.admission).toBeUndefined();
      expect(condition(waiting, "Admitted")?.message).toContain("PersistentVolumeClaim ckpt");
      expect(await h.pods("resumable")).toEqual([]);
      await h.core.createNamespacedPersistentVolumeClaim({
        namespace: h.ns,
        body: {
          metadata: { name: "ckpt" },
          spec: {
            storageClassName,
            accessModes: ["ReadWriteMany"],
            resources: { requests: { storage: "1Gi" } },
          },
        },
      });
      const failed = await h.when("resumable", "Failed", (j) => j.status?.phase === "Failed", 90_000);
      expect(failed.status?.restarts).toBe(1);
      const seen = h.podSpecs("resumable");
      expect([...seen.keys()].sort()).toEqual(expect.arrayContaining(["resumable-0-0", "resumable-1-0"]));
      for (const [name, spec] of seen) {
        const trainer = spec.containers.find((c) => c.name === "trainer");
        expect(trainer?.env?.find((e) => e.name === "CHECKPOINT_DIR")?.value, name).toBe("/ckpt");
        expect(trainer?.volumeMounts, name).toContainEqual({ name: "checkpoint", mountPath: "/ckpt" });
        expect(spec.volumes, name).toContainEqual({
          name: "checkpoint",
          persistentVolumeClaim: { claimName: "ckpt" },
        });
      }
    } finally {
      await h.core.deletePersistentVolume({ name: `${h.ns}-ckpt` }).catch(() => {});
    }
  });

  it("fails with DeadlineExceeded after activeDeadlineSeconds", async () => {
    await h.create("slow", dedicatedJob(h, 1, {}, { activeDeadlineSeconds: 3 }));
    await h.when("slow", "Running", (j) => j.status?.phase === "Running");
    const failed = await h.when("slow", "Failed", (j) => j.status?.phase === "Failed", 30_000);
    expect(condition(failed, "Failed")).toMatchObject({ reason: "DeadlineExceeded" });
    const started = Date.parse(failed.status?.startTime ?? "");
    const ended = Date.parse(failed.status?.completionTime ?? "");
    expect(ended - started).toBeGreaterThanOrEqual(3000);
    await expect
      .poll(async () => (await h.pods("slow")).filter((p) => p.status?.phase === "Running").length, {
        timeout: 20_000,
      })
      .toBe(0);
  });

  it("deletes a finished job after ttlSecondsAfterFinished", async () => {
    await h.create("brief", dedicatedJob(h, 1, exit(0), { ttlSecondsAfterFinished: 2 }));
    await h.when("brief", "Succeeded", (j) => j.status?.phase === "Succeeded");
    await expect.poll(() => h.get("brief"), { timeout: 30_000, interval: 250 }).toBeUndefined();
    await expect.poll(() => h.phases.get("brief"), { timeout: 10_000 }).toContain("Succeeded");
  });

  it("suspending deletes the pods and releases the admission; resuming runs the job again", async () => {
    await h.create("pausable", dedicatedJob(h, 2));
    await h.when("pausable", "Running", (j) => j.status?.phase === "Running");
    await h.patchSpec("pausable", { suspend: true });
    const suspended = await h.when("pausable", "Suspended", (j) => j.status?.phase === "Suspended");
    expect(suspended.status?.admission).toBeUndefined();
    expect(condition(suspended, "Suspended")).toMatchObject({ status: "True" });
    await expect.poll(async () => (await h.pods("pausable")).length, { timeout: 20_000 }).toBe(0);

    await h.patchSpec("pausable", { suspend: false });
    const resumed = await h.when("pausable", "Running again", (j) => j.status?.phase === "Running");
    expect(condition(resumed, "Suspended")).toMatchObject({ status: "False", reason: "Resumed" });
    expect(resumed.status?.admission?.placements?.[0]?.pool).toBe(h.pool);
    expect((await h.pods("pausable")).length).toBe(2);
    await expect
      .poll(async () => (await h.events("pausable")).map((e) => e.reason), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["Suspended", "Resumed"]));
    await h.retire("pausable");
  });

  it("a node that disappears restarts the gang on the nodes that are left", async () => {
    await h.create("lost", dedicatedJob(h, 2));
    await h.when("lost", "Running", (j) => j.status?.phase === "Running");
    const victim = (await h.pods("lost")).find((p) => p.metadata.name === "lost-0-1")?.spec.nodeName ?? "";
    expect(h.nodes).toContain(victim);
    await h.core.deleteNode({ name: victim });
    try {
      const again = await h.when(
        "lost",
        "Running on other nodes",
        (j) => j.status?.phase === "Running" && j.status?.restarts === 1,
      );
      expect(condition(again, "Restarting")?.status).toBe("False");
      const pods = await h.pods("lost");
      expect(pods.map((p) => p.metadata.name)).toEqual(["lost-1-0", "lost-1-1"]);
      expect(pods.map((p) => p.spec.nodeName)).not.toContain(victim);
      const notes = (await h.events("lost")).filter((e) => e.reason === "Restarting").map((e) => e.note);
      expect(notes.join(" ")).toContain(victim);
    } finally {
      await h.createNode(victim);
    }
  });
});
