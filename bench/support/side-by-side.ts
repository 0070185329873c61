// What vs-kuberay and vs-trainer share: one run of one operator (ours or a peer) on a fresh
// control plane, with its own API identity so the API server counts its requests, the same
// workload applied at once, and the same figures read the same way for every operator; and
// the ceiling, a bare client creating the same pods with the same QPS budget.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { forEachConcurrently } from "../../cli/dev/loopback.ts";
import { toolPath } from "../../cli/dev/tools.ts";
import {
  builtin,
  KubeClient,
  type KubeObject,
  loadClusterConnection,
  type ResourceType,
} from "../../operator/index.ts";
import { apiServerMetrics, countsSince, createBenchIdentity, dispatchedRequests } from "./api-identity.ts";
import * as bench from "./workload-bench.ts";

const run = promisify(execFile);

/** The budget both operators get: client QPS and burst, and concurrent reconciles. */
export interface Budget {
  qps: number;
  burst: number;
  concurrency: number;
}

export function budgetFromFlags(): Budget {
  const f = bench.numberFlags({ qps: 100, burst: 200, concurrency: 16 });
  return { qps: f.qps, burst: f.burst, concurrency: f.concurrency };
}

/** Everything one run reports, under the same keys for every operator. */
export interface RunFigures {
  operator: string;
  version: string;
  completed: boolean;
  apply_seconds: number;
  all_pods_exist_seconds: number | null;
  all_ready_seconds: number | null;
  /** Pods per second from the first create to the last pod seen. */
  pod_creation_rate: number | null;
  pods_seen: number;
  ready_workloads: number;
  cpu_seconds: number;
  idle_rss_mb: number;
  peak_rss_mb: number;
  settled_rss_mb: number;
  /** Counted by the API server for this operator's identity, from its readiness to the end. */
  api_requests: number;
  api_requests_per_workload: number;
  /** Of those: creates, updates, patches and deletes. */
  api_writes: number;
  api_writes_per_workload: number;
  api_lists: number;
  /** The same window, by HTTP method, as the operator's own client counted them. */
  client_requests_by_method: Record<string, number>;
  /** Ours only (sovereign_api_requests_total): the same window by method and resource. */
  requests_by_resource?: Record<string, number>;
  host_load_average: string;
}

export interface RunSpec {
  label: string;
  version: string;
  dirPrefix: string;
  pools: bench.BenchPool[];
  namespaces: readonly string[];
  /** Installs what the operator needs besides our CRDs (the peer's own CRDs, a namespace). */
  prepare?: (cluster: bench.BenchCluster) => Promise<void>;
  /** Starts the operator with the given kubeconfig (its own identity) and the budget. */
  start: (
    cluster: bench.BenchCluster,
    kubeconfigPath: string,
    deadline: number,
  ) => Promise<bench.BenchOperator>;
  resource: ResourceType;
  bodies: KubeObject[];
  podSelector: string;
  totalPods: number;
  isReady: (workload: KubeObject) => boolean;
  timeoutMs: number;
}

/** Installs CRD files as a user would, and waits until they are served. */
export async function applyCrdFiles(kubeconfigPath: string, files: readonly string[]): Promise<void> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  const args = files.flatMap((f) => ["-f", f]);
  await run(toolPath("kubectl"), ["apply", "--server-side", "--field-manager=bench", ...args], { env });
  await run(toolPath("kubectl"), ["wait", "--for=condition=Established", "--timeout=60s", ...args], { env });
}

const sumByMethod = (metricsText: string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("rest_client_requests_total{")) continue;
    const method = /method="([A-Z]+)"/.exec(line)?.[1];
    if (method) out[method] = (out[method] ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return out;
};

const minus = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));

/** Queue depths and requests so far, from an operator's metrics text. */
function traceLine(metricsText: string): string {
  const lines = metricsText.split("\n");
  const metric = bench.metricSumOf(lines);
  const depths = lines.flatMap((line) => {
    const depth = /^workqueue_depth\{name="([^"]+)"[^}]*\} (\S+)/.exec(line);
    return depth && Number(depth[2]) > 0 ? [`${depth[1]} ${depth[2]}`] : [];
  });
  const requests = metric("rest_client_requests_total{");
  const answered = metric("rest_client_request_duration_seconds_count{");
  const seconds = metric("rest_client_request_duration_seconds_sum{");
  const mean = answered > 0 ? `${Math.round((seconds / answered) * 1000)} ms` : "-";
  return `queued ${depths.join(", ") || "none"}; requests ${requests}, mean latency ${mean} so far`;
}

const loadAverage = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** How long a run waits after its last workload is ready before it reads the settled RSS. */
const settleMs = 10_000;

/** One operator, one fresh control plane, the workload applied at once; the figures. */
export async function measureRun(spec: RunSpec): Promise<RunFigures> {
  let figures: RunFigures | undefined;
  await bench.withCluster(
    {
      dirPrefix: spec.dirPrefix,
      pools: spec.pools,
      namespaces: spec.namespaces,
      nodesReadyTimeoutMs: 300_000,
    },
    async (cluster) => {
      process.stderr.write(`${spec.label}: control plane ready in ${cluster.setupSeconds.toFixed(1)} s\n`);
      await spec.prepare?.(cluster);
      const identity = await createBenchIdentity(cluster.client, cluster.kubeconfigPath, "bench-operator");
      const [pods, workloads] = await Promise.all([
        cluster.watch(builtin.pods, { labelSelector: spec.podSelector, transform: leanBenchPod }),
        cluster.watch(spec.resource),
      ]);
      const deadline = Date.now() + spec.timeoutMs;
      const operator = await spec.start(cluster, identity.kubeconfigPath, deadline);
      const requestsAtIdle = dispatchedRequests(await apiServerMetrics(cluster.client), identity.name);
      const metricsAtIdle = await (await fetch(operator.metricsUrl)).text();
      const clientAtIdle = sumByMethod(metricsAtIdle);

      const { startedAt: t0, appliedAt } = await cluster.createAll(spec.resource, spec.bodies);
      const progress = bench.trackPods(pods, spec.totalPods);
      const readyCount = () => workloads.store.list().filter(spec.isReady).length;
      let ready = 0;
      let tReady = 0;
      // BENCH_TRACE=1 adds what the operator's own metrics say at each progress line: keys
      // queued per controller and requests sent, to see whether the budget or the work binds.
      const trace = process.env.BENCH_TRACE === "1";
      const report = bench.throttled(10_000, (now) => {
        const line = `  ${spec.label} ${((now - t0) / 1000).toFixed(0)} s: ${progress.count} pods, ${ready} ready, ${operator.cpuSecondsSinceIdle().toFixed(0)} CPU s`;
        if (!trace) {
          process.stderr.write(`${line}\n`);
          return;
        }
        fetch(operator.metricsUrl)
          .then((r) => r.text())
          .then((text) => process.stderr.write(`${line}; ${traceLine(text)}\n`))
          .catch(() => process.stderr.write(`${line}\n`));
      });
      while (Date.now() < deadline) {
        const now = performance.now();
        progress.update(now);
        ready = readyCount();
        if (ready >= spec.bodies.length && progress.allExistAt) {
          tReady = now;
          break;
        }
        report(now);
        await bench.sleep(250);
      }
      const cpuSeconds = operator.cpuSecondsSinceIdle();
      const peakRssMb = bench.memoryMbOf(operator.pid, "VmHWM");
      const requests = countsSince(
        requestsAtIdle,
        dispatchedRequests(await apiServerMetrics(cluster.client), identity.name),
      );
      const metricsAtEnd = await (await fetch(operator.metricsUrl)).text();
      const clientRequests = minus(sumByMethod(metricsAtEnd), clientAtIdle);
      const byResource = minus(
        bench.requestsByResource(metricsAtEnd.split("\n")),
        bench.requestsByResource(metricsAtIdle.split("\n")),
      );
      const load = loadAverage();
      await bench.sleep(settleMs);
      const since = (t: number) => (t ? bench.roundedSeconds(t - t0) : null);
      const existSeconds = since(progress.allExistAt);
      const perWorkload = (n: number) => Math.round((n / spec.bodies.length) * 100) / 100;
      figures = {
        operator: spec.label,
        version: spec.version,
        completed: tReady > 0,
        apply_seconds: bench.roundedSeconds(appliedAt - t0),
        all_pods_exist_seconds: existSeconds,
        all_ready_seconds: since(tReady),
        pod_creation_rate: existSeconds ? Math.round((spec.totalPods / existSeconds) * 10) / 10 : null,
        pods_seen: progress.count,
        ready_workloads: ready,
        cpu_seconds: Math.round(cpuSeconds * 10) / 10,
        idle_rss_mb: Math.round(operator.idle.rssMb),
        peak_rss_mb: Math.round(peakRssMb),
        settled_rss_mb: Math.round(bench.memoryMbOf(operator.pid, "VmRSS")),
        api_requests: requests.total,
        api_requests_per_workload: perWorkload(requests.total),
        api_writes: requests.writes,
        api_writes_per_workload: perWorkload(requests.writes),
        api_lists: requests.lists,
        client_requests_by_method: clientRequests,
        ...(Object.keys(byResource).length > 0 ? { requests_by_resource: byResource } : {}),
        host_load_average: load,
      };
    },
  );
  if (!figures) throw new Error(`${spec.label}: the run reported nothing`);
  return figures;
}

/** The pods' names, labels and nodes are all a run counts; the rest is dropped on arrival. */
function leanBenchPod(o: KubeObject): KubeObject {
  return {
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace, labels: o.metadata.labels },
    spec: { nodeName: (o.spec as { nodeName?: string } | undefined)?.nodeName },
  } as KubeObject;
}

export interface CeilingFigures {
  pods: number;
  create_seconds: number;
  /** Pods per second a bare client reaches with the budget: what no operator can beat. */
  pod_creation_rate: number;
  all_bound_seconds: number | null;
}

/**
 * The physical ceiling: a bare client with the operators' QPS and burst and as many requests
 * in flight as they have reconciles creates the same pods on a fresh control plane of the
 * same shape. Its rate is what an operator would reach if it made nothing but the pods.
 */
export async function measureCeiling(o: {
  dirPrefix: string;
  pools: bench.BenchPool[];
  namespaces: readonly string[];
  pods: KubeObject[];
  budget: Budget;
  timeoutMs: number;
}): Promise<CeilingFigures> {
  let figures: CeilingFigures | undefined;
  await bench.withCluster(
    { dirPrefix: o.dirPrefix, pools: o.pools, namespaces: o.namespaces, nodesReadyTimeoutMs: 300_000 },
    async (cluster) => {
      process.stderr.write(`ceiling: control plane ready in ${cluster.setupSeconds.toFixed(1)} s\n`);
      const pods = await cluster.watch(builtin.pods, {
        labelSelector: "bench/ceiling=true",
        transform: leanBenchPod,
      });
      const client = new KubeClient({
        kubeConfig: loadClusterConnection(cluster.kubeconfigPath),
        qps: o.budget.qps,
        burst: o.budget.burst,
        userAgent: "bench-ceiling",
      });
      try {
        const t0 = performance.now();
        await forEachConcurrently(o.pods, o.budget.concurrency, async (pod) => {
          await client.create(builtin.pods, pod);
        });
        const created = performance.now();
        const progress = bench.trackPods(pods, o.pods.length);
        await bench
          .waitUntil(
            "the ceiling's pods bound",
            () => progress.update(performance.now()) >= 0 && progress.allBoundAt > 0,
            Date.now() + o.timeoutMs,
          )
          .catch(() => {});
        const createSeconds = bench.roundedSeconds(created - t0);
        figures = {
          pods: o.pods.length,
          create_seconds: createSeconds,
          pod_creation_rate: Math.round((o.pods.length / createSeconds) * 10) / 10,
          all_bound_seconds: progress.allBoundAt ? bench.roundedSeconds(progress.allBoundAt - t0) : null,
        };
      } finally {
        await client.close();
      }
    },
  );
  if (!figures) throw new Error("the ceiling run reported nothing");
  return figures;
}

/**
 * Ours divided by theirs, figure by figure: above 1 is ahead for the creation rate, below 1
 * is ahead for the rest (seconds, CPU, memory, requests).
 */
export function ratios(ours: RunFigures, theirs: RunFigures): Record<string, number | null> {
  const r = (a: number | null, b: number | null): number | null =>
    a && b ? Math.round((a / b) * 100) / 100 : null;
  return {
    pod_creation_rate: r(ours.pod_creation_rate, theirs.pod_creation_rate),
    all_pods_exist_seconds: r(ours.all_pods_exist_seconds, theirs.all_pods_exist_seconds),
    all_ready_seconds: r(ours.all_ready_seconds, theirs.all_ready_seconds),
    cpu_seconds: r(ours.cpu_seconds, theirs.cpu_seconds),
    peak_rss_mb: r(ours.peak_rss_mb, theirs.peak_rss_mb),
    settled_rss_mb: r(ours.settled_rss_mb, theirs.settled_rss_mb),
    api_requests: r(ours.api_requests, theirs.api_requests),
    api_writes: r(ours.api_writes, theirs.api_writes),
  };
}

/** Each operator's creation rate as a fraction of the ceiling's (goal: at least 0.8). */
export function ofCeiling(run: RunFigures, ceiling: CeilingFigures): number | null {
  return run.pod_creation_rate
    ? Math.round((run.pod_creation_rate / ceiling.pod_creation_rate) * 100) / 100
    : null;
}

/** The human lines for one run. */
export function describeRun(f: RunFigures, pods: number, workloads: number): string[] {
  return [
    `  ${f.operator} ${f.version}: all ${pods} pods after ${f.all_pods_exist_seconds ?? "(not reached)"} s (${f.pod_creation_rate ?? "-"} pods/s), all ${workloads} ready after ${f.all_ready_seconds ?? "(not reached)"} s`,
    `    CPU ${f.cpu_seconds} s; RSS idle ${f.idle_rss_mb} MB, peak ${f.peak_rss_mb} MB, settled ${f.settled_rss_mb} MB; API requests ${f.api_requests} (${f.api_requests_per_workload} per workload), writes ${f.api_writes} (${f.api_writes_per_workload} per workload), lists ${f.api_lists} (client: ${Object.entries(
      f.client_requests_by_method,
    )
      .map(([m, n]) => `${m} ${n}`)
      .join(", ")}); load ${f.host_load_average}`,
    ...(f.requests_by_resource
      ? [
          `    by resource: ${Object.entries(f.requests_by_resource)
            .filter(([, n]) => n > 0)
            .map(([k, n]) => `${k} ${n}`)
            .join(", ")}`,
        ]
      : []),
  ];
}

/** What differs between the side-by-side benches when they run ours and print the verdict. */
export interface SideBySide {
  /** "RayClusters x (1 head + 3 one-GPU workers)": the first summary line, after the count. */
  work: string;
  workloads: number;
  /** The figures' JSON key for the workload count ("clusters", "jobs"). */
  workloadKey: string;
  nodes: number;
  peerName: string;
  budget: Budget;
  ceiling: CeilingFigures;
  theirs: RunFigures;
  /** Requests the work cannot do without, per workload, and which. */
  floor: { perWorkload: number; what: string };
}

/** Our run, on the same terms as the peer's: the shipped entry point with the same budget. */
export function measureOurs(
  spec: Omit<RunSpec, "label" | "version" | "start">,
  budget: Budget,
): Promise<RunFigures> {
  return measureRun({
    ...spec,
    label: "sovereign-stack",
    version: "this tree",
    start: (cluster, kubeconfigPath, deadline) =>
      cluster.startOperator({
        workers: budget.concurrency,
        qps: budget.qps,
        burst: budget.burst,
        deadline,
        kubeconfigPath,
      }),
  });
}

/** The summary lines and the JSON line: ours and theirs, their ratios, the ceiling and the floor. */
export function printSideBySide(s: SideBySide, ours: RunFigures): void {
  const { budget, ceiling, theirs, floor } = s;
  const pods = ceiling.pods;
  const toFloor = (run: RunFigures) =>
    Math.round((run.api_requests_per_workload / floor.perWorkload) * 100) / 100;
  bench.printResult(
    [
      `${s.workloads} ${s.work} on ${s.nodes} kwok nodes x 32 GPUs`,
      `  budget for each: QPS ${budget.qps}, burst ${budget.burst}, ${budget.concurrency} concurrent reconciles; one fresh control plane per run`,
      `  ceiling (bare client, same budget): ${pods} pods in ${ceiling.create_seconds} s = ${ceiling.pod_creation_rate} pods/s`,
      ...describeRun(theirs, pods, s.workloads),
      ...describeRun(ours, pods, s.workloads),
      `  ours / ${s.peerName}: ${JSON.stringify(ratios(ours, theirs))}`,
      `  of the ceiling: ours ${ofCeiling(ours, ceiling)}, ${s.peerName} ${ofCeiling(theirs, ceiling)} (goal >= 0.8)`,
      `  request floor per workload: ${floor.perWorkload} (${floor.what}); ours ${toFloor(ours)}x, ${s.peerName} ${toFloor(theirs)}x`,
    ],
    {
      [s.workloadKey]: s.workloads,
      pods,
      nodes: s.nodes,
      qps: budget.qps,
      burst: budget.burst,
      concurrency: budget.concurrency,
      ceiling,
      ours,
      theirs,
      ratio: ratios(ours, theirs),
      ratio_of_ceiling: { ours: ofCeiling(ours, ceiling), theirs: ofCeiling(theirs, ceiling) },
      request_floor_per_workload: floor.perWorkload,
      ratio_requests_to_floor: { ours: toFloor(ours), theirs: toFloor(theirs) },
    },
  );
}
