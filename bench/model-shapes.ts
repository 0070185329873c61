// Big models benchmark: 500 InferenceServices of random sizes (1B to 405B parameters, bf16 or
// fp8, some spanning two nodes) on 40 mixed nodes (H100, MI300X, A100-40GB, Gaudi 3, 8 devices
// each).
//
// 1. Placement, pure: one pass of the engine over all 500 with the replica shaped per pool
//    (model.parameters, no count) and again with a fixed shape, the one a user writes today for
//    the common GPU (the H100 count everywhere, with the memory floor that count implies, so
//    pools with smaller devices are left out). Devices used, replicas admitted, devices per
//    replica, and the saving: devices per admitted replica, shaped against fixed.
// 2. On a control plane (kwok nodes, the operator as its own process; --no-cluster skips it):
//    the shaped services applied at once; the time until every admitted replica (every group
//    of a spanning one) is ready and every other service says why it waits.
//
//   npm run bench -- model-shapes [--services 500] [--nodes 40] [--seed 7] [--no-cluster]
//
// Prints a human summary, then as its last line one JSON object of named figures.
import { performance } from "node:perf_hooks";
import { workloadFor } from "../controllers/inferenceservice/adapter.ts";
import { replicaShapeOf, weightsGiB } from "../controllers/inferenceservice/sizing.ts";
import {
  type NodeInput,
  type PlacementResult,
  type PoolInput,
  schedule,
  shapeOnDevices,
  type Workload,
} from "../controllers/placement/index.ts";
import { resourceTypes } from "../controllers/resources.ts";
import { type InferenceService, inferenceServiceResource } from "../crds/index.ts";
import type { KubeObject } from "../operator/index.ts";
import { prng } from "./support/random.ts";
import * as bench from "./support/workload-bench.ts";

const GiB = 2 ** 30;
const flags = bench.numberFlags({ services: 500, nodes: 40, seed: 7, timeoutSeconds: 900 });
const withCluster = !process.argv.includes("--no-cluster");
const namespaces = bench.workloadNamespaces("shapes-bench");
const random = prng(flags.seed);

// Four kinds of node, 8 devices each, in equal numbers.
const kinds = [
  { name: "h100", vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, cost: 2.5 },
  { name: "mi300x", vendor: "amd", model: "AMD-Instinct-MI300X", memoryGiB: 192, cost: 2.1 },
  { name: "a100", vendor: "nvidia", model: "NVIDIA-A100-SXM4-40GB", memoryGiB: 40, cost: 1.2 },
  { name: "gaudi3", vendor: "intel", model: "Gaudi3", memoryGiB: 128, cost: 1.6 },
] as const;
const devicesPerNode = 8;
const nodesPerKind = Math.max(1, Math.floor(flags.nodes / kinds.length));
const pools: bench.BenchPool[] = kinds.map((k) => ({
  name: `shapes-${k.name}`,
  nodes: nodesPerKind,
  accelerator: { vendor: k.vendor, model: k.model, devicesPerNode, memoryGiB: k.memoryGiB },
  cpu: "192",
  memory: "2Ti",
  poolSpec: {
    costPerDeviceHour: k.cost,
    nodeSelector: { matchLabels: { "sovereign.dev/pool": `shapes-${k.name}` } },
  },
}));

// Model sizes as a serving fleet has them: many small, fewer large.
const models = [
  { params: 1, heads: 32, weight: 12 },
  { params: 3, heads: 24, weight: 12 },
  { params: 8, heads: 32, weight: 28 },
  { params: 14, heads: 40, weight: 12 },
  { params: 32, heads: 64, weight: 12 },
  { params: 70, heads: 64, weight: 14 },
  { params: 180, heads: 128, weight: 5 },
  { params: 405, heads: 128, weight: 5 },
] as const;
const totalWeight = models.reduce((n, m) => n + m.weight, 0);
function pickModel() {
  let r = random.next() * totalWeight;
  for (const m of models) {
    r -= m.weight;
    if (r < 0) return m;
  }
  return models[0];
}

type Spec = InferenceService["spec"];
const parse = (name: string, spec: Record<string, unknown>) =>
  inferenceServiceResource.schema.parse({
    apiVersion: resourceTypes.inferenceService.apiVersion,
    kind: "InferenceService",
    metadata: { name, namespace: namespaces[0], creationTimestamp: new Date(0).toISOString() },
    spec,
  }) as InferenceService & KubeObject;

// The services: the shaped spec as applied, and its fixed-shape twin.
const h100 = kinds[0];
const services = Array.from({ length: flags.services }, (_, i) => {
  const m = pickModel();
  const dtype = random.chance(0.3) ? "fp8" : "bf16";
  const maxModelLen = random.pick([4096, 8192, 32768]);
  const replicas = random.chance(0.2) ? 2 : 1;
  const base: Record<string, unknown> = {
    model: { uri: `hf://bench/model-${m.params}b`, parameters: m.params, dtype, attentionHeads: m.heads },
    engine: { image: "vllm/vllm-openai:v0.11.0", maxModelLen },
    resources: { cpu: "2", memory: "8Gi" },
    replicas,
  };
  // Two nodes a replica when one H100 node cannot hold it: what a user of 80 GiB parts sets.
  const probe = parse("probe", base);
  const need = replicaShapeOf(probe.spec)?.memoryGiB ?? 0;
  const span = need > devicesPerNode * h100.memoryGiB ? 2 : 1;
  const shapedSpec = { ...base, ...(span > 1 ? { nodesPerReplica: span } : {}) };
  const shaped = parse(`m-${String(i).padStart(4, "0")}`, shapedSpec);
  const perPod = replicaShapeOf(shaped.spec)?.memoryGiB ?? 0;
  const h100Verdict = shapeOnDevices(h100.memoryGiB, { memoryGiB: perPod, attentionHeads: m.heads });
  const count = "devices" in h100Verdict ? h100Verdict.devices : 64;
  const fixed = parse(shaped.metadata.name ?? "", {
    ...shapedSpec,
    accelerators: { count, minMemoryGiB: Math.ceil(perPod / count) },
  });
  return { shaped, fixed, span, params: m.params };
});

const poolInputs: PoolInput[] = pools.map((p) => ({
  name: p.name,
  vendor: p.accelerator.vendor,
  model: p.accelerator.model,
  memoryGiB: p.accelerator.memoryGiB,
  resourceName: "",
  paused: false,
  tolerations: [],
  costPerDeviceHour: p.poolSpec?.costPerDeviceHour as number,
  nodeNames: Array.from({ length: p.nodes }, (_, i) => `${p.name}-${i}`),
}));
const nodeInputs: NodeInput[] = poolInputs.flatMap((p) =>
  p.nodeNames.map((name) => ({
    name,
    ready: true,
    unschedulable: false,
    taints: [],
    allocatableDevices: devicesPerNode,
    freeDevices: devicesPerNode,
    allocatableCpuMillis: 192_000,
    freeCpuMillis: 192_000,
    allocatableMemoryBytes: 2048 * GiB,
    freeMemoryBytes: 2048 * GiB,
  })),
);

interface Outcome {
  result: PlacementResult;
  /** Replicas of services spanning nodes (groups) admitted. */
  groups: number;
  ms: number;
  devices: number;
  replicas: number;
  servicesWhole: number;
  byPool: Record<string, number>;
}

function place(objects: readonly (InferenceService & KubeObject)[]): Outcome {
  const workloads: Workload[] = objects.map((svc, i) => ({
    ...workloadFor(resourceTypes.inferenceService, svc, svc.spec.replicas ?? 1),
    creationTimestamp: i,
  }));
  const started = performance.now();
  const result = schedule({ pools: poolInputs, nodes: nodeInputs, workloads });
  const ms = performance.now() - started;
  let devices = 0;
  let replicas = 0;
  let servicesWhole = 0;
  let groups = 0;
  const byPool: Record<string, number> = {};
  for (const a of result.admitted) {
    const g = a.groups[0];
    if ((workloads.find((w) => w.key === a.key)?.groups[0]?.podsPerReplica ?? 1) > 1) groups += g?.pods ?? 0;
    for (const p of g?.placements ?? []) {
      const used = p.nodes.reduce((n, x) => n + x.devices, 0);
      devices += used;
      byPool[p.pool] = (byPool[p.pool] ?? 0) + used;
    }
    replicas += g?.pods ?? 0;
    if (a.pendingPods === 0) servicesWhole++;
  }
  return { result, ms, groups, devices, replicas, servicesWhole, byPool };
}

// Timed on the second pass each: the first one pays for the JIT.
place(services.map((s) => s.shaped));
place(services.map((s) => s.fixed));
const shaped = place(services.map((s) => s.shaped));
const fixed = place(services.map((s) => s.fixed));

// The same services both ways: the longest head of the queue that both place whole.
const placesAll = (o: Outcome, n: number) => o.result.admitted.length === n && o.servicesWhole === n;
let lo = 0;
let hi = services.length;
while (lo < hi) {
  const mid = (lo + hi + 1) >>> 1;
  const head = services.slice(0, mid);
  const both =
    placesAll(place(head.map((s) => s.shaped)), mid) && placesAll(place(head.map((s) => s.fixed)), mid);
  if (both) lo = mid;
  else hi = mid - 1;
}
const sameShaped = place(services.slice(0, lo).map((s) => s.shaped));
const sameFixed = place(services.slice(0, lo).map((s) => s.fixed));
const sameSaving = 1 - sameShaped.devices / sameFixed.devices;
const perReplica = (o: Outcome) => (o.replicas === 0 ? Number.NaN : o.devices / o.replicas);
const saving = 1 - perReplica(shaped) / perReplica(fixed);
const totalDevices = nodeInputs.length * devicesPerNode;
const wantedReplicas = services.reduce((n, s) => n + (s.shaped.spec.replicas ?? 1), 0);
const spanning = services.filter((s) => s.span > 1).length;
const weightsTotal = services.reduce((n, s) => n + (weightsGiB(s.shaped.spec.model) ?? 0), 0);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const describe = (label: string, o: Outcome) =>
  `  ${label}: ${o.replicas}/${wantedReplicas} replicas admitted (${o.servicesWhole} services whole) on ${o.devices}/${totalDevices} devices, ${round(perReplica(o))} devices per replica; by pool ${Object.entries(
    o.byPool,
  )
    .map(([p, n]) => `${p.replace("shapes-", "")} ${n}`)
    .join(", ")}; ${o.groups} of them groups of 2 nodes; one pass ${round(o.ms, 1)} ms`;

const summary = [
  `${flags.services} InferenceServices (${wantedReplicas} replicas, ${spanning} spanning 2 nodes, ${Math.round(weightsTotal)} GiB of weights) on ${nodeInputs.length} nodes (${kinds.map((k) => k.name).join(", ")}; ${devicesPerNode} devices each)`,
  describe("shaped per pool", shaped),
  describe("fixed (H100 count)", fixed),
  `  saving: ${round(saving * 100, 1)}% fewer devices per admitted replica, ${shaped.replicas - fixed.replicas} more replicas admitted on the same nodes`,
  `  the same services both ways (the first ${lo}, all placed whole either way): ${sameShaped.devices} devices shaped against ${sameFixed.devices} fixed, ${round(sameSaving * 100, 1)}% saved`,
];
const figures: Record<string, unknown> = {
  services: flags.services,
  replicas_wanted: wantedReplicas,
  services_spanning_nodes: spanning,
  nodes: nodeInputs.length,
  devices: totalDevices,
  shaped_replicas_admitted: shaped.replicas,
  shaped_devices_used: shaped.devices,
  shaped_groups_admitted: shaped.groups,
  shaped_devices_per_replica: round(perReplica(shaped)),
  shaped_pass_ms: round(shaped.ms, 1),
  fixed_replicas_admitted: fixed.replicas,
  fixed_devices_used: fixed.devices,
  fixed_groups_admitted: fixed.groups,
  fixed_devices_per_replica: round(perReplica(fixed)),
  fixed_pass_ms: round(fixed.ms, 1),
  devices_per_replica_saving_percent: round(saving * 100, 1),
  same_services: lo,
  same_services_shaped_devices: sameShaped.devices,
  same_services_fixed_devices: sameFixed.devices,
  same_services_saving_percent: round(sameSaving * 100, 1),
};

if (!withCluster) {
  bench.printResult(summary, figures);
} else {
  await bench.withCluster({ dirPrefix: "sovereign-bench-shapes-", pools, namespaces }, async (cluster) => {
    summary.push(
      `  control plane with ${nodeInputs.length} nodes ready in ${cluster.setupSeconds.toFixed(1)} s`,
    );
    const isvcs = await cluster.watch(resourceTypes.inferenceService);
    interface Status {
      readyReplicas?: number;
      admission?: { placements?: { replicas?: number }[] };
      conditions?: { type: string; status: string; reason?: string }[];
    }
    const statusOf = (o: KubeObject) => (o.status ?? {}) as Status;
    const admittedOf = (o: KubeObject) =>
      (statusOf(o).admission?.placements ?? []).reduce((n, p) => n + (p.replicas ?? 0), 0);
    // Settled: every replica admitted is ready, and whatever is not admitted says why it waits.
    const settled = (o: KubeObject) => {
      const s = statusOf(o);
      const admitted = admittedOf(o);
      const wanted = (o.spec as Spec).replicas ?? 1;
      const reason = s.conditions?.find((c) => c.type === "Admitted")?.reason;
      const explained = admitted >= wanted || (reason !== undefined && reason !== "WaitingForAdmission");
      return (s.readyReplicas ?? 0) >= admitted && explained && (admitted > 0 || reason !== undefined);
    };
    const deadline = Date.now() + flags.timeoutSeconds * 1000;
    const operator = await cluster.startOperator({ workers: 16, qps: 0, burst: 1000, deadline });
    const bodies = services.map(({ shaped: s }, i) => ({
      apiVersion: s.apiVersion,
      kind: s.kind,
      metadata: { name: s.metadata.name, namespace: namespaces[i % namespaces.length] },
      spec: s.spec,
    }));
    const { startedAt: t0 } = await cluster.createAll(resourceTypes.inferenceService, bodies);
    const count = () => isvcs.store.list().filter(settled).length;
    const report = bench.throttled(10_000, (now) =>
      process.stderr.write(
        `  ${((now - t0) / 1000).toFixed(0)} s: ${count()} of ${flags.services} settled\n`,
      ),
    );
    // Settled for a second in a row: a pass may still admit a replica another one freed.
    let since = 0;
    await bench.waitUntil(
      "every admitted group ready",
      () => {
        const now = performance.now();
        report(now);
        if (count() < flags.services) since = 0;
        else since ||= now;
        return since > 0 && now - since > 1000;
      },
      deadline,
      50,
    );
    const tReady = since;
    const list = isvcs.store.list();
    const admitted = list.reduce((n, o) => n + admittedOf(o), 0);
    const ready = list.reduce((n, o) => n + (statusOf(o).readyReplicas ?? 0), 0);
    const usage = await operator.usage("inferenceservice");
    summary.push(
      `  on the control plane: ${admitted} replicas admitted (the pure pass: ${shaped.replicas}), all ${ready} ready ${bench.roundedSeconds(tReady - t0)} s after the first apply; operator CPU ${usage.cpuSeconds.toFixed(1)} s, peak RSS ${Math.round(usage.peakRssMb)} MB`,
    );
    figures.cluster_replicas_admitted = admitted;
    figures.cluster_replicas_ready = ready;
    figures.all_groups_ready_seconds = bench.roundedSeconds(tReady - t0);
    Object.assign(figures, bench.operatorFigures(usage));
    bench.printResult(summary, figures);
  });
}
