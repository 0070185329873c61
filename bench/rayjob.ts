// RayJob benchmark: N RayJobs, each creating its own RayCluster (a head, gang-admitted), on
// kwok nodes with the operator as a separate process. The heads' dashboards are one loopback
// stand-in that answers as Ray's Job Submission API does (a job runs for --run-ms). Measures
// the time until every job is submitted and until every RayJob is Complete (SUCCEEDED), and the
// operator's CPU seconds and peak RSS.
//
//   npm run bench -- rayjob [--jobs 200] [--run-ms 2000] [--nodes 20]
//
// Prints a human summary, then as its last line one JSON object of named figures.
import { resourceTypes } from "../controllers/resources.ts";
import type { KubeObject } from "../operator/index.ts";
import { startRayStandIn } from "./support/ray-standin.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ jobs: 200, runMs: 2000, nodes: 20, timeoutSeconds: 600 });
const timeoutMs = flags.timeoutSeconds * 1000;
const operatorSettings = bench.operatorSettingsFromFlags();
const namespaces = bench.workloadNamespaces("rayjob-bench");
const pools = [
  bench.nvlinkH100Pool({
    name: "bench-gpu",
    nodes: flags.nodes,
    devicesPerNode: 8,
    cpu: "512",
    memory: "4Ti",
  }),
];

const standIn = await startRayStandIn({ runMs: flags.runMs });
const rayJob = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.rayJob, "job", i, namespaces, {
    entrypoint: "python -c \"print('done')\"",
    shutdownAfterJobFinishes: true,
    rayClusterSpec: {
      rayVersion: "2.60.0",
      image: "rayproject/ray:2.60.0",
      head: {
        resources: { cpu: "1", memory: "2Gi" },
        rayStartParams: { "num-cpus": "1", "dashboard-port": String(standIn.port) },
      },
    },
  });

try {
  await bench.withCluster({ dirPrefix: "sovereign-bench-rayjob-", pools, namespaces }, async (cluster) => {
    console.log(`control plane with ${flags.nodes} nodes ready in ${cluster.setupSeconds.toFixed(1)} s`);
    const jobs = await cluster.watch(resourceTypes.rayJob);
    const deadline = Date.now() + timeoutMs;
    const operator = await cluster.startOperator({ ...operatorSettings, deadline });
    const { startedAt: t0 } = await cluster.createAll(
      resourceTypes.rayJob,
      Array.from({ length: flags.jobs }, (_, i) => rayJob(i)),
    );
    const phaseCount = (phase: string) =>
      jobs.store.list().filter((j) => (j.status as { phase?: string } | undefined)?.phase === phase).length;
    let tSubmitted = 0;
    let tComplete = 0;
    const report = bench.throttled(10_000, (now) => {
      process.stderr.write(
        `  ${((now - t0) / 1000).toFixed(0)} s: ${standIn.submittedAt.size} submitted, ${phaseCount("Complete")} Complete\n`,
      );
    });
    while (Date.now() < deadline) {
      const now = performance.now();
      if (!tSubmitted && standIn.submittedAt.size >= flags.jobs)
        tSubmitted = Math.max(...standIn.submittedAt.values());
      if (phaseCount("Complete") >= flags.jobs) {
        tComplete = now;
        break;
      }
      report(now);
      await bench.sleep(250);
    }
    const usage = await operator.usage("rayjob");
    const since = (t: number) => (t ? bench.roundedSeconds(t - t0) : null);
    bench.printResult(
      [
        `${flags.jobs} RayJobs, each with its own RayCluster, jobs running ${flags.runMs} ms on a stand-in dashboard`,
        bench.describeOperatorSettings(operatorSettings),
        `  all submitted after ${since(tSubmitted) ?? "(not reached)"} s`,
        tComplete
          ? `  all SUCCEEDED (Complete) after ${since(tComplete)} s`
          : `  NOT COMPLETED within ${timeoutMs / 1000} s: ${phaseCount("Complete")} Complete`,
        `  operator CPU ${usage.cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(usage.idleRssMb)} MB, peak ${Math.round(usage.peakRssMb)} MB`,
      ],
      {
        jobs: flags.jobs,
        run_ms: flags.runMs,
        completed: tComplete > 0,
        all_submitted_seconds: since(tSubmitted),
        all_succeeded_seconds: since(tComplete),
        submitted: standIn.submittedAt.size,
        ...bench.operatorFigures(usage),
      },
    );
  });
} finally {
  await standIn.close();
}
