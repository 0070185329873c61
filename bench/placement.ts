// Placement benchmark: 10,000 nodes in 50 pools of ten hardware kinds and a queue kept at 15,000
// gangs of mixed shapes. Between passes a fraction of running workloads completes, last pass's
// admissions get bound to nodes (they were reservations during the pass after their admission),
// and new arrivals refill the queue. Only schedule() is timed.
//
// With quotas (the default; --quotas 0 turns them off) every workload belongs to one of 20 teams
// in 4 cohorts (support/teams.ts), admission honours their quotas with borrowing and fair
// sharing, preemption is on, and victims are evicted and queued again before the next pass.
// The fair-share figures: the largest deviation of a waiting team's part of its cohort's use of
// a device class from its fair part, in the last pass, and over the run (devices held against
// devices owed, summed over the passes the team waited for the class).
//
//   npx node bench/placement.ts [--passes N] [--seed S] [--quotas 0|1]   (or: npm run bench -- placement)
//
// Prints a human summary, then as its last line one JSON object of named figures.
import { performance } from "node:perf_hooks";
import {
  type Admission,
  type AdmittedWorkload,
  type NodeInput,
  type PlacementResult,
  type PoolInput,
  type Reservation,
  reservationFor,
  schedule,
  type Toleration,
  type Workload,
} from "../controllers/placement/index.ts";
import type { Vendor } from "../crds/vendors.ts";
import { prng, type Random } from "./support/random.ts";
import {
  benchTeams,
  COHORTS,
  FairShareOverTime,
  fairShareDeviation,
  fairShareRows,
} from "./support/teams.ts";

const GiB = 2 ** 30;
const POOL_COUNT = 50;
const NODES_PER_POOL = 200;
const QUEUE_LENGTH = 15_000;
const COMPLETING_PER_PASS = 0.1;
const PASS_INTERVAL_MS = 60_000;
const STARVATION_AFTER_MS = 60 * 60_000;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(value) ? value : fallback;
}

interface Hardware {
  prefix: string;
  vendor: Vendor;
  model: string;
  memoryGiB: number;
  interconnect: string;
  devices: number;
  cost: number;
  cpuCores: number;
  memoryGiBPerNode: number;
}

const hardware: readonly Hardware[] = [
  {
    prefix: "h100",
    vendor: "nvidia",
    model: "H100-SXM",
    memoryGiB: 80,
    interconnect: "nvlink",
    devices: 8,
    cost: 2.5,
    cpuCores: 192,
    memoryGiBPerNode: 2048,
  },
  {
    prefix: "h200",
    vendor: "nvidia",
    model: "H200-SXM",
    memoryGiB: 141,
    interconnect: "nvlink",
    devices: 8,
    cost: 3.5,
    cpuCores: 192,
    memoryGiBPerNode: 2048,
  },
  {
    prefix: "a100",
    vendor: "nvidia",
    model: "A100-SXM4-40GB",
    memoryGiB: 40,
    interconnect: "nvlink",
    devices: 8,
    cost: 1.2,
    cpuCores: 128,
    memoryGiBPerNode: 1024,
  },
  {
    prefix: "l4",
    vendor: "nvidia",
    model: "L4",
    memoryGiB: 24,
    interconnect: "pcie",
    devices: 4,
    cost: 0.6,
    cpuCores: 48,
    memoryGiBPerNode: 192,
  },
  {
    prefix: "mi300x",
    vendor: "amd",
    model: "MI300X",
    memoryGiB: 192,
    interconnect: "xgmi",
    devices: 8,
    cost: 2.2,
    cpuCores: 192,
    memoryGiBPerNode: 2048,
  },
  {
    prefix: "mi250",
    vendor: "amd",
    model: "MI250X",
    memoryGiB: 64,
    interconnect: "xgmi",
    devices: 8,
    cost: 1.1,
    cpuCores: 128,
    memoryGiBPerNode: 1024,
  },
  {
    prefix: "gaudi3",
    vendor: "intel",
    model: "Gaudi3",
    memoryGiB: 128,
    interconnect: "roce",
    devices: 8,
    cost: 1.8,
    cpuCores: 160,
    memoryGiBPerNode: 1024,
  },
  {
    prefix: "tpu-v5e",
    vendor: "google",
    model: "tpu-v5-lite-podslice",
    memoryGiB: 16,
    interconnect: "ici",
    devices: 4,
    cost: 1.0,
    cpuCores: 224,
    memoryGiBPerNode: 384,
  },
  {
    prefix: "trn1",
    vendor: "aws",
    model: "trn1.32xlarge",
    memoryGiB: 32,
    interconnect: "neuronlink",
    devices: 16,
    cost: 1.3,
    cpuCores: 128,
    memoryGiBPerNode: 512,
  },
  {
    prefix: "inf2",
    vendor: "aws",
    model: "inf2.48xlarge",
    memoryGiB: 32,
    interconnect: "neuronlink",
    devices: 12,
    cost: 0.8,
    cpuCores: 192,
    memoryGiBPerNode: 768,
  },
];
const zones = ["central", "east", "north", "south", "west"] as const;
const researchTaint = { key: "team", value: "research", effect: "NoSchedule" } as const;
const researchToleration: Toleration = {
  key: "team",
  operator: "Equal",
  value: "research",
  effect: "NoSchedule",
};

interface Cluster {
  pools: PoolInput[];
  nodes: NodeInput[];
  hardwareOf: Map<string, Hardware>;
}

function buildCluster(random: Random): Cluster {
  const pools: PoolInput[] = [];
  const nodes: NodeInput[] = [];
  const hardwareOf = new Map<string, Hardware>();
  for (let p = 0; p < POOL_COUNT; p++) {
    const hw = hardware[p % hardware.length] as Hardware;
    const name = `${hw.prefix}-${zones[Math.floor(p / hardware.length)]}`;
    hardwareOf.set(name, hw);
    const nodeNames: string[] = [];
    for (let k = 0; k < NODES_PER_POOL; k++) {
      const nodeName = `${name}-${String(k).padStart(3, "0")}`;
      nodeNames.push(nodeName);
      // A third of the nodes start partly used, so the pass sees fragmentation from the start.
      const used = random.chance(0.33) ? random.int(1, hw.devices - 1) : 0;
      const cpu = hw.cpuCores * 1000;
      const memory = hw.memoryGiBPerNode * GiB;
      nodes.push({
        name: nodeName,
        ready: !random.chance(0.01),
        unschedulable: random.chance(0.005),
        taints: hw.prefix === "h200" ? [researchTaint] : [],
        allocatableDevices: hw.devices,
        freeDevices: hw.devices - used,
        allocatableCpuMillis: cpu,
        freeCpuMillis: cpu - Math.floor((cpu * used) / hw.devices),
        allocatableMemoryBytes: memory,
        freeMemoryBytes: memory - Math.floor((memory * used) / hw.devices),
      });
    }
    pools.push({
      name,
      vendor: hw.vendor,
      model: hw.model,
      memoryGiB: hw.memoryGiB,
      interconnect: hw.interconnect,
      resourceName: `${hw.vendor}.example/device`,
      paused: name === "a100-north",
      tolerations: [],
      costPerDeviceHour: hw.cost,
      nodeNames,
    });
  }
  return { pools, nodes, hardwareOf };
}

function makeWorkload(
  random: Random,
  serial: number,
  createdAt: number,
  pools: readonly PoolInput[],
): Workload {
  const key = `ns-${serial % 97}/w-${serial}`;
  const roll = random.next();
  const priority = random.chance(0.05) ? 1000 : random.chance(0.25) ? 100 : 0;
  const tolerations = random.chance(0.2) ? [researchToleration] : [];
  const base = { key, priority, creationTimestamp: createdAt, tolerations };
  const pod = (devices: number) => ({
    cpuMillis: devices === 0 ? 4000 : Math.min(20_000 * devices, 150_000),
    memoryBytes: (devices === 0 ? 16 : Math.min(96 * devices, 1500)) * GiB,
  });
  if (roll < 0.25) {
    return {
      ...base,
      mode: "replicas",
      groups: [
        {
          name: "server",
          pods: random.int(1, 8),
          ...pod(1),
          accelerators: { count: random.pick([1, 1, 2]), minMemoryGiB: random.pick([16, 24, 40]) },
        },
      ],
    };
  }
  if (roll < 0.4) {
    return {
      ...base,
      groups: [{ name: "main", pods: 1, ...pod(1), accelerators: { count: random.pick([1, 2]) } }],
    };
  }
  if (roll < 0.5) {
    return {
      ...base,
      groups: [
        { name: "main", pods: 1, ...pod(4), accelerators: { count: 4, minMemoryGiB: random.pick([24, 64]) } },
      ],
    };
  }
  if (roll < 0.8) {
    const models = random.chance(0.2) ? [random.pick(["H100*", "H200*", "MI300*"])] : undefined;
    const interconnect = random.chance(0.3) ? random.pick(["nvlink", "xgmi"]) : undefined;
    return {
      ...base,
      groups: [
        {
          name: "ranks",
          pods: random.pick([1, 1, 2, 2, 4, 4, 8, 16]),
          ...pod(8),
          accelerators: { count: 8, minMemoryGiB: 80, models, interconnect },
        },
      ],
    };
  }
  if (roll < 0.83) {
    return {
      ...base,
      groups: [
        {
          name: "ranks",
          pods: random.pick([32, 64, 128]),
          ...pod(8),
          accelerators: { count: 8, minMemoryGiB: 64 },
        },
      ],
    };
  }
  if (roll < 0.88) {
    return {
      ...base,
      groups: [
        {
          name: "slices",
          pods: random.pick([1, 2, 4, 8]),
          ...pod(4),
          accelerators: { count: 4, vendors: ["google"] },
        },
      ],
    };
  }
  if (roll < 0.92) {
    return {
      ...base,
      groups: [
        {
          name: "ranks",
          pods: random.pick([1, 2, 4]),
          cpuMillis: 96_000,
          memoryBytes: 384 * GiB,
          accelerators: { count: 16, vendors: ["aws"] },
        },
      ],
    };
  }
  if (roll < 0.98) {
    const groups = [
      { name: "head", pods: 1, ...pod(0), accelerators: { count: 0 } },
      {
        name: "gpu",
        pods: random.int(2, 8),
        ...pod(1),
        accelerators: { count: random.pick([1, 2]), minMemoryGiB: 24 },
      },
    ];
    if (random.chance(0.3))
      groups.push({
        name: "big",
        pods: random.int(1, 2),
        ...pod(8),
        accelerators: { count: 8, minMemoryGiB: 80 },
      });
    return { ...base, groups };
  }
  if (roll < 0.995) {
    const pins = [random.pick(pools).name, random.pick(pools).name];
    return {
      ...base,
      groups: [
        { name: "ranks", pods: random.pick([1, 2, 4]), ...pod(4), accelerators: { count: 4, pools: pins } },
      ],
    };
  }
  // Never fits: more devices per pod than any node has.
  return { ...base, groups: [{ name: "ranks", pods: 2, ...pod(8), accelerators: { count: 32 } }] };
}

/** The admitted workload as the admitter describes it to the engine: what its eviction frees. */
function admittedWorkload(a: Admission, w: Workload): AdmittedWorkload {
  const pools = new Map<string, number>();
  let cpuMillis = 0;
  let memoryBytes = 0;
  for (const g of a.groups)
    for (const p of g.placements)
      for (const n of p.nodes) {
        pools.set(p.pool, (pools.get(p.pool) ?? 0) + n.devices);
        cpuMillis += n.cpuMillis;
        memoryBytes += n.memoryBytes;
      }
  return {
    key: a.key,
    team: w.team as string,
    priority: w.priority,
    creationTimestamp: w.creationTimestamp,
    pools: [...pools].map(([pool, devices]) => ({ pool, devices })),
    cpuMillis,
    memoryBytes,
    nodes: reservationFor(a).nodes,
    preemptible: w.mode !== "replicas",
  };
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

function main(): void {
  const passes = argument("passes", 60);
  const random = prng(argument("seed", 20_240_601));
  const cluster = buildCluster(random);
  const withQuotas = argument("quotas", 1) === 1;
  const teams = withQuotas
    ? benchTeams(cluster.pools, (p) => (cluster.hardwareOf.get(p.name)?.devices ?? 0) * p.nodeNames.length)
    : [];
  const busy = teams.filter((t) => !t.idle);
  // What the admitter would tell the engine about admitted workloads, and the workloads
  // themselves, to queue a victim again.
  const admittedByKey = new Map<string, AdmittedWorkload>();
  const submitted = new Map<string, Workload>();
  let preemptedTotal = 0;
  const nodeByName = new Map(cluster.nodes.map((n) => [n.name, n]));
  const start = Date.UTC(2025, 0, 1);
  let clock = start;
  let serial = 0;
  let queue: Workload[] = [];
  const refill = () => {
    while (queue.length < QUEUE_LENGTH) {
      // The initial queue spans the half hour before the first pass; later ones arrive as it runs.
      const createdAt =
        serial < QUEUE_LENGTH ? clock - 30 * 60_000 + serial * 120 : clock - random.int(0, PASS_INTERVAL_MS);
      const w = makeWorkload(random, serial++, createdAt, cluster.pools);
      const team = busy.length > 0 ? random.pick(busy).input.name : undefined;
      const mine = team === undefined ? w : { ...w, team };
      if (team !== undefined) submitted.set(w.key, mine);
      queue.push(mine);
    }
  };
  const bind = (r: Reservation, sign: 1 | -1) => {
    for (const n of r.nodes) {
      const node = nodeByName.get(n.node);
      if (!node) continue;
      node.freeDevices -= sign * n.devices;
      node.freeCpuMillis -= sign * n.cpuMillis;
      node.freeMemoryBytes -= sign * n.memoryBytes;
    }
  };

  let running: Reservation[] = [];
  let reserved: Reservation[] = [];
  const timings: number[] = [];
  // CPU time next to wall time: on a shared machine the wall clock also counts other processes.
  const cpuTimings: number[] = [];
  let admittedTotal = 0;
  let podsTotal = 0;
  let unschedulableLast = 0;
  let heldLast = 0;
  let first: { ms: number; admitted: number } | undefined;
  let last: PlacementResult | undefined;
  const options = { starvationAfterMs: STARVATION_AFTER_MS };
  const overTime = new FairShareOverTime();

  for (let pass = 0; pass < passes; pass++) {
    refill();
    const input = {
      pools: cluster.pools,
      nodes: cluster.nodes,
      reservations: reserved,
      workloads: queue,
      now: clock,
      ...(withQuotas
        ? { quota: { teams: teams.map((t) => t.input), admitted: [...admittedByKey.values()] } }
        : {}),
    };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const result = schedule(input, options);
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    timings.push(ms);
    cpuTimings.push((cpu.user + cpu.system) / 1000);
    last = result;
    admittedTotal += result.admitted.length;
    podsTotal += result.admitted.reduce((n, a: Admission) => n + a.groups.reduce((m, g) => m + g.pods, 0), 0);
    unschedulableLast = result.unschedulable.length;
    heldLast = result.holds.length;
    first ??= { ms, admitted: result.admitted.length };
    if (withQuotas) overTime.add(fairShareRows(teams, result.teams ?? []));

    // What the controllers would do next: victims checkpoint and go (queued again), last pass's
    // reservations get their pods bound, some running workloads finish, and this pass's
    // admissions become the reservations of the next.
    const victims = new Set((result.preempted ?? []).map((p) => p.key));
    preemptedTotal += victims.size;
    for (const key of victims) {
      admittedByKey.delete(key);
      const w = submitted.get(key);
      if (w) queue.push({ ...w, queuedSince: clock });
    }
    reserved = reserved.filter((r) => !victims.has(r.key));
    for (const r of reserved) bind(r, 1);
    running.push(...reserved);
    const keep: Reservation[] = [];
    for (const r of running) {
      if (victims.has(r.key) || random.chance(COMPLETING_PER_PASS)) {
        bind(r, -1);
        admittedByKey.delete(r.key);
      } else keep.push(r);
    }
    running = keep;
    reserved = result.admitted.map(reservationFor);
    const admittedKeys = new Set(result.admitted.map((a) => a.key));
    queue = queue.filter((w) => !admittedKeys.has(w.key));
    if (withQuotas) {
      for (const a of result.admitted) {
        const w = submitted.get(a.key);
        if (w?.team !== undefined) admittedByKey.set(a.key, admittedWorkload(a, w));
      }
    }
    clock += PASS_INTERVAL_MS;
  }

  const totalMs = timings.reduce((a, b) => a + b, 0);
  const sorted = [...timings].sort((a, b) => a - b);
  const sortedCpu = [...cpuTimings].sort((a, b) => a - b);
  // The first pass admits into an idle cluster and dwarfs the others; p99 includes it, this does not.
  const steady = timings.slice(1).sort((a, b) => a - b);
  const totalCpuMs = cpuTimings.reduce((a, b) => a + b, 0);
  const round = (x: number) => Math.round(x * 100) / 100;
  const figures = {
    benchmark: "placement",
    nodes: cluster.nodes.length,
    pools: cluster.pools.length,
    queued: QUEUE_LENGTH,
    passes,
    admitted: admittedTotal,
    admittedPods: podsTotal,
    admissionsPerSecond: Math.round(admittedTotal / (totalMs / 1000)),
    workloadsDecidedPerSecond: Math.round((passes * QUEUE_LENGTH) / (totalMs / 1000)),
    passP50Ms: round(percentile(sorted, 0.5)),
    passP99Ms: round(percentile(sorted, 0.99)),
    passMaxMs: round(sorted[sorted.length - 1] ?? 0),
    passP50CpuMs: round(percentile(sortedCpu, 0.5)),
    passP99CpuMs: round(percentile(sortedCpu, 0.99)),
    admissionsPerCpuSecond: Math.round(admittedTotal / (totalCpuMs / 1000)),
    steadyPassP99Ms: round(percentile(steady, 0.99)),
    firstPassMs: round(first?.ms ?? 0),
    firstPassAdmitted: first?.admitted ?? 0,
    quotas: withQuotas,
    teams: teams.length,
    cohorts: withQuotas ? COHORTS : 0,
    preempted: preemptedTotal,
    fairShareMaxDeviationPct: withQuotas ? fairShareDeviation(teams, last?.teams ?? []) : 0,
    fairShareMaxDeviationOverRunPct: withQuotas ? overTime.worst().points : 0,
    fairShareMaxDeviationOverRunAt: withQuotas ? (overTime.worst().key ?? "") : "",
    fairShareMaxDeviationOfLendablePct: withQuotas
      ? fairShareDeviation(teams, last?.teams ?? [], "lendable")
      : 0,
  };
  const sample = last?.queued[0];
  console.log(
    `placement: ${figures.nodes} nodes in ${figures.pools} pools, queue kept at ${QUEUE_LENGTH}, ${passes} passes`,
  );
  console.log(`  first pass: ${figures.firstPassAdmitted} admitted in ${figures.firstPassMs} ms`);
  console.log(
    `  all passes: ${admittedTotal} workloads (${podsTotal} pods) admitted in ${round(totalMs)} ms of scheduling`,
  );
  console.log(
    `  ${figures.admissionsPerSecond} admissions/s, ${figures.workloadsDecidedPerSecond} workloads decided/s`,
  );
  console.log(
    `  pass time p50 ${figures.passP50Ms} ms, p99 ${figures.passP99Ms} ms, max ${figures.passMaxMs} ms; after the first pass p99 ${figures.steadyPassP99Ms} ms`,
  );
  console.log(
    `  last pass: ${last?.queued.length ?? 0} queued, ${unschedulableLast} unschedulable, ${heldLast} pools held for starving gangs`,
  );
  if (withQuotas)
    console.log(
      `  quotas: ${teams.length} teams in ${COHORTS} cohorts, ${preemptedTotal} preempted; largest deviation from a team's fair share ${figures.fairShareMaxDeviationPct} points in the last pass (${figures.fairShareMaxDeviationOfLendablePct} against nominal plus the idle nominal split by weight), ${figures.fairShareMaxDeviationOverRunPct} points over the run (${figures.fairShareMaxDeviationOverRunAt})`,
    );
  if (sample) console.log(`  e.g. #${sample.position} ${sample.key}: ${sample.reason}`);
  console.log(JSON.stringify(figures));
}

main();
