// Rows for the browser from watched objects: pure functions, so each page's content is tested
// without a cluster. The words are the CLI's: describe's admission line, its accelerator
// summary and its pod status.
import { admissionLine } from "../../cli/output/describe.ts";
import { acceleratorSummary, conditionsOf, isRecord, list, num, rec, str } from "../../cli/output/summary.ts";
import { matchesSelector } from "../../controllers/admission/selector.ts";
import {
  type LabelSelector,
  labels,
  POOL_LABEL,
  poolResourceName,
  type Vendor,
  vendorCatalog,
  vendors,
} from "../../crds/index.ts";
import type { KubeObject } from "../../operator/resource.ts";
import type {
  ChildRow,
  DeviceHolder,
  EventRow,
  NodeRow,
  PhaseMark,
  PoolRow,
  ServiceRow,
  VendorReplicas,
  WorkloadRow,
} from "./protocol.ts";

export type WorkloadKind = WorkloadRow["kind"];
export const workloadKinds: readonly WorkloadKind[] = ["TrainingJob", "RayCluster", "InferenceService"];

export const workloadId = (kind: string, namespace: string | undefined, name: string): string =>
  `${kind}/${namespace ?? ""}/${name}`;

/** The workload a pod belongs to, from the labels the operator puts on every child. */
export function podOwner(pod: KubeObject): string | undefined {
  const l = pod.metadata.labels ?? {};
  const kindLabel = l[labels.kind];
  const name = l[labels.name];
  const kind = workloadKinds.find((k) => k.toLowerCase() === kindLabel);
  return kind && name ? workloadId(kind, pod.metadata.namespace, name) : undefined;
}

export function poolRow(pool: KubeObject): PoolRow {
  const spec = rec((pool as { spec?: unknown }).spec);
  const s = rec((pool as { status?: unknown }).status);
  return {
    id: pool.metadata.name ?? "",
    name: pool.metadata.name ?? "",
    vendor: str(spec.vendor) ?? "",
    model: str(spec.model) ?? "",
    memoryGiB: num(spec.memoryGiB),
    paused: spec.paused === true,
    nodes: num(s.nodes),
    readyNodes: num(s.readyNodes),
    capacity: num(s.capacity),
    allocated: num(s.allocated),
    free: num(s.free),
    largestFreePerNode: num(s.largestFreePerNode),
  };
}

/** What a node needs to be matched to a pool: its selector and device resource. */
export interface PoolMatch {
  name: string;
  vendor: string;
  selector: LabelSelector;
  resource: string | undefined;
}

export function poolMatch(pool: KubeObject): PoolMatch {
  const spec = rec((pool as { spec?: unknown }).spec);
  const name = pool.metadata.name ?? "";
  const vendor = str(spec.vendor) ?? "other";
  const selector = (
    isRecord(spec.nodeSelector) ? spec.nodeSelector : { matchLabels: { [POOL_LABEL]: name } }
  ) as LabelSelector;
  const resource = vendors.includes(vendor as Vendor)
    ? poolResourceName({ vendor: vendor as Vendor, resourceName: str(spec.resourceName) })
    : str(spec.resourceName);
  return { name, vendor, selector, resource };
}

const knownResources = vendors.flatMap((v) => vendorCatalog[v].resourceName ?? []);

const quantity = (v: unknown): number => {
  const n = Number.parseInt(str(v) ?? "0", 10);
  return Number.isFinite(n) ? n : 0;
};

/** The device resource of a node: its pool's, else the first known accelerator it advertises. */
function deviceResource(node: KubeObject, pool: PoolMatch | undefined): string | undefined {
  if (pool?.resource) return pool.resource;
  const allocatable = rec(rec((node as { status?: unknown }).status).allocatable);
  return knownResources.find((r) => quantity(allocatable[r]) > 0);
}

const terminal = (pod: KubeObject): boolean => {
  const phase = str(rec((pod as { status?: unknown }).status).phase);
  return phase === "Succeeded" || phase === "Failed";
};

/** Devices of `resource` a pod holds: the sum over its containers' limits (else requests). */
export function podDevices(pod: KubeObject, resource: string): number {
  let total = 0;
  for (const c of list(rec((pod as { spec?: unknown }).spec).containers).filter(isRecord)) {
    const r = rec(c.resources);
    total += quantity(rec(r.limits)[resource] ?? rec(r.requests)[resource]);
  }
  return total;
}

export function nodeRow(node: KubeObject, pools: readonly PoolMatch[], pods: Iterable<KubeObject>): NodeRow {
  const pool = pools.find((p) => matchesSelector(node.metadata.labels, p.selector));
  const resource = deviceResource(node, pool);
  const status = rec((node as { status?: unknown }).status);
  const devices = resource ? quantity(rec(status.allocatable)[resource]) : 0;
  const ready = conditionsOf({ status }).some((c) => c.type === "Ready" && c.status === "True");
  const held = new Map<string, number>();
  if (resource) {
    for (const pod of pods) {
      if (terminal(pod)) continue;
      const n = podDevices(pod, resource);
      if (n === 0) continue;
      const holder = podOwner(pod) ?? `Pod/${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`;
      held.set(holder, (held.get(holder) ?? 0) + n);
    }
  }
  const holders: DeviceHolder[] = [...held]
    .map(([holder, n]) => ({ holder, devices: n }))
    .sort((a, b) => a.holder.localeCompare(b.holder));
  return {
    id: node.metadata.name ?? "",
    name: node.metadata.name ?? "",
    pool: pool?.name,
    vendor: pool?.vendor ?? (resource ? knownVendor(resource) : undefined),
    devices,
    ready,
    holders,
  };
}

const knownVendor = (resource: string): string | undefined =>
  vendors.find((v) => vendorCatalog[v].resourceName === resource);

/** describe's pod status: the waiting reason or phase, ready containers, node and pool. */
export function childRow(pod: KubeObject): ChildRow {
  const spec = rec((pod as { spec?: unknown }).spec);
  const status = rec((pod as { status?: unknown }).status);
  const containers = list(status.containerStatuses).filter(isRecord);
  const ready = containers.filter((c) => c.ready === true).length;
  const waiting = containers.map((c) => str(rec(rec(c.state).waiting).reason)).find(Boolean);
  const state = pod.metadata.deletionTimestamp ? "Terminating" : (waiting ?? str(status.phase) ?? "Pending");
  return {
    kind: "Pod",
    name: pod.metadata.name ?? "",
    status: `${state}, ${ready}/${list(spec.containers).length} ready`,
    node: str(spec.nodeName),
  };
}

function needsOf(kind: WorkloadKind, spec: Record<string, unknown>): string {
  if (kind === "TrainingJob") {
    const elastic = rec(spec.elastic);
    const nodes = isRecord(spec.elastic)
      ? `${num(elastic.minNodes)}-${num(elastic.maxNodes)}`
      : String(num(spec.nodes) ?? 1);
    return `${nodes} x (${acceleratorSummary(spec.accelerators)})`;
  }
  if (kind === "RayCluster")
    return list(spec.workerGroups)
      .filter(isRecord)
      .map((g) => `${str(g.name)}: ${num(g.replicas) ?? 1} x (${acceleratorSummary(g.accelerators)})`)
      .join("; ");
  return `${num(spec.replicas) ?? 1} x (${acceleratorSummary(spec.accelerators ?? {})})`;
}

function poolsOf(kind: WorkloadKind, status: Record<string, unknown>): string[] {
  const names = new Set<string>();
  if (kind === "TrainingJob" && str(status.pool)) names.add(str(status.pool) as string);
  for (const g of list(status.workerGroups).filter(isRecord))
    if (str(g.pool)) names.add(str(g.pool) as string);
  for (const p of list(status.placements).filter(isRecord)) if (str(p.pool)) names.add(str(p.pool) as string);
  for (const p of list(rec(status.admission).placements).filter(isRecord))
    if (str(p.pool)) names.add(str(p.pool) as string);
  return [...names].sort();
}

function readyText(kind: WorkloadKind, status: Record<string, unknown>): string {
  const pair = (a: unknown, b: unknown) => `${num(a) ?? 0}/${num(b) ?? 0}`;
  if (kind === "TrainingJob") return `${pair(status.readyNodes, status.nodes)} nodes`;
  if (kind === "RayCluster") return `${pair(status.readyWorkers, status.desiredWorkers)} workers`;
  return `${pair(status.readyReplicas, status.replicas)} replicas`;
}

/**
 * The phases a workload went through: what its status dates (created, started, completed, the
 * conditions' transitions) merged with the phases this server saw it in, oldest first.
 */
export function timelineOf(object: KubeObject, seen: readonly PhaseMark[]): PhaseMark[] {
  const status = rec((object as { status?: unknown }).status);
  const marks: PhaseMark[] = [];
  if (object.metadata.creationTimestamp)
    marks.push({ phase: "Created", time: object.metadata.creationTimestamp });
  for (const c of conditionsOf({ status }))
    if (c.status === "True" && c.lastTransitionTime)
      marks.push({ phase: c.type, time: c.lastTransitionTime });
  if (str(status.startTime)) marks.push({ phase: "Started", time: str(status.startTime) as string });
  if (str(status.completionTime))
    marks.push({ phase: "Completed", time: str(status.completionTime) as string });
  // A phase seen here near a dated mark of the same name is that mark, seen a little later.
  const near = (a: PhaseMark, b: PhaseMark) =>
    a.phase === b.phase && Math.abs(Date.parse(a.time) - Date.parse(b.time)) < 10_000;
  for (const m of seen) if (!marks.some((x) => near(x, m))) marks.push(m);
  return marks.sort((a, b) => a.time.localeCompare(b.time));
}

export function workloadRow(
  kind: WorkloadKind,
  object: KubeObject,
  children: readonly ChildRow[],
  seenPhases: readonly PhaseMark[],
): WorkloadRow {
  const spec = rec((object as { spec?: unknown }).spec);
  const status = rec((object as { status?: unknown }).status);
  return {
    id: workloadId(kind, object.metadata.namespace, object.metadata.name ?? ""),
    kind,
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name ?? "",
    phase: str(status.phase) ?? "Pending",
    pools: poolsOf(kind, status),
    created: object.metadata.creationTimestamp,
    restarts: num(status.restarts) ?? 0,
    needs: needsOf(kind, spec),
    queuePosition: num(status.queuePosition),
    admission: admissionLine(kind, object as never),
    ready: readyText(kind, status),
    children: [...children].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })),
    timeline: timelineOf(object, seenPhases),
  };
}

export function serviceRow(isvc: KubeObject, poolVendors: ReadonlyMap<string, string>): ServiceRow {
  const spec = rec((isvc as { spec?: unknown }).spec);
  const status = rec((isvc as { status?: unknown }).status);
  const perVendor: VendorReplicas[] = list(status.placements)
    .filter(isRecord)
    .map((p) => ({
      pool: str(p.pool) ?? "",
      vendor: poolVendors.get(str(p.pool) ?? "") ?? "unknown",
      replicas: num(p.replicas) ?? 0,
      ready: num(p.readyReplicas) ?? 0,
      devicesPerReplica: num(p.devicesPerReplica),
    }));
  return {
    id: workloadId("InferenceService", isvc.metadata.namespace, isvc.metadata.name ?? ""),
    namespace: isvc.metadata.namespace ?? "",
    name: isvc.metadata.name ?? "",
    phase: str(status.phase) ?? "Pending",
    replicas: num(status.replicas) ?? 0,
    ready: num(status.readyReplicas) ?? 0,
    desired: num(status.desiredReplicas),
    perVendor,
    routed: rec(spec.router).enabled === true,
    servedModel: str(rec(spec.model).name),
  };
}

/** A core/v1 Event about one of the project's objects, as describe shows it. */
export function eventRow(event: KubeObject): EventRow | undefined {
  const e = event as KubeObject & Record<string, unknown>;
  const involved = rec(e.involvedObject);
  const kind = str(involved.kind);
  const name = str(involved.name);
  if (!kind || !name) return undefined;
  const about =
    kind === "AcceleratorPool" ? `AcceleratorPool//${name}` : workloadId(kind, str(involved.namespace), name);
  const series = rec(e.series);
  return {
    id: `${event.metadata.namespace ?? ""}/${event.metadata.name ?? ""}`,
    about,
    type: str(e.type) ?? "Normal",
    reason: str(e.reason) ?? "",
    time:
      str(series.lastObservedTime) ??
      str(e.lastTimestamp) ??
      str(e.eventTime) ??
      event.metadata.creationTimestamp,
    count: num(series.count) ?? num(e.count) ?? 1,
    from: str(e.reportingComponent) || str(rec(e.source).component) || "",
    message: (str(e.message) ?? "").replace(/\s*\n\s*/g, " "),
  };
}
