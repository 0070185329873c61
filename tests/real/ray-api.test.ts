// The operator's clients of Ray's dashboard, against a real `ray start --head` on loopback:
// Job Submission (a job that succeeds with its log line, one that fails with its message, a
// stop), Serve (a tiny application deployed through the REST API, answering on its port) and
// the cluster status the autoscaler reads (a task that asks for a GPU the head lacks).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../cli/dev/loopback.ts";
import {
  fetchClusterLoad,
  isIdleNode,
  JobSubmissionClient,
  RayApiError,
  ServeClient,
} from "../../controllers/ray-api/index.ts";
import { repoRoot } from "../../crds/generate.ts";
import { eventually } from "../support/cluster.ts";
import { type RayHead, startRayHead } from "../support/ray-head.ts";

let head: RayHead;
let jobs: JobSubmissionClient;

beforeAll(async () => {
  head = await startRayHead({
    numCpus: 1,
    env: { PYTHONPATH: join(repoRoot, "tests/fixtures/ray"), AUTOSCALER_UPDATE_INTERVAL_S: "1" },
  });
  jobs = new JobSubmissionClient(head.dashboardUrl);
}, 150_000);

afterAll(async () => {
  await head?.stop();
});

const finished = (id: string, timeoutMs = 90_000) =>
  eventually(
    async () => {
      const job = await jobs.get(id);
      return job && ["SUCCEEDED", "FAILED", "STOPPED"].includes(job.status) ? job : undefined;
    },
    timeoutMs,
    `Ray job ${id} finished`,
  );

describe("Ray Job Submission API", () => {
  it("runs a python entrypoint to SUCCEEDED with its log line and times", async () => {
    const { submissionId } = await jobs.submit({
      entrypoint: `python -c "import ray; ray.init(); print('sum is', ray.get(ray.remote(lambda: 40 + 2).remote()))"`,
      submissionId: "ok-1",
      metadata: { owner: "test" },
    });
    expect(submissionId).toBe("ok-1");
    const job = await finished("ok-1");
    expect(job.status).toBe("SUCCEEDED");
    expect(job.startTime).toBeGreaterThan(0);
    expect(job.endTime).toBeGreaterThanOrEqual(job.startTime as number);
    expect(await jobs.logs("ok-1")).toContain("sum is 42");
  });

  it("reports a failing entrypoint FAILED with its message, and a repeated submit finds the job", async () => {
    await jobs.submit({ entrypoint: `python -c "raise SystemExit('no data at /x')"`, submissionId: "bad-1" });
    const again = await jobs.submit({ entrypoint: "python -c pass", submissionId: "bad-1" });
    expect(again.alreadyExisted).toBe(true);
    const job = await finished("bad-1");
    expect(job.status).toBe("FAILED");
    expect(job.message).toContain("no data at /x");
    expect(job.driverExitCode).toBe(1);
  });

  it("stops a running job, and says undefined for a job it does not know", async () => {
    await jobs.submit({
      entrypoint: `python -c "import time; print('started', flush=True); time.sleep(600)"`,
      submissionId: "long-1",
    });
    await eventually(
      async () => ((await jobs.logs("long-1")).includes("started") ? true : undefined),
      60_000,
      "the job running",
    );
    expect(await jobs.stop("long-1")).toBe(true);
    expect((await finished("long-1")).status).toBe("STOPPED");
    expect(await jobs.delete("long-1")).toBe(true);
    expect(await jobs.get("long-1")).toBeUndefined();
    expect(await jobs.get("never-submitted")).toBeUndefined();
  });

  it("fails with the address and the cause when the dashboard is unreachable", async () => {
    const port = await freePort();
    const nowhere = new JobSubmissionClient(`http://127.0.0.1:${port}`, { timeoutMs: 2_000 });
    const error = await nowhere.get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RayApiError);
    expect(String((error as Error).message)).toContain(`127.0.0.1:${port}`);
    expect(String((error as Error).message)).toContain("ECONNREFUSED");
  });
});

describe("Ray cluster status", () => {
  it("shows a task that asks for a GPU as pending demand, and none with an idle head once it stopped", async () => {
    await jobs.submit({
      entrypoint: `python -c "import ray; ray.init(); ray.get(ray.remote(num_gpus=1)(lambda: 1).remote())"`,
      submissionId: "gpu-1",
    });
    const load = await eventually(
      async () => {
        const l = await fetchClusterLoad(head.dashboardUrl);
        return l.demand.some((d) => d.bundle.GPU === 1) ? l : undefined;
      },
      90_000,
      "a GPU bundle in Ray's pending demand",
    );
    expect(load.demand.find((d) => d.bundle.GPU === 1)?.count).toBe(1);
    const [node] = load.nodes;
    expect(load.nodes).toHaveLength(1);
    expect(node?.isHead).toBe(true);
    expect(node?.ip).toBe(head.ip);
    await jobs.stop("gpu-1");
    await finished("gpu-1");
    const after = await eventually(
      async () => {
        const l = await fetchClusterLoad(head.dashboardUrl);
        return l.demand.length === 0 && l.nodes.every(isIdleNode) ? l : undefined;
      },
      60_000,
      "no demand and an idle head once the job stopped",
    );
    expect(after.reportedAt).toBeGreaterThan(0);
  });
});

describe("Ray Serve API", () => {
  it("deploys a tiny application that reaches RUNNING and answers on its HTTP port", async () => {
    const serve = new ServeClient(head.dashboardUrl);
    const port = await freePort();
    await serve.deploy({
      http_options: { host: head.ip, port },
      applications: [{ name: "hello", route_prefix: "/", import_path: "hello_serve:app" }],
    });
    const apps = await eventually(
      async () => {
        const a = await serve.applications();
        return a[0]?.status === "RUNNING" ? a : undefined;
      },
      120_000,
      "the hello application RUNNING",
    );
    expect(apps.map((a) => a.name)).toEqual(["hello"]);
    expect(apps[0]?.deployments).toEqual([
      expect.objectContaining({ name: "Hello", status: "HEALTHY", replicas: 1 }),
    ]);
    const answer = await eventually(
      async () => {
        const res = await fetch(`http://${head.ip}:${port}/`).catch(() => undefined);
        return res?.ok ? res.text() : undefined;
      },
      30_000,
      "the application answering",
    );
    expect(answer).toBe("hello from serve");
    await serve.shutdown();
    await eventually(
      async () => ((await serve.applications()).length === 0 ? true : undefined),
      60_000,
      "Serve shut down",
    );
  });
});
