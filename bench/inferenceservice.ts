// InferenceService benchmark: N services of R replicas (1 GPU each) applied at once on kwok
// nodes of two vendors' pools, with the operator as a separate process. For each service it
// times apply -> its Service and every Deployment its admission asks for exist; reports
// p50/p99/max of that, the time until every service is Ready, and the operator's CPU seconds
// and peak RSS.
//
//   npm run bench -- inferenceservice [--services 500] [--replicas 2] [--nodes 40]
//                                     [--operator-workers 16] [--qps 0] [--burst 1000]
//                                     [--operator-log FILE]
//
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
  loadKubeConfig,
  objectKey,
  silentLogger,
} from "../operator/index.ts";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};

const services = arg("services", 500);
const replicas = arg("replicas", 2);
const nodeCount = arg("nodes", 40);
const operatorWorkers = arg("operator-workers", 16);
const qps = arg("qps", 0);
const burst = arg("burst", 1000);
const timeoutMs = arg("timeout-seconds", 900) * 1000;
/** --operator-log FILE: the operator's debug log goes there. */
const operatorLog = (() => {
  const i = process.argv.indexOf("--operator-log");
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
const namespaces = Array.from({ length: 10 }, (_, i) => `isvc-bench-${i}`);

// Half the nodes NVIDIA, half AMD, 32 devices each: room for every replica with some to
// spare, and the placement engine free to spread a service over both vendors.
const perPool = Math.max(1, Math.floor(nodeCount / 2));
const simulated: SimulatedPool[] = [
  {
    name: "bench-nvidia",
    nodes: perPool,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 32, memoryGiB: 80 },
    cpu: "512",
    memory: "4Ti",
  },
  {
    name: "bench-amd",
    nodes: perPool,
    accelerator: { vendor: "amd", model: "AMD-Instinct-MI300X", devicesPerNode: 32, memoryGiB: 192 },
    cpu: "512",
    memory: "4Ti",
  },
];
const pools = [
  { name: "bench-nvidia", vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, cost: 2.5 },
  { name: "bench-amd", vendor: "amd", model: "AMD-Instinct-MI300X", memoryGiB: 192, cost: 2.1 },
];

const CLK_TCK = 100;
const procCpuSeconds = (pid: number): number => {
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
    await sleep(20);
  }
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);

const inferenceService = (i: number): KubeObject => ({
  apiVersion: resourceTypes.inferenceService.apiVersion,
  kind: resourceTypes.inferenceService.kind,
  metadata: { name: `llm-${String(i).padStart(4, "0")}`, namespace: namespaces[i % namespaces.length] },
  spec: {
    model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
    engine: { image: "vllm/vllm-openai:v0.11.0", images: { amd: "rocm/vllm:rocm6.4.1_vllm_0.10.1" } },
    accelerators: { count: 1, minMemoryGiB: 24 },
    resources: { cpu: "1", memory: "2Gi" },
    replicas,
  },
});

interface IsvcStatus {
  phase?: string;
  placements?: { pool: string; replicas?: number }[];
}

async function main(): Promise<void> {
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-isvc-"));
  const started = performance.now();
  const cp = await startControlPlane({ dir, nodes: simulated });
  let operator: ChildProcess | undefined;
  try {
    await waitForNodesReady(cp.kubeconfigPath, perPool * 2, 180_000);
    await installCrds(cp.kubeconfigPath);
    const kc = loadKubeConfig(cp.kubeconfigPath);
    const client = new KubeClient({ kubeConfig: kc, qps: 0 });
    for (const p of pools) {
      await client.create(resourceTypes.acceleratorPool, {
        apiVersion: resourceTypes.acceleratorPool.apiVersion,
        kind: resourceTypes.acceleratorPool.kind,
        metadata: { name: p.name },
        spec: {
          vendor: p.vendor,
          model: p.model,
          memoryGiB: p.memoryGiB,
          costPerDeviceHour: p.cost,
          nodeSelector: { matchLabels: { "sovereign.dev/pool": p.name } },
        },
      });
    }
    for (const name of namespaces) await client.create(builtin.namespaces, { metadata: { name } });
    for (const namespace of namespaces) {
      while (!(await client.getOrUndefined(builtin.serviceAccounts, "default", namespace))) await sleep(100);
    }
    console.log(
      `control plane with ${perPool * 2} nodes ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // What the benchmark watches, in this process.
    const selector = `${labels.kind}=inferenceservice`;
    const isvcs = new Informer({ client, resource: resourceTypes.inferenceService, log: silentLogger });
    const deployments = new Informer({
      client,
      resource: builtin.deployments,
      labelSelector: selector,
      log: silentLogger,
    });
    const svcs = new Informer({
      client,
      resource: builtin.services,
      labelSelector: selector,
      log: silentLogger,
    });
    for (const i of [isvcs, deployments, svcs]) i.start();
    await Promise.all([isvcs.waitForSync(), deployments.waitForSync(), svcs.waitForSync()]);

    // Per service: when its create was sent, and when its children were first all there.
    const sentAt = new Map<string, number>();
    const completeAt = new Map<string, number>();
    const check = (key: string): void => {
      if (completeAt.has(key) || !sentAt.has(key)) return;
      const svc = isvcs.store.get(key);
      if (!svc || !svcs.store.get(key)) return;
      const placements = (svc.status as IsvcStatus | undefined)?.placements ?? [];
      const placed = placements.reduce((n, p) => n + (p.replicas ?? 0), 0);
      if (placed < replicas) return;
      const ns = svc.metadata.namespace ?? "";
      const all = placements.every((p) => deployments.store.get(`${ns}/${svc.metadata.name}-${p.pool}`));
      if (all) completeAt.set(key, performance.now());
    };
    const ownerKey = (o: KubeObject): string => `${o.metadata.namespace}/${o.metadata.labels?.[labels.name]}`;
    isvcs.addHandler({ onAdd: (o) => check(objectKey(o)), onUpdate: (_, o) => check(objectKey(o)) });
    for (const i of [deployments, svcs]) {
      i.addHandler({ onAdd: (o) => check(ownerKey(o)), onUpdate: (_, o) => check(ownerKey(o)) });
    }
    const readyCount = () =>
      isvcs.store.list().filter((o) => (o.status as IsvcStatus | undefined)?.phase === "Ready").length;

    // The operator, as it runs in a cluster: its own process, every registered controller.
    const healthPort = await freePort();
    const metricsPort = await freePort();
    const entry = fileURLToPath(new URL("../operator/main.ts", import.meta.url));
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
      operatorLog ? "debug" : "warn",
    ];
    const out = operatorLog ? openSync(operatorLog, "w") : "ignore";
    operator = spawn(process.execPath, [entry, ...flags], { stdio: ["ignore", out, "inherit"] });
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

    const t0 = performance.now();
    const bodies = Array.from({ length: services }, (_, i) => inferenceService(i));
    await inParallel(bodies, 64, async (body) => {
      const key = objectKey(body);
      sentAt.set(key, performance.now());
      await client.create(resourceTypes.inferenceService, body).catch((e) => {
        if (!isAlreadyExists(e)) throw e;
      });
      check(key);
    });
    const tApplied = performance.now();
    console.log(`applied ${services} InferenceServices in ${((tApplied - t0) / 1000).toFixed(1)} s`);

    let lastReport = 0;
    await until(
      `children of ${services} services`,
      () => {
        const now = performance.now();
        if (now - lastReport > 10_000) {
          lastReport = now;
          process.stderr.write(
            `  ${((now - t0) / 1000).toFixed(0)} s: ${completeAt.size} services with all children, ${readyCount()} Ready, operator ${procCpuSeconds(pid).toFixed(0)} CPU s\n`,
          );
        }
        return completeAt.size >= services;
      },
      deadline,
    );
    const tChildren = performance.now();
    const cpuChildren = procCpuSeconds(pid) - cpuIdle;
    await until(`${services} Ready services`, () => readyCount() >= services, deadline);
    const tReady = performance.now();
    const cpuSeconds = procCpuSeconds(pid) - cpuIdle;
    const peakRssMb = procKb(pid, "VmHWM") / 1024;
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sum = (name: string, filter = "") =>
      metrics
        .split("\n")
        .filter((l) => l.startsWith(name) && l.includes(filter))
        .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    const reconciles = sum("controller_runtime_reconcile_total", 'controller="inferenceservice"');
    const requests = sum("rest_client_requests_total");
    const byMethod = Object.fromEntries(
      ["GET", "PATCH", "POST", "PUT", "DELETE"].map((m) => [
        m,
        sum("rest_client_requests_total", `method="${m}"`),
      ]),
    );

    const latencies = [...completeAt.entries()]
      .map(([key, at]) => at - (sentAt.get(key) ?? at))
      .sort((a, b) => a - b);
    const spanning = isvcs.store
      .list()
      .filter((o) => ((o.status as IsvcStatus | undefined)?.placements?.length ?? 0) > 1).length;
    const ms = (x: number) => Math.round(x);
    const s = (x: number) => Math.round(x / 100) / 10;
    const p50 = quantile(latencies, 0.5);
    const p99 = quantile(latencies, 0.99);
    const max = latencies.at(-1) ?? Number.NaN;
    console.log(
      [
        `${services} InferenceServices x ${replicas} replicas (1 GPU each) on ${perPool * 2} kwok nodes in 2 pools (NVIDIA, AMD)`,
        `  operator: --workers ${operatorWorkers} --kube-api-qps ${qps} --kube-api-burst ${burst}`,
        `  apply -> Service and every Deployment exist, per service: p50 ${ms(p50)} ms, p99 ${ms(p99)} ms, max ${ms(max)} ms`,
        `  all services have their children after ${s(tChildren - t0)} s; all Ready after ${s(tReady - t0)} s`,
        `  ${spanning} services span both pools`,
        `  operator CPU ${cpuChildren.toFixed(1)} s until all children exist, ${cpuSeconds.toFixed(1)} s until all Ready; RSS idle ${Math.round(rssIdleMb)} MB, peak ${Math.round(peakRssMb)} MB`,
        `  inferenceservice reconciles ${reconciles}, operator API requests ${requests} (${Object.entries(
          byMethod,
        )
          .map(([m, n]) => `${m} ${n}`)
          .join(", ")}; all controllers, lists and watches included)`,
      ].join("\n"),
    );
    console.log(
      JSON.stringify({
        services,
        replicas_per_service: replicas,
        nodes: perPool * 2,
        operator_workers: operatorWorkers,
        kube_api_qps: qps,
        apply_seconds: s(tApplied - t0),
        children_p50_ms: ms(p50),
        children_p99_ms: ms(p99),
        children_max_ms: ms(max),
        all_children_seconds: s(tChildren - t0),
        all_ready_seconds: s(tReady - t0),
        services_spanning_pools: spanning,
        operator_cpu_seconds_to_children: Math.round(cpuChildren * 10) / 10,
        operator_cpu_seconds: Math.round(cpuSeconds * 10) / 10,
        operator_peak_rss_mb: Math.round(peakRssMb),
        operator_idle_rss_mb: Math.round(rssIdleMb),
        inferenceservice_reconciles: reconciles,
        operator_api_requests: requests,
      }),
    );
    for (const i of [isvcs, deployments, svcs]) await i.stop();
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
