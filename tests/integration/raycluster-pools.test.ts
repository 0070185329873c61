// A worker group whose accelerators allow two vendors grows onto the second vendor's pool when
// its own is full, on the real control plane: the added workers are the cluster's next gang on
// any pool that fits, the admission holds one placement per pool, and each pod asks for its own
// pool's devices. Pools of this file's own (tainted for it), so no other file takes the devices.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels, type RayCluster } from "../../crds/index.ts";
import { KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { clearNamespace, perAttempt } from "../support/attempts.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { createDedicatedPools, deleteDedicatedPools, namespaceManager } from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const rt = resourceTypes.rayCluster;
let ns: TestNamespace;
let manager: Manager;
const attempt = perAttempt();

type RC = RayCluster & KubeObject;
type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    containers: Array<{ name: string; args?: string[]; resources?: { limits?: Record<string, string> } }>;
  };
};

// Room for two NVIDIA workers of one device each, and plenty on AMD.
const suffix = randomBytes(3).toString("hex");
const NV = `rayp-h100-${suffix}`;
const AMD = `rayp-mi300x-${suffix}`;
const ownPools: SimulatedPool[] = [
  {
    name: NV,
    nodes: 1,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 2, memoryGiB: 80 },
    cpu: "64",
    memory: "512Gi",
  },
  {
    name: AMD,
    nodes: 1,
    accelerator: { vendor: "amd", model: "AMD-Instinct-MI300X", devicesPerNode: 8, memoryGiB: 192 },
    cpu: "64",
    memory: "512Gi",
  },
];

beforeAll(async () => {
  ns = await testNamespace("rayp", kc);
  await createDedicatedPools(client, ownPools);
  manager = namespaceManager(kc, ns.name, { logEnv: "RAYP_TEST_LOG" });
  manager.add(acceleratorPoolController);
  manager.add(rayClusterController(new Admitter(manager)));
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await ns?.[Symbol.asyncDispose]();
  await deleteDedicatedPools(client, ownPools);
  await client.close();
});

const get = (name: string) => client.get<RC>(rt, name, ns.name);

const workers = async (name: string): Promise<Pod[]> =>
  (
    await client.list<Pod>(resourceTypes.pod, {
      namespace: ns.name,
      query: { labelSelector: `${labels.name}=${name},${labels.rayNodeType}=worker` },
    })
  ).items
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));

/** Per worker: its pool label, its node, the device resource it asks for, and its --num-gpus. */
const shape = (p: Pod) => {
  const c = p.spec.containers.find((x) => x.name === "ray-worker");
  const limits = Object.keys(c?.resources?.limits ?? {}).filter((k) => k.endsWith("/gpu"));
  return {
    name: p.metadata.name,
    pool: p.metadata.labels?.[labels.pool],
    node: p.spec.nodeName?.startsWith(p.metadata.labels?.[labels.pool] ?? "?") ?? false,
    devices: limits,
    gpus: c?.args?.find((a) => a.startsWith("--num-gpus")),
  };
};

const settled = (name: string, count: number, what: string) =>
  eventually(
    async () => {
      const rc = await get(name);
      const pods = await workers(name);
      const bound = pods.length === count && pods.every((p) => p.spec.nodeName);
      const held = (rc.status?.admission?.placements ?? []).reduce((n, p) => n + (p.replicas ?? 0), 0);
      // Ready stays Ready while added workers start: settled waits for every worker ready.
      const ready = rc.status?.readyWorkers === count;
      return rc.status?.phase === "Ready" && bound && ready && held === count ? { rc, pods } : undefined;
    },
    90_000,
    what,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await get(name)).status)}`);
  });

describe("RayCluster across vendors", () => {
  it("a group of vendors [nvidia, amd] whose NVIDIA pool is full grows onto the AMD pool", async () => {
    // A cluster of its own per attempt, on pools the first attempt's cluster no longer holds.
    if (attempt.next() > 1) await clearNamespace(client, ns.name, [rt]);
    const spill = attempt.name("spill");
    await client.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: spill, namespace: ns.name },
      spec: {
        rayVersion: "2.52.0",
        image: "rayproject/ray:2.52.0",
        head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "0" } },
        workerGroups: [
          {
            name: "gpu",
            replicas: 2,
            accelerators: { count: 1, vendors: ["nvidia", "amd"], pools: [NV, AMD] },
            resources: { cpu: "2", memory: "4Gi" },
          },
        ],
      },
    });
    const first = await settled(spill, 2, "two workers on the NVIDIA pool");
    expect(first.pods.map(shape)).toEqual([
      { name: `${spill}-gpu-0`, pool: NV, node: true, devices: ["nvidia.com/gpu"], gpus: "--num-gpus=1" },
      { name: `${spill}-gpu-1`, pool: NV, node: true, devices: ["nvidia.com/gpu"], gpus: "--num-gpus=1" },
    ]);

    const groups = (replicas: number) => ({
      workerGroups: [{ ...first.rc.spec.workerGroups?.[0], replicas }],
    });
    await client.patch(rt, spill, ns.name, { spec: groups(4) }, "merge");
    const grown = await settled(spill, 4, "four workers, two of them on the AMD pool");
    expect(grown.pods.map(shape)).toEqual([
      { name: `${spill}-gpu-0`, pool: NV, node: true, devices: ["nvidia.com/gpu"], gpus: "--num-gpus=1" },
      { name: `${spill}-gpu-1`, pool: NV, node: true, devices: ["nvidia.com/gpu"], gpus: "--num-gpus=1" },
      { name: `${spill}-gpu-2`, pool: AMD, node: true, devices: ["amd.com/gpu"], gpus: "--num-gpus=1" },
      { name: `${spill}-gpu-3`, pool: AMD, node: true, devices: ["amd.com/gpu"], gpus: "--num-gpus=1" },
    ]);
    // The first two kept their pods: the growth did not restart them.
    expect(grown.pods.slice(0, 2).map((p) => p.metadata.uid)).toEqual(first.pods.map((p) => p.metadata.uid));
    expect(
      grown.rc.status?.admission?.placements?.map((p) => [p.group, p.pool, p.vendor, p.replicas]),
    ).toEqual([
      ["gpu", NV, "nvidia", 2],
      ["gpu/2", AMD, "amd", 2],
    ]);
    expect(grown.rc.status?.workerGroups).toEqual([{ name: "gpu", pool: NV, replicas: 4, readyReplicas: 4 }]);
    expect(grown.rc.status?.conditions?.find((c) => c.type === "Admitted")?.message).toBe(
      `group gpu on pool ${NV} (2 workers), group gpu on pool ${AMD} (2 workers)`,
    );

    // Scale down: the newest go first, the AMD run is cut and then dropped.
    await client.patch(rt, spill, ns.name, { spec: groups(3) }, "merge");
    const three = await settled(spill, 3, "three workers");
    expect(three.pods.map((p) => p.metadata.name)).toEqual([
      `${spill}-gpu-0`,
      `${spill}-gpu-1`,
      `${spill}-gpu-2`,
    ]);
    expect(three.rc.status?.admission?.placements?.map((p) => [p.group, p.replicas])).toEqual([
      ["gpu", 2],
      ["gpu/2", 1],
    ]);
    await client.patch(rt, spill, ns.name, { spec: groups(2) }, "merge");
    const two = await settled(spill, 2, "two workers, all on the NVIDIA pool");
    expect(two.pods.map(shape).map((s) => s.pool)).toEqual([NV, NV]);
    expect(two.rc.status?.admission?.placements?.map((p) => [p.group, p.pool, p.replicas])).toEqual([
      ["gpu", NV, 2],
    ]);
  });
});
