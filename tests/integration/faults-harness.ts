// What the fault tests (faults-*.test.ts) and bench/faults.ts share: a private control plane
// with accelerator nodes (faults are injected into its processes, so it is never the shared
// one), the real operator (cmd/operator.ts) as child processes that are killed and started
// again, a burst of TrainingJobs and RayClusters, instants chosen from what the API server
// shows the operator doing, and the end state read back for faults-verdict.ts to judge.
// Nothing here imports vitest: the benchmark runs the same code at a larger size.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  apiServerMetrics,
  type BenchIdentity,
  createBenchIdentity,
  dispatchedRequests,
  type RequestCounts,
} from "../../bench/support/api-identity.ts";
import { installCrds, waitForNodesReady } from "../../cli/dev/cluster-setup.ts";
import { type ControlPlane, startControlPlane } from "../../cli/dev/control-plane.ts";
import { forEachConcurrently } from "../../cli/dev/loopback.ts";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { readSupervisorState } from "../../cli/dev/state.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels } from "../../crds/labels.ts";
import {
  builtin,
  Informer,
  isAlreadyExists,
  KubeClient,
  type KubeObject,
  loadClusterConnection,
  silentLogger,
} from "../../operator/index.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/test-controller-process.ts";
import {
  AdmissionHistory,
  faultCounts,
  judge,
  type NodeCapacity,
  type Snapshot,
  type Verdict,
} from "./faults-verdict.ts";

const operatorEntry = fileURLToPath(new URL("../../cmd/operator.ts", import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type AcceleratedPool = SimulatedPool & { accelerator: NonNullable<SimulatedPool["accelerator"]> };

/** H100 nodes, each with `devices` GPUs: the hardware every fault scenario fills. */
export const gpuPool = (name: string, nodes: number, devices: number): AcceleratedPool => ({
  name,
  nodes,
  accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: devices, memoryGiB: 80 },
  cpu: "128",
  memory: "1Ti",
});

export interface FaultCluster {
  dir: string;
  cp: ControlPlane;
  kubeconfigPath: string;
  /** Admin, no rate limit. */
  client: KubeClient;
  nodes: NodeCapacity[];
  namespace: string;
  /** Every operator process started on this cluster, killed when it stops. */
  processes: OperatorProcess[];
  startOperator(name: string, args?: string[], kubeconfigPath?: string): Promise<OperatorProcess>;
  snapshot(): Promise<Snapshot>;
  stop(): Promise<void>;
}

export async function startFaultCluster(o: {
  dirPrefix: string;
  pools: AcceleratedPool[];
  namespace: string;
}): Promise<FaultCluster> {
  const dir = await mkdtemp(join(tmpdir(), o.dirPrefix));
  const cp = await startControlPlane({ dir, nodes: o.pools });
  const client = new KubeClient({ kubeConfig: loadClusterConnection(cp.kubeconfigPath), qps: 0 });
  const processes: OperatorProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of processes) p.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    await client.close();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForNodesReady(
      cp.kubeconfigPath,
      o.pools.reduce((n, p) => n + p.nodes, 0),
      120_000,
    );
    await installCrds(cp.kubeconfigPath);
    for (const pool of o.pools) {
      await client.create(resourceTypes.acceleratorPool, {
        apiVersion: resourceTypes.acceleratorPool.apiVersion,
        kind: resourceTypes.acceleratorPool.kind,
        metadata: { name: pool.name },
        spec: {
          vendor: pool.accelerator.vendor,
          model: pool.accelerator.model,
          memoryGiB: pool.accelerator.memoryGiB,
        },
      });
    }
    await client.create(builtin.namespaces, { metadata: { name: o.namespace } });
    for (
      let i = 0;
      i < 300 && !(await client.getOrUndefined(builtin.serviceAccounts, "default", o.namespace));
      i++
    )
      await sleep(100);
    const nodes = (await client.list(builtin.nodes)).items.map((n) => ({
      name: n.metadata.name as string,
      allocatable: Object.fromEntries(
        Object.entries((n.status as { allocatable?: Record<string, string> }).allocatable ?? {})
          .filter(([k]) => k.includes("/"))
          .map(([k, v]) => [k, Number(v)]),
      ),
    }));
    return {
      dir,
      cp,
      kubeconfigPath: cp.kubeconfigPath,
      client,
      nodes,
      namespace: o.namespace,
      processes,
      async startOperator(name, args = [], kubeconfigPath = cp.kubeconfigPath) {
        const p = await startOperatorProcess(
          name,
          [`--kubeconfig=${kubeconfigPath}`, `--namespace=${o.namespace}`, "--log-level=info", ...args],
          { entry: operatorEntry },
        );
        processes.push(p);
        return p;
      },
      snapshot: () => readSnapshot(client, o.namespace, nodes),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function readSnapshot(client: KubeClient, namespace: string, nodes: NodeCapacity[]): Promise<Snapshot> {
  const selector = { labelSelector: labels.kind };
  const [tjs, rcs, pods, services] = await Promise.all([
    client.list(resourceTypes.trainingJob, { namespace }),
    client.list(resourceTypes.rayCluster, { namespace }),
    client.list(builtin.pods, { namespace, query: selector }),
    client.list(builtin.services, { namespace, query: selector }),
  ]);
  const kinded = (items: KubeObject[], kind: string) => items.map((i) => ({ ...i, kind }));
  return {
    trainingJobs: kinded(tjs.items, "TrainingJob"),
    rayClusters: kinded(rcs.items, "RayCluster"),
    pods: kinded(pods.items, "Pod"),
    services: kinded(services.items, "Service"),
    nodes,
  };
}

/** A TrainingJob of `nodes` pods, each with `devices` H100s. */
export const trainingJob = (name: string, namespace: string, nodes: number, devices: number): KubeObject => ({
  apiVersion: resourceTypes.trainingJob.apiVersion,
  kind: resourceTypes.trainingJob.kind,
  metadata: { name, namespace },
  spec: {
    image: "ghcr.io/acme/train:1.0",
    command: ["python", "train.py"],
    nodes,
    resources: { cpu: "1", memory: "1Gi" },
    accelerators: { count: devices, minMemoryGiB: 80 },
  },
});

/** A RayCluster of a head and `workers` one-GPU workers. */
export const rayCluster = (name: string, namespace: string, workers: number): KubeObject => ({
  apiVersion: resourceTypes.rayCluster.apiVersion,
  kind: resourceTypes.rayCluster.kind,
  metadata: { name, namespace },
  spec: {
    rayVersion: "2.52.0",
    image: "rayproject/ray:2.52.0",
    head: { resources: { cpu: "1", memory: "2Gi" } },
    workerGroups: [
      {
        name: "gpu",
        replicas: workers,
        minReplicas: 0,
        maxReplicas: 8,
        accelerators: { count: 1, vendors: ["nvidia"] },
        resources: { cpu: "1", memory: "2Gi" },
      },
    ],
  },
});

/** The burst: TrainingJobs and RayClusters interleaved, created 8 at a time, retried while the API server is away. */
export async function createBurst(client: KubeClient, bodies: readonly KubeObject[]): Promise<void> {
  await forEachConcurrently(bodies, 8, async (body) => {
    const resource = body.kind === "TrainingJob" ? resourceTypes.trainingJob : resourceTypes.rayCluster;
    for (let attempt = 0; ; attempt++) {
      try {
        await client.create(resource, body);
        return;
      } catch (error) {
        if (isAlreadyExists(error)) return;
        if (attempt >= 100) throw error;
        await sleep(300);
      }
    }
  });
}

/** What the operator was just seen doing, through watches of its workloads and their pods. */
export type Moment = "child-created" | "admission-written" | "status-written";

/**
 * Watches the workloads and their pods and feeds every workload version to the admission
 * history; `next(moment)` resolves on the next such moment (or false after `timeoutMs`), so
 * a kill lands right after the API server accepted that write: between a child's create and
 * its owner's status write, just after an admission was recorded, mid-way through a round of
 * status writes.
 */
export class FaultObserver {
  readonly history: AdmissionHistory;
  private readonly informers: Informer[];
  private waiters: Array<{ moment: Moment; resolve: (seen: boolean) => void }> = [];

  constructor(client: KubeClient, namespace: string, nodes: NodeCapacity[]) {
    this.history = new AdmissionHistory(nodes);
    const workload = (resource: typeof resourceTypes.trainingJob) => {
      const informer = new Informer({ client, resource, namespaces: [namespace], log: silentLogger });
      informer.addHandler({
        onAdd: (o) => this.history.observe({ ...o, kind: resource.kind }),
        onUpdate: (old, o) => {
          this.history.observe({ ...o, kind: resource.kind });
          const had = (old.status as { admission?: unknown } | undefined)?.admission;
          const has = (o.status as { admission?: unknown } | undefined)?.admission;
          if (!had && has) this.fire("admission-written");
          else if (JSON.stringify(old.status) !== JSON.stringify(o.status)) this.fire("status-written");
        },
        onDelete: (o) => this.history.forget(o),
      });
      return informer;
    };
    const pods = new Informer({
      client,
      resource: builtin.pods,
      namespaces: [namespace],
      labelSelector: labels.kind,
      log: silentLogger,
    });
    pods.addHandler({ onAdd: () => this.fire("child-created") });
    this.informers = [workload(resourceTypes.trainingJob), workload(resourceTypes.rayCluster), pods];
  }

  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  next(moment: Moment, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = { moment, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
    });
  }

  private fire(moment: Moment): void {
    const now = this.waiters.filter((w) => w.moment === moment);
    if (now.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.moment !== moment);
    for (const w of now) w.resolve(true);
  }

  async stop(): Promise<void> {
    for (const i of this.informers) await i.stop();
  }
}

/**
 * Polls the end state until the verdict finds nothing wrong or `timeoutMs` passes, and
 * returns the last verdict either way: a fault that persists is reported, not waited out.
 */
export async function settledVerdict(
  cluster: FaultCluster,
  history: AdmissionHistory,
  timeoutMs: number,
): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs;
  let verdict = judge(await cluster.snapshot(), history);
  while (faultCounts(verdict) > 0 && Date.now() < deadline) {
    await sleep(1000);
    verdict = judge(await cluster.snapshot(), history);
  }
  return verdict;
}

/** The figures of a verdict that a test prints and the benchmark reports. */
export const verdictFigures = (v: Verdict): Omit<Verdict, "problems"> => {
  const { problems: _, ...figures } = v;
  return figures;
};

/** The burst of a scenario: `jobs` TrainingJobs and `clusters` RayClusters, interleaved. */
export function burst(
  namespace: string,
  jobs: number,
  clusters: number,
  shape = { jobNodes: 2, jobDevices: 2, rayWorkers: 2 },
): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < Math.max(jobs, clusters); i++) {
    if (i < jobs)
      out.push(trainingJob(`tj-${String(i).padStart(3, "0")}`, namespace, shape.jobNodes, shape.jobDevices));
    if (i < clusters) out.push(rayCluster(`rc-${String(i).padStart(3, "0")}`, namespace, shape.rayWorkers));
  }
  return out;
}

export interface Kill {
  moment: Moment | "idle";
  /** Milliseconds from the moment seen to the SIGKILL. */
  delayMs: number;
}

const moments: Moment[] = ["child-created", "admission-written", "status-written"];

/**
 * SIGKILLs the operator `kills` times, each time just after a moment the observer sees (taken
 * in turn, then a random 0-250 ms later), starting a new one at once; a moment that does not
 * come within `momentTimeoutMs` (the work is done) makes that kill an idle one. Returns the
 * operator left running and what each kill hit.
 */
export async function crashLoop(o: {
  cluster: FaultCluster;
  observer: FaultObserver;
  first: OperatorProcess;
  kills: number;
  args: string[];
  random: () => number;
  momentTimeoutMs: number;
}): Promise<{ operator: OperatorProcess; kills: Kill[] }> {
  let operator = o.first;
  const kills: Kill[] = [];
  for (let i = 0; i < o.kills; i++) {
    await operator.waitForLog((l) => l.msg === "starting workers", 60_000);
    const moment = moments[i % moments.length] as Moment;
    const seen = await o.observer.next(moment, o.momentTimeoutMs);
    const delayMs = Math.floor(o.random() * 250);
    await sleep(delayMs);
    operator.kill("SIGKILL");
    await operator.exited;
    kills.push({ moment: seen ? moment : "idle", delayMs });
    operator = await o.cluster.startOperator(`operator-${i + 2}`, o.args);
  }
  await operator.waitForLog((l) => l.msg === "starting workers", 60_000);
  return { operator, kills };
}

/**
 * Samples every 250 ms how many writes the API server has dispatched for each identity
 * (`writes` reads them from its /metrics text): in no interval may two identities write.
 */
export class WriterSampler {
  intervals = 0;
  overlappingWriteIntervals = 0;
  readonly writesBy: Record<string, number> = {};
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly metrics: () => Promise<string>;
  private readonly writes: (metricsText: string, identity: string) => number;
  private readonly identities: readonly string[];

  constructor(
    metrics: () => Promise<string>,
    writes: (metricsText: string, identity: string) => number,
    identities: readonly string[],
  ) {
    this.metrics = metrics;
    this.writes = writes;
    this.identities = identities;
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      let last: number[] | undefined;
      while (this.running) {
        const text = await this.metrics().catch(() => undefined);
        if (text !== undefined) {
          const now = this.identities.map((i) => this.writes(text, i));
          if (last) {
            const before = last;
            this.intervals++;
            if (now.filter((n, i) => n > (before[i] ?? 0)).length > 1) this.overlappingWriteIntervals++;
          }
          last = now;
          for (const [i, identity] of this.identities.entries()) this.writesBy[identity] = now[i] ?? 0;
        }
        await sleep(250);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

const isAlive = (p: OperatorProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

const isLeading = async (p: OperatorProcess, leaseName: string): Promise<boolean> =>
  isAlive(p) && (await p.metric("leader_election_master_status", { name: leaseName }).catch(() => 0)) === 1;

/**
 * Two replicas with leader election, each with an identity of its own (identities[i] for the
 * i-th replica started), so the API server counts each one's writes apart (WriterSampler).
 * `kills` times, the leader is SIGKILLed just after a moment the observer sees and a new
 * replica joins; takeover is timed from the kill until another replica leads. Returns the
 * takeover times in milliseconds.
 */
export async function failoverLoop(o: {
  cluster: FaultCluster;
  observer: FaultObserver;
  identities: Array<{ name: string; kubeconfigPath: string }>;
  kills: number;
  args: string[];
  leaseName: string;
  momentTimeoutMs: number;
}): Promise<number[]> {
  if (o.identities.length < o.kills + 2) throw new Error(`failoverLoop needs ${o.kills + 2} identities`);
  const replicas: OperatorProcess[] = [];
  const startReplica = async (): Promise<void> => {
    const identity = o.identities[replicas.length] as { name: string; kubeconfigPath: string };
    replicas.push(await o.cluster.startOperator(identity.name, o.args, identity.kubeconfigPath));
  };
  const leader = async (): Promise<OperatorProcess> => {
    for (let i = 0; i < 600; i++) {
      const alive = replicas.filter(isAlive);
      const leading = await Promise.all(alive.map((r) => isLeading(r, o.leaseName)));
      const found = alive.filter((_, k) => leading[k]);
      if (found.length > 1)
        throw new Error(`two replicas report leading: ${found.map((r) => r.name).join(", ")}`);
      if (found[0]) return found[0];
      await sleep(100);
    }
    throw new Error("no replica took the lease within 60 s");
  };
  const takeoverMs: number[] = [];
  await startReplica();
  await startReplica();
  for (let k = 0; k < o.kills; k++) {
    const current = await leader();
    await current.waitForLog((l) => l.msg === "starting workers", 60_000);
    await o.observer.next(moments[k % moments.length] as Moment, o.momentTimeoutMs);
    current.kill("SIGKILL");
    const killedAt = performance.now();
    await current.exited;
    await startReplica();
    await leader();
    takeoverMs.push(Math.round(performance.now() - killedAt));
  }
  return takeoverMs;
}

export interface Disruption {
  what: "apiserver-restart" | "etcd-pause";
  /** LISTs the API server served the operator's identity from the fault until `recoverMs` after it. */
  serverLists: number;
  /** The operator's own counts over the same window. */
  relists: number;
  watchRestarts: number;
}

/** The API server answers a request again (bounded: 120 tries, 500 ms apart). */
async function apiServerAnswers(client: KubeClient): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (
      await client.list(builtin.namespaces, { query: { limit: 1 } }).then(
        () => true,
        () => false,
      )
    )
      return;
    await sleep(500);
  }
  throw new Error("the API server did not answer within 60 s");
}

/**
 * One fault: kube-apiserver stopped and started again (after `downMs`), or etcd frozen with
 * SIGSTOP for `downMs`; then `recoverMs` for the operator to resume its watches, after which
 * the LISTs it made are counted. A restarted API server counts from zero, so its count is
 * all of the window's; a paused etcd leaves the API server's count running, so it is the
 * difference. `lists(text)` reads the identity's LIST count from the API server's /metrics.
 */
export async function disrupt(o: {
  cluster: FaultCluster;
  operator: OperatorProcess;
  what: Disruption["what"];
  downMs: number;
  recoverMs: number;
  metrics: () => Promise<string>;
  lists: (metricsText: string) => number;
}): Promise<Disruption> {
  const before = {
    lists: o.lists(await o.metrics()),
    relists: await o.operator.metric("informer_relists_total"),
    restarts: await o.operator.metric("informer_watch_restarts_total"),
  };
  if (o.what === "apiserver-restart") {
    await o.cluster.cp.stopComponent("kube-apiserver");
    await sleep(o.downMs);
    await o.cluster.cp.startComponent("kube-apiserver");
  } else {
    const etcd = readSupervisorState(o.cluster.dir)?.components.etcd;
    if (!etcd) throw new Error("no etcd pid in the supervisor's state");
    process.kill(etcd, "SIGSTOP");
    try {
      await sleep(o.downMs);
    } finally {
      process.kill(etcd, "SIGCONT");
    }
  }
  await apiServerAnswers(o.cluster.client);
  await sleep(o.recoverMs);
  const after = o.lists(await o.metrics());
  return {
    what: o.what,
    serverLists: o.what === "apiserver-restart" ? after : after - before.lists,
    relists: (await o.operator.metric("informer_relists_total")) - before.relists,
    watchRestarts: (await o.operator.metric("informer_watch_restarts_total")) - before.restarts,
  };
}

/** How many list+watch loops the operator runs: one per informer and namespace. */
export async function informerCount(operator: OperatorProcess): Promise<number> {
  const text = await operator.metrics();
  return new Set(
    text
      .split("\n")
      .filter((l) => l.startsWith("informer_cached_objects{"))
      .map((l) => /resource="([^"]*)"/.exec(l)?.[1]),
  ).size;
}

export interface Scenario {
  cluster: FaultCluster;
  observer: FaultObserver;
  close(): Promise<void>;
}

/** A fault cluster of one GPU pool, with its observer watching the namespace. */
export async function openScenario(o: {
  name: string;
  nodes: number;
  devicesPerNode: number;
}): Promise<Scenario> {
  const cluster = await startFaultCluster({
    dirPrefix: `sovereign-${o.name}-`,
    pools: [gpuPool(`${o.name}-gpu`, o.nodes, o.devicesPerNode)],
    namespace: o.name,
  });
  const observer = new FaultObserver(cluster.client, o.name, cluster.nodes);
  try {
    await observer.start();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    observer,
    async close() {
      await observer.stop();
      await cluster.stop();
    },
  };
}

/** The API server's /metrics text, and one identity's request counts read from such a text. */
export const apiServerCounts = (client: KubeClient) => ({
  metrics: () => apiServerMetrics(client),
  of: (metricsText: string, identity: string): RequestCounts => dispatchedRequests(metricsText, identity),
});

/** `count` replica identities and a WriterSampler over them, already sampling. */
export async function replicaIdentities(
  cluster: FaultCluster,
  count: number,
): Promise<{ identities: BenchIdentity[]; sampler: WriterSampler }> {
  const api = apiServerCounts(cluster.client);
  const identities: BenchIdentity[] = [];
  for (let i = 0; i < count; i++)
    identities.push(await createBenchIdentity(cluster.client, cluster.kubeconfigPath, `replica-${i}`));
  const sampler = new WriterSampler(
    api.metrics,
    (text, identity) => api.of(text, identity).writes,
    identities.map((i) => i.name),
  );
  sampler.start();
  return { identities, sampler };
}

/**
 * The operator with an identity of its own, started and working, for disrupt(): its
 * informer count, and the faults with the LISTs counted for that identity.
 */
export async function outageRig(
  cluster: FaultCluster,
  args: string[],
): Promise<{
  informers: number;
  disrupt: (what: Disruption["what"], downMs: number) => Promise<Disruption>;
}> {
  const api = apiServerCounts(cluster.client);
  const identity = await createBenchIdentity(cluster.client, cluster.kubeconfigPath, "outage-operator");
  const operator = await cluster.startOperator("operator", args, identity.kubeconfigPath);
  await operator.waitForLog((l) => l.msg === "starting workers", 60_000);
  return {
    informers: await informerCount(operator),
    disrupt: (what, downMs) =>
      disrupt({
        cluster,
        operator,
        what,
        downMs,
        recoverMs: 8000,
        metrics: api.metrics,
        lists: (text) => api.of(text, identity.name).lists,
      }),
  };
}
