import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels, type RayCluster } from "../../crds/index.ts";
import { ApiError, builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { ensureSamplePools, namespaceManager, trackPhases } from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
let ns: TestNamespace;
let manager: Manager;
const rt = resourceTypes.rayCluster;
/** Every phase each cluster's status went through, as the watch delivered it. */
let phases = new Map<string, string[]>();

type RC = RayCluster & KubeObject;
type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    containers: Array<{ name: string; args?: string[]; resources?: { limits?: Record<string, string> } }>;
    initContainers?: Array<{ name: string; command?: string[] }>;
  };
  status?: { phase?: string };
};

beforeAll(async () => {
  ns = await testNamespace("rayc", kc);
  await ensureSamplePools(client, ["h100", "tpu-v5e"]);
  manager = namespaceManager(kc, ns.name, { logEnv: "RAYC_TEST_LOG" });
  manager.add(acceleratorPoolController);
  manager.add(rayClusterController(new Admitter(manager)));
  phases = trackPhases(manager, rt);
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await ns?.[Symbol.asyncDispose]();
  await client.close();
});

const rayCluster = (
  name: string,
  workerGroups: unknown[],
  spec: Record<string, unknown> = {},
): KubeObject => ({
  apiVersion: rt.apiVersion,
  kind: rt.kind,
  metadata: { name, namespace: ns.name },
  spec: {
    rayVersion: "2.52.0",
    image: "rayproject/ray:2.52.0",
    images: { nvidia: "rayproject/ray:2.52.0-gpu", google: "rayproject/ray:2.52.0-tpu" },
    head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "0" } },
    workerGroups,
    ...spec,
  },
});

const gpuGroup = (replicas: number, more: Record<string, unknown> = {}) => ({
  name: "gpu",
  replicas,
  // Pinned to the sample pool: other files add NVIDIA pools of their own to the shared cluster.
  accelerators: { count: 1, vendors: ["nvidia"], pools: ["h100"] },
  resources: { cpu: "2", memory: "4Gi" },
  ...more,
});
const tpuGroup = (replicas: number) => ({
  name: "tpu",
  replicas,
  accelerators: { count: 2, vendors: ["google"], pools: ["tpu-v5e"] },
  resources: { cpu: "4", memory: "8Gi" },
});

const get = (name: string) => client.get<RC>(rt, name, ns.name);

const pods = async (name: string): Promise<Pod[]> =>
  (
    await client.list<Pod>(resourceTypes.pod, {
      namespace: ns.name,
      query: { labelSelector: `${labels.kind}=raycluster,${labels.name}=${name}` },
    })
  ).items
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));

const ready = (name: string, generation?: number, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const rc = await get(name);
      const ok =
        rc.status?.phase === "Ready" &&
        (generation === undefined || rc.status.observedGeneration === generation);
      return ok ? rc : undefined;
    },
    timeoutMs,
    `RayCluster ${name} Ready`,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await get(name)).status)}`);
  });

const podNames = async (name: string) => (await pods(name)).map((p) => p.metadata.name);

const patchSpec = (name: string, spec: Record<string, unknown>) =>
  client.patch<RC>(rt, name, ns.name, { spec }, "merge");

const eventReasons = async (rc: RC): Promise<string[]> =>
  (await client.list(builtin.events, { namespace: ns.name })).items
    .filter((e) => (e.regarding as { uid?: string }).uid === rc.metadata.uid)
    .map((e) => e.reason as string);

describe("RayCluster", () => {
  it("runs a CPU head, 2 NVIDIA and 2 TPU workers on their pools, and reports Ready with endpoints", async () => {
    await client.create(rt, rayCluster("mixed", [gpuGroup(2), tpuGroup(2)]));
    const rc = await ready("mixed");
    const all = await pods("mixed");
    expect(all.map((p) => p.metadata.name)).toEqual([
      "mixed-gpu-0",
      "mixed-gpu-1",
      "mixed-head",
      "mixed-tpu-0",
      "mixed-tpu-1",
    ]);
    const byName = new Map(all.map((p) => [p.metadata.name, p]));

    const head = byName.get("mixed-head") as Pod;
    expect(head.spec.containers[0]?.args).toEqual([
      "--head",
      "--port=6379",
      "--dashboard-host=0.0.0.0",
      "--dashboard-port=8265",
      "--ray-client-server-port=10001",
      "--metrics-export-port=8080",
      "--num-cpus=0",
      `--memory=${2 * 2 ** 30}`,
      "--block",
    ]);
    expect(Object.keys(head.spec.containers[0]?.resources?.limits ?? {}).sort()).toEqual(["cpu", "memory"]);

    const gcs = `mixed-head.${ns.name}.svc:6379`;
    for (const i of [0, 1]) {
      const gpu = byName.get(`mixed-gpu-${i}`) as Pod;
      expect(gpu.spec.containers[0]?.args).toEqual([
        `--address=${gcs}`,
        "--num-cpus=2",
        `--memory=${4 * 2 ** 30}`,
        "--num-gpus=1",
        "--metrics-export-port=8080",
        "--block",
      ]);
      expect(gpu.spec.containers[0]?.resources?.limits).toEqual({
        cpu: "2",
        memory: "4Gi",
        "nvidia.com/gpu": "1",
      });
      expect(gpu.spec.nodeName).toMatch(/^h100-\d$/);
      expect(gpu.metadata.labels?.[labels.pool]).toBe("h100");
      expect(gpu.spec.initContainers?.[0]?.command?.join(" ")).toContain(gcs);

      const tpu = byName.get(`mixed-tpu-${i}`) as Pod;
      expect(tpu.spec.containers[0]?.args).toEqual([
        `--address=${gcs}`,
        "--num-cpus=4",
        `--memory=${8 * 2 ** 30}`,
        '--resources={"TPU":2}',
        "--metrics-export-port=8080",
        "--block",
      ]);
      expect(tpu.spec.containers[0]?.resources?.limits).toEqual({
        cpu: "4",
        memory: "8Gi",
        "google.com/tpu": "2",
      });
      expect(tpu.spec.nodeName).toMatch(/^tpu-v5e-\d$/);
    }

    expect(rc.status).toMatchObject({
      phase: "Ready",
      desiredWorkers: 4,
      readyWorkers: 4,
      endpoints: {
        gcs,
        dashboard: `http://mixed-head.${ns.name}.svc:8265`,
        client: `ray://mixed-head.${ns.name}.svc:10001`,
      },
      workerGroups: [
        { name: "gpu", pool: "h100", replicas: 2, readyReplicas: 2 },
        { name: "tpu", pool: "tpu-v5e", replicas: 2, readyReplicas: 2 },
      ],
    });
    for (const type of ["Admitted", "HeadReady", "Ready"])
      expect(rc.status?.conditions?.find((c) => c.type === type)?.status).toBe("True");
    // Each pod runs on the node its admission reserved.
    const placements = rc.status?.admission?.placements ?? [];
    for (const p of placements)
      for (const [i, node] of (p.nodes ?? []).entries())
        expect(byName.get(`mixed-${p.group}-${i}`)?.spec.nodeName).toBe(node);

    const svc = await client.get(resourceTypes.service, "mixed-head", ns.name);
    expect(
      (svc.spec as { ports: Array<{ name: string; port: number }> }).ports.map((p) => [p.name, p.port]),
    ).toEqual([
      ["gcs", 6379],
      ["dashboard", 8265],
      ["client", 10001],
      ["metrics", 8080],
    ]);
    expect(await eventReasons(rc)).toEqual(expect.arrayContaining(["Admitted", "Ready"]));
  });

  it("scales a group up and down within its bounds; the API server rejects replicas outside them", async () => {
    await client.create(rt, rayCluster("scaling", [gpuGroup(1, { minReplicas: 1, maxReplicas: 3 })]));
    await ready("scaling", 1);
    expect(await podNames("scaling")).toEqual(["scaling-gpu-0", "scaling-head"]);

    await patchSpec("scaling", { workerGroups: [gpuGroup(3, { minReplicas: 1, maxReplicas: 3 })] });
    const up = await eventually(
      async () => {
        const rc = await get("scaling");
        return rc.status?.readyWorkers === 3 && rc.status.phase === "Ready" ? rc : undefined;
      },
      60_000,
      "3 ready workers",
    );
    expect(await podNames("scaling")).toEqual([
      "scaling-gpu-0",
      "scaling-gpu-1",
      "scaling-gpu-2",
      "scaling-head",
    ]);
    expect(up.status?.admission?.placements).toEqual([
      expect.objectContaining({ group: "gpu", pool: "h100", replicas: 3 }),
    ]);

    await patchSpec("scaling", { workerGroups: [gpuGroup(1, { minReplicas: 1, maxReplicas: 3 })] });
    const down = await eventually(
      async () => {
        const rc = await get("scaling");
        const names = await podNames("scaling");
        return names.length === 2 && rc.status?.workerGroups?.[0]?.replicas === 1 ? rc : undefined;
      },
      60_000,
      "scaled down to 1",
    );
    // The newest workers went; the first one kept running where it was.
    expect(await podNames("scaling")).toEqual(["scaling-gpu-0", "scaling-head"]);
    expect(down.status?.phase).toBe("Ready");
    expect(down.status?.admission?.placements?.[0]).toMatchObject({ replicas: 1 });
    expect(down.status?.admission?.placements?.[0]?.nodes).toHaveLength(1);

    for (const [group, message] of [
      [gpuGroup(4, { minReplicas: 1, maxReplicas: 3 }), "replicas must be less than or equal to maxReplicas"],
      [gpuGroup(0, { minReplicas: 1, maxReplicas: 3 }), "minReplicas must be less than or equal to replicas"],
    ] as const) {
      const error = await patchSpec("scaling", { workerGroups: [group] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(422);
      expect(String((error as Error).message)).toContain(message);
    }
  });

  it("a scale-up that does not fit leaves the running workers alone and says why", async () => {
    const tpus = (replicas: number) => ({
      ...tpuGroup(replicas),
      accelerators: { count: 4, vendors: ["google"] },
    });
    await client.create(rt, rayCluster("greedy", [tpus(1)]));
    const before = await ready("greedy");
    const worker = (await pods("greedy")).find((p) => p.metadata.name === "greedy-tpu-0") as Pod;
    // Five whole TPU hosts: the pool has four and this cluster holds one, so the four added
    // workers wait in the queue; the one running is not touched.
    await patchSpec("greedy", { workerGroups: [tpus(5)] });
    const after = await eventually(
      async () => {
        const rc = await get("greedy");
        return rc.status?.queuePosition !== undefined ? rc : undefined;
      },
      60_000,
      "the added workers queued",
    );
    expect(after.status).toMatchObject({ phase: "Ready", desiredWorkers: 5, readyWorkers: 1 });
    expect(after.status?.admission).toBeUndefined();
    expect(after.status?.conditions?.find((c) => c.type === "Admitted")).toMatchObject({
      status: "False",
      reason: "InsufficientCapacity",
    });
    expect(after.status?.conditions?.find((c) => c.type === "Admitted")?.message).toMatch(
      /^4 more workers of group tpu: queued at position \d+: /,
    );
    const still = (await pods("greedy")).find((p) => p.metadata.name === "greedy-tpu-0");
    expect(still?.metadata.uid).toBe(worker.metadata.uid);
    expect(await podNames("greedy")).toEqual(["greedy-head", "greedy-tpu-0"]);
    // Taking the scale-up back restores the admission from the running worker.
    await patchSpec("greedy", { workerGroups: [tpus(1)] });
    const back = await eventually(
      async () => {
        const rc = await get("greedy");
        return rc.status?.admission?.placements?.[0]?.replicas === 1 ? rc : undefined;
      },
      60_000,
      "admission restored",
    );
    expect(back.status?.admission?.placements?.[0]?.nodes).toEqual([still?.spec.nodeName]);
    expect(back.status?.queuePosition).toBeUndefined();
    expect(before.status?.admission?.placements?.[0]?.nodes).toEqual(
      back.status?.admission?.placements?.[0]?.nodes,
    );
    await client.delete(rt, "greedy", ns.name);
  });

  it("replaces a deleted or failed worker on its admitted node", async () => {
    await client.create(rt, rayCluster("heal", [gpuGroup(2)]));
    const rc = await ready("heal");
    const before = new Map((await pods("heal")).map((p) => [p.metadata.name, p]));
    const victim = before.get("heal-gpu-0") as Pod;
    await client.delete(resourceTypes.pod, "heal-gpu-0", ns.name);
    const replaced = await eventually(
      async () => {
        const p = (await pods("heal")).find((x) => x.metadata.name === "heal-gpu-0");
        return p && p.metadata.uid !== victim.metadata.uid && p.spec.nodeName ? p : undefined;
      },
      60_000,
      "heal-gpu-0 recreated",
    );
    expect(replaced.spec.nodeName).toBe(rc.status?.admission?.placements?.[0]?.nodes?.[0]);

    // A worker whose pod failed (as after an eviction) is deleted and created again.
    const failing = before.get("heal-gpu-1") as Pod;
    await client.patch(resourceTypes.pod, "heal-gpu-1", ns.name, { status: { phase: "Failed" } }, "merge", {
      subresource: "status",
    });
    await eventually(
      async () => {
        const p = (await pods("heal")).find((x) => x.metadata.name === "heal-gpu-1");
        return p && p.metadata.uid !== failing.metadata.uid ? p : undefined;
      },
      60_000,
      "heal-gpu-1 recreated",
    );
    await ready("heal");
    expect(await eventReasons(rc)).toContain("WorkerFailed");
  });

  it("recreates a deleted head: the status goes Degraded, then Ready", async () => {
    await client.create(rt, rayCluster("phoenix", [gpuGroup(1)]));
    const rc = await ready("phoenix");
    const head = await client.get(resourceTypes.pod, "phoenix-head", ns.name);
    phases.set("phoenix", ["Ready"]);
    await client.delete(resourceTypes.pod, "phoenix-head", ns.name);
    await eventually(
      async () => {
        const p = await client.getOrUndefined(resourceTypes.pod, "phoenix-head", ns.name);
        return p && p.metadata.uid !== head.metadata.uid ? p : undefined;
      },
      60_000,
      "a new head pod",
    );
    await eventually(
      async () => ((phases.get("phoenix") ?? []).slice(1).includes("Ready") ? true : undefined),
      60_000,
      "Ready again",
    );
    expect(phases.get("phoenix")).toEqual(["Ready", "Degraded", "Ready"]);
    expect((await get("phoenix")).status?.conditions?.find((c) => c.type === "HeadReady")?.status).toBe(
      "True",
    );
    expect(await eventReasons(rc)).toEqual(expect.arrayContaining(["HeadRecreated", "Degraded"]));
  });

  it("suspend deletes every pod and releases the admission; resume brings the cluster back", async () => {
    await client.create(rt, rayCluster("nap", [gpuGroup(1), tpuGroup(1)]));
    await ready("nap");
    await patchSpec("nap", { suspend: true });
    const suspended = await eventually(
      async () => {
        const rc = await get("nap");
        return rc.status?.phase === "Suspended" && (await pods("nap")).length === 0 ? rc : undefined;
      },
      60_000,
      "suspended with no pods",
    );
    expect(suspended.status?.admission).toBeUndefined();
    expect(suspended.spec.workerGroups?.map((g) => g.name)).toEqual(["gpu", "tpu"]);
    await patchSpec("nap", { suspend: false });
    const resumed = await ready("nap", 3);
    expect(await podNames("nap")).toEqual(["nap-gpu-0", "nap-head", "nap-tpu-0"]);
    expect(resumed.status?.admission?.placements?.map((p) => p.group)).toEqual(["gpu", "tpu"]);
    expect(await eventReasons(resumed)).toEqual(expect.arrayContaining(["Suspended", "Resumed"]));
  });
});
