// KubeRay's ray-operator holding the same number of objects as the operator-memory
// benchmark gives ours: N RayClusters (a head and M-1 workers each) and their N x M pods, on
// a fresh control plane with kwok, the scheduler and the controller manager stopped (the pods
// stay Pending, as a queued workload's would). The pods are the ones KubeRay would have made
// (its labels, its owner references), so it caches them and creates no more: its work is one
// head Service and one status write per cluster, and its memory is what its informers hold.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startControlPlane } from "../../cli/dev/control-plane.ts";
import { forEachConcurrently, freePorts } from "../../cli/dev/loopback.ts";
import { controllerReference } from "../../operator/apply.ts";
import { isAlreadyExists, KubeClient } from "../../operator/kube-client.ts";
import { loadClusterConnection } from "../../operator/kubeconfig.ts";
import { builtin, type KubeObject, type ResourceType } from "../../operator/resource.ts";
import { ensurePeer } from "./peers.ts";
import { applyCrdFiles } from "./side-by-side.ts";
import { memoryMbOf, sleep, waitUntil } from "./workload-bench.ts";

const rayClusters: ResourceType = {
  apiVersion: "ray.io/v1",
  kind: "RayCluster",
  plural: "rayclusters",
  namespaced: true,
};

export interface PeerMemoryReport {
  version: string;
  rayClusters: number;
  pods: number;
  syncAndReconcileSeconds: number;
  rssSyncedMb: number;
  rssSettledMb: number;
}

const container = (gpus: string) => ({
  name: "ray",
  image: "rayproject/ray:2.52.0-gpu",
  resources: {
    requests: { cpu: "16", memory: "128Gi", "nvidia.com/gpu": gpus },
    limits: { memory: "128Gi", "nvidia.com/gpu": gpus },
  },
});

const rayCluster = (name: string, namespace: string, workers: number): KubeObject => ({
  apiVersion: rayClusters.apiVersion,
  kind: rayClusters.kind,
  metadata: { name, namespace },
  spec: {
    rayVersion: "2.52.0",
    headGroupSpec: { rayStartParams: {}, template: { spec: { containers: [container("0")] } } },
    workerGroupSpecs: [
      {
        groupName: "gpu",
        replicas: workers,
        minReplicas: 0,
        maxReplicas: workers,
        rayStartParams: {},
        template: { spec: { containers: [container("8")] } },
      },
    ],
  },
});

/** A pod as KubeRay labels it, so that it counts as one it created. */
function kuberayPod(owner: KubeObject, index: number): KubeObject {
  const cluster = owner.metadata.name as string;
  const head = index === 0;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: head ? `${cluster}-head` : `${cluster}-gpu-worker-${index - 1}`,
      namespace: owner.metadata.namespace,
      labels: {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": cluster,
        "ray.io/node-type": head ? "head" : "worker",
        "ray.io/group": head ? "headgroup" : "gpu",
        "ray.io/identifier": `${cluster}-${head ? "head" : "worker"}`,
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
      },
      ownerReferences: [controllerReference(owner)],
    },
    spec: { restartPolicy: "Always", containers: [container(head ? "0" : "8")] },
  };
}

async function created(client: KubeClient, rt: ResourceType, body: KubeObject): Promise<KubeObject> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.create(rt, body);
    } catch (error) {
      if (isAlreadyExists(error))
        return client.get(rt, body.metadata.name as string, body.metadata.namespace as string);
      if (attempt >= 5) throw error;
      await sleep(200 * (attempt + 1));
    }
  }
}

const metric = (text: string, name: string, filter: string): number =>
  text
    .split("\n")
    .filter((l) => l.startsWith(name) && l.includes(filter))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);

export async function measureKuberayMemory(o: {
  clusters: number;
  podsPerCluster: number;
  namespaces: readonly string[];
}): Promise<PeerMemoryReport> {
  const kuberay = await ensurePeer("kuberay", (l) => process.stderr.write(`${l}\n`));
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-memory-kuberay-"));
  const cp = await startControlPlane({ dir });
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await cp.stopComponent("kwok");
    await cp.stopComponent("kube-scheduler");
    const client = new KubeClient({ kubeConfig: loadClusterConnection(cp.kubeconfigPath), qps: 0 });
    await applyCrdFiles(cp.kubeconfigPath, kuberay.crdFiles);
    for (const name of o.namespaces) await client.create(builtin.namespaces, { metadata: { name } });
    for (const namespace of o.namespaces)
      await waitUntil(
        `${namespace}'s default ServiceAccount`,
        async () =>
          (await client.getOrUndefined(builtin.serviceAccounts, "default", namespace)) !== undefined,
        Date.now() + 60_000,
        100,
      );
    // As in the benchmark of ours: its garbage collector would cache every object too.
    await cp.stopComponent("kube-controller-manager");
    const owners = new Array<KubeObject>(o.clusters);
    await forEachConcurrently(
      Array.from({ length: o.clusters }, (_, i) => i),
      48,
      async (i) => {
        const body = rayCluster(
          `rc-${String(i).padStart(5, "0")}`,
          o.namespaces[i % o.namespaces.length] as string,
          o.podsPerCluster - 1,
        );
        owners[i] = await created(client, rayClusters, body);
      },
    );
    const pods = owners.flatMap((owner) =>
      Array.from({ length: o.podsPerCluster }, (_, k) => kuberayPod(owner, k)),
    );
    await forEachConcurrently(pods, 48, async (pod) => {
      await created(client, builtin.pods, pod);
    });
    await client.close();
    process.stderr.write(`  KubeRay's objects: ${o.clusters} RayClusters, ${pods.length} pods\n`);

    const [metricsPort = 0, healthPort = 0] = await freePorts(2);
    const ports = { metrics: metricsPort, health: healthPort };
    const started = performance.now();
    child = spawn(
      kuberay.binary,
      [
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--metrics-addr=127.0.0.1:${ports.metrics}`,
        `--health-probe-bind-address=127.0.0.1:${ports.health}`,
        "--enable-leader-election=false",
        "--reconcile-concurrency=16",
        "--qps=1000",
        "--burst=2000",
        "--zap-log-level=error",
      ],
      { stdio: "ignore" },
    );
    const pid = child.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    // Synced and reconciled: every cluster went through a reconcile and the queue is empty.
    await waitUntil(
      "KubeRay to reconcile every RayCluster",
      async () => {
        const text = await metrics().catch(() => "");
        return (
          metric(text, "controller_runtime_reconcile_total", 'controller="raycluster-controller"') >=
            o.clusters && metric(text, "workqueue_depth", 'name="raycluster-controller"') === 0
        );
      },
      Date.now() + 900_000,
      500,
    );
    const reconciled = performance.now();
    const rssSyncedMb = memoryMbOf(pid, "VmRSS");
    await sleep(5000);
    return {
      version: kuberay.version,
      rayClusters: o.clusters,
      pods: pods.length,
      syncAndReconcileSeconds: (reconciled - started) / 1000,
      rssSyncedMb,
      rssSettledMb: memoryMbOf(pid, "VmRSS"),
    };
  } finally {
    child?.kill("SIGKILL");
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
