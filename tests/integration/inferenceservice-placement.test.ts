import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { Admitter, podRequest } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { type InferenceService, labels } from "../../crds/index.ts";
import {
  builtin,
  isNotFound,
  KubeClient,
  type KubeObject,
  type Manager,
  resourcePath,
} from "../../operator/index.ts";
import {
  eventually,
  kubectl,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import {
  createDedicatedPools,
  dedicatedTaintKey,
  deleteDedicatedPools,
  namespaceManager,
} from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const rt = resourceTypes.inferenceService;
let ns: TestNamespace;
let manager: Manager;

type Isvc = InferenceService & KubeObject;
type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    containers: { name: string; image: string; resources?: { limits?: Record<string, string> } }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
};
type Deployment = KubeObject & {
  spec: {
    replicas: number;
    strategy: unknown;
    template: { spec: { containers: { image: string }[] } };
  };
  status?: { readyReplicas?: number; updatedReplicas?: number; replicas?: number };
};

const cudaImage = "vllm/vllm-openai:v0.11.0";
const rocmImage = "rocm/vllm:rocm6.4.1_vllm_0.10.1_20250909";
const placeholderLabel = "sovereign.dev/placeholder";

// Pools of this file's own, so no other file's admitter can take the devices its tests count:
// an H100 pool of two nodes and an MI300X pool of one, tainted for this file alone.
const suffix = randomBytes(3).toString("hex");
const H100 = `place-h100-${suffix}`;
const MI300X = `place-mi300x-${suffix}`;
const taintKey = dedicatedTaintKey;
const ownPools: SimulatedPool[] = [
  {
    name: H100,
    nodes: 2,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 8, memoryGiB: 80 },
    cpu: "192",
    memory: "2Ti",
  },
  {
    name: MI300X,
    nodes: 1,
    accelerator: { vendor: "amd", model: "AMD-Instinct-MI300X", devicesPerNode: 8, memoryGiB: 192 },
    cpu: "192",
    memory: "2Ti",
  },
];

beforeAll(async () => {
  ns = await testNamespace("isvc-place", kc);
  await createDedicatedPools(client, ownPools);
  manager = namespaceManager(kc, ns.name, { logEnv: "ISVC_TEST_LOG" });
  manager.add(inferenceServiceControllerWith(new Admitter(manager), { secretRecheckMs: 1000 }));
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await ns?.[Symbol.asyncDispose]();
  await deleteDedicatedPools(client, ownPools);
  await client.close();
});

// ---- capacity -----------------------------------------------------------------------------

const isTerminal = (p: Pod) => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";

/** Free devices of `resource` per node of the pool, counting every pod bound in the cluster. */
async function freeDevices(pool: string, resource: string): Promise<Map<string, number>> {
  const nodes = (await client.list(builtin.nodes, { query: { labelSelector: `sovereign.dev/pool=${pool}` } }))
    .items;
  const pods = (await client.list<Pod>(builtin.pods)).items;
  const free = new Map<string, number>();
  for (const node of nodes) {
    const name = node.metadata.name ?? "";
    const allocatable = Number(
      (node.status as { allocatable?: Record<string, string> }).allocatable?.[resource] ?? 0,
    );
    const used = pods
      .filter((p) => p.spec.nodeName === name && !isTerminal(p))
      .reduce((n, p) => n + podRequest(p as never, resource), 0);
    free.set(name, Math.max(0, allocatable - used));
  }
  return free;
}

const placeholders = async (): Promise<Pod[]> =>
  (
    await client.list<Pod>(builtin.pods, {
      namespace: ns.name,
      query: { labelSelector: `${placeholderLabel}=true` },
    })
  ).items;

async function deletePod(p: Pod): Promise<void> {
  await client
    .delete(builtin.pods, p.metadata.name ?? "", ns.name)
    .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
}

/** Occupies the pool with placeholder pods until exactly `leave` devices are free. */
async function leaveFree(pool: string, resource: string, leave: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const free = await freeDevices(pool, resource);
    let total = [...free.values()].reduce((a, b) => a + b, 0);
    if (total === leave) return;
    if (total < leave) {
      // Give back one of ours, or wait for other tests to finish with theirs.
      const [mine] = (await placeholders()).filter((p) => p.spec.nodeName?.startsWith(`${pool}-`));
      if (mine) await deletePod(mine);
      const gone = mine?.metadata.name;
      await eventually(
        async () => ((await placeholders()).some((p) => p.metadata.name === gone) ? undefined : true),
        30_000,
        `placeholder ${gone} gone`,
      );
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const created: string[] = [];
    for (const [node, n] of [...free.entries()].sort()) {
      const take = Math.min(n, total - leave);
      if (take <= 0) continue;
      total -= take;
      const pod = await client.create<Pod>(builtin.pods, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          generateName: `hold-${node}-`,
          namespace: ns.name,
          labels: { [placeholderLabel]: "true" },
        },
        spec: {
          nodeSelector: { "kubernetes.io/hostname": node },
          tolerations: [{ key: taintKey, operator: "Exists", effect: "NoSchedule" }],
          terminationGracePeriodSeconds: 0,
          containers: [
            {
              name: "hold",
              image: "registry.k8s.io/pause:3.10",
              resources: { requests: { [resource]: String(take) }, limits: { [resource]: String(take) } },
            },
          ],
        },
      });
      created.push(pod.metadata.name ?? "");
    }
    // Bound, or lost a race with another test's pod: then drop it and count again.
    const settle = Date.now() + 10_000;
    while (Date.now() < settle) {
      const mine = (await placeholders()).filter((p) => created.includes(p.metadata.name ?? ""));
      if (mine.every((p) => p.spec.nodeName)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const p of await placeholders()) if (!p.spec.nodeName) await deletePod(p);
  }
  throw new Error(`could not leave exactly ${leave} ${resource} free on pool ${pool}`);
}

// ---- service helpers ------------------------------------------------------------------------

const isvc = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: rt.apiVersion,
  kind: rt.kind,
  metadata: { name, namespace: ns.name },
  spec: {
    model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
    engine: { image: cudaImage, images: { amd: rocmImage }, maxModelLen: 8192 },
    accelerators: { count: 1, minMemoryGiB: 24, pools: [H100, MI300X] },
    resources: { cpu: "1", memory: "2Gi" },
    rollout: { maxSurge: 1, maxUnavailable: 0 },
    ...spec,
  },
});

const get = (name: string) => client.get<Isvc>(rt, name, ns.name);

const serverPods = async (name: string): Promise<Pod[]> =>
  (
    await client.list<Pod>(builtin.pods, {
      namespace: ns.name,
      query: {
        labelSelector: `${labels.kind}=inferenceservice,${labels.name}=${name},${labels.group}=server`,
      },
    })
  ).items.filter((p) => !p.metadata.deletionTimestamp);

const isReady = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const deployments = async (name: string): Promise<Map<string, Deployment>> => {
  const list = await client.list<Deployment>(builtin.deployments, {
    namespace: ns.name,
    query: { labelSelector: `${labels.kind}=inferenceservice,${labels.name}=${name}` },
  });
  return new Map(
    list.items
      .filter((d) => !d.metadata.deletionTimestamp)
      .map((d) => [d.metadata.labels?.[labels.pool] ?? "", d] as const),
  );
};

/** Ready with `replicas` ready replicas, the status computed from the current spec. */
const readyWith = (name: string, replicas: number, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const s = await get(name);
      const st = s.status;
      const ok =
        st?.phase === "Ready" &&
        st.observedGeneration === s.metadata.generation &&
        st.readyReplicas === replicas &&
        (st.placements ?? []).reduce((n, p) => n + (p.replicas ?? 0), 0) === replicas &&
        (await serverPods(name)).filter(isReady).length === replicas;
      return ok ? s : undefined;
    },
    timeoutMs,
    `InferenceService ${name} Ready with ${replicas} replicas`,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await get(name)).status)}`);
  });

const placementsOf = (s: Isvc) => (s.status?.placements ?? []).map((p) => [p.pool, p.replicas] as const);

/** What scaling down to `n` leaves: replicas come off the last pool first. */
function lastFirst(placements: readonly (readonly [string, number | undefined])[], n: number) {
  let excess = placements.reduce((a, [, r]) => a + (r ?? 0), 0) - n;
  const out = placements.map(([pool, r]) => [pool, r ?? 0] as [string, number]);
  for (let i = out.length - 1; i >= 0 && excess > 0; i--) {
    const entry = out[i] as [string, number];
    const take = Math.min(excess, entry[1]);
    entry[1] -= take;
    excess -= take;
  }
  return out.filter(([, r]) => r > 0);
}

describe("InferenceService across vendors", () => {
  const name = "llama";

  it("puts 2 replicas on H100 (CUDA image) and 2 on MI300X (ROCm image) behind one Service", async () => {
    await leaveFree(H100, "nvidia.com/gpu", 2);
    await client.create(rt, isvc(name, { replicas: 4 }));
    const s = await readyWith(name, 4);

    expect(s.status?.placements).toEqual([
      { pool: H100, devicesPerReplica: 1, replicas: 2, readyReplicas: 2 },
      { pool: MI300X, devicesPerReplica: 1, replicas: 2, readyReplicas: 2 },
    ]);
    expect(s.status?.url).toBe(`http://${name}.${ns.name}.svc:8000/v1`);
    expect(s.status?.admission?.placements?.map((p) => [p.group, p.pool, p.replicas])).toEqual([
      [`server/${H100}`, H100, 2],
      [`server/${MI300X}`, MI300X, 2],
    ]);
    // The nodes the engine counted were a reservation until the pods were bound, never a pin.
    expect(s.status?.admission?.placements?.every((p) => !p.nodes?.length)).toBe(true);

    const deps = await deployments(name);
    expect([...deps.keys()].sort()).toEqual([H100, MI300X]);
    expect(deps.get(H100)?.metadata.name).toBe(`${name}-${H100}`);
    expect(deps.get(H100)?.spec.replicas).toBe(2);
    expect(deps.get(MI300X)?.spec.replicas).toBe(2);
    expect(deps.get(H100)?.spec.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });

    const pods = await serverPods(name);
    expect(pods).toHaveLength(4);
    for (const p of pods) {
      const pool = p.metadata.labels?.[labels.pool];
      const main = p.spec.containers[0];
      if (pool === H100) {
        expect(p.spec.nodeName).toMatch(new RegExp(`^${H100}-\\d+$`));
        expect(main?.image).toBe(cudaImage);
        expect(main?.resources?.limits?.["nvidia.com/gpu"]).toBe("1");
      } else {
        expect(pool).toBe(MI300X);
        expect(p.spec.nodeName).toMatch(new RegExp(`^${MI300X}-\\d+$`));
        expect(main?.image).toBe(rocmImage);
        expect(main?.resources?.limits?.["amd.com/gpu"]).toBe("1");
      }
    }

    // One Service, and its selector picks all four pods, on both vendors.
    const svc = await client.get<
      KubeObject & { spec: { selector: Record<string, string>; ports: unknown[] } }
    >(builtin.services, name, ns.name);
    expect(svc.spec.ports).toMatchObject([{ name: "http", port: 8000, targetPort: "http" }]);
    const selector = Object.entries(svc.spec.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const selected = await client.list<Pod>(builtin.pods, {
      namespace: ns.name,
      query: { labelSelector: selector },
    });
    expect(new Set(selected.items.map((p) => p.metadata.labels?.[labels.pool]))).toEqual(
      new Set([H100, MI300X]),
    );
    expect(selected.items).toHaveLength(4);
    // (No EndpointSlices to check: pod IPs are loopback addresses here, which endpoints may not
    // hold, so the cluster runs without the EndpointSlice controller; the router watches pods.)
  });

  it("an image change rolls through without dropping ready replicas below the asked count", async () => {
    // Room for one surge pod on h100 (mi300x has plenty).
    await leaveFree(H100, "nvidia.com/gpu", 1);
    let minReady = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const ready = (await serverPods(name)).filter(isReady).length;
        minReady = Math.min(minReady, ready);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const newCuda = "vllm/vllm-openai:v0.11.1";
    const newRocm = "rocm/vllm:rocm7.0.0_vllm_0.11.0";
    await client.patch(
      rt,
      name,
      ns.name,
      { spec: { engine: { image: newCuda, images: { amd: newRocm } } } },
      "merge",
    );
    try {
      await eventually(
        async () => {
          const pods = await serverPods(name);
          const rolled =
            pods.length === 4 &&
            pods.every(
              (p) =>
                isReady(p) &&
                p.spec.containers[0]?.image ===
                  (p.metadata.labels?.[labels.pool] === H100 ? newCuda : newRocm),
            );
          return rolled ? true : undefined;
        },
        120_000,
        "every replica on the new image",
      );
      await readyWith(name, 4);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(minReady).toBeGreaterThanOrEqual(4);
  }, 180_000);

  it("kubectl scale up admits only the missing replicas; scale down takes from the last pool first", async () => {
    for (const p of await placeholders()) await deletePod(p);
    const before = await get(name);
    const podsBefore = new Set((await serverPods(name)).map((p) => p.metadata.name));

    const up = await kubectl(["scale", "isvc", name, "--replicas=6", "-n", ns.name]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    const six = await readyWith(name, 6);
    // Nothing that ran moved: every pool keeps at least what it had, the old pods are still there.
    const was = new Map(placementsOf(before));
    for (const [pool, r] of placementsOf(six)) expect(r ?? 0).toBeGreaterThanOrEqual(was.get(pool) ?? 0);
    expect(
      placementsOf(six)
        .slice(0, 2)
        .map(([pool]) => pool),
    ).toEqual([H100, MI300X]);
    const podsAfter = new Set((await serverPods(name)).map((p) => p.metadata.name));
    for (const p of podsBefore) expect(podsAfter.has(p)).toBe(true);

    // The scale subresource reads status.replicas and status.selector (what an HPA uses).
    const scale = await client.request<{
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    }>("GET", resourcePath(rt, ns.name, name, "scale"));
    expect(scale.spec.replicas).toBe(6);
    expect(scale.status.selector).toBe(
      `${labels.kind}=inferenceservice,${labels.name}=${name},${labels.group}=server`,
    );

    for (const n of [3, 1]) {
      const current = await get(name);
      const expected = lastFirst(placementsOf(current), n);
      const down = await kubectl(["scale", "isvc", name, `--replicas=${n}`, "-n", ns.name]);
      expect(down.code).toBe(0);
      const after = await readyWith(name, n);
      expect(placementsOf(after)).toEqual(expected);
      const deps = await eventually(async () => {
        const d = await deployments(name);
        return [...d.keys()].sort().join() ===
          expected
            .map(([p]) => p)
            .sort()
            .join()
          ? d
          : undefined;
      });
      for (const [pool, r] of expected) expect(deps.get(pool)?.spec.replicas).toBe(r);
      await eventually(
        async () => ((await serverPods(name)).length === n ? true : undefined),
        30_000,
        `${n} pods`,
      );
    }
  }, 180_000);
});
