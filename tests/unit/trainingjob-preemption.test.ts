// A TrainingJob chosen as a victim: told to checkpoint, given its grace period, evicted once a
// checkpoint is reported or the time is up, queued again as Preempted (no restart counted), and
// resumed with RESUME_FROM when admitted again.
import { describe, expect, it } from "vitest";
import { planReconcile } from "../../controllers/trainingjob/plan.ts";
import type { ChildPod, JobStatus } from "../../controllers/trainingjob/planner.ts";
import { admission, admittedStatus, condition, job, NOW, observed, pod } from "./trainingjob-fixtures.ts";

const checkpoint = { claimName: "ckpt", mountPath: "/ckpt", preemptionGracePeriodSeconds: 120 };
const preemption = {
  key: "TrainingJob/ml/llama",
  by: "TrainingJob/prod/urgent",
  reason: "team prod reclaims",
};
const running = (): ChildPod[] => [pod(0, "Running"), pod(1, "Running")];
const preemptingStatus = (requestedAt: string): JobStatus =>
  admittedStatus({
    phase: "Preempting",
    preemption: { requestedAt, by: preemption.by, reason: preemption.reason, preemptions: 1 },
    conditions: [
      ...(admittedStatus().conditions ?? []),
      {
        type: "Preempting",
        status: "True",
        reason: "Preempted",
        message: "m",
        lastTransitionTime: requestedAt,
      },
    ],
  });
const annotated = (p: ChildPod, annotations: Record<string, string>): ChildPod =>
  ({ ...p, metadata: { ...p.metadata, annotations } }) as ChildPod;

describe("preemption of a TrainingJob", () => {
  it("asks every pod to checkpoint and waits the grace period, counting nothing as a failure", () => {
    const j = job({ checkpoint }, admittedStatus({ phase: "Running" }));
    const plan = planReconcile(observed(j, { pods: running(), preemption }));
    expect(plan.status.phase).toBe("Preempting");
    expect(condition(plan.status, "Preempting")).toMatchObject({ status: "True", reason: "Preempted" });
    expect(plan.status.preemption).toMatchObject({ by: preemption.by, preemptions: 1 });
    expect(
      plan.create.map((p) => p.metadata.annotations?.["stack.sovereign.dev/checkpoint-requested"]),
    ).toEqual(["2026-01-01T12:00:00Z", "2026-01-01T12:00:00Z"]);
    expect(plan.delete).toEqual([]);
    expect(plan.requeueAfterMs).toBe(120_000);
    expect(plan.events).toEqual([expect.objectContaining({ type: "Warning", reason: "Preempting" })]);
  });

  it("ranks that exit after their checkpoint neither finish nor fail the job", () => {
    const j = job({ checkpoint }, preemptingStatus("2026-01-01T11:59:00Z"));
    const plan = planReconcile(observed(j, { pods: [pod(0, { failed: 143 }), pod(1, "Succeeded")] }));
    expect(plan.status.phase).toBe("Preempting");
    expect(plan.status.restarts).toBe(0);
  });

  it("is evicted as soon as a pod reports its checkpoint, and keeps it for the next gang", () => {
    const j = job({ checkpoint }, preemptingStatus("2026-01-01T11:59:30Z"));
    const pods = [
      annotated(pod(0, "Running"), { "stack.sovereign.dev/checkpoint-path": "/ckpt/step-1200" }),
      pod(1, "Running"),
    ];
    const plan = planReconcile(observed(j, { pods }));
    expect(plan.status).toMatchObject({ phase: "Preempted", resumeFrom: "/ckpt/step-1200", restarts: 0 });
    expect(plan.status.admission).toBeUndefined();
    expect(plan.delete.map((d) => d.name).sort()).toEqual(["llama-0-0", "llama-0-1"]);
    expect(condition(plan.status, "Preempting")).toMatchObject({ status: "False", reason: "Evicted" });
    expect(condition(plan.status, "Admitted")).toMatchObject({ status: "False", reason: "Preempted" });
  });

  it("is evicted when the grace period is over even without a checkpoint", () => {
    const requested = new Date(NOW - 121_000).toISOString();
    const j = job({ checkpoint }, preemptingStatus(requested));
    const plan = planReconcile(observed(j, { pods: running() }));
    expect(plan.status.phase).toBe("Preempted");
    expect(plan.status.resumeFrom).toBeUndefined();
    expect(condition(plan.status, "Preempting")?.message).toMatch(/no checkpoint reported within 120 s/);
  });

  it("waits in the queue as Preempted, and its next gang resumes with RESUME_FROM", () => {
    const waiting: JobStatus = { phase: "Preempted", restarts: 0, resumeFrom: "/ckpt/step-1200" };
    const queued = planReconcile(
      observed(job({ checkpoint }, waiting), {
        decision: { type: "queued", position: 1, code: "Preempting", reason: "r" },
      }),
    );
    expect(queued.status).toMatchObject({ phase: "Preempted", queuePosition: 1 });
    const admitted = planReconcile(
      observed(job({ checkpoint }, waiting), { decision: { type: "admitted", admission: admission() } }),
    );
    expect(admitted.status.phase).toBe("Admitted");
    type Spec = { containers: { env: { name: string; value?: string }[] }[] };
    const env = ((admitted.create[0]?.spec ?? { containers: [] }) as Spec).containers[0]?.env;
    expect(env).toContainEqual({ name: "RESUME_FROM", value: "/ckpt/step-1200" });
  });
});
