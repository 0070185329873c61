// The TrainingJob state machine, one transition per case: queue, admission, start, success,
// permanent and retryable failures, backoff, maxRestarts, deadline, TTL, suspend and resume,
// lost nodes, eviction, and a steady state that writes nothing.
import { describe, expect, it } from "vitest";
import { planReconcile } from "../../controllers/trainingjob/plan.ts";
import type { JobStatus } from "../../controllers/trainingjob/planner.ts";
import { statusEquals } from "../../operator/index.ts";
import { admission, admittedStatus, condition, job, NOW, observed, pod } from "./trainingjob-fixtures.ts";

const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

describe("waiting for admission", () => {
  it("a new job is Queued until the first pass decides, and asks for one", () => {
    const plan = planReconcile(observed(job()));
    expect(plan.status.phase).toBe("Queued");
    expect(condition(plan.status, "Admitted")).toMatchObject({ status: "False", reason: "Pending" });
    expect(plan.requestPass).toBe(true);
    expect(plan.create).toEqual([]);
    expect(plan.service?.metadata.name).toBe("llama");
    expect(plan.events).toEqual([]);
  });

  it("shows its queue position and the admitter's reason", () => {
    const reason = "needs 4 nodes with 8 free ≥80 GiB devices; pool h100 has 0";
    const plan = planReconcile(
      observed(job(), { decision: { type: "queued", position: 2, code: "InsufficientCapacity", reason } }),
    );
    expect(plan.status).toMatchObject({ phase: "Queued", queuePosition: 2 });
    expect(condition(plan.status, "Admitted")).toMatchObject({
      status: "False",
      reason: "InsufficientCapacity",
      message: reason,
    });
    expect(plan.events[0]).toMatchObject({ reason: "Queued", note: `position 2: ${reason}` });
  });

  it("an elastic job with no room waits in the queue like any other", () => {
    const j = job({ nodes: undefined, elastic: { minNodes: 2, maxNodes: 6 } });
    const plan = planReconcile(
      observed(j, {
        decision: { type: "queued", position: 3, code: "InsufficientCapacity", reason: "full" },
      }),
    );
    expect(plan.status.queuePosition).toBe(3);
    expect(condition(plan.status, "Admitted")).toMatchObject({
      status: "False",
      reason: "InsufficientCapacity",
    });
  });

  it("an elastic job is admitted with the size the admitter placed", () => {
    const j = job({ nodes: undefined, elastic: { minNodes: 2, maxNodes: 6 } });
    const plan = planReconcile(
      observed(j, {
        decision: { type: "admitted", admission: admission("h100", ["h100-0", "h100-1", "h100-2"]) },
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Admitted", nodes: 3 });
    expect(plan.create.map((p) => p.metadata.name)).toEqual(["llama-0-0", "llama-0-1", "llama-0-2"]);
  });

  it("a job that can never be placed is Unschedulable, with no queue position", () => {
    const reason = "needs 16 devices on one node; the largest node of any matching pool has 8";
    const plan = planReconcile(
      observed(job({ accelerators: { count: 16, minMemoryGiB: 0 } }), {
        decision: { type: "unschedulable", code: "ExceedsNodeCapacity", reason },
      }),
    );
    expect(plan.status.phase).toBe("Queued");
    expect(plan.status.queuePosition).toBeUndefined();
    expect(condition(plan.status, "Unschedulable")).toMatchObject({
      status: "True",
      reason: "ExceedsNodeCapacity",
      message: reason,
    });
    expect(plan.events).toEqual([expect.objectContaining({ type: "Warning", reason: "Unschedulable" })]);
  });

  it("waits for a missing checkpoint claim instead of being admitted, and says so once", () => {
    const j = job({ checkpoint: { claimName: "ckpt", mountPath: "/ckpt" } });
    const decision = { type: "admitted", admission: admission("h100", ["h100-0", "h100-1"]) } as const;
    const plan = planReconcile(observed(j, { decision, missingClaim: "ckpt" }));
    expect(plan.status.phase).toBe("Queued");
    expect(plan.status.admission).toBeUndefined();
    expect(plan.create).toEqual([]);
    expect(plan.requestPass).toBe(false);
    expect(condition(plan.status, "Admitted")).toMatchObject({ status: "False", reason: "ClaimNotFound" });
    expect(condition(plan.status, "Admitted")?.message).toMatch(
      /PersistentVolumeClaim ckpt .* does not exist/,
    );
    expect(plan.events.map((e) => [e.type, e.reason])).toEqual([["Warning", "ClaimNotFound"]]);

    const again = planReconcile(observed({ ...j, status: plan.status }, { missingClaim: "ckpt" }));
    expect(again.events).toEqual([]);
    // The claim exists now: the job asks for admission like a new one.
    const found = planReconcile(observed({ ...j, status: plan.status }));
    expect(condition(found.status, "Admitted")).toMatchObject({ reason: "Pending" });
    expect(found.requestPass).toBe(true);
  });

  it("admitted: records the admission first and creates every rank on its reserved node", () => {
    const plan = planReconcile(observed(job(), { decision: { type: "admitted", admission: admission() } }));
    expect(plan.status).toMatchObject({
      phase: "Admitted",
      pool: "h100",
      nodes: 2,
      startTime: iso(NOW),
      admission: {
        placements: [{ group: "workers", pool: "h100", nodes: ["h100-0", "h100-1"], replicas: 2 }],
      },
    });
    expect(condition(plan.status, "Admitted")).toMatchObject({ status: "True", reason: "Admitted" });
    expect(plan.create.map((p) => p.metadata.name)).toEqual(["llama-0-0", "llama-0-1"]);
    expect(plan.events.map((e) => e.reason)).toEqual(["Admitted"]);
  });
});

describe("an admitted gang", () => {
  it("becomes Running when every rank runs", () => {
    const plan = planReconcile(
      observed(job({}, admittedStatus()), { pods: [pod(0, "Running"), pod(1, "Running")] }),
    );
    expect(plan.status).toMatchObject({ phase: "Running", readyNodes: 2 });
    expect(condition(plan.status, "Running")).toMatchObject({ status: "True", reason: "AllRanksRunning" });
    expect(plan.create).toEqual([]);
    expect(plan.events.map((e) => e.reason)).toEqual(["Running"]);
  });

  it("writes nothing more once Running and unchanged", () => {
    const first = planReconcile(
      observed(job({}, admittedStatus()), { pods: [pod(0, "Running"), pod(1, "Running")] }),
    );
    const again = planReconcile(
      observed(job({}, first.status), { pods: [pod(0, "Running"), pod(1, "Running")], now: NOW + 5000 }),
    );
    expect(statusEquals(first.status, again.status)).toBe(true);
    expect(again.events).toEqual([]);
    expect(again.create).toEqual([]);
    expect(again.delete).toEqual([]);
  });

  it("succeeds when every rank exits 0, and releases its admission", () => {
    const plan = planReconcile(
      observed(job({}, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, "Succeeded"), pod(1, "Succeeded")],
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Succeeded", completionTime: iso(NOW) });
    expect(plan.status.admission).toBeUndefined();
    expect(condition(plan.status, "Succeeded")).toMatchObject({ status: "True", reason: "Completed" });
    expect(plan.delete).toEqual([]);
    expect(plan.service).toBeUndefined();
  });

  it("fails at once on exit code 1 and stops the other ranks", () => {
    const plan = planReconcile(
      observed(job({}, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, "Running"), pod(1, { failed: 1 })],
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Failed", restarts: 0 });
    expect(plan.status.admission).toBeUndefined();
    expect(condition(plan.status, "Failed")).toMatchObject({ status: "True", reason: "PodFailed" });
    expect(plan.delete.map((d) => d.name)).toEqual(["llama-0-0"]);
    expect(plan.events).toEqual([expect.objectContaining({ type: "Warning", reason: "PodFailed" })]);
  });

  it("restarts the whole gang on exit code 137: next attempt, backoff, admission kept", () => {
    const plan = planReconcile(
      observed(job({}, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, "Running"), pod(1, { failed: 137 })],
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Restarting", restarts: 1, readyNodes: 0 });
    expect(plan.status.admission).toBeDefined();
    expect(condition(plan.status, "Restarting")).toMatchObject({
      status: "True",
      reason: "RetryableExitCode",
    });
    expect(plan.delete.map((d) => d.name).sort()).toEqual(["llama-0-0", "llama-0-1"]);
    expect(plan.create).toEqual([]);
    expect(plan.requeueAfterMs).toBe(10_000);
    expect(plan.events).toEqual([expect.objectContaining({ type: "Warning", reason: "Restarting" })]);
  });

  const restarting = (restarts: number, since: number): JobStatus =>
    admittedStatus({
      phase: "Restarting",
      restarts,
      conditions: [
        {
          type: "Restarting",
          status: "True",
          reason: "RetryableExitCode",
          message: "",
          lastTransitionTime: iso(since),
        },
      ],
    });

  it("waits out the backoff before the new gang", () => {
    const plan = planReconcile(observed(job({}, restarting(2, NOW - 5000)), { pods: [] }));
    expect(plan.create).toEqual([]);
    expect(plan.requeueAfterMs).toBe(15_000);
    expect(plan.status.phase).toBe("Restarting");
  });

  it("creates the next attempt's pods after the backoff, once the old gang is gone", () => {
    const plan = planReconcile(observed(job({}, restarting(1, NOW - 11_000)), { pods: [] }));
    expect(plan.create.map((p) => p.metadata.name)).toEqual(["llama-1-0", "llama-1-1"]);
    expect(condition(plan.status, "Restarting")).toMatchObject({ status: "False", reason: "Restarted" });
    expect(plan.events.map((e) => e.reason)).toEqual(["Restarted"]);
  });

  it("does not start the new gang while a pod of the old one lingers", () => {
    const plan = planReconcile(
      observed(job({}, restarting(1, NOW - 11_000)), { pods: [pod(0, { failed: 137 }, 0)] }),
    );
    expect(plan.create).toEqual([]);
    expect(plan.delete.map((d) => d.name)).toEqual(["llama-0-0"]);
  });

  it("fails with MaxRestartsExceeded when the restarts are used up", () => {
    const plan = planReconcile(
      observed(job({ maxRestarts: 2 }, admittedStatus({ phase: "Running", restarts: 2 })), {
        pods: [pod(0, { failed: 137 }, 2), pod(1, "Running", 2)],
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Failed", restarts: 2 });
    expect(condition(plan.status, "Failed")).toMatchObject({ reason: "MaxRestartsExceeded" });
    expect(condition(plan.status, "Failed")?.message).toContain("maxRestarts 2");
  });

  it("with maxRestarts 0 a retryable failure fails the job", () => {
    const plan = planReconcile(
      observed(job({ maxRestarts: 0 }, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, { failed: 137 }), pod(1, "Running")],
      }),
    );
    expect(plan.status.phase).toBe("Failed");
  });

  it("a lost node restarts the gang and gives up the placement that names it", () => {
    const plan = planReconcile(
      observed(job({}, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, "Running"), pod(1, "Running")],
        nodeExists: (n) => n !== "h100-1",
        nodeUsable: (n) => n !== "h100-1",
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Restarting", restarts: 1 });
    expect(plan.status.admission).toBeUndefined();
    expect(condition(plan.status, "Restarting")).toMatchObject({ reason: "NodeLost" });
    expect(condition(plan.status, "Admitted")).toMatchObject({ status: "False", reason: "NodeLost" });
    expect(plan.delete).toContainEqual({ name: "llama-0-1", uid: "pod-0-1", force: true });
    expect(plan.delete).toContainEqual({ name: "llama-0-0", uid: "pod-0-0", force: false });
  });

  it("queues a released restarting gang only after its backoff", () => {
    const status: JobStatus = {
      phase: "Restarting",
      restarts: 1,
      conditions: [
        {
          type: "Restarting",
          status: "True",
          reason: "NodeLost",
          message: "",
          lastTransitionTime: iso(NOW - 3000),
        },
      ],
    };
    const waiting = planReconcile(
      observed(job({}, status), { decision: { type: "admitted", admission: admission() } }),
    );
    expect(waiting.status.phase).toBe("Restarting");
    expect(waiting.status.admission).toBeUndefined();
    expect(waiting.requeueAfterMs).toBe(7000);
    const after = planReconcile(
      observed(job({}, status), {
        now: NOW + 8000,
        decision: { type: "admitted", admission: admission("h100", ["h100-2", "h100-3"]) },
      }),
    );
    expect(after.status.admission?.placements?.[0]?.nodes).toEqual(["h100-2", "h100-3"]);
    expect(after.create.map((p) => p.metadata.name)).toEqual(["llama-1-0", "llama-1-1"]);
  });

  it("an admitted gang whose pods stay unschedulable is evicted and queued again", () => {
    const stuck = (rank: number) => {
      const p = pod(rank, "Pending");
      p.status = {
        phase: "Pending",
        conditions: [
          { type: "PodScheduled", status: "False", reason: "Unschedulable" } as {
            type: string;
            status: string;
          },
        ],
      };
      return p;
    };
    const plan = planReconcile(
      observed(job({}, admittedStatus()), { pods: [stuck(0), stuck(1)], admissionTimeoutMs: 1000 }),
    );
    expect(plan.status.phase).toBe("Queued");
    expect(plan.status.admission).toBeUndefined();
    expect(condition(plan.status, "Admitted")).toMatchObject({ reason: "Evicted" });
    expect(plan.delete).toHaveLength(2);
  });

  it("queues again when its pool is deleted", () => {
    const plan = planReconcile(observed(job({}, admittedStatus()), { pool: () => undefined }));
    expect(plan.status.phase).toBe("Queued");
    expect(condition(plan.status, "Admitted")).toMatchObject({ reason: "PoolGone" });
  });
});

describe("deadline and TTL", () => {
  it("fails with DeadlineExceeded once activeDeadlineSeconds have passed since startTime", () => {
    const plan = planReconcile(
      observed(
        job(
          { activeDeadlineSeconds: 30 },
          admittedStatus({ phase: "Running", startTime: iso(NOW - 31_000) }),
        ),
        {
          pods: [pod(0, "Running"), pod(1, "Running")],
        },
      ),
    );
    expect(plan.status.phase).toBe("Failed");
    expect(condition(plan.status, "Failed")).toMatchObject({ reason: "DeadlineExceeded" });
    expect(plan.delete).toHaveLength(2);
    expect(plan.status.admission).toBeUndefined();
  });

  it("before the deadline, asks to be woken at it", () => {
    const plan = planReconcile(
      observed(
        job(
          { activeDeadlineSeconds: 30 },
          admittedStatus({ phase: "Running", startTime: iso(NOW - 10_000) }),
        ),
        {
          pods: [pod(0, "Running"), pod(1, "Running")],
        },
      ),
    );
    expect(plan.status.phase).toBe("Running");
    expect(plan.requeueAfterMs).toBe(20_000);
  });

  it("deletes a finished job after ttlSecondsAfterFinished, and waits until then", () => {
    const done: JobStatus = { phase: "Succeeded", completionTime: iso(NOW - 50_000) };
    const early = planReconcile(observed(job({ ttlSecondsAfterFinished: 60 }, done)));
    expect(early.deleteJob).toBe(false);
    expect(early.requeueAfterMs).toBe(10_000);
    const late = planReconcile(observed(job({ ttlSecondsAfterFinished: 60 }, done), { now: NOW + 10_000 }));
    expect(late.deleteJob).toBe(true);
    expect(late.events.map((e) => e.reason)).toEqual(["TTLExpired"]);
  });

  it("keeps a finished job without a TTL", () => {
    const plan = planReconcile(observed(job({}, { phase: "Failed", completionTime: iso(NOW) })));
    expect(plan.deleteJob).toBe(false);
    expect(plan.requeueAfterMs).toBeUndefined();
  });
});

describe("suspend and resume", () => {
  it("suspending deletes the pods, releases the admission and resets the deadline clock", () => {
    const plan = planReconcile(
      observed(job({ suspend: true }, admittedStatus({ phase: "Running" })), {
        pods: [pod(0, "Running"), pod(1, "Running")],
      }),
    );
    expect(plan.status.phase).toBe("Suspended");
    expect(plan.status.admission).toBeUndefined();
    expect(plan.status.startTime).toBeUndefined();
    expect(plan.status.pool).toBeUndefined();
    expect(condition(plan.status, "Suspended")).toMatchObject({ status: "True" });
    expect(plan.delete).toHaveLength(2);
    expect(plan.create).toEqual([]);
    expect(plan.events.map((e) => e.reason)).toEqual(["Suspended"]);
  });

  it("a job created suspended never asks for admission", () => {
    const plan = planReconcile(observed(job({ suspend: true })));
    expect(plan.status.phase).toBe("Suspended");
    expect(plan.requestPass).toBe(false);
  });

  it("resuming queues the job again", () => {
    const suspended: JobStatus = {
      phase: "Suspended",
      conditions: [
        {
          type: "Suspended",
          status: "True",
          reason: "Suspended",
          message: "",
          lastTransitionTime: iso(NOW - 1000),
        },
      ],
    };
    const plan = planReconcile(
      observed(job({}, suspended), {
        decision: { type: "queued", position: 1, code: "InsufficientCapacity", reason: "r" },
      }),
    );
    expect(plan.status).toMatchObject({ phase: "Queued", queuePosition: 1 });
    expect(condition(plan.status, "Suspended")).toMatchObject({ status: "False", reason: "Resumed" });
    expect(plan.events.map((e) => e.reason)).toEqual(["Resumed", "Queued"]);
  });
});
