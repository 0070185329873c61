// TrainingJob benchmark: N TrainingJobs of P pods each applied at once on a kwok cluster large
// enough to hold all of them, with the operator (every registered controller) as a separate
// process. Measures the time until every pod exists and until every job is Running, and the
// operator's CPU seconds and peak RSS.
//
//   npm run bench -- trainingjob [--jobs 1000] [--pods 4] [--devices-per-pod 2]
//                                [--nodes 1000] [--devices-per-node 8]
//                                [--operator-workers 16] [--qps 0] [--burst 1000]
//
// The default cluster is 1,000 nodes × 8 GPUs and each job is 4 ranks × 2 GPUs, so the 1,000
// jobs fill the pool exactly and every one of them is admitted at once.
// Prints a human summary, then as its last line one JSON object of named figures.
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import { type KubeObject, leanPod } from "../operator/index.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({
  jobs: 1000,
  pods: 4,
  devicesPerPod: 2,
  nodes: 1000,
  devicesPerNode: 8,
  timeoutSeconds: 1200,
});
const { jobs, pods: podsPerJob, devicesPerPod, nodes: nodeCount, devicesPerNode } = flags;
const operatorSettings = bench.operatorSettingsFromFlags();
const namespaces = bench.workloadNamespaces("tj-bench");

const trainingJob = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.trainingJob, "tj", i, namespaces, {
    image: "ghcr.io/acme/train:1.0",
    images: { amd: "ghcr.io/acme/train:1.0-rocm" },
    command: ["python", "train.py", "--epochs", "1"],
    nodes: podsPerJob,
    accelerators: { count: devicesPerPod, minMemoryGiB: 80 },
  });

/** Admitted: the admission has placed the job's ranks. */
const isAdmitted = (o: KubeObject): boolean =>
  ((o.status as { admission?: { placements?: unknown[] } })?.admission?.placements?.length ?? 0) > 0;

const pools = [
  bench.nvlinkH100Pool({ name: "bench-h100", nodes: nodeCount, devicesPerNode, cpu: "192", memory: "2Ti" }),
];

await bench.withCluster(
  { dirPrefix: "sovereign-bench-tj-", pools, namespaces, nodesReadyTimeoutMs: 300_000 },
  async (cluster) => {
    console.log(
      `control plane with ${nodeCount} nodes × ${devicesPerNode} GPUs ready in ${cluster.setupSeconds.toFixed(1)} s`,
    );
    // The benchmark's own view of the pods and the jobs, as they change.
    const [pods, tjs] = await Promise.all([
      cluster.watch(resourceTypes.pod, { labelSelector: `${labels.kind}=trainingjob`, transform: leanPod }),
      cluster.watch(resourceTypes.trainingJob),
    ]);
    const phaseCount = (phase: string) =>
      tjs.store.list().filter((o) => (o.status as { phase?: string } | undefined)?.phase === phase).length;

    const deadline = Date.now() + flags.timeoutSeconds * 1000;
    const operator = await cluster.startOperator({ ...operatorSettings, deadline });

    const totalPods = jobs * podsPerJob;
    const jobBodies = Array.from({ length: jobs }, (_, i) => trainingJob(i));
    const { startedAt: t0, appliedAt } = await cluster.createAll(resourceTypes.trainingJob, jobBodies);

    let tAdmitted = 0;
    const podProgress = bench.trackPods(pods, totalPods);
    const report = bench.throttled(10_000, (now) => {
      const admitted = tjs.store.list().filter(isAdmitted).length;
      process.stderr.write(
        `  ${((now - t0) / 1000).toFixed(0)} s: ${admitted} admitted, ${podProgress.count} pods, ${phaseCount("Running")} Running, operator ${operator.cpuSecondsSinceIdle().toFixed(0)} CPU s\n`,
      );
    });
    await bench.waitUntil(
      `${totalPods} pods and ${jobs} Running jobs`,
      () => {
        const now = performance.now();
        if (!tAdmitted && tjs.store.list().filter(isAdmitted).length >= jobs) tAdmitted = now;
        podProgress.update(now);
        report(now);
        return podProgress.allExistAt > 0 && phaseCount("Running") >= jobs;
      },
      deadline,
    );
    const tRunning = performance.now();
    const usage = await operator.usage("trainingjob");
    const runningGauge = usage.metric("sovereign_trainingjobs", 'phase="Running"');

    const s = (t: number) => bench.roundedSeconds(t - t0);
    bench.printResult(
      [
        `${jobs} TrainingJobs × ${podsPerJob} pods (${devicesPerPod} GPUs each) on ${nodeCount} kwok nodes × ${devicesPerNode} GPUs`,
        bench.describeOperatorSettings(operatorSettings),
        `  every job admitted after ${s(tAdmitted)} s`,
        `  all ${totalPods} pods exist after ${s(podProgress.allExistAt)} s (bound after ${s(podProgress.allBoundAt)} s)`,
        `  all ${jobs} jobs Running after ${s(tRunning)} s (the operator's gauge says ${runningGauge})`,
        `  operator CPU ${usage.cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(usage.idleRssMb)} MB, peak ${Math.round(usage.peakRssMb)} MB`,
        `  trainingjob reconciles ${usage.reconciles}, operator API requests ${usage.apiRequests}`,
      ],
      {
        jobs,
        pods: totalPods,
        nodes: nodeCount,
        devices_per_node: devicesPerNode,
        devices_per_pod: devicesPerPod,
        operator_workers: operatorSettings.workers,
        kube_api_qps: operatorSettings.qps,
        apply_seconds: s(appliedAt),
        all_admitted_seconds: s(tAdmitted),
        all_pods_exist_seconds: s(podProgress.allExistAt),
        all_pods_bound_seconds: s(podProgress.allBoundAt),
        all_running_seconds: s(tRunning),
        ...bench.operatorFigures(usage),
      },
    );
  },
);
