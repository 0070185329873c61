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
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installCrds, waitForNodesReady } from "../cli/dev/cluster-setup.ts";
import { startControlPlane } from "../cli/dev/control-plane.ts";
import { type SimulatedPool, simulatedNodes } from "../cli/dev/simulated-nodes.ts";
import { ensureTools } from "../cli/dev/tools.ts";
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import {
  builtin,
  Informer,
  isAlreadyExists,
  KubeClient,
  type KubeObject,
  leanPod,
  loadKubeConfig,
  silentLogger,
} from "../operator/index.ts";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};

const jobs = arg("jobs", 1000);
const podsPerJob = arg("pods", 4);
const devicesPerPod = arg("devices-per-pod", 2);
const nodeCount = arg("nodes", 1000);
const devicesPerNode = arg("devices-per-node", 8);
const operatorWorkers = arg("operator-workers", 16);
const qps = arg("qps", 0);
const burst = arg("burst", 1000);
const timeoutMs = arg("timeout-seconds", 1200) * 1000;
const namespaces = Array.from({ length: 10 }, (_, i) => `tj-bench-${i}`);
const poolName = "bench-h100";

const simulated: SimulatedPool[] = [
  {
    name: poolName,
    nodes: nodeCount,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode, memoryGiB: 80 },
    cpu: "192",
    memory: "2Ti",
  },
];

const CLK_TCK = 100;
/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll(what: string, done: () => boolean | Promise<boolean>, deadline: number): Promise<void> {
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const trainingJob = (i: number): KubeObject => ({
  apiVersion: resourceTypes.trainingJob.apiVersion,
  kind: resourceTypes.trainingJob.kind,
  metadata: { name: `tj-${String(i).padStart(4, "0")}`, namespace: namespaces[i % namespaces.length] },
  spec: {
    image: "ghcr.io/acme/train:1.0",
    images: { amd: "ghcr.io/acme/train:1.0-rocm" },
    command: ["python", "train.py", "--epochs", "1"],
    nodes: podsPerJob,
    accelerators: { count: devicesPerPod, minMemoryGiB: 80 },
  },
});

async function main(): Promise<void> {
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-tj-"));
  const started = performance.now();
  // The nodes are created here, a few at a time: a thousand creates at once over one HTTP/2
  // connection make the API server drop it.
  const cp = await startControlPlane({ dir });
  let operator: ChildProcess | undefined;
  try {
    const client = new KubeClient({ kubeConfig: loadKubeConfig(cp.kubeconfigPath), qps: 0 });
    await eachLimited(
      simulated.flatMap((pool) => simulatedNodes(pool)),
      32,
      async (node) => {
        await client.create(builtin.nodes, node as KubeObject);
      },
    );
    await waitForNodesReady(cp.kubeconfigPath, nodeCount, 300_000);
    await installCrds(cp.kubeconfigPath);
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: resourceTypes.acceleratorPool.kind,
      metadata: { name: poolName },
      spec: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, interconnect: "nvlink" },
    });
    for (const name of namespaces) await client.create(builtin.namespaces, { metadata: { name } });
    for (const namespace of namespaces) {
      while (!(await client.getOrUndefined(builtin.serviceAccounts, "default", namespace))) await sleep(100);
    }
    console.log(
      `control plane with ${nodeCount} nodes × ${devicesPerNode} GPUs ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // The benchmark's own view of the pods and the jobs, as they change.
    const pods = new Informer({
      client,
      resource: resourceTypes.pod,
      labelSelector: `${labels.kind}=trainingjob`,
      transform: leanPod,
      log: silentLogger,
    });
    const tjs = new Informer({ client, resource: resourceTypes.trainingJob, log: silentLogger });
    pods.start();
    tjs.start();
    await Promise.all([pods.waitForSync(), tjs.waitForSync()]);
    const phaseCount = (phase: string) =>
      tjs.store.list().filter((o) => (o.status as { phase?: string } | undefined)?.phase === phase).length;

    const healthPort = await freePort();
    const metricsPort = await freePort();
    const mainTs = fileURLToPath(new URL("../operator/main.ts", import.meta.url));
    const flags = [
      "--kubeconfig",
      cp.kubeconfigPath,
      "--workers",
      String(operatorWorkers),
      "--kube-api-qps",
      String(qps),
      "--kube-api-burst",
      String(burst),
      "--metrics-bind-address",
      `127.0.0.1:${metricsPort}`,
      "--health-probe-bind-address",
      `127.0.0.1:${healthPort}`,
      "--log-level",
      process.env.BENCH_OPERATOR_LOG ? "debug" : "warn",
    ];
    // BENCH_OPERATOR_LOG=<file> keeps the operator's debug log, to see where the time goes.
    const logFd = process.env.BENCH_OPERATOR_LOG ? openSync(process.env.BENCH_OPERATOR_LOG, "w") : "ignore";
    // BENCH_OPERATOR_PROFILE=<dir> writes a V8 CPU profile of the operator there when it exits.
    const profile = process.env.BENCH_OPERATOR_PROFILE;
    const nodeArgs = profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [];
    operator = spawn(process.execPath, [...nodeArgs, mainTs, ...flags], {
      stdio: ["ignore", logFd, "inherit"],
    });
    const pid = operator.pid as number;
    const deadline = Date.now() + timeoutMs;
    await poll(
      "the operator's /readyz",
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok === true,
      deadline,
    );
    await sleep(1000);
    const cpuIdle = cpuSecondsOf(pid);
    const rssIdleMb = statusKb(pid, "VmRSS") / 1024;

    const totalPods = jobs * podsPerJob;
    const t0 = performance.now();
    await eachLimited(
      Array.from({ length: jobs }, (_, i) => trainingJob(i)),
      64,
      async (body) => {
        await client.create(resourceTypes.trainingJob, body).catch((e) => {
          if (!isAlreadyExists(e)) throw e;
        });
      },
    );
    const tApplied = performance.now();
    console.log(`applied ${jobs} TrainingJobs in ${((tApplied - t0) / 1000).toFixed(1)} s`);

    let tAdmitted = 0;
    let tPods = 0;
    let tBound = 0;
    let lastReport = 0;
    await poll(
      `${totalPods} pods and ${jobs} Running jobs`,
      () => {
        const list = pods.store.list();
        const now = performance.now();
        const admitted = tjs.store
          .list()
          .filter(
            (o) =>
              ((o.status as { admission?: { placements?: unknown[] } })?.admission?.placements?.length ?? 0) >
              0,
          ).length;
        if (!tAdmitted && admitted >= jobs) tAdmitted = now;
        if (!tPods && list.length >= totalPods) tPods = now;
        if (!tBound && list.filter((p) => (p.spec as { nodeName?: string }).nodeName).length >= totalPods)
          tBound = now;
        const running = phaseCount("Running");
        if (now - lastReport > 10_000) {
          lastReport = now;
          process.stderr.write(
            `  ${((now - t0) / 1000).toFixed(0)} s: ${admitted} admitted, ${list.length} pods, ${running} Running, operator ${cpuSecondsOf(pid).toFixed(0)} CPU s\n`,
          );
        }
        return tPods > 0 && running >= jobs;
      },
      deadline,
    );
    const tRunning = performance.now();
    const cpuSeconds = cpuSecondsOf(pid) - cpuIdle;
    const peakRssMb = statusKb(pid, "VmHWM") / 1024;
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sum = (name: string, filter = "") =>
      metrics
        .split("\n")
        .filter((l) => l.startsWith(name) && l.includes(filter))
        .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    const reconciles = sum("controller_runtime_reconcile_total", 'controller="trainingjob"');
    const requests = sum("rest_client_requests_total");
    const runningGauge = sum("sovereign_trainingjobs", 'phase="Running"');

    const s = (ms: number) => Math.round(ms / 100) / 10;
    console.log(
      [
        `${jobs} TrainingJobs × ${podsPerJob} pods (${devicesPerPod} GPUs each) on ${nodeCount} kwok nodes × ${devicesPerNode} GPUs`,
        `  operator: --workers ${operatorWorkers} --kube-api-qps ${qps} --kube-api-burst ${burst}`,
        `  every job admitted after ${s(tAdmitted - t0)} s`,
        `  all ${totalPods} pods exist after ${s(tPods - t0)} s (bound after ${s(tBound - t0)} s)`,
        `  all ${jobs} jobs Running after ${s(tRunning - t0)} s (the operator's gauge says ${runningGauge})`,
        `  operator CPU ${cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(rssIdleMb)} MB, peak ${Math.round(peakRssMb)} MB`,
        `  trainingjob reconciles ${reconciles}, operator API requests ${requests}`,
      ].join("\n"),
    );
    console.log(
      JSON.stringify({
        jobs,
        pods: totalPods,
        nodes: nodeCount,
        devices_per_node: devicesPerNode,
        devices_per_pod: devicesPerPod,
        operator_workers: operatorWorkers,
        kube_api_qps: qps,
        apply_seconds: s(tApplied - t0),
        all_admitted_seconds: s(tAdmitted - t0),
        all_pods_exist_seconds: s(tPods - t0),
        all_pods_bound_seconds: s(tBound - t0),
        all_running_seconds: s(tRunning - t0),
        operator_cpu_seconds: Math.round(cpuSeconds * 10) / 10,
        operator_peak_rss_mb: Math.round(peakRssMb),
        operator_idle_rss_mb: Math.round(rssIdleMb),
        trainingjob_reconciles: reconciles,
        operator_api_requests: requests,
      }),
    );
    await pods.stop();
    await tjs.stop();
    await client.close();
  } finally {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator?.once("exit", r));
      operator.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
    }
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
