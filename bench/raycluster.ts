// RayCluster benchmark: N RayClusters of 1 head + 3 workers (1 NVIDIA GPU each) applied at
// once on kwok nodes, with the operator as a separate process. Measures the time until every
// pod exists and until every cluster is Ready, and the operator's CPU seconds and peak RSS.
//
//   npm run bench -- raycluster [--clusters 1000] [--workers 3] [--nodes 100]
//                               [--operator-workers 16] [--qps 0] [--burst 1000]
//
// For scale: KubeRay reports creating 1,000 such clusters in about 11 s on GKE.
// Prints a human summary, then as its last line one JSON object of named figures.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import { type KubeObject, leanPod } from "../operator/index.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ clusters: 1000, workers: 3, nodes: 100, timeoutSeconds: 900 });
const { clusters, workers: workersPerCluster, nodes: nodeCount } = flags;
const timeoutMs = flags.timeoutSeconds * 1000;
const operatorSettings = bench.operatorSettingsFromFlags();
const namespaces = bench.workloadNamespaces("rayc-bench");

const rayCluster = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.rayCluster, "rc", i, namespaces, {
    rayVersion: "2.52.0",
    image: "rayproject/ray:2.52.0",
    images: { nvidia: "rayproject/ray:2.52.0-gpu" },
    head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "0" } },
    workerGroups: [
      {
        name: "gpu",
        replicas: workersPerCluster,
        minReplicas: 0,
        maxReplicas: 8,
        accelerators: { count: 1, vendors: ["nvidia"] },
        resources: { cpu: "1", memory: "2Gi" },
      },
    ],
  });

// Fat fake nodes keep the node count (and kwok's and the scheduler's work per node) small:
// 100 nodes x 32 GPUs hold 3,200 one-GPU workers.
const pools = [
  bench.nvlinkH100Pool({
    name: "bench-gpu",
    nodes: nodeCount,
    devicesPerNode: 32,
    cpu: "512",
    memory: "4Ti",
  }),
];

await bench.withCluster({ dirPrefix: "sovereign-bench-rayc-", pools, namespaces }, async (cluster) => {
  console.log(`control plane with ${nodeCount} nodes ready in ${cluster.setupSeconds.toFixed(1)} s`);
  // What the benchmark watches, in this process: pods and clusters as they change.
  const [pods, rcs] = await Promise.all([
    cluster.watch(resourceTypes.pod, { labelSelector: `${labels.kind}=raycluster`, transform: leanPod }),
    cluster.watch(resourceTypes.rayCluster),
  ]);
  const readyCount = () =>
    rcs.store.list().filter((o) => (o.status as { phase?: string } | undefined)?.phase === "Ready").length;

  const deadline = Date.now() + timeoutMs;
  const operator = await cluster.startOperator({ ...operatorSettings, deadline });

  const totalPods = clusters * (1 + workersPerCluster);
  const { startedAt: t0, appliedAt } = await cluster.createAll(
    resourceTypes.rayCluster,
    Array.from({ length: clusters }, (_, i) => rayCluster(i)),
  );

  const podProgress = bench.trackPods(pods, totalPods);
  let tReady = 0;
  let ready = 0;
  const report = bench.throttled(10_000, (now) => {
    process.stderr.write(
      `  ${((now - t0) / 1000).toFixed(0)} s: ${podProgress.count} pods, ${ready} Ready clusters, operator ${operator.cpuSecondsSinceIdle().toFixed(0)} CPU s\n`,
    );
  });
  // A run that does not finish in time still reports how far it got (completed: false).
  while (Date.now() < deadline) {
    const now = performance.now();
    podProgress.update(now);
    ready = readyCount();
    if (ready >= clusters) {
      tReady = now;
      break;
    }
    report(now);
    await bench.sleep(250);
  }
  const usage = await operator.usage("raycluster");

  const since = (t: number) => (t ? bench.roundedSeconds(t - t0) : null);
  const loadAverage = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  bench.printResult(
    [
      `${clusters} RayClusters x (1 head + ${workersPerCluster} workers) on ${nodeCount} kwok nodes`,
      bench.describeOperatorSettings(operatorSettings),
      `  all ${totalPods} pods exist after ${since(podProgress.allExistAt) ?? "(not reached)"} s (bound after ${since(podProgress.allBoundAt) ?? "(not reached)"} s)`,
      tReady
        ? `  all ${clusters} clusters Ready after ${since(tReady)} s`
        : `  NOT COMPLETED within ${timeoutMs / 1000} s: ${podProgress.count} pods, ${ready} Ready clusters`,
      `  host load average at the end: ${loadAverage} (on ${availableParallelism()} CPUs)`,
      `  operator CPU ${usage.cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(usage.idleRssMb)} MB, peak ${Math.round(usage.peakRssMb)} MB`,
      `  raycluster reconciles ${usage.reconciles}, API requests ${usage.apiRequests}: ${JSON.stringify(usage.requestsByResource)}`,
      "  (KubeRay reports creating 1,000 such clusters in about 11 s on GKE)",
    ],
    {
      clusters,
      pods: totalPods,
      nodes: nodeCount,
      operator_workers: operatorSettings.workers,
      kube_api_qps: operatorSettings.qps,
      apply_seconds: bench.roundedSeconds(appliedAt - t0),
      completed: tReady > 0,
      all_pods_exist_seconds: since(podProgress.allExistAt),
      all_pods_bound_seconds: since(podProgress.allBoundAt),
      all_ready_seconds: since(tReady),
      pods_seen: podProgress.count,
      ready_clusters: ready,
      host_load_average: loadAverage,
      ...bench.operatorFigures(usage),
    },
  );
});
