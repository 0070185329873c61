// What the workload benchmarks (trainingjob, raycluster, inferenceservice) share: a private
// control plane with kwok nodes, the operator as a child process measured through /proc, and
// a teardown that also runs when the benchmark is interrupted or fails, so that no operator,
// etcd or kube-apiserver outlives it.
//
// This lives in a folder because bench/run.ts offers every bench/*.ts file as a benchmark.

import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installCrds, waitForNodesReady } from "../../cli/dev/cluster-setup.ts";
import { type ControlPlane, startControlPlane } from "../../cli/dev/control-plane.ts";
import { forEachConcurrently, freePorts } from "../../cli/dev/loopback.ts";
import { type SimulatedPool, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { ensureTools } from "../../cli/dev/tools.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import {
  builtin,
  Informer,
  type InformerOptions,
  isAlreadyExists,
  KubeClient,
  type KubeObject,
  loadClusterConnection,
  type ResourceType,
  silentLogger,
} from "../../operator/index.ts";
import { operatorNodeFlags } from "../../operator/node-flags.ts";
import { compiledOperatorEntry } from "./compiled-operator.ts";

/** `--name N` from the command line; the fallback when it is absent or not a number. */
function numberFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
}

/** `--kebab-case N` for each camelCase key (devicesPerPod: --devices-per-pod), the value its default. */
export function numberFlags<T extends Record<string, number>>(defaults: T): { [K in keyof T]: number } {
  const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return Object.fromEntries(
    Object.entries(defaults).map(([key, fallback]) => [key, numberFlag(kebab(key), fallback)]),
  ) as { [K in keyof T]: number };
}

/** `--name VALUE` from the command line, if given. */
export function stringFlag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface OperatorSettings {
  workers: number;
  qps: number;
  burst: number;
}

/** --operator-workers, --qps and --burst, which every workload benchmark takes. */
export function operatorSettingsFromFlags(): OperatorSettings {
  return {
    workers: numberFlag("operator-workers", 16),
    qps: numberFlag("qps", 0),
    burst: numberFlag("burst", 1000),
  };
}

/** The summary line that says how the operator was run. */
export const describeOperatorSettings = (o: OperatorSettings): string =>
  `  operator: --workers ${o.workers} --kube-api-qps ${o.qps} --kube-api-burst ${o.burst}`;

/** Milliseconds as seconds with one decimal, the precision every figure is reported at. */
export const roundedSeconds = (ms: number): number => Math.round(ms / 100) / 10;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(
  what: string,
  done: () => boolean | Promise<boolean>,
  deadline: number,
  intervalMs = 50,
): Promise<void> {
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The namespaces a benchmark spreads its objects over: prefix-0 to prefix-9. */
export const workloadNamespaces = (prefix: string): string[] =>
  Array.from({ length: 10 }, (_, i) => `${prefix}-${i}`);

/** The i-th object a benchmark applies: named prefix-0007, its namespace taken round-robin. */
export function numberedObject(
  resource: ResourceType,
  prefix: string,
  i: number,
  namespaces: readonly string[],
  spec: Record<string, unknown>,
): KubeObject {
  return {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    metadata: {
      name: `${prefix}-${String(i).padStart(4, "0")}`,
      namespace: namespaces[i % namespaces.length],
    },
    spec,
  };
}

/** When a benchmark began creating its objects and when the last create returned. */
export interface Applied {
  startedAt: number;
  appliedAt: number;
}

/** Hooks that see each object just before its create is sent and just after it succeeded. */
export interface ApplyHooks {
  sending?: (body: KubeObject) => void;
  created?: (body: KubeObject) => void;
}

/**
 * Creates every object with 64 requests in flight, as many users applying at once would; one
 * left over from an earlier attempt counts as created.
 */
async function applyAll(
  client: KubeClient,
  resource: ResourceType,
  bodies: readonly KubeObject[],
  hooks: ApplyHooks,
): Promise<Applied> {
  const startedAt = performance.now();
  await forEachConcurrently(bodies, 64, async (body) => {
    hooks.sending?.(body);
    await client.create(resource, body).catch((e) => {
      if (!isAlreadyExists(e)) throw e;
    });
    hooks.created?.(body);
  });
  const appliedAt = performance.now();
  console.log(
    `applied ${bodies.length} ${resource.kind}s in ${((appliedAt - startedAt) / 1000).toFixed(1)} s`,
  );
  return { startedAt, appliedAt };
}

async function syncedInformer(
  client: KubeClient,
  resource: ResourceType,
  options: WatchOptions = {},
): Promise<Informer> {
  const informer = new Informer({ client, resource, log: silentLogger, ...options });
  informer.start();
  await informer.waitForSync();
  return informer;
}

/** When all of a workload's pods first existed, and when all of them were first bound to nodes. */
export interface PodProgress {
  count: number;
  allExistAt: number;
  allBoundAt: number;
  /** Counts the informer's pods again; returns the count. */
  update(now: number): number;
}

export function trackPods(pods: Informer, total: number): PodProgress {
  const progress: PodProgress = {
    count: 0,
    allExistAt: 0,
    allBoundAt: 0,
    update(now) {
      const list = pods.store.list();
      progress.count = list.length;
      if (!progress.allExistAt && list.length >= total) progress.allExistAt = now;
      const bound = list.filter((p) => (p.spec as { nodeName?: string }).nodeName).length;
      if (!progress.allBoundAt && bound >= total) progress.allBoundAt = now;
      return progress.count;
    },
  };
  return progress;
}

/** The human summary, then as the last line the JSON object of named figures that scripts read. */
export function printResult(summary: readonly string[], figures: Record<string, unknown>): void {
  console.log(summary.join("\n"));
  console.log(JSON.stringify(figures));
}

/** Calls report at most once per period; for progress lines while a benchmark waits. */
export function throttled(periodMs: number, report: (now: number) => void): (now: number) => void {
  let last = 0;
  return (now) => {
    if (now - last <= periodMs) return;
    last = now;
    report(now);
  };
}

const CLK_TCK = 100;

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** VmRSS is the resident set now, VmHWM its peak so far. */
export function memoryMbOf(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Sums every sample of a metric whose line contains filter (a label such as 'phase="Running"'). */
export type MetricSum = (name: string, filter?: string) => number;

/** The MetricSum of a metrics text's lines. */
export const metricSumOf =
  (lines: readonly string[]): MetricSum =>
  (name, filter = "") =>
    lines
      .filter((l) => l.startsWith(name) && l.includes(filter))
      .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);

/** What every workload benchmark reports of the operator once its workload is done. */
export interface OperatorUsage {
  /** The controller the benchmark exercises, as named in the reconcile metric. */
  controller: string;
  /** CPU seconds since the idle measurement. */
  cpuSeconds: number;
  peakRssMb: number;
  idleRssMb: number;
  reconciles: number;
  apiRequests: number;
  /** Requests by "METHOD resource" (the operator's sovereign_api_requests_total), most first. */
  requestsByResource: Record<string, number>;
  metric: MetricSum;
}

export interface BenchOperator {
  pid: number;
  metricsUrl: string;
  /** Measured a second after /readyz, before the benchmark applies anything. */
  idle: { cpuSeconds: number; rssMb: number };
  /** CPU seconds since the idle measurement. */
  cpuSecondsSinceIdle(): number;
  usage(controller: string): Promise<OperatorUsage>;
}

/** The operator's figures in the JSON line, under the same keys in every benchmark. */
export function operatorFigures(u: OperatorUsage): Record<string, number | Record<string, number>> {
  return {
    operator_cpu_seconds: Math.round(u.cpuSeconds * 10) / 10,
    operator_peak_rss_mb: Math.round(u.peakRssMb),
    operator_idle_rss_mb: Math.round(u.idleRssMb),
    [`${u.controller}_reconciles`]: u.reconciles,
    operator_api_requests: u.apiRequests,
    operator_requests_by_resource: u.requestsByResource,
  };
}

/** `{"POST pods": 4000, ...}` from the operator's metrics text, most first. */
export function requestsByResource(lines: readonly string[]): Record<string, number> {
  const counts: [string, number][] = [];
  for (const line of lines) {
    const m = /^sovereign_api_requests_total\{method="([^"]+)",resource="([^"]+)"\} (\S+)/.exec(line);
    if (m) counts.push([`${m[1]} ${m[2]}`, Number(m[3])]);
  }
  return Object.fromEntries(counts.sort((a, b) => b[1] - a[1]));
}

export interface StartOperatorOptions extends OperatorSettings {
  /** When the benchmark gives up; waiting for /readyz counts against it. */
  deadline: number;
  /** The operator's debug log goes here (default $BENCH_OPERATOR_LOG); without it, warnings only. */
  logFile?: string | undefined;
  /** A V8 CPU profile of the operator is written here when it exits (default $BENCH_OPERATOR_PROFILE). */
  cpuProfileDir?: string | undefined;
  /** Another kubeconfig than the cluster's admin one (an identity of its own: api-identity.ts). */
  kubeconfigPath?: string;
}

/** Another operator than ours (a peer's binary), measured the same way. */
export interface StartProcessOptions {
  command: string;
  /** Its flags, given the free loopback ports its probes and its metrics listen on. */
  args: (ports: OperatorPorts) => string[];
  env?: Record<string, string>;
  deadline: number;
  /** Its output goes here; without it, nowhere. */
  logFile?: string | undefined;
}

/** A pool of simulated nodes and the AcceleratorPool that describes them. */
export interface BenchPool extends SimulatedPool {
  accelerator: NonNullable<SimulatedPool["accelerator"]>;
  /** AcceleratorPool spec fields besides the vendor, model and memory the nodes already say. */
  poolSpec?: Record<string, unknown>;
}

/** NVIDIA H100 nodes joined by NVLink, the hardware the TrainingJob and RayCluster benchmarks fill. */
export function nvlinkH100Pool(p: {
  name: string;
  nodes: number;
  devicesPerNode: number;
  cpu: string;
  memory: string;
}): BenchPool {
  return {
    name: p.name,
    nodes: p.nodes,
    accelerator: {
      vendor: "nvidia",
      model: "NVIDIA-H100-80GB-HBM3",
      devicesPerNode: p.devicesPerNode,
      memoryGiB: 80,
    },
    cpu: p.cpu,
    memory: p.memory,
    poolSpec: { interconnect: "nvlink" },
  };
}

export interface BenchClusterOptions {
  /** Prefix of the temporary directory the control plane keeps its data in. */
  dirPrefix: string;
  pools: BenchPool[];
  /** Namespaces the workload goes into; each is ready once its default ServiceAccount exists. */
  namespaces: readonly string[];
  nodesReadyTimeoutMs?: number;
}

export interface BenchCluster {
  /** From starting the control plane until nodes, CRDs, pools and namespaces are all there. */
  setupSeconds: number;
  kubeconfigPath: string;
  /** The benchmark's own client: admin, no rate limit. */
  client: KubeClient;
  /** The operator as it runs in a cluster: its own process, every registered controller. */
  startOperator(options: StartOperatorOptions): Promise<BenchOperator>;
  /** A peer operator, measured as ours is; one operator per cluster either way. */
  startProcess(options: StartProcessOptions): Promise<BenchOperator>;
  /** An informer for the benchmark's own view of the cluster, listed already; stopped with it. */
  watch(resource: ResourceType, options?: WatchOptions): Promise<Informer>;
  createAll(resource: ResourceType, bodies: readonly KubeObject[], hooks?: ApplyHooks): Promise<Applied>;
  /** Stops the operator and the control plane and removes their directory; safe to call twice. */
  stop(): Promise<void>;
}

export type WatchOptions = Omit<InformerOptions, "client" | "resource" | "log">;

/** Runs body against a fresh cluster and stops the cluster after it, whether it returns or throws. */
export async function withCluster(
  options: BenchClusterOptions,
  body: (cluster: BenchCluster) => Promise<void>,
): Promise<void> {
  const cluster = await startCluster(options);
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

const teardownSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** How long an interrupted benchmark waits for the control plane to stop before it exits anyway. */
const signalTeardownLimitMs = 30_000;

/**
 * Starts the control plane, creates its nodes, CRDs, accelerator pools and namespaces, and
 * installs the handlers that tear it all down when the benchmark is killed; withCluster stops
 * it when the benchmark returns or throws.
 */
async function startCluster(options: BenchClusterOptions): Promise<BenchCluster> {
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), options.dirPrefix));
  let controlPlane: Promise<ControlPlane> | undefined;
  let client: KubeClient | undefined;
  let operator: ChildProcess | undefined;
  const informers: Informer[] = [];

  // The operator is a plain child, not one of the supervisor's: nothing else stops it when
  // this process dies. "exit" also runs after an uncaught error and on process.exit. The
  // control plane needs no such handler: its supervisor stops every component by itself
  // when its IPC channel closes, which it does however this process ends.
  const killOperator = (): void => {
    if (operator && operator.exitCode === null && operator.signalCode === null) operator.kill("SIGKILL");
  };
  process.on("exit", killOperator);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await stopOperator(operator);
      for (const informer of informers) await informer.stop();
      await client?.close();
      // Interrupted while the control plane starts, this waits for it to be up so as to stop
      // it in order: a failed start has already stopped what it started.
      const cp = await controlPlane?.catch(() => undefined);
      await cp?.stop();
      // Only now: the supervisor writes its state into the directory until it exits, and
      // dies on the first write that fails, leaving the rest of the control plane running.
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      process.off("exit", killOperator);
      for (const signal of teardownSignals) process.off(signal, onSignal);
    })();
    return stopped;
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    // bench/run.ts passes on a Ctrl-C the terminal has delivered already: the copy is ignored.
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the operator and the control plane\n`);
    killOperator();
    const exitCode = 128 + (osConstants.signals[signal] ?? 0);
    setTimeout(() => process.exit(exitCode), signalTeardownLimitMs).unref();
    void stop().finally(() => process.exit(exitCode));
  };
  for (const signal of teardownSignals) process.on(signal, onSignal);

  const started = performance.now();
  try {
    controlPlane = startControlPlane({ dir });
    const { kubeconfigPath } = await controlPlane;
    const connected = new KubeClient({ kubeConfig: loadClusterConnection(kubeconfigPath), qps: 0 });
    client = connected;
    const nodeCount = await createSimulatedNodes(connected, options.pools);
    await waitForNodesReady(kubeconfigPath, nodeCount, options.nodesReadyTimeoutMs ?? 180_000);
    await installCrds(kubeconfigPath);
    await createAcceleratorPools(connected, options.pools);
    await createNamespaces(connected, options.namespaces);
    return {
      setupSeconds: (performance.now() - started) / 1000,
      kubeconfigPath,
      client: connected,
      async startOperator(o) {
        if (operator) throw new Error("this cluster already runs an operator");
        const [health = 0, metrics = 0] = await freePorts(2);
        const ports = { health, metrics };
        operator = spawnOperator(o.kubeconfigPath ?? kubeconfigPath, ports, o);
        return measureOnceReady(operator, ports, o.deadline);
      },
      async startProcess(o) {
        if (operator) throw new Error("this cluster already runs an operator");
        const [health = 0, metrics = 0] = await freePorts(2);
        const ports = { health, metrics };
        const out = o.logFile ? openSync(o.logFile, "w") : "ignore";
        operator = spawn(o.command, o.args(ports), {
          stdio: ["ignore", out, out],
          env: { ...process.env, ...o.env },
        });
        return measureOnceReady(operator, ports, o.deadline);
      },
      async watch(resource, watchOptions) {
        const informer = await syncedInformer(connected, resource, watchOptions);
        informers.push(informer);
        return informer;
      },
      createAll: (resource, bodies, hooks = {}) => applyAll(connected, resource, bodies, hooks),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The nodes are created here, 32 at a time, rather than by startControlPlane: a thousand
 * creates at once over one HTTP/2 connection make the API server drop it.
 */
async function createSimulatedNodes(client: KubeClient, pools: SimulatedPool[]): Promise<number> {
  const nodes = pools.flatMap((pool) => simulatedNodes(pool));
  await forEachConcurrently(nodes, 32, async (node) => {
    await client.create(builtin.nodes, node as KubeObject);
  });
  return nodes.length;
}

async function createAcceleratorPools(client: KubeClient, pools: readonly BenchPool[]): Promise<void> {
  for (const { name, accelerator, poolSpec } of pools) {
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: resourceTypes.acceleratorPool.kind,
      metadata: { name },
      spec: {
        vendor: accelerator.vendor,
        model: accelerator.model,
        memoryGiB: accelerator.memoryGiB,
        ...poolSpec,
      },
    });
  }
}

/** Pods cannot be created in a namespace before its default ServiceAccount exists. */
async function createNamespaces(client: KubeClient, namespaces: readonly string[]): Promise<void> {
  for (const name of namespaces) await client.create(builtin.namespaces, { metadata: { name } });
  for (const namespace of namespaces) {
    while (!(await client.getOrUndefined(builtin.serviceAccounts, "default", namespace))) await sleep(100);
  }
}

/** SIGTERM lets the operator finish (and write its CPU profile); SIGKILL if it takes too long. */
async function stopOperator(operator: ChildProcess | undefined): Promise<void> {
  if (!operator || operator.exitCode !== null || operator.signalCode !== null) return;
  const exited = new Promise((r) => operator.once("exit", r));
  const tooLong = setTimeout(() => operator.kill("SIGKILL"), 10_000);
  operator.kill("SIGTERM");
  await exited;
  clearTimeout(tooLong);
}

export interface OperatorPorts {
  health: number;
  metrics: number;
}

function spawnOperator(kubeconfigPath: string, ports: OperatorPorts, o: StartOperatorOptions): ChildProcess {
  const logFile = o.logFile ?? process.env.BENCH_OPERATOR_LOG;
  const cpuProfileDir = o.cpuProfileDir ?? process.env.BENCH_OPERATOR_PROFILE;
  // As the image runs it (BENCH_OPERATOR_SOURCE=1: the .ts sources, as `npm start` does).
  const main =
    process.env.BENCH_OPERATOR_SOURCE === "1"
      ? fileURLToPath(new URL("../../cmd/operator.ts", import.meta.url))
      : compiledOperatorEntry();
  const flags = [
    "--kubeconfig",
    kubeconfigPath,
    "--workers",
    String(o.workers),
    "--kube-api-qps",
    String(o.qps),
    "--kube-api-burst",
    String(o.burst),
    "--metrics-bind-address",
    `127.0.0.1:${ports.metrics}`,
    "--health-probe-bind-address",
    `127.0.0.1:${ports.health}`,
    "--log-level",
    logFile ? "debug" : "warn",
  ];
  // With the operator's own V8 flags given, its entry point does not re-execute itself, so the
  // profile is of the process that does the work (an exec'd image writes none at exit).
  const nodeFlags = cpuProfileDir
    ? [...operatorNodeFlags, "--cpu-prof", `--cpu-prof-dir=${cpuProfileDir}`]
    : [];
  return spawn(process.execPath, [...nodeFlags, main, ...flags], {
    stdio: ["ignore", logFile ? openSync(logFile, "w") : "ignore", "inherit"],
  });
}

async function measureOnceReady(
  child: ChildProcess,
  ports: OperatorPorts,
  deadline: number,
): Promise<BenchOperator> {
  const pid = child.pid as number;
  await waitUntil(
    "the operator's /readyz",
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the operator exited before it was ready (${child.exitCode ?? child.signalCode})`);
      return (await fetch(`http://127.0.0.1:${ports.health}/readyz`).catch(() => undefined))?.ok === true;
    },
    deadline,
  );
  // Let the start-up work (first lists, cache fills) settle before the idle figures.
  await sleep(1000);
  const idle = { cpuSeconds: cpuSecondsOf(pid), rssMb: memoryMbOf(pid, "VmRSS") };
  const cpuSecondsSinceIdle = () => cpuSecondsOf(pid) - idle.cpuSeconds;
  return {
    pid,
    metricsUrl: `http://127.0.0.1:${ports.metrics}/metrics`,
    idle,
    cpuSecondsSinceIdle,
    async usage(controller) {
      const cpuSeconds = cpuSecondsSinceIdle();
      const peakRssMb = memoryMbOf(pid, "VmHWM");
      const lines = (await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text()).split("\n");
      const metric = metricSumOf(lines);
      return {
        controller,
        cpuSeconds,
        peakRssMb,
        idleRssMb: idle.rssMb,
        reconciles: metric("controller_runtime_reconcile_total", `controller="${controller}"`),
        apiRequests: metric("rest_client_requests_total"),
        requestsByResource: requestsByResource(lines),
        metric,
      };
    },
  };
}
