// Work-queue benchmark: raw throughput of the queue in-process, then event-to-reconcile-start
// latency on a real API server (a private control plane).
//
//   npm run bench -- operator-queue [--objects N]
//
// Throughput: 200,000 distinct keys through 4 workers with an empty reconcile; then 1,000,000
// adds over 10,000 hot keys while 8 workers run (dedup under load).
// Latency: Widgets are created one by one at a steady pace, then all at once; for each, the
// time from the informer receiving the ADDED event to the reconcile starting, and from the
// create request being sent to the reconcile starting.
// Prints a human summary, then as its last line one JSON object of named figures.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient } from "../operator/kube-client.ts";
import { loadClusterConnection } from "../operator/kubeconfig.ts";
import { createLogger } from "../operator/log.ts";
import { Manager } from "../operator/manager.ts";
import { builtin, objectKey } from "../operator/resource.ts";
import { WorkQueue } from "../operator/work-queue.ts";
import { installWidgetCrd, widgetController, widgets } from "../tests/support/test-controller.ts";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function drain(queue: WorkQueue, workers: number, work: () => Promise<void> | void): Promise<number> {
  let processed = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        await work();
        processed++;
        queue.done(key);
      }
    }),
  );
  return processed;
}

async function throughput(): Promise<{
  distinctPerSecond: number;
  hotAddsPerSecond: number;
  hotProcessed: number;
}> {
  // 1. Distinct keys: every add is real work.
  const n = 200_000;
  const q1 = new WorkQueue({ name: "bench" });
  const keys = Array.from({ length: n }, (_, i) => `ns-${i % 100}/obj-${i}`);
  const t0 = performance.now();
  for (const k of keys) q1.add(k);
  const running = drain(q1, 4, () => {});
  while (q1.length > 0 || q1.inProgress > 0) await new Promise((r) => setImmediate(r));
  const t1 = performance.now();
  q1.shutdown();
  await running;
  const distinctPerSecond = n / ((t1 - t0) / 1000);

  // 2. Hot keys: adds far outnumber reconciles, and dedup absorbs the difference.
  const adds = 1_000_000;
  const q2 = new WorkQueue({ name: "bench-hot" });
  const hot = Array.from({ length: 10_000 }, (_, i) => `ns/hot-${i}`);
  const workers = drain(q2, 8, () => new Promise<void>((r) => setImmediate(r)));
  const t2 = performance.now();
  for (let i = 0; i < adds; i++) {
    q2.add(hot[i % hot.length] as string);
    if (i % 10_000 === 0) await new Promise((r) => setImmediate(r));
  }
  const t3 = performance.now();
  while (q2.length > 0 || q2.inProgress > 0) await new Promise((r) => setImmediate(r));
  q2.shutdown();
  const hotProcessed = await workers;
  return { distinctPerSecond, hotAddsPerSecond: adds / ((t3 - t2) / 1000), hotProcessed };
}

interface LatencyRun {
  eventToStart: number[];
  createToStart: number[];
}

async function latency(objects: number): Promise<{ paced: LatencyRun; burst: LatencyRun }> {
  const { startControlPlane } = await import("../cli/dev/control-plane.ts");
  const { ensureTools } = await import("../cli/dev/tools.ts");
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "sovereign-bench-queue-"));
  const cp = await startControlPlane({ dir });
  try {
    for (const c of ["kwok", "kube-scheduler", "kube-controller-manager"] as const) await cp.stopComponent(c);
    const kc = loadClusterConnection(cp.kubeconfigPath);
    const client = new KubeClient({ kubeConfig: kc, qps: 0 });
    await installWidgetCrd(client);
    const namespace = "bench";
    await client.create(builtin.namespaces, { metadata: { name: namespace } });

    const sentAt = new Map<string, number>();
    const eventAt = new Map<string, number>();
    const startedAt = new Map<string, number>();
    const manager = new Manager({
      kubeConfig: kc,
      namespaces: [namespace],
      qps: 0,
      workers: 4,
      log: createLogger({ level: "error", write: (l) => process.stderr.write(`${l}\n`) }),
    });
    manager.add(
      widgetController({
        onReconcile: (key) => {
          if (!startedAt.has(key)) startedAt.set(key, performance.now());
        },
      }),
    );
    // Registered after the controller's handler, in the same synchronous dispatch: the
    // reconcile cannot start before this runs.
    manager.informer(widgets).addHandler({
      onAdd: (obj) => {
        const key = objectKey(obj);
        if (!eventAt.has(key)) eventAt.set(key, performance.now());
      },
    });
    await manager.start();
    await manager.waitForCacheSync();

    const create = async (name: string): Promise<void> => {
      sentAt.set(`${namespace}/${name}`, performance.now());
      await client.create(widgets, {
        apiVersion: widgets.apiVersion,
        kind: widgets.kind,
        metadata: { name, namespace },
        spec: { message: name },
      });
    };
    const collect = async (names: string[]): Promise<LatencyRun> => {
      const keys = names.map((n) => `${namespace}/${n}`);
      const deadline = performance.now() + 120_000;
      while (keys.some((k) => !startedAt.has(k)) && performance.now() < deadline) await sleep(20);
      const run: LatencyRun = { eventToStart: [], createToStart: [] };
      for (const k of keys) {
        const start = startedAt.get(k);
        if (start === undefined) continue;
        run.eventToStart.push(start - (eventAt.get(k) ?? start));
        run.createToStart.push(start - (sentAt.get(k) ?? start));
      }
      return run;
    };

    // Paced: one create every 40 ms, so the queue is mostly idle when an event arrives.
    const pacedNames = Array.from({ length: objects }, (_, i) => `paced-${i}`);
    for (const name of pacedNames) {
      await create(name);
      await sleep(40);
    }
    const paced = await collect(pacedNames);
    // Burst: all at once (32 in flight), so keys wait behind each other in the queue.
    const burstNames = Array.from({ length: objects }, (_, i) => `burst-${i}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < burstNames.length) await create(burstNames[next++] as string);
      }),
    );
    const burst = await collect(burstNames);
    await manager.stop();
    await client.close();
    return { paced, burst };
  } finally {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const objects = arg("objects", 300);
const t = await throughput();
console.log(
  `work queue, in-process: ${Math.round(t.distinctPerSecond).toLocaleString("en")} distinct keys/s through 4 workers; ` +
    `${Math.round(t.hotAddsPerSecond).toLocaleString("en")} adds/s over 10,000 hot keys with 8 workers ` +
    `(${t.hotProcessed.toLocaleString("en")} reconciles for 1,000,000 adds)`,
);
const l = await latency(objects);
const describe = (name: string, run: LatencyRun): string =>
  `${name} (${run.eventToStart.length} objects): watch event -> reconcile start p50 ${round(percentile(run.eventToStart, 50))} ms, ` +
  `p99 ${round(percentile(run.eventToStart, 99))} ms; create sent -> reconcile start p50 ${round(percentile(run.createToStart, 50))} ms, ` +
  `p99 ${round(percentile(run.createToStart, 99))} ms`;
console.log(describe("real API server, paced creates", l.paced));
console.log(describe("real API server, burst of creates", l.burst));
console.log(
  JSON.stringify({
    queue_distinct_keys_per_second: Math.round(t.distinctPerSecond),
    queue_hot_adds_per_second: Math.round(t.hotAddsPerSecond),
    queue_hot_reconciles: t.hotProcessed,
    paced_event_to_reconcile_p50_ms: round(percentile(l.paced.eventToStart, 50)),
    paced_event_to_reconcile_p99_ms: round(percentile(l.paced.eventToStart, 99)),
    paced_create_to_reconcile_p50_ms: round(percentile(l.paced.createToStart, 50)),
    paced_create_to_reconcile_p99_ms: round(percentile(l.paced.createToStart, 99)),
    burst_event_to_reconcile_p50_ms: round(percentile(l.burst.eventToStart, 50)),
    burst_event_to_reconcile_p99_ms: round(percentile(l.burst.eventToStart, 99)),
    burst_create_to_reconcile_p50_ms: round(percentile(l.burst.createToStart, 50)),
    burst_create_to_reconcile_p99_ms: round(percentile(l.burst.createToStart, 99)),
    objects_per_run: objects,
  }),
);
