// RayJob against real Ray: the pod runner starts a real `ray start --head` where each head pod
// is (at the pod's IP), the operator submits through the dashboard there and follows the job.
// Workers stay simulated by kwok. Each head is a real Ray (about 1.5 GB): the tests run one
// after the other and delete their clusters as they go.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { JobSubmissionClient } from "../../controllers/ray-api/index.ts";
import { rayJobController } from "../../controllers/rayjob/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { RayJob } from "../../crds/index.ts";
import { labels } from "../../crds/index.ts";
import { ApiError, builtin, type KubeClient, type KubeObject } from "../../operator/index.ts";
import { eventually, podAddressPattern, type TestNamespace } from "../support/cluster.ts";
import { type RayTestbed, startRayTestbed } from "../support/ray-testbed.ts";
import { dedicatedTaintKey } from "../support/workloads.ts";

const rt = resourceTypes.rayJob;
type RJ = RayJob & KubeObject;
let bed: RayTestbed;
let client: KubeClient;
let ns: TestNamespace;
let bare: TestNamespace;
let pool: SimulatedPool;

beforeAll(async () => {
  bed = await startRayTestbed("rayjob", {
    controllers: [rayJobController()],
    // Its pods have no pod runner: a head there is Ready in the API and answers nothing.
    bareNamespace: true,
    logEnv: "RAYJOB_TEST_LOG",
  });
  ({ client, ns, pool } = bed);
  bare = bed.bare as TestNamespace;
});

afterAll(async () => {
  await bed?.stop();
});

const clusterSpec = (workerGroups: unknown[] = []) => ({
  rayVersion: "2.60.0",
  image: "rayproject/ray:2.60.0",
  head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "1" } },
  workerGroups,
});

const rayJob = (name: string, spec: Record<string, unknown>, namespace = ns.name): KubeObject => ({
  apiVersion: rt.apiVersion,
  kind: rt.kind,
  metadata: { name, namespace },
  spec,
});

const get = (name: string, namespace = ns.name) => client.get<RJ>(rt, name, namespace);

const until = (
  name: string,
  what: string,
  ok: (j: RJ) => boolean,
  timeoutMs = 150_000,
  namespace = ns.name,
) =>
  eventually(
    async () => {
      const j = await get(name, namespace);
      return ok(j) ? j : undefined;
    },
    timeoutMs,
    `RayJob ${name}: ${what}`,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await get(name, namespace)).status)}`);
  });

const clusterExists = async (name: string, namespace = ns.name): Promise<boolean> =>
  (await client.list(resourceTypes.rayCluster, { namespace })).items.some(
    (c) => c.metadata.name === name && !c.metadata.deletionTimestamp,
  );

const headIp = async (cluster: string): Promise<string> => {
  const pods = await client.list<KubeObject & { status?: { podIP?: string } }>(builtin.pods, {
    namespace: ns.name,
    query: { labelSelector: `${labels.name}=${cluster},${labels.group}=head` },
  });
  return pods.items[0]?.status?.podIP ?? "";
};

const reasons = async (obj: KubeObject): Promise<string[]> =>
  (await client.list(builtin.events, { namespace: obj.metadata.namespace })).items
    .filter((e) => (e.regarding as { uid?: string }).uid === obj.metadata.uid)
    .map((e) => e.reason as string);

// A real head starts in 10 to 60 s, depending on how busy the machine is.
describe("RayJob", { timeout: 240_000 }, () => {
  it("rejects an empty entrypoint and two cluster sources at admission, naming the field", async () => {
    const refused = async (spec: Record<string, unknown>) =>
      client.create(rt, rayJob("bad", spec)).then(
        () => "accepted",
        (e: unknown) => (e instanceof ApiError ? e.message : String(e)),
      );
    expect(await refused({ entrypoint: "", clusterSelector: { team: "a" } })).toMatch(/spec\.entrypoint/);
    expect(
      await refused({
        entrypoint: "python x.py",
        clusterSelector: { a: "b" },
        rayClusterSpec: clusterSpec(),
      }),
    ).toContain("exactly one of clusterSelector and rayClusterSpec must be set");
  });

  it("runs an entrypoint on a cluster of its own to SUCCEEDED with its log line, then deletes the cluster", async () => {
    await client.create(
      rt,
      rayJob("hello", {
        entrypoint: `python -c "import ray; ray.init(); print('answer', ray.get(ray.remote(lambda: 6 * 7).remote()))"`,
        rayClusterSpec: clusterSpec(),
        shutdownAfterJobFinishes: true,
        metadata: { owner: "test" },
      }),
    );
    const done = await until("hello", "Complete", (j) => j.status?.phase === "Complete");
    expect(done.status?.jobStatus).toBe("SUCCEEDED");
    expect(done.status?.logTail).toContain("answer 42");
    expect(done.status?.rayClusterName).toBe("hello");
    expect(done.status?.dashboardURL).toBe(`http://hello-head.${ns.name}.svc:8265`);
    expect(Date.parse(done.status?.endTime ?? "")).toBeGreaterThanOrEqual(
      Date.parse(done.status?.startTime ?? ""),
    );
    expect(done.status?.jobId).toMatch(/^hello-[0-9a-f]{8}-1$/);
    await eventually(
      async () => ((await clusterExists("hello")) ? undefined : true),
      60_000,
      "the cluster deleted",
    );
    expect(await reasons(done)).toEqual(
      expect.arrayContaining(["ClusterCreated", "Submitted", "Succeeded", "ClusterDeleted"]),
    );
    expect((await get("hello")).metadata.finalizers ?? []).toEqual([]);
  });

  it("waits in the admission queue with the cluster's reason while its GPU workers cannot fit, then runs", async () => {
    // Something else holds both GPUs of the pool.
    await client.create(builtin.pods, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "hog", namespace: ns.name },
      spec: {
        nodeName: `${pool.name}-0`,
        tolerations: [{ key: dedicatedTaintKey, operator: "Exists" }],
        containers: [{ name: "c", image: "busybox", resources: { limits: { "nvidia.com/gpu": "2" } } }],
      },
    });
    await client.create(
      rt,
      rayJob("queued", {
        entrypoint: `python -c "print('ran after the queue')"`,
        shutdownAfterJobFinishes: true,
        rayClusterSpec: clusterSpec([
          {
            name: "gpu",
            replicas: 1,
            accelerators: { count: 2, pools: [pool.name] },
            resources: { cpu: "2", memory: "4Gi" },
          },
        ]),
      }),
    );
    const waiting = await until(
      "queued",
      "Waiting with a queue position",
      (j) => j.status?.phase === "Waiting" && j.status.queuePosition !== undefined,
      60_000,
    );
    const admitted = waiting.status?.conditions?.find((c) => c.type === "Admitted");
    expect(admitted?.status).toBe("False");
    expect(admitted?.message).toContain(pool.name);
    await client.delete(builtin.pods, "hog", ns.name, { gracePeriodSeconds: 0 });
    const done = await until("queued", "Complete", (j) => j.status?.phase === "Complete");
    expect(done.status?.logTail).toContain("ran after the queue");
    expect(done.status?.conditions?.find((c) => c.type === "Admitted")?.status).toBe("True");
    await eventually(
      async () => ((await clusterExists("queued")) ? undefined : true),
      60_000,
      "the cluster deleted",
    );
  });

  describe("on a selected cluster", () => {
    beforeAll(async () => {
      await client.create(resourceTypes.rayCluster, {
        apiVersion: resourceTypes.rayCluster.apiVersion,
        kind: resourceTypes.rayCluster.kind,
        metadata: { name: "shared", namespace: ns.name, labels: { team: "a" } },
        spec: clusterSpec(),
      });
      await eventually(
        async () => {
          const rc = await client.get<KubeObject & { status?: { phase?: string } }>(
            resourceTypes.rayCluster,
            "shared",
            ns.name,
          );
          return rc.status?.phase === "Ready" ? true : undefined;
        },
        150_000,
        "the shared RayCluster Ready",
      );
    });

    it("retries a failing entrypoint backoffLimit times, then is Failed with Ray's message", async () => {
      await client.create(
        rt,
        rayJob("fails", {
          entrypoint: `python -c "raise SystemExit('input table is empty')"`,
          clusterSelector: { team: "a" },
          backoffLimit: 1,
        }),
      );
      const failed = await until("fails", "Failed", (j) => j.status?.phase === "Failed");
      expect(failed.status?.jobStatus).toBe("FAILED");
      expect(failed.status?.failedAttempts).toBe(2);
      expect(failed.status?.attempt).toBe(2);
      expect(failed.status?.message).toContain("input table is empty");
      expect(failed.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("Failed");
      // Events are sent after the status they report, in the client's report lane: awaited.
      await eventually(
        async () => {
          const seen = await reasons(failed);
          return seen.includes("Retrying") && seen.includes("Failed") ? seen : undefined;
        },
        30_000,
        "the Retrying and Failed events",
      );
      expect(await clusterExists("shared")).toBe(true);
    });

    it("stops the Ray job on suspend and on deletion, and leaves the selected cluster alone", async () => {
      const dashboard = new JobSubmissionClient(`http://${await headIp("shared")}:8265`);
      const sleeper = (name: string) =>
        rayJob(name, {
          entrypoint: `python -c "import time; print('working', flush=True); time.sleep(900)"`,
          clusterSelector: { team: "a" },
        });
      await client.create(rt, sleeper("pausable"));
      const running = await until("pausable", "RUNNING", (j) => j.status?.jobStatus === "RUNNING");
      const firstId = running.status?.jobId as string;
      await client.patch(rt, "pausable", ns.name, { spec: { suspend: true } }, "merge");
      await until("pausable", "Suspended", (j) => j.status?.phase === "Suspended", 60_000);
      await eventually(
        async () => ((await dashboard.get(firstId))?.status === "STOPPED" ? true : undefined),
        60_000,
        "the Ray job stopped by the suspend",
      );
      expect(await clusterExists("shared")).toBe(true);
      // Resumed: a new attempt under a new submission id.
      await client.patch(rt, "pausable", ns.name, { spec: { suspend: false } }, "merge");
      const again = await until(
        "pausable",
        "RUNNING again",
        (j) => j.status?.jobStatus === "RUNNING" && j.status.jobId !== firstId,
      );
      expect(again.status?.attempt).toBe(2);
      await client.delete(rt, "pausable", ns.name);
      await eventually(
        async () =>
          (await dashboard.get(again.status?.jobId as string))?.status === "STOPPED" ? true : undefined,
        60_000,
        "the Ray job stopped by the deletion",
      );
      await eventually(
        async () =>
          (await client.list(rt, { namespace: ns.name })).items.some((j) => j.metadata.name === "pausable")
            ? undefined
            : true,
        60_000,
        "the RayJob gone",
      );
    });
  });

  it("says in a condition that the head's dashboard is unreachable, with the address and the error", async () => {
    await client.create(
      rt,
      rayJob("nowhere", { entrypoint: "python -c pass", rayClusterSpec: clusterSpec() }, bare.name),
    );
    const job = await until(
      "nowhere",
      "DashboardReachable False",
      (j) =>
        j.status?.conditions?.some((c) => c.type === "DashboardReachable" && c.status === "False") ?? false,
      90_000,
      bare.name,
    );
    const c = job.status?.conditions?.find((x) => x.type === "DashboardReachable");
    expect(c?.message).toMatch(new RegExp(`http://${podAddressPattern}:8265`));
    expect(c?.message).toContain("ECONNREFUSED");
    expect(job.status?.phase).toBe("Initializing");
  });
});
