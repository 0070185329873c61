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
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import { builtin, type KubeObject, objectKey } from "../operator/index.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ services: 500, replicas: 2, nodes: 40, timeoutSeconds: 900 });
const { services, replicas } = flags;
const operatorSettings = bench.operatorSettingsFromFlags();
/** --operator-log FILE: the operator's debug log goes there. */
const operatorLog = bench.stringFlag("operator-log");
const namespaces = bench.workloadNamespaces("isvc-bench");

// Half the nodes NVIDIA, half AMD, 32 devices each: room for every replica with some to
// spare, and the placement engine free to spread a service over both vendors.
const perPool = Math.max(1, Math.floor(flags.nodes / 2));
const pool = (
  name: string,
  vendor: bench.BenchPool["accelerator"]["vendor"],
  model: string,
  memoryGiB: number,
  costPerDeviceHour: number,
): bench.BenchPool => ({
  name,
  nodes: perPool,
  accelerator: { vendor, model, devicesPerNode: 32, memoryGiB },
  cpu: "512",
  memory: "4Ti",
  poolSpec: { costPerDeviceHour, nodeSelector: { matchLabels: { "sovereign.dev/pool": name } } },
});
const pools = [
  pool("bench-nvidia", "nvidia", "NVIDIA-H100-80GB-HBM3", 80, 2.5),
  pool("bench-amd", "amd", "AMD-Instinct-MI300X", 192, 2.1),
];

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);

const inferenceService = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.inferenceService, "llm", i, namespaces, {
    model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
    engine: { image: "vllm/vllm-openai:v0.11.0", images: { amd: "rocm/vllm:rocm6.4.1_vllm_0.10.1" } },
    accelerators: { count: 1, minMemoryGiB: 24 },
    resources: { cpu: "1", memory: "2Gi" },
    replicas,
  });

interface IsvcStatus {
  phase?: string;
  placements?: { pool: string; replicas?: number }[];
}

await bench.withCluster({ dirPrefix: "sovereign-bench-isvc-", pools, namespaces }, async (cluster) => {
  console.log(`control plane with ${perPool * 2} nodes ready in ${cluster.setupSeconds.toFixed(1)} s`);
  // What the benchmark watches, in this process.
  const selector = `${labels.kind}=inferenceservice`;
  const [isvcs, deployments, svcs] = await Promise.all([
    cluster.watch(resourceTypes.inferenceService),
    cluster.watch(builtin.deployments, { labelSelector: selector }),
    cluster.watch(builtin.services, { labelSelector: selector }),
  ]);

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

  const deadline = Date.now() + flags.timeoutSeconds * 1000;
  const operator = await cluster.startOperator({ ...operatorSettings, deadline, logFile: operatorLog });

  const { startedAt: t0, appliedAt } = await cluster.createAll(
    resourceTypes.inferenceService,
    Array.from({ length: services }, (_, i) => inferenceService(i)),
    {
      sending: (body) => sentAt.set(objectKey(body), performance.now()),
      created: (body) => check(objectKey(body)),
    },
  );

  const report = bench.throttled(10_000, (now) => {
    process.stderr.write(
      `  ${((now - t0) / 1000).toFixed(0)} s: ${completeAt.size} services with all children, ${readyCount()} Ready, operator ${operator.cpuSecondsSinceIdle().toFixed(0)} CPU s\n`,
    );
  });
  await bench.waitUntil(
    `children of ${services} services`,
    () => {
      report(performance.now());
      return completeAt.size >= services;
    },
    deadline,
    20,
  );
  const tChildren = performance.now();
  const cpuChildren = operator.cpuSecondsSinceIdle();
  await bench.waitUntil(`${services} Ready services`, () => readyCount() >= services, deadline, 20);
  const tReady = performance.now();
  const usage = await operator.usage("inferenceservice");
  const byMethod = Object.fromEntries(
    ["GET", "PATCH", "POST", "PUT", "DELETE"].map((m) => [
      m,
      usage.metric("rest_client_requests_total", `method="${m}"`),
    ]),
  );

  const latencies = [...completeAt.entries()]
    .map(([key, at]) => at - (sentAt.get(key) ?? at))
    .sort((a, b) => a - b);
  const spanning = isvcs.store
    .list()
    .filter((o) => ((o.status as IsvcStatus | undefined)?.placements?.length ?? 0) > 1).length;
  const ms = (x: number) => Math.round(x);
  const s = (t: number) => bench.roundedSeconds(t - t0);
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  const max = latencies.at(-1) ?? Number.NaN;
  bench.printResult(
    [
      `${services} InferenceServices x ${replicas} replicas (1 GPU each) on ${perPool * 2} kwok nodes in 2 pools (NVIDIA, AMD)`,
      bench.describeOperatorSettings(operatorSettings),
      `  apply -> Service and every Deployment exist, per service: p50 ${ms(p50)} ms, p99 ${ms(p99)} ms, max ${ms(max)} ms`,
      `  all services have their children after ${s(tChildren)} s; all Ready after ${s(tReady)} s`,
      `  ${spanning} services span both pools`,
      `  operator CPU ${cpuChildren.toFixed(1)} s until all children exist, ${usage.cpuSeconds.toFixed(1)} s until all Ready; RSS idle ${Math.round(usage.idleRssMb)} MB, peak ${Math.round(usage.peakRssMb)} MB`,
      `  inferenceservice reconciles ${usage.reconciles}, operator API requests ${usage.apiRequests} (${Object.entries(
        byMethod,
      )
        .map(([m, n]) => `${m} ${n}`)
        .join(", ")}; all controllers, lists and watches included)`,
    ],
    {
      services,
      replicas_per_service: replicas,
      nodes: perPool * 2,
      operator_workers: operatorSettings.workers,
      kube_api_qps: operatorSettings.qps,
      apply_seconds: s(appliedAt),
      children_p50_ms: ms(p50),
      children_p99_ms: ms(p99),
      children_max_ms: ms(max),
      all_children_seconds: s(tChildren),
      all_ready_seconds: s(tReady),
      services_spanning_pools: spanning,
      operator_cpu_seconds_to_children: Math.round(cpuChildren * 10) / 10,
      ...bench.operatorFigures(usage),
    },
  );
});
