// RayJob submissionMode K8sJob on the real control plane: the operator creates a submitter
// Kubernetes Job, the control plane's Job controller makes its pod, and the pod runner runs that
// pod's `ray job submit` (the venv's ray CLI) against the head Service's dashboard of a real
// `ray start --head`. The driver's log streams into the submitter's own log; the RayJob follows
// the job to SUCCEEDED, and a failing entrypoint to FAILED with its message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { rayJobController } from "../../controllers/rayjob/index.ts";
import { submitterContainerName } from "../../controllers/rayjob/submitter.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { RayJob } from "../../crds/index.ts";
import { labels } from "../../crds/runtime/index.ts";
import { builtin, type KubeObject } from "../../operator/index.ts";
import { perAttempt } from "../support/attempts.ts";
import { eventually } from "../support/cluster.ts";
import { type Pod, type RealTestbed, realRayHead, startRealTestbed } from "./harness.ts";

const rt = resourceTypes.rayJob;
type RJ = RayJob & KubeObject;
type Job = KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } };
// Ports no other real-run file uses, below Ray's worker port range (10002-19999).
const ports = { gcs: 6393, dashboard: 8278, client: 9992, metrics: 8093 };

let t: RealTestbed;
// Objects of their own per attempt, so that a retry does not find the first attempt's.
const attempt = perAttempt();

beforeAll(async () => {
  t = await startRealTestbed(
    "real-rjk",
    [],
    (m) => {
      m.add(rayClusterController(new Admitter(m)));
      m.add(rayJobController());
    },
    // The head and the submitter ask for no pool: plain nodes, the shared CPU pool's.
    ["cpu"],
  );
});

afterAll(async () => {
  await t?.stop();
});

const rayJob = (name: string, entrypoint: string): KubeObject => ({
  apiVersion: rt.apiVersion,
  kind: rt.kind,
  metadata: { name, namespace: t.ns },
  spec: {
    entrypoint,
    submissionMode: "K8sJob",
    runtimeEnv: { env_vars: { RAY_USAGE_STATS_ENABLED: "0", GREETING: "from a submitter pod" } },
    rayClusterSpec: {
      rayVersion: "2.60.0",
      image: "rayproject/ray:2.60.0",
      head: realRayHead(ports, 1),
    },
  },
});

const until = (name: string, what: string, ok: (j: RJ) => boolean) =>
  eventually(
    async () => {
      const j = await t.client.get<RJ>(rt, name, t.ns);
      return ok(j) ? j : undefined;
    },
    240_000,
    `RayJob ${name}: ${what}`,
  ).catch(async (e) => {
    const j = await t.client.get<RJ>(rt, name, t.ns);
    // What the submitter pods printed says why a submission failed (the Job only says it did).
    const logs = (await t.pods(`${labels.name}=${name}`))
      .filter((p) => p.metadata.labels?.[labels.group] === "submitter")
      .map(
        (p) =>
          `--- ${p.metadata.name}:\n${t.log(p.metadata.name as string, submitterContainerName).slice(-2000)}`,
      );
    throw new Error(`${String(e)}; last status ${JSON.stringify(j.status)}\n${logs.join("\n")}`);
  });

const submitterPod = async (job: string): Promise<Pod> =>
  eventually(
    async () => (await t.pods(`batch.kubernetes.io/job-name=${job}`))[0],
    60_000,
    `a pod of Job ${job}`,
  );

describe("RayJob submissionMode K8sJob with real Ray", () => {
  it("submits through a submitter Job whose pod runs ray job submit and streams the driver's log", async () => {
    attempt.next();
    const name = attempt.name("hello");
    await t.client.create(
      rt,
      rayJob(name, `python -c "import os, ray; ray.init(); print('hello', os.environ['GREETING'])"`),
    );
    const done = await until(name, "Complete", (j) => j.status?.phase === "Complete");
    expect(done.status).toMatchObject({
      jobStatus: "SUCCEEDED",
      jobId: expect.stringMatching(new RegExp(`^${name}-.*-1$`)),
    });
    expect(done.status?.logTail).toContain("hello from a submitter pod");

    const job = await t.client.get<Job>(builtin.jobs, `${name}-submit-1`, t.ns);
    expect(job.metadata.ownerReferences?.[0]).toMatchObject({ kind: "RayJob", name });
    const complete = await eventually(
      async () => {
        const j = await t.client.get<Job>(builtin.jobs, `${name}-submit-1`, t.ns);
        return j.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True")
          ? j
          : undefined;
      },
      60_000,
      "the submitter Job Complete",
    );
    expect(complete.metadata.name).toBe(`${name}-submit-1`);
    // The pod ran the real CLI: its log is `ray job submit`'s, with the driver's line in it.
    const pod = await submitterPod(`${name}-submit-1`);
    const log = t.log(pod.metadata.name as string, submitterContainerName);
    expect(log).toContain(`Job '${done.status?.jobId}' submitted successfully`);
    expect(log).toContain("hello from a submitter pod");
    expect(log).toContain(`Job '${done.status?.jobId}' succeeded`);
    // The operator itself submitted nothing: one submission, the pod's.
    const events = (await t.client.list(builtin.events, { namespace: t.ns })).items.filter(
      (e) => (e.regarding as { name?: string }).name === name && e.reason === "SubmitterCreated",
    );
    expect(events).toHaveLength(1);
  });

  it("follows a failing entrypoint to FAILED with Ray's message; the submitter pod exits 1", async () => {
    attempt.next();
    const name = attempt.name("boom");
    await t.client.create(rt, rayJob(name, `python -c "raise SystemExit('no data at /x')"`));
    const failed = await until(name, "Failed", (j) => j.status?.phase === "Failed");
    expect(failed.status?.jobStatus).toBe("FAILED");
    expect(failed.status?.message).toContain("no data at /x");
    const pod = await eventually(
      async () => {
        const p = (await t.pods(`batch.kubernetes.io/job-name=${name}-submit-1`)).find(
          (x) => x.status?.phase === "Failed",
        );
        return p;
      },
      60_000,
      "a failed submitter pod",
    );
    const state = (
      pod.status as { containerStatuses?: Array<{ state?: { terminated?: { exitCode?: number } } }> }
    ).containerStatuses?.[0]?.state?.terminated;
    expect(state?.exitCode).toBe(1);
    expect(t.log(pod.metadata.name as string, submitterContainerName)).toContain("failed");
  });
});
