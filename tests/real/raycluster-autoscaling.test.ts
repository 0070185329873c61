// RayCluster autoscaling with real Ray workers: the worker pods run `ray start` for real (the pod
// runner runs the file's CPU pool), so Ray itself says which workers are busy and which idle.
// Two tasks that wait for a CPU grow the group from 0 to 2; once they end, a task pinned to
// worker 0 keeps that one busy: worker 1, idle in Ray's report, is removed after
// idleTimeoutSeconds, worker 0 stays for as long as its task runs and goes once it is stopped.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { fetchClusterLoad, JobSubmissionClient } from "../../controllers/ray-api/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels, type RayCluster } from "../../crds/index.ts";
import { builtin, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import type { Pod, RealTestbed } from "./harness.ts";
import { podsOf, pool, realRayCluster, realRayHead, smallObjectStore, startRealTestbed } from "./harness.ts";

const rt = resourceTypes.rayCluster;
type RC = RayCluster & KubeObject;
const holder = join(import.meta.dirname, "ray_hold.py");
const idleTimeoutSeconds = 6;
// Ports no other real-run file uses, below Ray's worker port range (10002-19999).
const ports = { gcs: 6392, dashboard: 8277, client: 9991, metrics: 8092 };
const cpuPool = pool("real-ras-cpu", 1);
const controllers = (m: Manager) => m.add(rayClusterController(new Admitter(m)));

let t: RealTestbed;

// The head goes to a plain node (the shared CPU pool's), the workers to the file's own pool.
beforeAll(async () => {
  t = await startRealTestbed("real-ras", [cpuPool], controllers, ["cpu"]);
});

afterAll(async () => {
  await t?.stop();
});

const workers = async (): Promise<Pod[]> =>
  (await t.pods(`${podsOf("raycluster", "auto")},${labels.group}=cpu`)).filter(
    (p) => !p.metadata.deletionTimestamp,
  );
const names = (pods: Pod[]) => pods.map((p) => p.metadata.name).sort();
const replicas = async (): Promise<number | undefined> =>
  (await t.client.get<RC>(rt, "auto", t.ns)).status?.autoscaling?.groups?.find((g) => g.name === "cpu")
    ?.replicas;
/** The reconcile deletes a worker, then stores the count: wait for the count. */
const countStored = (n: number) =>
  eventually(async () => ((await replicas()) === n ? n : undefined), 30_000, `the count ${n} stored`);

describe("RayCluster autoscaling with real Ray workers", () => {
  it("grows on pending CPU tasks, then removes exactly the workers Ray reports idle, never a busy one", async () => {
    await t.client.create(
      rt,
      realRayCluster("auto", t.ns, {
        // No CPU on the head: every task needs a worker.
        head: realRayHead(ports, 0),
        autoscaling: { enabled: true, idleTimeoutSeconds },
        workerGroups: [
          {
            name: "cpu",
            replicas: 0,
            minReplicas: 0,
            maxReplicas: 2,
            accelerators: { count: 0, pools: [t.pools[0] as string] },
            resources: { cpu: "1", memory: "1Gi" },
            rayStartParams: smallObjectStore,
          },
        ],
      }),
    );

    const head = await eventually(
      async () => {
        const rc = await t.client.get<RC>(rt, "auto", t.ns);
        const ready = rc.status?.conditions?.some((c) => c.type === "Autoscaling" && c.status === "True");
        const [pod] = await t.pods(`${podsOf("raycluster", "auto")},${labels.group}=head`);
        return rc.status?.phase === "Ready" && ready ? pod : undefined;
      },
      240_000,
      "the cluster Ready with its autoscaler reading the real head",
    );
    const dashboard = `http://${head.status?.podIP}:${ports.dashboard}`;
    const jobs = new JobSubmissionClient(dashboard);
    // What Ray and the autoscaler said, for a wait that times out.
    const said = async () => {
      const rc = await t.client.get<RC>(rt, "auto", t.ns);
      const load = await fetchClusterLoad(dashboard).catch((e: unknown) => String(e));
      const hold = await jobs.logs("hold-0").catch(() => "");
      return `autoscaling ${JSON.stringify(rc.status?.autoscaling)}; Ray ${JSON.stringify(load)}; hold-0 log ${hold}`;
    };
    const explained = <T>(p: Promise<T>): Promise<T> =>
      p.catch(async (e: unknown) => {
        throw new Error(`${String(e)}; ${await said()}`);
      });
    const env = { env_vars: { RAY_USAGE_STATS_ENABLED: "0" } };
    // Two tasks of one CPU each, for 15 s: Ray reports 2 x {CPU: 1} pending.
    await eventually(
      () =>
        jobs.submit({
          entrypoint: `python -c "import ray, time; ray.init(); ray.get([ray.remote(num_cpus=1)(lambda: time.sleep(15)).remote() for _ in range(2)])"`,
          submissionId: "two-tasks",
          runtimeEnv: env,
        }),
      60_000,
      "the two tasks submitted",
    );
    const grown = await eventually(
      async () => {
        const pods = await workers();
        return pods.length === 2 && pods.every((p) => p.status?.phase === "Running" && p.status.podIP)
          ? pods
          : undefined;
      },
      180_000,
      "two CPU workers running",
    );
    expect(names(grown)).toEqual(["auto-cpu-0", "auto-cpu-1"]);
    expect(await replicas()).toBe(2);
    const ip0 = grown.find((p) => p.metadata.name === "auto-cpu-0")?.status?.podIP as string;

    // Worker 0 stays busy until this job is stopped: it waits there for its CPU while the
    // first job runs, then holds it.
    await jobs.submit({ entrypoint: `python ${holder} ${ip0}`, submissionId: "hold-0", runtimeEnv: env });
    await eventually(
      async () => ((await jobs.get("two-tasks"))?.status === "SUCCEEDED" ? true : undefined),
      180_000,
      "the two tasks done",
    );

    // Worker 1 is idle in Ray's report; after the timeout it goes, and only it.
    const shrunk = await explained(
      eventually(
        async () => {
          const pods = await workers();
          return pods.length === 1 ? pods : undefined;
        },
        120_000,
        "the idle worker removed",
      ),
    );
    expect(names(shrunk)).toEqual(["auto-cpu-0"]);
    expect(await countStored(1)).toBe(1);
    const holding = await jobs.get("hold-0");
    expect(holding?.status, `${holding?.message} ${await jobs.logs("hold-0")}`).toBe("RUNNING");

    // The busy one stays however long it is busy: three timeouts later the same pod is still
    // there. (A worker may come back meanwhile: on a loaded machine Ray can report a moment of
    // demand, a job's runtime env setting up, and a scale-up for it is right.)
    const uid0 = grown.find((p) => p.metadata.name === "auto-cpu-0")?.metadata.uid;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, idleTimeoutSeconds * 1000));
      const now = await workers();
      expect(now.find((p) => p.metadata.name === "auto-cpu-0")?.metadata.uid).toBe(uid0);
    }
    expect((await jobs.get("hold-0"))?.status).toBe("RUNNING");

    // Its task stopped, Ray reports it idle too, and the group goes down to minReplicas.
    await jobs.stop("hold-0");
    await explained(
      eventually(
        async () => ((await workers()).length === 0 ? true : undefined),
        120_000,
        "the last worker removed once idle",
      ),
    );
    expect(await countStored(0)).toBe(0);

    const rc = await t.client.get<RC>(rt, "auto", t.ns);
    const downs = (await t.client.list(builtin.events, { namespace: t.ns })).items
      .filter(
        (e) => (e.regarding as { uid?: string }).uid === rc.metadata.uid && e.reason === "AutoscaledDown",
      )
      .map((e) => String(e.note));
    const prefix = `group cpu: idle for ${idleTimeoutSeconds} s: `;
    for (const note of downs) expect(note.startsWith(prefix), note).toBe(true);
    const removed = new Set(downs.flatMap((n) => n.slice(prefix.length).split(", ")));
    expect([...removed].sort()).toEqual(["auto-cpu-0", "auto-cpu-1"]);
  });
});
