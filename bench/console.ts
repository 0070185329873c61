// Console benchmark: the web console in headless Chromium against a private control plane
// holding many workloads and nodes. Measures, per page, the time from navigation to the first
// render with the cluster's data (performance marks the front end sets), and the browser's JS
// heap and DOM size while the workloads' statuses keep changing (after a forced GC, sampled
// every --sample-seconds), plus the console server's own memory.
//
//   npm run bench -- console [--workloads 5000] [--nodes 1000] [--seconds 180] [--rate 50]
//
// The workloads are the samples' TrainingJobs (80%), RayClusters and InferenceServices (10% each)
// with statuses written directly (no operator: the figures are the console's alone), a third of
// them queued with a reason; nodes are created with their status (no kwok), 8 devices each in
// pools of 100, and one pod per running TrainingJob holds devices on them. Live updates: --rate
// status patches per second to random workloads (phase, queue position, ready counts).
// Prints a human summary, then as its last line one JSON object of named figures.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { forEachConcurrently } from "../cli/dev/loopback.ts";
import { startConsole } from "../console/server/index.ts";
import { resourceTypes } from "../controllers/resources.ts";
import {
  builtin,
  type KubeClient,
  type KubeObject,
  loadClusterConnection,
  type ResourceType,
} from "../operator/index.ts";
import { launchChromium } from "../tests/support/browser.ts";
import { numberFlags, printResult, sleep, withCluster } from "./support/workload-bench.ts";

const flags = numberFlags({ workloads: 5000, nodes: 1000, seconds: 180, rate: 50, sampleSeconds: 15 });
const namespaces = ["team-a", "team-b", "team-c", "team-d"];
const devicesPerNode = 8;
const nodesPerPool = 100;
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

const sample = (file: string): KubeObject =>
  load(readFileSync(new URL(`../samples/${file}`, import.meta.url), "utf8")) as KubeObject;

interface Made {
  rt: ResourceType;
  name: string;
  namespace: string;
}

function nodeBody(i: number): KubeObject {
  const pool = `pool-${Math.floor(i / nodesPerPool)}`;
  const devices = { "nvidia.com/gpu": String(devicesPerNode), cpu: "64", memory: "512Gi", pods: "110" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: `node-${i}`, labels: { "sovereign.dev/pool": pool } },
    spec: {},
    // Nodes, unlike most kinds, keep the status they are created with.
    status: {
      capacity: devices,
      allocatable: devices,
      conditions: [{ type: "Ready", status: "True", reason: "Bench" }],
    },
  } as KubeObject;
}

function workloadStatus(kind: string, i: number, pools: number): Record<string, unknown> {
  const pool = `pool-${i % pools}`;
  const now = new Date().toISOString();
  if (i % 3 === 0)
    return {
      // Only TrainingJobs have a Queued phase; the other kinds wait as Pending with a position.
      phase: kind === "TrainingJob" ? "Queued" : "Pending",
      queuePosition: Math.floor(i / 3) + 1,
      conditions: [
        {
          type: "Admitted",
          status: "False",
          reason: "InsufficientCapacity",
          message: `needs 2 nodes with ${devicesPerNode} free devices; ${pool} has 0`,
          lastTransitionTime: now,
        },
      ],
    };
  const conditions = [
    { type: "Admitted", status: "True", reason: "Admitted", message: `on ${pool}`, lastTransitionTime: now },
  ];
  if (kind === "TrainingJob")
    return { phase: "Running", pool, nodes: 1, readyNodes: 1, restarts: i % 4, startTime: now, conditions };
  if (kind === "RayCluster")
    return {
      phase: "Ready",
      desiredWorkers: 2,
      readyWorkers: 2,
      workerGroups: [{ name: "gpu", pool, replicas: 2, readyReplicas: 2 }],
      conditions,
    };
  return {
    phase: "Ready",
    replicas: 2,
    readyReplicas: 2,
    placements: [{ pool, replicas: 2, readyReplicas: 2 }],
    conditions,
  };
}

async function populate(client: KubeClient): Promise<Made[]> {
  const pools = Math.max(1, Math.ceil(flags.nodes / nodesPerPool));
  const started = performance.now();
  await forEachConcurrently(
    Array.from({ length: flags.nodes }, (_, i) => i),
    32,
    async (i) => {
      await client.create(builtin.nodes, nodeBody(i));
    },
  );
  for (let p = 0; p < pools; p++) {
    const name = `pool-${p}`;
    const nodes = Math.min(nodesPerPool, flags.nodes - p * nodesPerPool);
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: "AcceleratorPool",
      metadata: { name },
      spec: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80 },
    });
    const capacity = nodes * devicesPerNode;
    await client.patch(
      resourceTypes.acceleratorPool,
      name,
      undefined,
      {
        status: {
          nodes,
          readyNodes: nodes,
          capacity,
          allocated: capacity / 2,
          free: capacity / 2,
          largestFreePerNode: devicesPerNode,
        },
      },
      "merge",
      { subresource: "status" },
    );
  }
  console.log(
    `created ${flags.nodes} nodes in ${pools} pools in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const kinds: Array<[ResourceType, KubeObject]> = [
    [resourceTypes.trainingJob, sample("trainingjob.yaml")],
    [resourceTypes.rayCluster, sample("raycluster.yaml")],
    [resourceTypes.inferenceService, sample("inferenceservice.yaml")],
  ];
  const made: Made[] = Array.from({ length: flags.workloads }, (_, i) => {
    const [rt] = kinds[i % 10 < 8 ? 0 : i % 10 === 8 ? 1 : 2] as [ResourceType, KubeObject];
    return { rt, name: `w-${i}`, namespace: namespaces[i % namespaces.length] as string };
  });
  const t0 = performance.now();
  await forEachConcurrently(
    made.map((m, i) => ({ m, i })),
    32,
    async ({ m, i }) => {
      const template = kinds.find(([rt]) => rt === m.rt)?.[1] as KubeObject;
      await client.create(m.rt, {
        ...template,
        metadata: { name: m.name, namespace: m.namespace },
      } as KubeObject);
      const status = workloadStatus(m.rt.kind, i, pools);
      await client.patch(m.rt, m.name, m.namespace, { status }, "merge", { subresource: "status" });
      // One pod per running TrainingJob holds devices on a node of its pool.
      if (m.rt.kind === "TrainingJob" && status.phase === "Running") {
        const pool = i % pools;
        const node = pool * nodesPerPool + (i % Math.min(nodesPerPool, flags.nodes));
        await client.create(builtin.pods, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: `${m.name}-0-0`,
            namespace: m.namespace,
            labels: { "stack.sovereign.dev/kind": "trainingjob", "stack.sovereign.dev/name": m.name },
          },
          spec: {
            nodeName: `node-${Math.min(node, flags.nodes - 1)}`,
            containers: [
              { name: "trainer", image: "bench", resources: { limits: { "nvidia.com/gpu": "4" } } },
            ],
          },
        } as KubeObject);
      }
    },
  );
  console.log(
    `created ${flags.workloads} workloads with statuses in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return made;
}

await withCluster({ dirPrefix: "sovereign-bench-console-", pools: [], namespaces }, async (cluster) => {
  const made = await populate(cluster.client);
  const serverStart = performance.now();
  const consoleServer = await startConsole({
    kubeConfig: loadClusterConnection(cluster.kubeconfigPath),
    port: 0,
  });
  await consoleServer.watch.waitForSync();
  const serverSyncMs = performance.now() - serverStart;
  const snapshotBytes = JSON.stringify(consoleServer.state.snapshot()).length;
  console.log(
    `console server synced in ${(serverSyncMs / 1000).toFixed(1)} s; snapshot ${mb(snapshotBytes)} MB`,
  );
  const browser = await launchChromium();
  const figures: Record<string, unknown> = {
    workloads: flags.workloads,
    nodes: flags.nodes,
    serverSyncSeconds: Math.round(serverSyncMs / 100) / 10,
    snapshotMb: mb(snapshotBytes),
  };
  try {
    const context = await browser.browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const login = await context.newPage();
    await login.goto(consoleServer.url);
    await login.close();
    // First render per page, each in a fresh tab: navigation start to the page's mark.
    const firstRender: Record<string, number> = {};
    // Where the time goes: the script loaded, the snapshot arrived, the page rendered it.
    const phases: Record<string, { scriptLoadedMs: number; snapshotMs: number; renderMs: number }> = {};
    for (const page of ["pools", "queue", "workloads", "serving"]) {
      const tab = await context.newPage();
      await tab.goto(`${consoleServer.origin}/#/${page}`);
      await tab.waitForSelector(`body[data-rendered="${page}"]`, { state: "attached", timeout: 60_000 });
      const [rendered, snapshot, script] = (await tab.evaluate(
        `[performance.getEntriesByName("console:rendered:${page}")[0].startTime, performance.getEntriesByName("console:snapshot")[0].startTime, performance.getEntriesByType("resource").find((r) => r.name.endsWith("/app.js"))?.responseEnd ?? 0]`,
      )) as number[];
      firstRender[page] = Math.round(rendered ?? 0);
      phases[page] = {
        scriptLoadedMs: Math.round(script ?? 0),
        snapshotMs: Math.round(snapshot ?? 0),
        renderMs: Math.round((rendered ?? 0) - (snapshot ?? 0)),
      };
      await tab.close();
    }
    console.log(
      `first render: ${Object.entries(firstRender)
        .map(([p, ms]) => `${p} ${ms} ms`)
        .join(", ")}`,
    );
    figures.firstRenderMs = firstRender;
    figures.firstRenderPhases = phases;
    console.log(
      `  of which: ${Object.entries(phases)
        .map(
          ([p, x]) =>
            `${p} script ${x.scriptLoadedMs} ms, snapshot ${x.snapshotMs} ms, render ${x.renderMs} ms`,
        )
        .join("; ")}`,
    );

    // Live updates on the Workloads page, with the other pages visited in turn.
    const tab = await context.newPage();
    await tab.goto(`${consoleServer.origin}/#/workloads`);
    await tab.waitForSelector('body[data-rendered="workloads"]', { state: "attached", timeout: 60_000 });
    const cdp = await context.newCDPSession(tab);
    await cdp.send("Performance.enable");
    const measure = async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      const { metrics } = (await cdp.send("Performance.getMetrics")) as {
        metrics: Array<{ name: string; value: number }>;
      };
      const get = (n: string) => metrics.find((m) => m.name === n)?.value ?? 0;
      return {
        heapMb: mb(get("JSHeapUsedSize")),
        domNodes: get("Nodes"),
        listeners: get("JSEventListeners"),
      };
    };
    const samples: Array<{ t: number; heapMb: number; domNodes: number; listeners: number }> = [];
    const start = performance.now();
    let patches = 0;
    let failures = 0;
    const pages = ["queue", "pools", "serving"];
    let nextSample = 0;
    let pageTurn = 0;
    while (performance.now() - start < flags.seconds * 1000) {
      const tick = performance.now();
      const batch = Array.from(
        { length: flags.rate },
        () => made[Math.floor(Math.random() * made.length)] as Made,
      );
      await forEachConcurrently(batch, 16, async (m) => {
        const i = Number(m.name.slice(2));
        const status = workloadStatus(m.rt.kind, i + patches, Math.ceil(flags.nodes / nodesPerPool));
        await cluster.client
          .patch(m.rt, m.name, m.namespace, { status }, "merge", { subresource: "status" })
          .then(
            () => patches++,
            () => failures++,
          );
      });
      const elapsed = (performance.now() - start) / 1000;
      if (elapsed >= nextSample) {
        nextSample += flags.sampleSeconds;
        // Another page for a moment (its DOM built and dropped), then back: every sample is
        // taken on the Workloads page, so the samples compare like with like.
        await tab.evaluate(`location.hash = "#/${pages[pageTurn++ % pages.length]}"`);
        await sleep(500);
        await tab.evaluate(`location.hash = "#/workloads"`);
        await sleep(500);
        const s = { t: Math.round(elapsed), ...(await measure()) };
        samples.push(s);
        console.log(`t=${s.t}s heap ${s.heapMb} MB, ${s.domNodes} DOM nodes, ${patches} status patches`);
      }
      await sleep(Math.max(0, 1000 - (performance.now() - tick)));
    }
    await tab.evaluate(`location.hash = "#/workloads"`);
    await sleep(1000);
    samples.push({ t: Math.round((performance.now() - start) / 1000), ...(await measure()) });
    const heaps = samples.map((s) => s.heapMb);
    // Growth over the second half of the run: after the pages have all been built once.
    const half = samples.filter((s) => s.t >= flags.seconds / 2);
    const slope =
      half.length >= 2
        ? ((half.at(-1)?.heapMb ?? 0) - (half[0]?.heapMb ?? 0)) /
          (((half.at(-1)?.t ?? 1) - (half[0]?.t ?? 0)) / 60)
        : 0;
    figures.live = {
      seconds: flags.seconds,
      statusPatches: patches,
      failedPatches: failures,
      heapMbFirst: heaps[0],
      heapMbLast: heaps.at(-1),
      heapMbMax: Math.max(...heaps),
      heapMbPerMinuteSecondHalf: Math.round(slope * 100) / 100,
      domNodesLast: samples.at(-1)?.domNodes,
      samples,
    };
    figures.serverRssMb = mb(process.memoryUsage().rss);
    const fr = firstRender;
    printResult(
      [
        `${flags.workloads} workloads, ${flags.nodes} nodes: server synced in ${figures.serverSyncSeconds} s, snapshot ${figures.snapshotMb} MB`,
        `first render (navigation to data on screen): pools ${fr.pools} ms, queue ${fr.queue} ms, workloads ${fr.workloads} ms, serving ${fr.serving} ms`,
        `browser heap over ${flags.seconds} s of ${patches} status patches: ${heaps[0]} -> ${heaps.at(-1)} MB (max ${Math.max(...heaps)}), ${Math.round(slope * 100) / 100} MB/min over the second half`,
      ],
      figures,
    );
  } finally {
    await browser.close();
    await consoleServer.close();
  }
});
