// Survival under faults, at the size of the claims: the counts behind the verdicts that
// tests/integration/faults-*.test.ts assert on a smaller burst, with the same harness.
//   crash:    a burst of J TrainingJobs and C RayClusters while the operator is SIGKILLed K
//             times, each just after a child's create, an admission record or a status write
//   failover: two replicas with leader election, the leader SIGKILLed L times mid-burst:
//             takeover p50 and max (goal <= 20 s), intervals in which two replicas wrote
//   outage:   kube-apiserver restarted R times mid-burst, then etcd frozen (SIGSTOP) 10 s:
//             workloads missed, LISTs served to the operator after each fault
// Each scenario has a fresh control plane; the burst asks for more devices than it has, so
// some workloads are admitted and the rest queue.
//
//   npm run bench -- faults [--jobs 300] [--clusters 100] [--kills 20] [--takeovers 5]
//                           [--restarts 3] [--nodes 32] [--devices-per-node 16] [--qps 20]
//
// Prints a human summary, then as its last line one JSON object of the counts.
import {
  burst,
  crashLoop,
  createBurst,
  type Disruption,
  failoverLoop,
  openScenario,
  outageRig,
  replicaIdentities,
  type Scenario,
  settledVerdict,
  verdictFigures,
} from "../tests/integration/faults-harness.ts";
import { faultCounts, type Verdict } from "../tests/integration/faults-verdict.ts";
import { prng } from "./support/random.ts";
import * as bench from "./support/workload-bench.ts";

const f = bench.numberFlags({
  jobs: 300,
  clusters: 100,
  kills: 20,
  takeovers: 5,
  restarts: 3,
  nodes: 32,
  devicesPerNode: 16,
  qps: 20,
  settleSeconds: 300,
});
const operatorArgs = [`--kube-api-qps=${f.qps}`, `--kube-api-burst=${f.qps}`, "--workers=8"];
const settleMs = f.settleSeconds * 1000;

async function inScenario<T>(name: string, body: (s: Scenario) => Promise<T>): Promise<T> {
  const s = await openScenario({ name, nodes: f.nodes, devicesPerNode: f.devicesPerNode });
  try {
    return await body(s);
  } finally {
    await s.close();
  }
}

const summary = (v: Verdict) => ({
  ...verdictFigures(v),
  faults: faultCounts(v),
  first_problems: v.problems.slice(0, 5),
});
const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

const crash = await inScenario("faults-crash", async ({ cluster, observer }) => {
  const first = await cluster.startOperator("operator-1", operatorArgs);
  const creating = createBurst(cluster.client, burst(cluster.namespace, f.jobs, f.clusters));
  const { kills } = await crashLoop({
    cluster,
    observer,
    first,
    kills: f.kills,
    args: operatorArgs,
    random: prng(17).next,
    momentTimeoutMs: 20_000,
  });
  await creating;
  const verdict = await settledVerdict(cluster, observer.history, settleMs);
  const hit: Record<string, number> = {};
  for (const k of kills) hit[k.moment] = (hit[k.moment] ?? 0) + 1;
  return { kills: kills.length, kills_by_moment: hit, verdict: summary(verdict) };
});

const failover = await inScenario("faults-failover", async ({ cluster, observer }) => {
  const leaseName = "faults-bench-operator";
  const { identities, sampler } = await replicaIdentities(cluster, f.takeovers + 2);
  const creating = createBurst(cluster.client, burst(cluster.namespace, f.jobs, f.clusters));
  const takeoverMs = await failoverLoop({
    cluster,
    observer,
    identities,
    kills: f.takeovers,
    args: [
      "--leader-elect",
      `--leader-election-namespace=${cluster.namespace}`,
      `--leader-election-id=${leaseName}`,
      ...operatorArgs,
    ],
    leaseName,
    momentTimeoutMs: 20_000,
  });
  await creating;
  const verdict = await settledVerdict(cluster, observer.history, settleMs);
  await sampler.stop();
  return {
    takeovers: takeoverMs.length,
    takeover_p50_seconds: bench.roundedSeconds(quantile(takeoverMs, 0.5)),
    takeover_max_seconds: bench.roundedSeconds(Math.max(...takeoverMs)),
    takeover_seconds: takeoverMs.map(bench.roundedSeconds),
    intervals_sampled: sampler.intervals,
    intervals_with_two_writers: sampler.overlappingWriteIntervals,
    writes_by_replica: sampler.writesBy,
    verdict: summary(verdict),
  };
});

const outage = await inScenario("faults-outage", async ({ cluster, observer }) => {
  const rig = await outageRig(cluster, operatorArgs);
  const creating = createBurst(cluster.client, burst(cluster.namespace, f.jobs, f.clusters));
  const disruptions: Disruption[] = [];
  for (let i = 0; i < f.restarts; i++) disruptions.push(await rig.disrupt("apiserver-restart", 3000));
  disruptions.push(await rig.disrupt("etcd-pause", 10_000));
  await creating;
  const verdict = await settledVerdict(cluster, observer.history, settleMs);
  return {
    informers: rig.informers,
    disruptions,
    max_lists_per_fault: Math.max(...disruptions.map((d) => d.serverLists)),
    verdict: summary(verdict),
  };
});

const ok = (v: { faults: number }) => (v.faults === 0 ? "0 faults" : `${v.faults} FAULTS`);
bench.printResult(
  [
    `faults: a burst of ${f.jobs} TrainingJobs and ${f.clusters} RayClusters on ${f.nodes} nodes x ${f.devicesPerNode} GPUs, operator at QPS ${f.qps}`,
    `  crash: ${crash.kills} SIGKILLs ${JSON.stringify(crash.kills_by_moment)}; ${crash.verdict.admitted} admitted, ${crash.verdict.queued} queued; ${ok(crash.verdict)}`,
    `  failover: ${failover.takeovers} takeovers, p50 ${failover.takeover_p50_seconds} s, max ${failover.takeover_max_seconds} s (goal <= 20 s); ` +
      `${failover.intervals_with_two_writers} of ${failover.intervals_sampled} intervals with two writers; ${ok(failover.verdict)}`,
    `  outage: ${outage.disruptions.map((d) => `${d.what} ${d.serverLists} LISTs`).join(", ")} (${outage.informers} informers); ${ok(outage.verdict)}`,
  ],
  {
    jobs: f.jobs,
    clusters: f.clusters,
    nodes: f.nodes,
    devices_per_node: f.devicesPerNode,
    qps: f.qps,
    crash,
    failover,
    outage,
  },
);
