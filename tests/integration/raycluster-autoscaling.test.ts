// RayCluster autoscaling from Ray's own demand: a real Ray head (run by the pod runner at the
// head pod's IP) with a task pending for {"GPU": 1}, which the operator reads from the head's
// dashboard and answers by growing the GPU group on the kwok cluster, through gang admission.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobSubmissionClient } from "../../controllers/ray-api/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels, type RayCluster } from "../../crds/index.ts";
import { builtin, type KubeClient, type KubeObject } from "../../operator/index.ts";
import { eventually, type TestNamespace } from "../support/cluster.ts";
import { type RayTestbed, startRayTestbed } from "../support/ray-testbed.ts";

const rt = resourceTypes.rayCluster;
type RC = RayCluster & KubeObject;
type Pod = KubeObject & { spec?: { nodeName?: string }; status?: { podIP?: string } };
let bed: RayTestbed;
let client: KubeClient;
let ns: TestNamespace;
let poolName: string;

beforeAll(async () => {
  bed = await startRayTestbed("ras", { logEnv: "RAS_TEST_LOG" });
  ({ client, ns } = bed);
  poolName = bed.pool.name;
});

afterAll(async () => {
  await bed?.stop();
});

const pods = async (cluster: string, group: string): Promise<Pod[]> =>
  (
    await client.list<Pod>(builtin.pods, {
      namespace: ns.name,
      query: { labelSelector: `${labels.name}=${cluster},${labels.group}=${group}` },
    })
  ).items.filter((p) => !p.metadata.deletionTimestamp);

describe("RayCluster autoscaling", { timeout: 240_000 }, () => {
  it("grows the GPU group when a task waits for {GPU: 1}, through admission onto the pool", async () => {
    await client.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "auto", namespace: ns.name },
      spec: {
        rayVersion: "2.60.0",
        image: "rayproject/ray:2.60.0",
        head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "1" } },
        autoscaling: { enabled: true, idleTimeoutSeconds: 5 },
        workerGroups: [
          {
            name: "gpu",
            replicas: 0,
            minReplicas: 0,
            maxReplicas: 2,
            accelerators: { count: 1, pools: [poolName] },
            resources: { cpu: "2", memory: "4Gi" },
          },
        ],
      },
    });
    const ready = await eventually(
      async () => {
        const rc = await client.get<RC>(rt, "auto", ns.name);
        return rc.status?.phase === "Ready" &&
          rc.status.conditions?.some((c) => c.type === "Autoscaling" && c.status === "True")
          ? rc
          : undefined;
      },
      180_000,
      "the cluster Ready with its autoscaler reading the head",
    );
    expect(ready.status?.conditions?.find((c) => c.type === "Autoscaling")?.message).toBe(
      "Ray reports no pending demand",
    );
    expect(await pods("auto", "gpu")).toEqual([]);

    const [head] = await pods("auto", "head");
    const jobs = new JobSubmissionClient(`http://${head?.status?.podIP}:8265`);
    // A head that just turned Ready may say "No available agent to submit job" for a moment.
    await eventually(
      () =>
        jobs.submit({
          entrypoint: `python -c "import ray; ray.init(); ray.get(ray.remote(num_gpus=1)(lambda: 1).remote())"`,
          submissionId: "wants-a-gpu",
        }),
      60_000,
      "the job submitted",
    );

    const [worker] = await eventually(
      async () => {
        const p = await pods("auto", "gpu");
        return p.length > 0 && p[0]?.spec?.nodeName ? p : undefined;
      },
      120_000,
      "a GPU worker pod bound to the pool's node",
    );
    expect(worker?.metadata.name).toBe("auto-gpu-0");
    expect(worker?.spec?.nodeName).toBe(`${poolName}-0`);
    const rc = await client.get<RC>(rt, "auto", ns.name);
    expect(rc.status?.autoscaling?.groups).toEqual([
      expect.objectContaining({ name: "gpu", replicas: expect.any(Number) }),
    ]);
    expect(rc.status?.autoscaling?.groups?.[0]?.replicas).toBe(1);
    expect(rc.spec.workerGroups?.[0]?.replicas).toBe(0);
    expect(rc.status?.admission?.placements?.[0]).toMatchObject({
      group: "gpu",
      pool: poolName,
      replicas: 1,
    });
    const events = (await client.list(builtin.events, { namespace: ns.name })).items.filter(
      (e) => (e.regarding as { uid?: string }).uid === rc.metadata.uid && e.reason === "AutoscaledUp",
    );
    expect(events.map((e) => e.note)).toEqual([
      expect.stringMatching(/group gpu: 1 pending \{.*"GPU":1.*\}: 0 -> 1/),
    ]);
    await jobs.stop("wants-a-gpu");
  });
});
