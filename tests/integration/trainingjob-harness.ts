// What the TrainingJob integration tests share: a namespace, an in-process manager running the
// pool and TrainingJob controllers (and so the admitter) for that namespace, a dedicated pool of
// simulated H100 nodes that only these tests' pods tolerate (so other test files' pods never
// move its numbers), and helpers to create jobs and wait on their status.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { queueingControllers } from "../../controllers/queueing/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { trainingJobController } from "../../controllers/trainingjob/index.ts";
import type { TrainingJob } from "../../crds/index.ts";
import {
  builtin,
  Informer,
  isNotFound,
  KubeClient,
  type KubeObject,
  type Manager,
  silentLogger,
} from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { ensureSamplePools, namespaceManager, trackPhases } from "../support/workloads.ts";

export type Job = TrainingJob & KubeObject;
export type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    hostname?: string;
    subdomain?: string;
    restartPolicy?: string;
    containers: Array<{
      name: string;
      image?: string;
      command?: string[];
      env?: Array<{ name: string; value?: string }>;
      resources?: { limits?: Record<string, string> };
      volumeMounts?: Array<{ name: string; mountPath: string }>;
    }>;
    volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
  };
  status?: { phase?: string };
};

export const rt = resourceTypes.trainingJob;
export const TAINT_KEY = "sovereign.dev/dedicated";

export interface Harness {
  ns: string;
  client: KubeClient;
  core: k8s.CoreV1Api;
  manager: Manager;
  /** The dedicated pool (and the prefix of its nodes' names). */
  pool: string;
  nodes: string[];
  /** The dedicated MI300X pool (HarnessOptions.amdNodes), tolerated by the same toleration. */
  amdPool: string | undefined;
  /** Every phase each job went through, in the order the watch delivered them. */
  phases: Map<string, string[]>;
  /** The spec of every pod a job ever had (pods of earlier attempts are deleted), by pod name. */
  podSpecs(job: string): Map<string, Pod["spec"]>;
  create(name: string, spec: Partial<Job["spec"]>): Promise<Job>;
  get(name: string): Promise<Job | undefined>;
  when(name: string, what: string, ok: (job: Job) => boolean, timeoutMs?: number): Promise<Job>;
  pods(name: string): Promise<Pod[]>;
  events(name: string): Promise<Array<{ reason?: string; type?: string; note?: string }>>;
  patchSpec(name: string, spec: Record<string, unknown>): Promise<void>;
  /**
   * Suspends the job (the controller deletes its pods at once), waits for its pods to go, then
   * deletes it: faster than waiting for garbage collection, which on a young cluster can take
   * tens of seconds, and it frees shared nodes for other test files right away.
   */
  retire(name: string): Promise<void>;
  createNode(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Nodes of the dedicated pool. */
  nodes: number;
  /** Nodes of a second dedicated pool, of AMD MI300X devices (none by default). */
  amdNodes?: number;
  /** Shared pools (from samples/) to create if absent. */
  sharedPools?: string[];
  /** Run the TeamQuota and AcceleratorQueue controllers too, so admission honours quotas. */
  queueing?: boolean;
  /**
   * Run the RayCluster controller too; the dedicated pool then tolerates its own taint, since a
   * RayCluster's workers take their tolerations from their pool.
   */
  rayClusters?: boolean;
}

const devices = {
  nvidia: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 8, memoryGiB: 80 },
  amd: { vendor: "amd", model: "AMD-Instinct-MI300X", devicesPerNode: 8, memoryGiB: 192 },
} as const;

/** Nodes only this file's pods tolerate (the taint's value is the file's NVIDIA pool). */
const dedicatedPool = (name: string, nodes: number, vendor: keyof typeof devices, taint: string) => ({
  name,
  nodes,
  accelerator: devices[vendor],
  cpu: "64",
  memory: "512Gi",
  taints: [{ key: TAINT_KEY, value: taint, effect: "NoSchedule" as const }],
});

export async function startHarness(prefix: string, options: HarnessOptions): Promise<Harness> {
  const kc = loadKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const client = new KubeClient({ kubeConfig: kc });
  const namespace: TestNamespace = await testNamespace(prefix, kc);
  const ns = namespace.name;
  const pool = `${prefix}-${randomBytes(3).toString("hex")}`;
  const amdPool = options.amdNodes ? `${pool}-amd` : undefined;
  const nodeObjects = [
    ...simulatedNodes(dedicatedPool(pool, options.nodes, "nvidia", pool)),
    ...(amdPool ? simulatedNodes(dedicatedPool(amdPool, options.amdNodes ?? 0, "amd", pool)) : []),
  ];
  for (const body of nodeObjects) await core.createNode({ body });
  await client.create(resourceTypes.acceleratorPool, {
    apiVersion: resourceTypes.acceleratorPool.apiVersion,
    kind: resourceTypes.acceleratorPool.kind,
    metadata: { name: pool },
    spec: {
      vendor: "nvidia",
      model: "NVIDIA-H100-80GB-HBM3",
      memoryGiB: 80,
      interconnect: "nvlink",
      ...(options.rayClusters
        ? { tolerations: [{ key: TAINT_KEY, operator: "Equal", value: pool, effect: "NoSchedule" }] }
        : {}),
    },
  });
  if (amdPool)
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: resourceTypes.acceleratorPool.kind,
      metadata: { name: amdPool },
      spec: { vendor: "amd", model: "AMD-Instinct-MI300X", memoryGiB: 192 },
    });
  await ensureSamplePools(client, options.sharedPools ?? []);

  const manager = namespaceManager(kc, ns, { logEnv: "TJ_TEST_LOG", metricsBindAddress: "127.0.0.1:0" });
  manager.add(acceleratorPoolController);
  const admitter = new Admitter(manager);
  manager.add(trainingJobController(admitter, { backoff: { baseMs: 500, maxMs: 2000 } }));
  if (options.queueing) for (const controller of queueingControllers(admitter)) manager.add(controller);
  if (options.rayClusters) manager.add(rayClusterController(admitter));
  const phases = trackPhases(manager, rt);
  // The manager's pod cache is trimmed (no env or volumes); a watch of full pods of our own
  // keeps what the controller created, even after it is deleted.
  const specs = new Map<string, Map<string, Pod["spec"]>>();
  const podWatch = new Informer({
    client,
    resource: builtin.pods,
    namespaces: [ns],
    labelSelector: "stack.sovereign.dev/kind=trainingjob",
    transform: (obj) => obj,
    log: silentLogger,
  });
  podWatch.addHandler({
    onAdd: (obj) => {
      const job = obj.metadata.labels?.["stack.sovereign.dev/name"] ?? "";
      const byName = specs.get(job) ?? new Map<string, Pod["spec"]>();
      byName.set(obj.metadata.name ?? "", (obj as Pod).spec);
      specs.set(job, byName);
    },
  });
  podWatch.start();
  await podWatch.waitForSync();
  await manager.start();
  await manager.waitForCacheSync();

  const get = (name: string) => client.getOrUndefined<Job>(rt, name, ns);
  const h: Harness = {
    ns,
    client,
    core,
    manager,
    pool,
    nodes: nodeObjects
      .filter((n) => !amdPool || !n.metadata?.name?.startsWith(amdPool))
      .map((n) => n.metadata?.name ?? ""),
    amdPool,
    phases,
    podSpecs: (job) => specs.get(job) ?? new Map(),
    create: (name, spec) =>
      client.create<Job>(rt, {
        apiVersion: rt.apiVersion,
        kind: rt.kind,
        metadata: { name, namespace: ns },
        spec: { image: "ghcr.io/acme/train:1.0", command: ["python", "train.py"], ...spec },
      }),
    get,
    when: (name, what, ok, timeoutMs = 60_000) =>
      eventually(
        async () => {
          const job = await get(name);
          return job && ok(job) ? job : undefined;
        },
        timeoutMs,
        `${name}: ${what}`,
      ).catch(async (e) => {
        const job = await get(name).catch(() => undefined);
        throw new Error(
          `${String(e)}; phases ${JSON.stringify(phases.get(name))}; status ${JSON.stringify(job?.status)}`,
        );
      }),
    pods: async (name) =>
      (
        await client.list<Pod>(builtin.pods, {
          namespace: ns,
          query: { labelSelector: `stack.sovereign.dev/kind=trainingjob,stack.sovereign.dev/name=${name}` },
        })
      ).items.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "")),
    events: async (name) =>
      (
        await client.list<
          KubeObject & { reason?: string; type?: string; note?: string; regarding?: { name?: string } }
        >(builtin.events, { namespace: ns })
      ).items.filter((e) => e.regarding?.name === name),
    patchSpec: async (name, spec) => {
      await client.patch(rt, name, ns, { spec }, "merge");
    },
    retire: async (name) => {
      await h.patchSpec(name, { suspend: true }).catch(() => {});
      await eventually(
        async () => ((await h.pods(name)).length === 0 ? true : undefined),
        30_000,
        `${name}'s pods gone`,
      );
      await client.delete(rt, name, ns).catch(() => {});
    },
    createNode: async (name) => {
      const body = nodeObjects.find((n) => n.metadata?.name === name);
      if (body)
        await core.createNode({
          body: { ...body, metadata: { ...body.metadata, resourceVersion: undefined } },
        });
    },
    stop: async () => {
      await manager.stop();
      await podWatch.stop();
      for (const name of [pool, ...(amdPool ? [amdPool] : [])])
        await client.delete(resourceTypes.acceleratorPool, name).catch(() => {});
      for (const n of nodeObjects)
        await core.deleteNode({ name: n.metadata?.name ?? "" }).catch((e) => {
          if (!isNotFound(e) && (e as { code?: number }).code !== 404) throw e;
        });
      await namespace[Symbol.asyncDispose]();
      await client.close();
    },
  };
  return h;
}

/** A job spec for the dedicated pool: pinned to it, tolerating its taint, with kwok's cues. */
export function dedicatedJob(
  h: Pick<Harness, "pool">,
  nodes: number,
  annotations: Record<string, string> = {},
  extra: Partial<Job["spec"]> = {},
): Partial<Job["spec"]> {
  return {
    ...(nodes > 0 ? { nodes } : {}),
    accelerators: { count: 8, minMemoryGiB: 80, pools: [h.pool] },
    template: {
      metadata: { annotations },
      spec: { tolerations: [{ key: TAINT_KEY, operator: "Equal", value: h.pool, effect: "NoSchedule" }] },
    },
    ...extra,
  } as Partial<Job["spec"]>;
}

export const condition = (job: Job | undefined, type: string) =>
  job?.status?.conditions?.find((c) => c.type === type);

export const env = (pod: Pod): Record<string, string | undefined> =>
  Object.fromEntries(
    (pod.spec.containers.find((c) => c.name === "trainer")?.env ?? []).map((e) => [e.name, e.value]),
  );

/**
 * A static volume of a storage class of the namespace's own, which the controller-manager binds a
 * claim of that class to, so the scheduler places pods that mount it. Returns the class name.
 */
export async function createCheckpointVolume(h: Pick<Harness, "core" | "ns">): Promise<string> {
  const storageClassName = `manual-${h.ns}`;
  await h.core.createPersistentVolume({
    body: {
      metadata: { name: `${h.ns}-ckpt` },
      spec: {
        storageClassName,
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteMany"],
        hostPath: { path: `/tmp/${h.ns}-ckpt` },
        persistentVolumeReclaimPolicy: "Delete",
      },
    },
  });
  return storageClassName;
}
