// RayCluster benchmark: N RayClusters of 1 head + 3 workers (1 NVIDIA GPU each) applied at
// once on kwok nodes, with the operator as a separate process. Measures the time until every
// pod exists and until every cluster is Ready, and the operator's CPU seconds and peak RSS.
//
//   npm run bench -- raycluster [--clusters 1000] [--workers 3] [--nodes 100]
//                               [--operator-workers 16] [--qps 0] [--burst 1000]
//
// For scale: KubeRay reports creating 1,000 such clusters in about 11 s on GKE.
// Prints a human summary, then as its last line one JSON object of named figures.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installCrds, waitForNodesReady } from "../cli/dev/cluster-setup.ts";
import { startControlPlane } from "../cli/dev/control-plane.ts";
import type { SimulatedPool } from "../cli/dev/simulated-nodes.ts";
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

const clusters = arg("clusters", 1000);
const workersPerCluster = arg("workers", 3);
const nodeCount = arg("nodes", 100);
const operatorWorkers = arg("operator-workers", 16);
const qps = arg("qps", 0);
const burst = arg("burst", 1000);
const timeoutMs = arg("timeout-seconds", 900) * 1000;
const namespaces = Array.from({ length: 10 }, (_, i) => `rayc-bench-${i}`);
const poolName = "bench-gpu";

// Fat fake nodes keep the node count (and kwok's and the scheduler's work per node) small:
// 100 nodes x 32 GPUs hold 3,200 one-GPU workers.
const simulated: SimulatedPool[] = [
  {
    name: poolName,
    nodes: nodeCount,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 32, memoryGiB: 80 },
    cpu: "512",
    memory: "4Ti",
  },
];

const CLK_TCK = 100;
const procCpuSeconds = (pid: number): number => {
  // Fields after the command name (which may contain spaces) start at index 2 of the split.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
};
const procKb = (pid: number, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
};

async function freePort(): Promise<number> {
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

async function inParallel<T>(
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, deadline: number): Promise<void> {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const rayCluster = (i: number): KubeObject => ({
  apiVersion: resourceTypes.rayCluster.apiVersion,
  kind: resourceTypes.rayCluster.kind,
  metadata: { name: `rc-${String(i).padStart(4, "0")}`, namespace: namespaces[i % namespaces.length] },
  spec: {
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
  },
});

async function main(): Promise<void> {
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-rayc-"));
  const started = performance.now();
  const cp = await startControlPlane({ dir, nodes: simulated });
  let operator: ChildProcess | undefined;
  try {
    await waitForNodesReady(cp.kubeconfigPath, nodeCount, 180_000);
    await installCrds(cp.kubeconfigPath);
    const kc = loadKubeConfig(cp.kubeconfigPath);
    const client = new KubeClient({ kubeConfig: kc, qps: 0 });
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
      `control plane with ${nodeCount} nodes ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // What the benchmark watches, in this process: pods and clusters as they change.
    const pods = new Informer({
      client,
      resource: resourceTypes.pod,
      labelSelector: `${labels.kind}=raycluster`,
      transform: leanPod,
      log: silentLogger,
    });
    const rcs = new Informer({ client, resource: resourceTypes.rayCluster, log: silentLogger });
    pods.start();
    rcs.start();
    await Promise.all([pods.waitForSync(), rcs.waitForSync()]);
    const readyCount = () =>
      rcs.store.list().filter((o) => (o.status as { phase?: string } | undefined)?.phase === "Ready").length;

    // The operator, as it runs in a cluster: its own process, every registered controller.
    const healthPort = await freePort();
    const metricsPort = await freePort();
    const main = fileURLToPath(new URL("../operator/main.ts", import.meta.url));
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
    // BENCH_OPERATOR_LOG=<file> keeps the operator's debug log, to see where time goes.
    const logFd = process.env.BENCH_OPERATOR_LOG ? openSync(process.env.BENCH_OPERATOR_LOG, "w") : "ignore";
    // BENCH_OPERATOR_PROFILE=<dir> writes a V8 CPU profile of the operator there on exit.
    const profile = process.env.BENCH_OPERATOR_PROFILE;
    const nodeFlags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [];
    operator = spawn(process.execPath, [...nodeFlags, main, ...flags], {
      stdio: ["ignore", logFd, "inherit"],
    });
    const pid = operator.pid as number;
    const deadline = Date.now() + timeoutMs;
    await until(
      "the operator's /readyz",
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok === true,
      deadline,
    );
    await sleep(1000);
    const cpuIdle = procCpuSeconds(pid);
    const rssIdleMb = procKb(pid, "VmRSS") / 1024;

    const totalPods = clusters * (1 + workersPerCluster);
    const t0 = performance.now();
    const bodies = Array.from({ length: clusters }, (_, i) => rayCluster(i));
    await inParallel(bodies, 64, async (body) => {
      await client.create(resourceTypes.rayCluster, body).catch((e) => {
        if (!isAlreadyExists(e)) throw e;
      });
    });
    const tApplied = performance.now();
    console.log(`applied ${clusters} RayClusters in ${((tApplied - t0) / 1000).toFixed(1)} s`);

    let tPods = 0;
    let tBound = 0;
    let tReady = 0;
    let lastReport = 0;
    let podCount = 0;
    let ready = 0;
    // A run that does not finish in time still reports how far it got (completed: false).
    while (Date.now() < deadline) {
      const list = pods.store.list();
      const now = performance.now();
      podCount = list.length;
      if (!tPods && podCount >= totalPods) tPods = now;
      if (!tBound && list.filter((p) => (p.spec as { nodeName?: string }).nodeName).length >= totalPods)
        tBound = now;
      ready = readyCount();
      if (ready >= clusters) {
        tReady = now;
        break;
      }
      if (now - lastReport > 10_000) {
        lastReport = now;
        process.stderr.write(
          `  ${((now - t0) / 1000).toFixed(0)} s: ${podCount} pods, ${ready} Ready clusters, operator ${procCpuSeconds(pid).toFixed(0)} CPU s\n`,
        );
      }
      await sleep(250);
    }
    const cpuSeconds = procCpuSeconds(pid) - cpuIdle;
    const peakRssMb = procKb(pid, "VmHWM") / 1024;
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sum = (name: string, filter = "") =>
      metrics
        .split("\n")
        .filter((l) => l.startsWith(name) && l.includes(filter))
        .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    const reconciles = sum("controller_runtime_reconcile_total", 'controller="raycluster"');
    const requests = sum("rest_client_requests_total");

    const s = (ms: number) => Math.round(ms / 100) / 10;
    const since = (t: number) => (t ? s(t - t0) : null);
    const loadAverage = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(
      [
        `${clusters} RayClusters x (1 head + ${workersPerCluster} workers) on ${nodeCount} kwok nodes`,
        `  operator: --workers ${operatorWorkers} --kube-api-qps ${qps} --kube-api-burst ${burst}`,
        `  all ${totalPods} pods exist after ${since(tPods) ?? "(not reached)"} s (bound after ${since(tBound) ?? "(not reached)"} s)`,
        tReady
          ? `  all ${clusters} clusters Ready after ${since(tReady)} s`
          : `  NOT COMPLETED within ${timeoutMs / 1000} s: ${podCount} pods, ${ready} Ready clusters`,
        `  host load average at the end: ${loadAverage} (on ${availableParallelism()} CPUs)`,
        `  operator CPU ${cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(rssIdleMb)} MB, peak ${Math.round(peakRssMb)} MB`,
        `  raycluster reconciles ${reconciles}, API requests ${requests}`,
        "  (KubeRay reports creating 1,000 such clusters in about 11 s on GKE)",
      ].join("\n"),
    );
    console.log(
      JSON.stringify({
        clusters,
        pods: totalPods,
        nodes: nodeCount,
        operator_workers: operatorWorkers,
        kube_api_qps: qps,
        apply_seconds: s(tApplied - t0),
        completed: tReady > 0,
        all_pods_exist_seconds: since(tPods),
        all_pods_bound_seconds: since(tBound),
        all_ready_seconds: since(tReady),
        pods_seen: podCount,
        ready_clusters: ready,
        host_load_average: loadAverage,
        operator_cpu_seconds: Math.round(cpuSeconds * 10) / 10,
        operator_peak_rss_mb: Math.round(peakRssMb),
        operator_idle_rss_mb: Math.round(rssIdleMb),
        raycluster_reconciles: reconciles,
        operator_api_requests: requests,
      }),
    );
    await pods.stop();
    await rcs.stop();
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
