// RayCluster autoscaler reaction: N autoscaling clusters (a head and a GPU group from 0 to 4)
// on kwok nodes, the operator as a separate process, every head's dashboard a loopback
// stand-in that answers /api/cluster_status and /api/v0/nodes as Ray's does. Once all are
// Ready, a pending {"GPU": 1} bundle appears on one head after another; the figure is the time
// from a demand appearing to its cluster's first GPU worker pod existing. Goal: p99 <= 2 s.
//
//   npm run bench -- ray-autoscaler [--clusters 20] [--nodes 10]
//
// Prints a human summary, then as its last line one JSON object of named figures.
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import { type KubeObject, leanPod } from "../operator/index.ts";
import { startRayStandIn } from "./support/ray-standin.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ clusters: 20, nodes: 10, timeoutSeconds: 600 });
const timeoutMs = flags.timeoutSeconds * 1000;
const operatorSettings = bench.operatorSettingsFromFlags();
const namespaces = bench.workloadNamespaces("ras-bench");
const pools = [
  bench.nvlinkH100Pool({
    name: "bench-gpu",
    nodes: flags.nodes,
    devicesPerNode: 8,
    cpu: "512",
    memory: "4Ti",
  }),
];
const standIn = await startRayStandIn({ runMs: 1000 });

const rayCluster = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.rayCluster, "rc", i, namespaces, {
    rayVersion: "2.60.0",
    image: "rayproject/ray:2.60.0",
    head: {
      resources: { cpu: "1", memory: "2Gi" },
      rayStartParams: { "dashboard-port": String(standIn.port) },
    },
    autoscaling: { enabled: true, idleTimeoutSeconds: 60 },
    workerGroups: [
      {
        name: "gpu",
        replicas: 0,
        minReplicas: 0,
        maxReplicas: 4,
        accelerators: { count: 1, vendors: ["nvidia"] },
        resources: { cpu: "1", memory: "2Gi" },
      },
    ],
  });

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

try {
  await bench.withCluster({ dirPrefix: "sovereign-bench-ras-", pools, namespaces }, async (cluster) => {
    console.log(`control plane with ${flags.nodes} nodes ready in ${cluster.setupSeconds.toFixed(1)} s`);
    const [pods, rcs] = await Promise.all([
      cluster.watch(resourceTypes.pod, { labelSelector: `${labels.kind}=raycluster`, transform: leanPod }),
      cluster.watch(resourceTypes.rayCluster),
    ]);
    const deadline = Date.now() + timeoutMs;
    const operator = await cluster.startOperator({ ...operatorSettings, deadline });
    await cluster.createAll(
      resourceTypes.rayCluster,
      Array.from({ length: flags.clusters }, (_, i) => rayCluster(i)),
    );
    const autoscalingReady = () =>
      rcs.store.list().filter((o) => {
        const s = o.status as
          | { phase?: string; conditions?: Array<{ type: string; status: string }> }
          | undefined;
        return (
          s?.phase === "Ready" && s.conditions?.some((c) => c.type === "Autoscaling" && c.status === "True")
        );
      }).length;
    await bench.waitUntil(
      "every cluster Ready with its autoscaler reading",
      () => autoscalingReady() >= flags.clusters,
      deadline,
    );
    const headIp = new Map<string, string>();
    for (const p of pods.store.list()) {
      const l = p.metadata.labels ?? {};
      const ip = (p as { status?: { podIP?: string } }).status?.podIP;
      if (l[labels.group] === "head" && ip) headIp.set(`${p.metadata.namespace}/${l[labels.name]}`, ip);
    }
    const appeared = new Map<string, number>();
    // The two steps between a demand and its pod, as the API server shows them: the
    // autoscaler's count stored (status.autoscaling), then the gang admission stored.
    const decided = new Map<string, number>();
    const admitted = new Map<string, number>();
    rcs.addHandler({
      onUpdate: (_old, rc) => {
        const key = `${rc.metadata.namespace}/${rc.metadata.name}`;
        const s = rc.status as
          | {
              autoscaling?: { groups?: Array<{ name: string; replicas: number }> };
              admission?: { placements?: Array<{ group: string }> };
            }
          | undefined;
        const t = performance.now();
        if (!decided.has(key) && s?.autoscaling?.groups?.some((g) => g.name === "gpu" && g.replicas > 0))
          decided.set(key, t);
        if (!admitted.has(key) && s?.admission?.placements?.some((p) => p.group === "gpu"))
          admitted.set(key, t);
      },
    });
    pods.addHandler({
      onAdd: (p) => {
        const l = p.metadata.labels ?? {};
        if (l[labels.group] === "gpu") {
          const key = `${p.metadata.namespace}/${l[labels.name]}`;
          if (!appeared.has(key)) appeared.set(key, performance.now());
        }
      },
    });
    const demandAt = new Map<string, number>();
    for (const [key, ip] of headIp) {
      demandAt.set(key, performance.now());
      standIn.setDemand(ip, [[{ CPU: 1, GPU: 1 }, 1]]);
      await bench.sleep(100);
    }
    await bench.waitUntil(
      "a GPU worker pod for every demand",
      () => appeared.size >= demandAt.size,
      deadline,
    );
    const since = (to: Map<string, number>, from: Map<string, number>) =>
      [...demandAt.keys()]
        .map((key) => (to.get(key) ?? Number.NaN) - (from.get(key) ?? Number.NaN))
        .sort((a, b) => a - b);
    const latencies = since(appeared, demandAt);
    const toDecided = since(decided, demandAt);
    const toAdmitted = since(admitted, decided);
    const toPod = since(appeared, admitted);
    const usage = await operator.usage("raycluster");
    const ms = (v: number) => Math.round(v);
    bench.printResult(
      [
        `${flags.clusters} autoscaling RayClusters; a pending {GPU: 1} appears on each head, 100 ms apart`,
        `  demand -> GPU worker pod exists: p50 ${ms(percentile(latencies, 50))} ms, p99 ${ms(percentile(latencies, 99))} ms, max ${ms(latencies.at(-1) ?? Number.NaN)} ms (goal p99 <= 2000 ms)`,
        `  of which: demand -> count stored p50 ${ms(percentile(toDecided, 50))} / p99 ${ms(percentile(toDecided, 99))} ms, -> admission stored ${ms(percentile(toAdmitted, 50))} / ${ms(percentile(toAdmitted, 99))} ms, -> pod ${ms(percentile(toPod, 50))} / ${ms(percentile(toPod, 99))} ms`,
        `  operator CPU ${usage.cpuSeconds.toFixed(1)} s during the run; RSS idle ${Math.round(usage.idleRssMb)} MB, peak ${Math.round(usage.peakRssMb)} MB`,
      ],
      {
        clusters: flags.clusters,
        reaction_p50_ms: ms(percentile(latencies, 50)),
        reaction_p99_ms: ms(percentile(latencies, 99)),
        reaction_max_ms: ms(latencies.at(-1) ?? Number.NaN),
        decide_p50_ms: ms(percentile(toDecided, 50)),
        decide_p99_ms: ms(percentile(toDecided, 99)),
        admit_p50_ms: ms(percentile(toAdmitted, 50)),
        admit_p99_ms: ms(percentile(toAdmitted, 99)),
        create_p50_ms: ms(percentile(toPod, 50)),
        create_p99_ms: ms(percentile(toPod, 99)),
        ...bench.operatorFigures(usage),
      },
    );
  });
} finally {
  await standIn.close();
}
