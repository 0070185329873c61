// The verdicts of the fault tests and of bench/faults.ts, as pure functions of what the API
// server holds at the end (and of the admissions seen along the way): exactly the children
// each workload's admission calls for, no duplicate, no orphan, no workload admitted twice,
// no device booked twice on a node, every status matching its children.
import { labels } from "../../crds/labels.ts";
import type { KubeObject } from "../../operator/resource.ts";

interface Placement {
  group: string;
  pool?: string;
  resourceName?: string;
  nodes?: string[];
  replicas?: number;
}
interface WorkloadStatus {
  phase?: string;
  nodes?: number;
  readyNodes?: number;
  desiredWorkers?: number;
  readyWorkers?: number;
  admission?: { placements?: Placement[] };
}
interface WorkloadSpec {
  nodes?: number;
  accelerators?: { count?: number };
  workerGroups?: Array<{ name: string; replicas?: number; accelerators?: { count?: number } }>;
}
interface PodLike extends KubeObject {
  spec?: {
    nodeName?: string;
    containers?: Array<{ resources?: { requests?: Record<string, string> } }>;
  };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

export interface NodeCapacity {
  name: string;
  /** Allocatable extended resources (nvidia.com/gpu: 8). */
  allocatable: Record<string, number>;
}

export interface Snapshot {
  trainingJobs: KubeObject[];
  rayClusters: KubeObject[];
  /** Every pod and Service that carries the operator's kind label. */
  pods: KubeObject[];
  services: KubeObject[];
  nodes: NodeCapacity[];
}

export interface Verdict {
  workloads: number;
  admitted: number;
  queued: number;
  /** Children beyond one per (workload, group, index), or a second head or Service. */
  duplicates: number;
  /** Children whose owner is not a workload that exists. */
  orphans: number;
  /** Children an admission calls for that do not exist. */
  missing: number;
  /** Pods of a workload that holds no admission (a queued one). */
  unadmittedChildren: number;
  /** Pods bound to another node than their admission names. */
  misplaced: number;
  /** Workloads whose admission changed to other nodes once made (from the history). */
  admittedTwice: number;
  /** Nodes whose devices were booked beyond their allocatable, by admissions or by bound pods. */
  doubleBooked: number;
  /** Workloads whose status does not say what their children are. */
  statusMismatches: number;
  /** Workloads in neither steady phase (Running or Ready when admitted, queued otherwise). */
  unsettled: number;
  /** The first problems found, in words. */
  problems: string[];
}

export const faultCounts = (v: Verdict): number =>
  v.duplicates +
  v.orphans +
  v.missing +
  v.unadmittedChildren +
  v.misplaced +
  v.admittedTwice +
  v.doubleBooked +
  v.statusMismatches +
  v.unsettled;

const statusOf = (o: KubeObject): WorkloadStatus => (o.status ?? {}) as WorkloadStatus;
const specOf = (o: KubeObject): WorkloadSpec => (o.spec ?? {}) as WorkloadSpec;
const kindOf = (o: KubeObject): string | undefined => o.metadata.labels?.[labels.kind];
const uidOf = (o: KubeObject): string => o.metadata.uid ?? "";
const ownerUid = (o: KubeObject): string | undefined =>
  o.metadata.ownerReferences?.find((r) => r.controller)?.uid ?? o.metadata.ownerReferences?.[0]?.uid;
const isReadyPod = (p: PodLike): boolean =>
  p.status?.phase === "Running" &&
  (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
const isTerminated = (p: PodLike): boolean => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";

/** Devices each pod of a group asks for: a TrainingJob's count, a Ray worker group's count. */
function devicesPerPod(workload: KubeObject, group: string): number {
  const spec = specOf(workload);
  if (workload.kind === "TrainingJob") return spec.accelerators?.count ?? 0;
  return spec.workerGroups?.find((g) => g.name === group)?.accelerators?.count ?? 0;
}

/** One booking per admitted pod: the node the admission names and the devices it holds there. */
export function admittedBookings(
  workload: KubeObject,
): Array<{ node: string; resource: string; count: number }> {
  const out: Array<{ node: string; resource: string; count: number }> = [];
  for (const p of statusOf(workload).admission?.placements ?? []) {
    const count = devicesPerPod(workload, p.group);
    if (!p.resourceName || count === 0) continue;
    for (const node of p.nodes ?? []) out.push({ node, resource: p.resourceName, count });
  }
  return out;
}

/** Nodes where the given workloads' admissions book more devices than the node has. */
export function overbookedNodes(workloads: readonly KubeObject[], nodes: readonly NodeCapacity[]): string[] {
  const used = new Map<string, number>();
  for (const w of workloads)
    for (const b of admittedBookings(w)) {
      const key = `${b.node}\u0000${b.resource}`;
      used.set(key, (used.get(key) ?? 0) + b.count);
    }
  return overLimit(used, nodes);
}

function overLimit(used: Map<string, number>, nodes: readonly NodeCapacity[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out: string[] = [];
  for (const [key, n] of used) {
    const [node = "", resource = ""] = key.split("\u0000");
    const limit = byName.get(node)?.allocatable[resource] ?? 0;
    if (n > limit) out.push(`${node}: ${n} ${resource} booked of ${limit}`);
  }
  return out;
}

/** Nodes whose bound, live pods request more of a device than the node has. */
export function overboundNodes(pods: readonly KubeObject[], nodes: readonly NodeCapacity[]): string[] {
  const used = new Map<string, number>();
  for (const p of pods as readonly PodLike[]) {
    const node = p.spec?.nodeName;
    if (!node || isTerminated(p)) continue;
    for (const c of p.spec?.containers ?? [])
      for (const [resource, q] of Object.entries(c.resources?.requests ?? {})) {
        if (!resource.includes("/")) continue;
        const key = `${node}\u0000${resource}`;
        used.set(key, (used.get(key) ?? 0) + Number(q));
      }
  }
  return overLimit(used, nodes);
}

/**
 * What the run saw of admissions: a workload admitted onto some nodes must keep them until
 * it lets them go (no restart happens in these runs), and at no instant may the admissions
 * together book more devices on a node than it has.
 */
export class AdmissionHistory {
  private readonly first = new Map<string, string>();
  private readonly current = new Map<string, KubeObject>();
  readonly admittedTwice = new Set<string>();
  readonly overbooked = new Set<string>();

  private readonly nodes: readonly NodeCapacity[];

  constructor(nodes: readonly NodeCapacity[]) {
    this.nodes = nodes;
  }

  observe(workload: KubeObject): void {
    const id = `${workload.kind}/${workload.metadata.namespace}/${workload.metadata.name}`;
    this.current.set(uidOf(workload), workload);
    const placements = statusOf(workload).admission?.placements ?? [];
    if (placements.length > 0) {
      const signature = JSON.stringify(
        placements
          .map((p) => [p.group, p.pool, p.nodes ?? []])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );
      const before = this.first.get(uidOf(workload));
      if (before === undefined) this.first.set(uidOf(workload), signature);
      else if (before !== signature) this.admittedTwice.add(id);
    }
    for (const node of overbookedNodes([...this.current.values()], this.nodes)) this.overbooked.add(node);
  }

  forget(workload: KubeObject): void {
    this.current.delete(uidOf(workload));
  }
}

interface Tally {
  v: Verdict;
  problem(what: string): void;
}

/** Checks one group's pods (by index) against its placement; returns the ready count. */
function checkGroup(
  t: Tally,
  owner: string,
  pods: PodLike[],
  indexOf: (p: PodLike) => number | undefined,
  expected: number,
  nodes: string[] | undefined,
): number {
  const byIndex = new Map<number, PodLike[]>();
  for (const p of pods) {
    const i = indexOf(p);
    if (i === undefined || i >= expected) {
      t.v.duplicates++;
      t.problem(`${owner}: pod ${p.metadata.name} is beyond the ${expected} admitted`);
      continue;
    }
    byIndex.set(i, [...(byIndex.get(i) ?? []), p]);
  }
  let ready = 0;
  for (let i = 0; i < expected; i++) {
    const at = byIndex.get(i) ?? [];
    if (at.length === 0) {
      t.v.missing++;
      t.problem(`${owner}: pod ${i} is missing`);
    }
    if (at.length > 1) {
      t.v.duplicates += at.length - 1;
      t.problem(`${owner}: ${at.length} pods for index ${i}`);
    }
    for (const p of at) {
      const want = nodes?.[i];
      if (want && p.spec?.nodeName && p.spec.nodeName !== want) {
        t.v.misplaced++;
        t.problem(`${owner}: pod ${p.metadata.name} on ${p.spec.nodeName}, admitted on ${want}`);
      }
      if (isReadyPod(p)) ready++;
    }
  }
  return ready;
}

const numberLabel = (p: KubeObject, key: string): number | undefined => {
  const v = p.metadata.labels?.[key];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
};

function judgeTrainingJob(t: Tally, job: KubeObject, pods: PodLike[], services: KubeObject[]): void {
  const name = `TrainingJob ${job.metadata.namespace}/${job.metadata.name}`;
  const status = statusOf(job);
  const placement = status.admission?.placements?.find((p) => p.group === "workers");
  if (!placement) {
    t.v.queued++;
    if (pods.length > 0) {
      t.v.unadmittedChildren += pods.length;
      t.problem(`${name}: ${pods.length} pods without an admission`);
    }
    if (status.phase !== "Queued") {
      t.v.unsettled++;
      t.problem(`${name}: phase ${status.phase} without an admission`);
    }
    return;
  }
  t.v.admitted++;
  const expected = placement.nodes?.length || specOf(job).nodes || 0;
  const attempts = new Set(pods.map((p) => p.metadata.labels?.[labels.attempt]));
  if (attempts.size > 1) {
    t.v.duplicates++;
    t.problem(`${name}: pods of ${attempts.size} attempts at once`);
  }
  const ready = checkGroup(t, name, pods, (p) => numberLabel(p, labels.rank), expected, placement.nodes);
  if (services.length !== 1) {
    if (services.length === 0) t.v.missing++;
    else t.v.duplicates += services.length - 1;
    t.problem(`${name}: ${services.length} Services`);
  }
  if (status.phase !== "Running") {
    t.v.unsettled++;
    t.problem(`${name}: admitted but ${status.phase}`);
  }
  if (status.nodes !== expected || status.readyNodes !== ready) {
    t.v.statusMismatches++;
    t.problem(
      `${name}: status says ${status.nodes} nodes, ${status.readyNodes} ready; children: ${expected}, ${ready} ready`,
    );
  }
}

function judgeRayCluster(t: Tally, rc: KubeObject, pods: PodLike[], services: KubeObject[]): void {
  const name = `RayCluster ${rc.metadata.namespace}/${rc.metadata.name}`;
  const status = statusOf(rc);
  const heads = pods.filter((p) => p.metadata.labels?.[labels.rayNodeType] === "head");
  const workers = pods.filter((p) => p.metadata.labels?.[labels.rayNodeType] !== "head");
  if (heads.length !== 1 || services.length !== 1) {
    if (heads.length === 0) t.v.missing++;
    if (services.length === 0) t.v.missing++;
    t.v.duplicates += Math.max(0, heads.length - 1) + Math.max(0, services.length - 1);
    t.problem(`${name}: ${heads.length} heads, ${services.length} Services`);
  }
  const placements = status.admission?.placements ?? [];
  if (placements.length === 0) {
    t.v.queued++;
    if (workers.length > 0) {
      t.v.unadmittedChildren += workers.length;
      t.problem(`${name}: ${workers.length} workers without an admission`);
    }
    if (status.phase !== "Pending") {
      t.v.unsettled++;
      t.problem(`${name}: phase ${status.phase} without an admission`);
    }
    return;
  }
  t.v.admitted++;
  let desired = 0;
  let ready = 0;
  for (const group of specOf(rc).workerGroups ?? []) {
    const placement = placements.find((p) => p.group === group.name);
    const expected = placement?.nodes?.length || placement?.replicas || 0;
    desired += expected;
    const ofGroup = workers.filter((p) => p.metadata.labels?.[labels.rayGroup] === group.name);
    const indexOf = (p: PodLike): number | undefined => {
      const m = /-(\d+)$/.exec(p.metadata.name ?? "");
      return m ? Number(m[1]) : undefined;
    };
    ready += checkGroup(t, `${name} group ${group.name}`, ofGroup, indexOf, expected, placement?.nodes);
  }
  if (status.phase !== "Ready") {
    t.v.unsettled++;
    t.problem(`${name}: admitted but ${status.phase}`);
  }
  if (status.desiredWorkers !== desired || status.readyWorkers !== ready) {
    t.v.statusMismatches++;
    t.problem(
      `${name}: status says ${status.desiredWorkers} workers, ${status.readyWorkers} ready; children: ${desired}, ${ready} ready`,
    );
  }
}

/** The verdict on the end state; history adds what was seen along the way. */
export function judge(s: Snapshot, history?: AdmissionHistory): Verdict {
  const v: Verdict = {
    workloads: s.trainingJobs.length + s.rayClusters.length,
    admitted: 0,
    queued: 0,
    duplicates: 0,
    orphans: 0,
    missing: 0,
    unadmittedChildren: 0,
    misplaced: 0,
    admittedTwice: history?.admittedTwice.size ?? 0,
    doubleBooked: 0,
    statusMismatches: 0,
    unsettled: 0,
    problems: [],
  };
  const t: Tally = {
    v,
    problem(what) {
      if (v.problems.length < 20) v.problems.push(what);
    },
  };
  for (const id of history?.admittedTwice ?? []) t.problem(`${id}: admitted twice`);
  const owned = (children: KubeObject[], kind: string) => {
    const by = new Map<string, KubeObject[]>();
    for (const c of children) {
      if (kindOf(c) !== kind) continue;
      const uid = ownerUid(c) ?? "";
      by.set(uid, [...(by.get(uid) ?? []), c]);
    }
    return by;
  };
  const workloads = [
    ...s.trainingJobs.map((w) => ({ w, kind: "trainingjob" })),
    ...s.rayClusters.map((w) => ({ w, kind: "raycluster" })),
  ];
  const live = new Set(workloads.map(({ w }) => uidOf(w)));
  for (const c of [...s.pods, ...s.services]) {
    if (!kindOf(c) || live.has(ownerUid(c) ?? "")) continue;
    v.orphans++;
    t.problem(`${c.kind ?? "child"} ${c.metadata.namespace}/${c.metadata.name}: no live owner`);
  }
  const podsOf = { trainingjob: owned(s.pods, "trainingjob"), raycluster: owned(s.pods, "raycluster") };
  const servicesOf = {
    trainingjob: owned(s.services, "trainingjob"),
    raycluster: owned(s.services, "raycluster"),
  };
  for (const { w, kind } of workloads) {
    const k = kind as keyof typeof podsOf;
    const pods = (podsOf[k].get(uidOf(w)) ?? []) as PodLike[];
    const services = servicesOf[k].get(uidOf(w)) ?? [];
    if (kind === "trainingjob") judgeTrainingJob(t, w, pods, services);
    else judgeRayCluster(t, w, pods, services);
  }
  const booked = new Set([
    ...overbookedNodes(
      workloads.map(({ w }) => w),
      s.nodes,
    ),
    ...overboundNodes(s.pods, s.nodes),
    ...(history?.overbooked ?? []),
  ]);
  v.doubleBooked = booked.size;
  for (const b of booked) t.problem(`double-booked: ${b}`);
  return v;
}
