// Teams share accelerators on the real control plane: two teams of one cohort on this file's own
// pool of 2 nodes × 8 H100. Team A borrows B's idle half; when B submits, A's borrowed job is told
// to checkpoint (pod annotation, which the downward API turns into a file), "writes" it (the test
// annotates its pod with the path, as a script would), is evicted, waits as Preempted while B
// runs, and resumes with RESUME_FROM once B is done. Then the bad inputs that only the operator
// can judge: a queue naming a missing TeamQuota, a job naming a missing queue, a borrowingLimit
// beyond what the cohort has (the API server's own rejections are in crds.test.ts).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import { builtin, type KubeObject } from "../../operator/index.ts";
import { perAttempt } from "../support/attempts.ts";
import { eventually } from "../support/cluster.ts";
import {
  condition,
  createCheckpointVolume,
  dedicatedJob,
  type Harness,
  startHarness,
} from "./trainingjob-harness.ts";

let h: Harness;
const attempt = perAttempt();
const suffix = randomBytes(3).toString("hex");
const teamA = `qa-${suffix}`;
const teamB = `qb-${suffix}`;
const cohort = `qc-${suffix}`;

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

const teamQuota = (name: string, nominal: number, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: resourceTypes.teamQuota.apiVersion,
  kind: "TeamQuota",
  metadata: { name },
  spec: { cohort, devices: [{ name: "h100", pools: [h.pool], nominal, ...extra }] },
});
const queue = (name: string, team: string): KubeObject => ({
  apiVersion: resourceTypes.acceleratorQueue.apiVersion,
  kind: "AcceleratorQueue",
  metadata: { name, namespace: h.ns },
  spec: { teamQuota: team },
});
const checkpoint = { claimName: "ckpt", mountPath: "/ckpt", preemptionGracePeriodSeconds: 300 };
const job = (queueName: string, annotations: Record<string, string> = {}) =>
  dedicatedJob(h, 1, annotations, { queueName, checkpoint } as never);

beforeAll(async () => {
  h = await startHarness("quota", { nodes: 2, queueing: true });
  await h.client.create(resourceTypes.teamQuota, teamQuota(teamA, 8));
  await h.client.create(resourceTypes.teamQuota, teamQuota(teamB, 8));
  await h.client.create(resourceTypes.acceleratorQueue, queue("a", teamA));
  await h.client.create(resourceTypes.acceleratorQueue, queue("b", teamB));
  const storageClassName = await createCheckpointVolume(h);
  await h.core.createNamespacedPersistentVolumeClaim({
    namespace: h.ns,
    body: {
      metadata: { name: "ckpt" },
      spec: { storageClassName, accessModes: ["ReadWriteMany"], resources: { requests: { storage: "1Gi" } } },
    },
  });
});

afterAll(async () => {
  for (const name of [teamA, teamB, `qbad-${suffix}`])
    await h?.client.delete(resourceTypes.teamQuota, name).catch(() => {});
  await h?.core.deletePersistentVolume({ name: `${h.ns}-ckpt` }).catch(() => {});
  await h?.stop();
});

describe("team quotas with borrowing and preemption", () => {
  it("A borrows B's idle H100s; B's job preempts A's borrowed one, which checkpoints, waits and resumes", async () => {
    // Jobs of their own per attempt; a retry first retires the previous attempt's, so the
    // quotas start empty again.
    const n = attempt.next();
    if (n > 1) for (const old of ["a-own", "a-borrowed", "b-job"]) await h.retire(`${old}-${n - 1}`);
    const [own, borrowed, bJob] = ["a-own", "a-borrowed", "b-job"].map(attempt.name) as [
      string,
      string,
      string,
    ];
    await h.create(own, job("a"));
    await h.when(own, "Running", (j) => j.status?.phase === "Running");
    await h.create(borrowed, job("a"));
    await h.when(borrowed, "Running", (j) => j.status?.phase === "Running");
    const used = await eventually(
      async () => {
        const tq = await h.client.getOrUndefined<
          KubeObject & { status?: { devices?: { used?: number; borrowed?: number }[] } }
        >(resourceTypes.teamQuota, teamA);
        const h100 = tq?.status?.devices?.[0];
        return h100?.used === 16 ? h100 : undefined;
      },
      30_000,
      "team A's status shows 16 used",
    );
    expect(used.borrowed).toBe(8);

    // B is entitled to its 8: the newest job of the borrowing team is the victim.
    await h.create(bJob, job("b", { "sim.sovereign.dev/exit-code": "0", "sim.sovereign.dev/run-for": "4s" }));
    const preempting = await h.when(borrowed, "Preempting", (j) => j.status?.phase === "Preempting");
    expect(condition(preempting, "Preempting")).toMatchObject({ status: "True", reason: "Preempted" });
    expect(preempting.status?.preemption?.by).toBe(`TrainingJob/${h.ns}/${bJob}`);
    expect(condition(await h.get(own), "Preempting")).toBeUndefined();
    const waitingB = await h.when(
      bJob,
      "waits for the victim",
      (j) => condition(j, "Admitted")?.reason === "Preempting",
    );
    expect(condition(waitingB, "Admitted")?.message).toContain(borrowed);

    // The checkpoint request reaches the pod (the downward API file is made from this annotation).
    const [victimPod] = await eventually(
      async () => {
        const pods = await h.pods(borrowed);
        return pods[0]?.metadata.annotations?.["stack.sovereign.dev/checkpoint-requested"] ? pods : undefined;
      },
      30_000,
      "the checkpoint request annotation",
    );
    const volumes = (victimPod?.spec.volumes ?? []) as { name: string; downwardAPI?: unknown }[];
    expect(volumes.find((v) => v.name === "stack-podinfo")?.downwardAPI).toBeDefined();
    // Nothing happens before the checkpoint is reported (the grace period is 5 minutes).
    expect((await h.get(borrowed))?.status?.phase).toBe("Preempting");

    // The script writes its checkpoint and says where.
    await h.client.patch(
      builtin.pods,
      victimPod?.metadata.name ?? "",
      h.ns,
      { metadata: { annotations: { "stack.sovereign.dev/checkpoint-path": "/ckpt/step-1200" } } },
      "merge",
    );
    const preempted = await h.when(borrowed, "Preempted", (j) => j.status?.phase === "Preempted");
    expect(preempted.status).toMatchObject({ resumeFrom: "/ckpt/step-1200", restarts: 0 });
    expect(preempted.status?.admission).toBeUndefined();
    expect(condition(preempted, "Preempting")).toMatchObject({ status: "False", reason: "Evicted" });
    // Events are sent after the status they report, in the client's report lane: awaited.
    await eventually(
      async () => {
        const seen = (await h.events(borrowed)).map((e) => e.reason);
        return seen.includes("Preempting") && seen.includes("Preempted") ? seen : undefined;
      },
      30_000,
      "the Preempting and Preempted events",
    );

    await h.when(bJob, "Running", (j) => j.status?.phase === "Running" || j.status?.phase === "Succeeded");
    const waiting = await h.get(borrowed);
    expect(waiting?.status?.phase).toBe("Preempted");
    await h.when(bJob, "Succeeded", (j) => j.status?.phase === "Succeeded", 60_000);

    const resumed = await h.when(borrowed, "Running again", (j) => j.status?.phase === "Running", 60_000);
    expect(resumed.status?.restarts).toBe(0);
    expect(resumed.status?.preemption?.preemptions).toBe(1);
    const [pod] = await h.pods(borrowed);
    const spec = h.podSpecs(borrowed).get(pod?.metadata.name ?? "");
    const trainer = spec?.containers.find((c) => c.name === "trainer");
    const vars = Object.fromEntries((trainer?.env ?? []).map((e) => [e.name, e.value]));
    expect(vars).toMatchObject({
      RESUME_FROM: "/ckpt/step-1200",
      CHECKPOINT_DIR: "/ckpt",
    });
    await h.retire(own);
    await h.retire(borrowed);
  });

  it("a queue naming a missing TeamQuota, and a job naming a missing queue, say so", async () => {
    await h.client.create(resourceTypes.acceleratorQueue, queue("orphan", `missing-${suffix}`));
    const orphan = await eventually(
      async () => {
        const q = await h.client.getOrUndefined<KubeObject & Status>(
          resourceTypes.acceleratorQueue,
          "orphan",
          h.ns,
        );
        return q?.status?.conditions?.find((c) => c.type === "Ready") ? q : undefined;
      },
      30_000,
      "the queue's Ready condition",
    );
    expect(orphan.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "TeamQuotaNotFound",
    });
    await h.create("lost", job("no-such-queue"));
    const lost = await h.when(
      "lost",
      "QueueNotFound",
      (j) => condition(j, "Admitted")?.reason === "QueueNotFound",
    );
    expect(condition(lost, "Admitted")?.message).toContain("AcceleratorQueue no-such-queue does not exist");
    expect(lost.status?.admission).toBeUndefined();
    await h.create("orphaned", job("orphan"));
    const orphaned = await h.when(
      "orphaned",
      "QueueNotFound",
      (j) => condition(j, "Admitted")?.reason === "QueueNotFound",
    );
    expect(condition(orphaned, "Admitted")?.message).toContain(
      `TeamQuota missing-${suffix}, which does not exist`,
    );
    await h.retire("lost");
    await h.retire("orphaned");
  });

  it("a borrowingLimit beyond what the cohort can lend is reported on the TeamQuota", async () => {
    const bad = teamQuota(`qbad-${suffix}`, 0, { borrowingLimit: 64 });
    await h.client.create(resourceTypes.teamQuota, bad);
    const tq = await eventually(
      async () => {
        const got = await h.client.getOrUndefined<KubeObject & Status>(
          resourceTypes.teamQuota,
          `qbad-${suffix}`,
        );
        return got?.status?.conditions?.find((c) => c.type === "Ready") ? got : undefined;
      },
      30_000,
      "the TeamQuota's Ready condition",
    );
    const ready = tq.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "BorrowingLimitAboveCohort" });
    expect(ready?.message).toContain("spec.devices[0].borrowingLimit 64");
  });
});
