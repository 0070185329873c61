// RayCluster autoscaling from Ray's own demand: a real Ray head (run by the pod runner at the
// head pod's IP) with a task pending for {"GPU": 1}, which the operator reads from the head's
// dashboard and answers by growing the GPU group on the kwok cluster, through gang admission.
// Then idle workers removed by name: three real Ray workers (the pod runner runs the file's CPU
// pool, one worker per node), the outer two kept busy by pinned tasks, the middle one idle: it
// alone is deleted although a busy one sits above it, its node released from the admission, and
// the record with the gap is what a restarted operator works from.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { fetchClusterLoad, JobSubmissionClient } from "../../controllers/ray-api/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import { labels, type RayCluster } from "../../crds/index.ts";
import { builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { realRayCluster, realRayHead, smallObjectStore } from "../real/harness.ts";
import { perAttempt } from "../support/attempts.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { type PodRunner, startPodRunner } from "../support/pod-runner.ts";
import { pythonVenv } from "../support/python.ts";
import { type RayTestbed, startRayTestbed } from "../support/ray-testbed.ts";
import { createDedicatedPools, deleteDedicatedPools, namespaceManager } from "../support/workloads.ts";

const rt = resourceTypes.rayCluster;
type RC = RayCluster & KubeObject;
type Pod = KubeObject & { spec?: { nodeName?: string }; status?: { podIP?: string; phase?: string } };

const podsIn = async (client: KubeClient, ns: string, cluster: string, group: string): Promise<Pod[]> =>
  (
    await client.list<Pod>(builtin.pods, {
      namespace: ns,
      query: { labelSelector: `${labels.name}=${cluster},${labels.group}=${group}` },
    })
  ).items
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));

describe("RayCluster autoscaling", { timeout: 240_000 }, () => {
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

  const pods = (cluster: string, group: string) => podsIn(client, ns.name, cluster, group);

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

describe("RayCluster autoscaling removes exactly the idle workers Ray names", { timeout: 420_000 }, () => {
  const kc = loadKubeConfig();
  const client = new KubeClient({ kubeConfig: kc });
  // Long enough for the holders' tasks to land on workers 0 and 2 before they count as idle.
  const idleTimeoutSeconds = 60;
  // Ports no other file's real Ray uses, below Ray's worker port range (10002-19999), others per
  // attempt: a head binds its dashboard on every address, and a first attempt's may linger.
  const portsOf = (n: number) => ({
    gcs: 6394 + n,
    dashboard: 8279 + n,
    client: 9993 + n,
    metrics: 8094 + n,
  });
  const holder = join(repoRoot, "tests/real/ray_hold.py");
  // One worker per node (2 CPUs each), so each worker's slot names a node of its own.
  const pool: SimulatedPool = {
    name: `ras-idle-${randomBytes(3).toString("hex")}`,
    nodes: 3,
    cpu: "2",
    memory: "8Gi",
  };
  let ns: TestNamespace;
  let runner: PodRunner;
  let manager: Manager;
  const startManager = async () => {
    const m = namespaceManager(kc, ns.name, { logEnv: "RAS_TEST_LOG" });
    m.add(acceleratorPoolController);
    m.add(rayClusterController(new Admitter(m)));
    await m.start();
    await m.waitForCacheSync();
    return m;
  };

  beforeAll(async () => {
    const venv = pythonVenv();
    ns = await testNamespace("ras-idle", kc);
    await createDedicatedPools(client, [pool]);
    runner = await startPodRunner(ns.name, [
      // The shared CPU pool too, where the head goes: run as itself, it keeps the ports the
      // workers are told (a head the runner runs on any other node gets ports of its own).
      `--run-local-pools=${pool.name},cpu`,
      `--path-prefix=${join(venv, "bin")}`,
      `--workdir=${repoRoot}`,
    ]);
    manager = await startManager();
  });

  afterAll(async () => {
    await manager?.stop();
    await runner?.stop();
    await ns?.[Symbol.asyncDispose]();
    await deleteDedicatedPools(client, [pool]);
    await client.close();
  });

  // A name per attempt: a retry does not meet the first attempt's cluster.
  const attempt = perAttempt();
  let name = "";
  const workers = () => podsIn(client, ns.name, name, "cpu");
  const byName = (ps: Pod[]) => new Map(ps.map((p) => [p.metadata.name as string, p]));

  it("deletes the idle middle worker while both neighbours are busy; they keep their pods and nodes", async () => {
    const ports = portsOf(attempt.next());
    name = attempt.name("idle");
    await client.create(
      rt,
      realRayCluster(name, ns.name, {
        // No CPU on the head: the pinned tasks run on the workers.
        head: realRayHead(ports, 0),
        autoscaling: { enabled: true, idleTimeoutSeconds },
        workerGroups: [
          {
            name: "cpu",
            replicas: 3,
            minReplicas: 0,
            maxReplicas: 3,
            accelerators: { count: 0, pools: [pool.name] },
            resources: { cpu: "2", memory: "2Gi" },
            rayStartParams: smallObjectStore,
          },
        ],
      }),
    );
    const started = await eventually(
      async () => {
        const ps = await workers();
        return ps.length === 3 && ps.every((p) => p.status?.phase === "Running" && p.status.podIP)
          ? ps
          : undefined;
      },
      180_000,
      "three CPU workers running",
    );
    const before = byName(started);
    expect([...before.keys()]).toEqual([`${name}-cpu-0`, `${name}-cpu-1`, `${name}-cpu-2`]);
    const nodeOf = (name: string) => before.get(name)?.spec?.nodeName as string;
    expect(new Set([0, 1, 2].map((i) => nodeOf(`${name}-cpu-${i}`))).size).toBe(3);

    const [head] = await podsIn(client, ns.name, name, "head");
    const dashboard = `http://${head?.status?.podIP}:${ports.dashboard}`;
    const jobs = new JobSubmissionClient(dashboard);
    try {
      await removesTheIdleOne(jobs, dashboard, before);
    } finally {
      // A driver outlives its head otherwise.
      for (const i of [0, 2]) await jobs.stop(`hold-${i}`).catch(() => undefined);
      // A retry's workers need the pool's nodes.
      await client.delete(rt, name, ns.name).catch(() => undefined);
      await eventually(
        async () => ((await workers()).length === 0 ? true : undefined),
        60_000,
        "workers gone",
      );
    }
  });

  async function removesTheIdleOne(jobs: JobSubmissionClient, dashboard: string, before: Map<string, Pod>) {
    const nodeOf = (name: string) => before.get(name)?.spec?.nodeName as string;
    const env = { env_vars: { RAY_USAGE_STATS_ENABLED: "0" } };
    // Workers 0 and 2 busy as soon as their raylets join (the holder waits for each node): Ray
    // reports them busy well before the idle timeout, and only worker 1 idle.
    for (const i of [0, 2])
      await eventually(
        () =>
          jobs.submit({
            entrypoint: `python ${holder} ${before.get(`${name}-cpu-${i}`)?.status?.podIP}`,
            submissionId: `hold-${i}`,
            runtimeEnv: env,
          }),
        180_000,
        `the job holding worker ${i} submitted`,
      );
    const said = async () => {
      const rc = await client.get<RC>(rt, name, ns.name);
      const load = await fetchClusterLoad(dashboard).catch((e: unknown) => String(e));
      return `status ${JSON.stringify(rc.status)}; Ray ${JSON.stringify(load)}`;
    };

    const after = await eventually(
      async () => {
        const ps = await workers();
        return ps.length === 2 ? ps : undefined;
      },
      180_000,
      "the idle worker removed",
    ).catch(async (e: unknown) => {
      throw new Error(`${String(e)}; ${await said()}`);
    });
    // The idle one went although a busy one sits above it; the busy ones are the same pods.
    expect(after.map((p) => p.metadata.name)).toEqual([`${name}-cpu-0`, `${name}-cpu-2`]);
    for (const p of after) {
      expect(p.metadata.uid).toBe(before.get(p.metadata.name as string)?.metadata.uid);
      expect(p.spec?.nodeName).toBe(nodeOf(p.metadata.name as string));
    }
    for (const i of [0, 2]) expect((await jobs.get(`hold-${i}`))?.status).toBe("RUNNING");

    // The admission no longer holds worker 1's node: its run split around the retired slot.
    const rc = await eventually(
      async () => {
        const r = await client.get<RC>(rt, name, ns.name);
        return r.status?.autoscaling?.groups?.[0]?.replicas === 2 ? r : undefined;
      },
      30_000,
      "the count 2 stored",
    );
    expect(rc.status?.admission?.placements?.map((p) => [p.group, p.nodes])).toEqual([
      ["cpu", [nodeOf(`${name}-cpu-0`)]],
      ["cpu/2", [nodeOf(`${name}-cpu-2`)]],
    ]);
    // The reason in status is the latest decision's; the events keep the removal's.
    expect(rc.status?.autoscaling?.lastScaleTime).toBeDefined();
    const notes = async (reason: string) =>
      (await client.list(builtin.events, { namespace: ns.name })).items
        .filter((e) => (e.regarding as { uid?: string }).uid === rc.metadata.uid && e.reason === reason)
        .map((e) => String(e.note));
    expect(await notes("AutoscaledDown")).toEqual([
      `group cpu: idle for ${idleTimeoutSeconds} s: ${name}-cpu-1`,
    ]);
    expect(await notes("ScaledDown")).toEqual([
      `group cpu: 3 -> 2 workers; removed ${name}-cpu-1 and their capacity released`,
    ]);

    // A restarted operator reads the gap from the record: a lost busy worker comes back as
    // itself on its own node, and the retired index stays free.
    await manager.stop();
    manager = await startManager();
    const lost = byName(after).get(`${name}-cpu-2`) as Pod;
    await client.delete(builtin.pods, `${name}-cpu-2`, ns.name);
    const back = await eventually(
      async () => {
        const p = byName(await workers()).get(`${name}-cpu-2`);
        return p && p.metadata.uid !== lost.metadata.uid && p.spec?.nodeName ? p : undefined;
      },
      60_000,
      "worker 2 recreated",
    );
    expect(back.spec?.nodeName).toBe(nodeOf(`${name}-cpu-2`));
    const now = await workers();
    expect(now.map((p) => p.metadata.name)).toEqual([`${name}-cpu-0`, `${name}-cpu-2`]);
    expect(byName(now).get(`${name}-cpu-0`)?.metadata.uid).toBe(before.get(`${name}-cpu-0`)?.metadata.uid);
    const kept = await client.get<RC>(rt, name, ns.name);
    expect(kept.status?.admission?.placements?.map((p) => p.group)).toEqual(["cpu", "cpu/2"]);
  }
});
