// Operator memory benchmark: resident memory of an operator process whose cache holds
// 10,000 custom resources and 40,000 Pods (goal: under 250 MB RSS), and KubeRay's operator
// holding as many RayClusters and pods (bench/support/kuberay-memory.ts) for comparison.
//
//   npm run bench -- operator-memory [--widgets N] [--pods-per-widget M] [--no-peer]
//
// A private control plane is started (kwok and the scheduler stopped: the Pods stay Pending,
// as a queued workload's pods would), the objects are created with plain creates, then a
// fresh operator process (the runtime with one controller that owns Pods) lists and watches
// them; it reports its RSS once its caches are synced and every object was reconciled. It
// starts as cmd/operator.ts does (with operator/node-flags.ts applied); a second run with
// V8's default heap settings is reported for comparison. BENCH_SMAPS=1 prints where the
// operator's resident memory lies (V8 heap, malloc heap, binary).
// Prints a human summary, then as its last line one JSON object of named figures.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controllerReference } from "../operator/apply.ts";
import { isAlreadyExists, KubeClient } from "../operator/kube-client.ts";
import { loadClusterConnection } from "../operator/kubeconfig.ts";
import { createLogger } from "../operator/log.ts";
import { Manager } from "../operator/manager.ts";
import { applyOperatorNodeFlags, operatorNodeFlags } from "../operator/node-flags.ts";
import { builtin, type KubeObject } from "../operator/resource.ts";
import { installWidgetCrd, widgets } from "../tests/support/test-controller.ts";

const MB = 1024 * 1024;
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

async function retrying<T>(fn: () => Promise<T>): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (isAlreadyExists(error)) return undefined;
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
}

const workerPod = (owner: KubeObject, index: number): KubeObject => {
  const job = owner.metadata.name as string;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${job}-worker-${index}`,
      namespace: owner.metadata.namespace,
      labels: {
        "app.kubernetes.io/name": "trainer",
        "sovereign.dev/job": job,
        "sovereign.dev/role": "worker",
        "sovereign.dev/index": String(index),
      },
      ownerReferences: [controllerReference(owner)],
    },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      nodeSelector: { "sovereign.dev/pool": "h100-east" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      containers: [
        {
          name: "trainer",
          image: "ghcr.io/sovereign-stack/trainer:1.4.2",
          command: ["torchrun"],
          args: [
            "--nnodes=4",
            "--nproc-per-node=8",
            `--node-rank=${index}`,
            "train.py",
            "--config=/etc/job/config.yaml",
          ],
          env: [
            { name: "MASTER_ADDR", value: `${job}-worker-0.${job}` },
            { name: "MASTER_PORT", value: "29500" },
            { name: "WORLD_SIZE", value: "32" },
          ],
          resources: {
            requests: { cpu: "16", memory: "128Gi", "nvidia.com/gpu": "8" },
            limits: { memory: "128Gi", "nvidia.com/gpu": "8" },
          },
        },
      ],
    },
  };
};

interface OperatorReport {
  baselineRssMb: number;
  syncSeconds: number;
  reconcileSeconds: number;
  rssSyncedMb: number;
  rssSettledMb: number;
  rssAfterGcMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  cached: Record<string, number>;
}

/** Resident memory by mapping kind, for finding where memory outside the V8 heap goes. */
function smapsSummary(): string {
  const totals = new Map<string, number>();
  let current = "";
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const header = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (header) {
      current = header[1] || "[anon]";
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) totals.set(current, (totals.get(current) ?? 0) + Number(rss[1]));
  }
  return `${[...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${(v / 1024).toFixed(1)} MB ${k}`)
    .join("\n")}\n`;
}

/** The measured process: a manager with one controller for Widgets that owns Pods. */
async function operatorMode(kubeconfig: string): Promise<void> {
  const manager = new Manager({
    kubeConfig: loadClusterConnection(kubeconfig),
    log: createLogger({ level: "error", write: (l) => process.stderr.write(`${l}\n`) }),
    qps: 0,
  });
  let reconciles = 0;
  const controller = manager.add({
    name: "widget",
    for: widgets,
    owns: [builtin.pods],
    async reconcile(_key, ctx) {
      reconciles++;
      const widget = ctx.object();
      if (widget) ctx.cache.childrenOf(builtin.pods, widget);
    },
  });
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  await manager.start();
  await manager.waitForCacheSync();
  const synced = performance.now();
  while (controller.queue.length > 0 || controller.queue.inProgress > 0 || reconciles === 0) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const reconciled = performance.now();
  const rssSynced = process.memoryUsage().rss;
  await new Promise((r) => setTimeout(r, 5000));
  const rssSettled = process.memoryUsage().rss;
  global.gc?.();
  await new Promise((r) => setTimeout(r, 500));
  const memory = process.memoryUsage();
  const report: OperatorReport = {
    baselineRssMb: baseline / MB,
    syncSeconds: (synced - started) / 1000,
    reconcileSeconds: (reconciled - synced) / 1000,
    rssSyncedMb: rssSynced / MB,
    rssSettledMb: rssSettled / MB,
    rssAfterGcMb: memory.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    heapTotalMb: memory.heapTotal / MB,
    externalMb: memory.external / MB,
    cached: {
      widgets: manager.informer(widgets).store.size,
      pods: manager.informer(builtin.pods).store.size,
      reconciles,
    },
  };
  if (process.env.BENCH_SMAPS) process.stderr.write(smapsSummary());
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await manager.stop();
  process.exit(0);
}

async function driver(): Promise<void> {
  // Imported here, not at the top: this file is also the measured operator process, which
  // must not carry the control-plane code (and @kubernetes/client-node) in its memory.
  const { startControlPlane } = await import("../cli/dev/control-plane.ts");
  const { ensureTools } = await import("../cli/dev/tools.ts");
  const { measureKuberayMemory } = await import("./support/kuberay-memory.ts");
  const widgetCount = arg("widgets", 10_000);
  const podsPerWidget = arg("pods-per-widget", 4);
  const namespaces = Array.from({ length: 10 }, (_, i) => `bench-${i}`);
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-memory-"));
  const cp = await startControlPlane({ dir });
  try {
    await cp.stopComponent("kwok");
    await cp.stopComponent("kube-scheduler");
    const kc = loadClusterConnection(cp.kubeconfigPath);
    const client = new KubeClient({ kubeConfig: kc, qps: 0 });
    await installWidgetCrd(client);
    for (const name of namespaces) await client.create(builtin.namespaces, { metadata: { name } });
    // Pods need each namespace's default ServiceAccount, which kube-controller-manager makes;
    // after that it is stopped so its garbage collector does not cache 50,000 objects too.
    for (const namespace of namespaces) {
      while (!(await client.getOrUndefined(builtin.serviceAccounts, "default", namespace))) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await cp.stopComponent("kube-controller-manager");

    const createStarted = performance.now();
    const owners: KubeObject[] = new Array(widgetCount);
    await inParallel(
      Array.from({ length: widgetCount }, (_, i) => i),
      48,
      async (i) => {
        const namespace = namespaces[i % namespaces.length] as string;
        const name = `job-${String(i).padStart(5, "0")}`;
        const body = {
          apiVersion: widgets.apiVersion,
          kind: widgets.kind,
          metadata: { name, namespace, labels: { "sovereign.dev/queue": `team-${i % 20}` } },
          spec: { message: `training job ${i}: 4 nodes x 8 H100, llama-3-70b fine-tune` },
        };
        owners[i] =
          (await retrying(() => client.create(widgets, body))) ??
          (await client.get(widgets, name, namespace));
      },
    );
    const widgetsDone = performance.now();
    const podSpecs = owners.flatMap((owner) =>
      Array.from({ length: podsPerWidget }, (_, k) => workerPod(owner, k)),
    );
    let created = 0;
    await inParallel(podSpecs, 48, async (pod) => {
      await retrying(() => client.create(builtin.pods, pod));
      created++;
      if (created % 10_000 === 0) process.stderr.write(`  ${created} pods created\n`);
    });
    const podsDone = performance.now();
    await client.close();
    console.log(
      `created ${widgetCount} widgets in ${((widgetsDone - createStarted) / 1000).toFixed(1)} s and ` +
        `${podSpecs.length} pods in ${((podsDone - widgetsDone) / 1000).toFixed(1)} s`,
    );

    const self = fileURLToPath(import.meta.url);
    const measure = async (extra: string[]): Promise<OperatorReport> => {
      const child = spawn(
        process.execPath,
        ["--expose-gc", self, "--operator", cp.kubeconfigPath, ...extra],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let out = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (c: string) => {
        out += c;
      });
      const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
      if (code !== 0) throw new Error(`operator process exited with ${code}`);
      return JSON.parse(out.trim().split("\n").at(-1) as string) as OperatorReport;
    };
    const report = await measure([]);
    // The same process with V8's default heap settings, to show what the operator's flags buy.
    const defaults = await measure(["--v8-defaults"]);
    // KubeRay's ray-operator on as many RayClusters and pods, on a control plane of its own.
    // A peer that does not finish still leaves our figures printed, with its error.
    let peerError: string | undefined;
    const peer = process.argv.includes("--no-peer")
      ? undefined
      : await measureKuberayMemory({
          clusters: widgetCount,
          podsPerCluster: podsPerWidget,
          namespaces,
        }).catch((error: unknown) => {
          peerError = error instanceof Error ? error.message : String(error);
          return undefined;
        });
    const round = (n: number) => Math.round(n * 10) / 10;
    console.log(
      [
        `operator cache: ${report.cached.widgets} widgets + ${report.cached.pods} pods, ${report.cached.reconciles} reconciles`,
        `  list+sync ${report.syncSeconds.toFixed(1)} s, reconcile all ${report.reconcileSeconds.toFixed(1)} s`,
        `  RSS before start ${round(report.baselineRssMb)} MB`,
        `  RSS when synced and reconciled ${round(report.rssSyncedMb)} MB, 5 s later ${round(report.rssSettledMb)} MB, ` +
          `after a full GC ${round(report.rssAfterGcMb)} MB (V8 heap used ${round(report.heapUsedMb)} MB of ${round(report.heapTotalMb)} MB)`,
        `  with V8's default heap settings instead of ${operatorNodeFlags.join(" ")}: ${round(defaults.rssSettledMb)} MB ` +
          `(sync ${defaults.syncSeconds.toFixed(1)} s)`,
        `  goal: under 250 MB -> ${report.rssSettledMb < 250 ? "met" : "NOT met"}`,
        peer
          ? `  KubeRay ${peer.version} with ${peer.rayClusters} RayClusters + ${peer.pods} pods: synced and reconciled in ` +
            `${peer.syncAndReconcileSeconds.toFixed(1)} s, RSS ${round(peer.rssSyncedMb)} MB, 5 s later ${round(peer.rssSettledMb)} MB ` +
            `(ours / KubeRay: ${(report.rssSettledMb / peer.rssSettledMb).toFixed(2)})`
          : `  (KubeRay not measured: ${peerError ?? "--no-peer"})`,
      ].join("\n"),
    );
    console.log(
      JSON.stringify({
        widgets: report.cached.widgets,
        pods: report.cached.pods,
        rss_baseline_mb: round(report.baselineRssMb),
        rss_synced_mb: round(report.rssSyncedMb),
        rss_settled_mb: round(report.rssSettledMb),
        rss_after_gc_mb: round(report.rssAfterGcMb),
        heap_used_mb: round(report.heapUsedMb),
        sync_seconds: round(report.syncSeconds),
        reconcile_all_seconds: round(report.reconcileSeconds),
        rss_settled_v8_defaults_mb: round(defaults.rssSettledMb),
        sync_seconds_v8_defaults: round(defaults.syncSeconds),
        create_seconds: round((podsDone - createStarted) / 1000),
        ...(peer
          ? {
              kuberay: {
                version: peer.version,
                ray_clusters: peer.rayClusters,
                pods: peer.pods,
                rss_synced_mb: round(peer.rssSyncedMb),
                rss_settled_mb: round(peer.rssSettledMb),
                sync_and_reconcile_seconds: round(peer.syncAndReconcileSeconds),
              },
              ratio: { rss_settled: Math.round((report.rssSettledMb / peer.rssSettledMb) * 100) / 100 },
            }
          : peerError
            ? { kuberay_error: peerError }
            : {}),
      }),
    );
  } finally {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const operatorFlag = process.argv.indexOf("--operator");
if (operatorFlag >= 0) {
  // Exactly as cmd/operator.ts starts: with the operator's V8 settings (this re-executes).
  if (!process.argv.includes("--v8-defaults")) applyOperatorNodeFlags();
  await operatorMode(process.argv[operatorFlag + 1] as string);
} else await driver();
