// Ours against KubeRay's ray-operator (built from its Go module, hack/peers/kuberay) on the
// same work: N RayClusters of a head and W one-GPU workers applied at once onto the same kwok
// nodes, one fresh control plane per operator, the same client QPS and burst (KubeRay's
// --qps/--burst, our --kube-api-qps/--kube-api-burst) and as many concurrent reconciles
// (--reconcile-concurrency, --workers). A third fresh control plane measures the ceiling: a
// bare client creating the same pods with the same budget.
//
//   npm run bench -- vs-kuberay [--clusters 1000] [--workers 3] [--nodes 100]
//                               [--qps 100] [--burst 200] [--concurrency 16] [--timeout-seconds 900]
//                               [--only ours]
//
// `--only ours` skips the ceiling and KubeRay and prints our figures alone (for working on
// ours; BENCH_TRACE=1 adds queue depths and request latency to the progress lines).
//
// API requests are counted by the API server, per operator identity (bench/support/api-identity.ts).
// The floor per cluster is what the work allows: its head pod, its Service, its W workers and
// one status write (W + 3); the constant list/watch/lease traffic of the run comes on top.
// Prints a human summary, then as its last line one JSON object with `ratio` fields (ours / theirs).
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import type { KubeObject, ResourceType } from "../operator/index.ts";
import { ensurePeer } from "./support/peers.ts";
import * as sbs from "./support/side-by-side.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ clusters: 1000, workers: 3, nodes: 100, timeoutSeconds: 900 });
const { clusters, workers: workersPerCluster, nodes } = flags;
const budget = sbs.budgetFromFlags();
const timeoutMs = flags.timeoutSeconds * 1000;
const namespaces = bench.workloadNamespaces("ray-vs");
const pools = [
  bench.nvlinkH100Pool({ name: "bench-gpu", nodes, devicesPerNode: 32, cpu: "512", memory: "4Ti" }),
];
const totalPods = clusters * (1 + workersPerCluster);
const resources = { cpu: "1", memory: "2Gi" };

const kuberayClusters: ResourceType = {
  apiVersion: "ray.io/v1",
  kind: "RayCluster",
  plural: "rayclusters",
  namespaced: true,
};

const ours = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.rayCluster, "rc", i, namespaces, {
    rayVersion: "2.52.0",
    image: "rayproject/ray:2.52.0",
    images: { nvidia: "rayproject/ray:2.52.0-gpu" },
    head: { resources, rayStartParams: { "num-cpus": "0" } },
    workerGroups: [
      {
        name: "gpu",
        replicas: workersPerCluster,
        minReplicas: 0,
        maxReplicas: 8,
        accelerators: { count: 1, vendors: ["nvidia"] },
        resources,
      },
    ],
  });

/** The same cluster as a KubeRay user writes it. */
const theirs = (i: number): KubeObject =>
  bench.numberedObject(kuberayClusters, "rc", i, namespaces, {
    rayVersion: "2.52.0",
    headGroupSpec: {
      rayStartParams: { "num-cpus": "0" },
      template: {
        spec: {
          containers: [
            {
              name: "ray-head",
              image: "rayproject/ray:2.52.0",
              resources: { requests: resources, limits: resources },
            },
          ],
        },
      },
    },
    workerGroupSpecs: [
      {
        groupName: "gpu",
        replicas: workersPerCluster,
        minReplicas: 0,
        maxReplicas: 8,
        rayStartParams: {},
        template: {
          spec: {
            containers: [
              {
                name: "ray-worker",
                image: "rayproject/ray:2.52.0-gpu",
                resources: {
                  requests: { ...resources, "nvidia.com/gpu": "1" },
                  limits: { ...resources, "nvidia.com/gpu": "1" },
                },
              },
            ],
          },
        },
      },
    ],
  });

/** The ceiling's pods: a CPU-only head and W one-GPU workers per cluster. */
const ceilingPods = (): KubeObject[] =>
  Array.from({ length: clusters }, (_, i) =>
    Array.from({ length: 1 + workersPerCluster }, (_, k): KubeObject => {
      const gpu = k > 0 ? { "nvidia.com/gpu": "1" } : {};
      return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `rc-${String(i).padStart(4, "0")}-${k === 0 ? "head" : `gpu-${k - 1}`}`,
          namespace: namespaces[i % namespaces.length],
          labels: { "bench/ceiling": "true" },
        },
        spec: {
          containers: [
            {
              name: "ray",
              image: "rayproject/ray:2.52.0",
              resources: { requests: { ...resources, ...gpu }, limits: { ...resources, ...gpu } },
            },
          ],
        },
      };
    }),
  ).flat();

const common = { pools, namespaces, totalPods, timeoutMs };
const oursAlone = bench.stringFlag("only") === "ours";
if (oursAlone) {
  const figures = await sbs.measureOurs(oursSpec(), budget);
  bench.printResult(sbs.describeRun(figures, totalPods, clusters), { ours: figures });
  process.exit(0);
}

function oursSpec() {
  return {
    ...common,
    dirPrefix: "sovereign-bench-vsray-ours-",
    resource: resourceTypes.rayCluster,
    bodies: Array.from({ length: clusters }, (_, i) => ours(i)),
    podSelector: `${labels.kind}=raycluster`,
    isReady: (o: KubeObject) => (o.status as { phase?: string } | undefined)?.phase === "Ready",
  };
}

const kuberay = await ensurePeer("kuberay", (l) => process.stderr.write(`${l}\n`));

const ceiling = await sbs.measureCeiling({
  dirPrefix: "sovereign-bench-vsray-ceiling-",
  pools,
  namespaces,
  pods: ceilingPods(),
  budget,
  timeoutMs,
});

const theirsRun = await sbs.measureRun({
  ...common,
  label: "kuberay",
  version: kuberay.version,
  dirPrefix: "sovereign-bench-vsray-kuberay-",
  prepare: (cluster) => sbs.applyCrdFiles(cluster.kubeconfigPath, kuberay.crdFiles),
  start: (cluster, kubeconfigPath, deadline) =>
    cluster.startProcess({
      command: kuberay.binary,
      args: (ports) => [
        `--kubeconfig=${kubeconfigPath}`,
        `--metrics-addr=127.0.0.1:${ports.metrics}`,
        `--health-probe-bind-address=127.0.0.1:${ports.health}`,
        "--enable-leader-election=false",
        `--reconcile-concurrency=${budget.concurrency}`,
        `--qps=${budget.qps}`,
        `--burst=${budget.burst}`,
        "--zap-log-level=error",
      ],
      deadline,
      logFile: process.env.BENCH_PEER_LOG,
    }),
  resource: kuberayClusters,
  bodies: Array.from({ length: clusters }, (_, i) => theirs(i)),
  podSelector: "ray.io/cluster",
  isReady: (o) => (o.status as { state?: string } | undefined)?.state === "ready",
});

const oursRun = await sbs.measureOurs(oursSpec(), budget);

sbs.printSideBySide(
  {
    work: `RayClusters x (1 head + ${workersPerCluster} one-GPU workers)`,
    workloads: clusters,
    workloadKey: "clusters",
    nodes,
    peerName: "KubeRay",
    budget,
    ceiling,
    theirs: theirsRun,
    // The head pod, its Service, the workers, one status write.
    floor: {
      perWorkload: workersPerCluster + 3,
      what: `head pod, Service, ${workersPerCluster} workers, one status write`,
    },
  },
  oursRun,
);
