// The cluster as the placement engine sees it, computed from cached objects: pools with their
// matched nodes, and each node's free capacity after the requests of the pods bound to it.
// Pure, so the same numbers feed AcceleratorPool status, admission and the tests.
import {
  type AcceleratorPool,
  type AcceleratorPoolStatus,
  type Condition,
  poolNodeSelector,
  poolResourceName,
  type Vendor,
} from "../../crds/runtime/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import type { NodeInput, PoolInput, Taint, Toleration } from "../placement/types.ts";
import { bytes, cpuMillis, parseQuantity } from "./quantity.ts";
import { matchesSelector } from "./selector.ts";

interface Container {
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
export interface PodLike extends KubeObject {
  spec?: { nodeName?: string; containers?: Container[]; initContainers?: Container[] };
  status?: { phase?: string };
}
export interface NodeLike extends KubeObject {
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: {
    allocatable?: Record<string, string>;
    conditions?: { type: string; status: string }[];
  };
}

export const isTerminated = (pod: PodLike): boolean =>
  pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";

export const isNodeReady = (node: NodeLike): boolean =>
  node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** What a pod holds on its node: its containers' requests (limits when no request), or the
 * largest init container's when that is more, as the scheduler counts it. */
export function podRequest(pod: PodLike, resource: string): number {
  return podRequests(pod).get(resource) ?? 0;
}

/**
 * Every resource a pod holds, non-zero ones only. Cached per pod object: cached objects are
 * replaced, never mutated, on update, and every admission pass and pool status reads the
 * requests of every pod again.
 */
function podRequests(pod: PodLike): ReadonlyMap<string, number> {
  let requests = requestCache.get(pod);
  if (!requests) {
    requests = computePodRequests(pod);
    requestCache.set(pod, requests);
  }
  return requests;
}

const requestCache = new WeakMap<PodLike, ReadonlyMap<string, number>>();

function containerRequests(c: Container): Map<string, number> {
  const out = new Map<string, number>();
  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  for (const name of new Set([...Object.keys(requests), ...Object.keys(limits)])) {
    const v = parseQuantity(requests[name] ?? limits[name]) || 0;
    if (v) out.set(name, v);
  }
  return out;
}

function computePodRequests(pod: PodLike): Map<string, number> {
  const total = new Map<string, number>();
  for (const c of pod.spec?.containers ?? [])
    for (const [name, v] of containerRequests(c)) total.set(name, (total.get(name) ?? 0) + v);
  for (const c of pod.spec?.initContainers ?? [])
    for (const [name, v] of containerRequests(c)) if (v > (total.get(name) ?? 0)) total.set(name, v);
  return total;
}

/** Requests of the non-terminated pods bound to each node, for the given resources. */
export function usageByNode(
  pods: readonly PodLike[],
  resources: readonly string[],
): Map<string, Map<string, number>> {
  const wanted = new Set(resources);
  const usage = new Map<string, Map<string, number>>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || isTerminated(pod)) continue;
    let u = usage.get(node);
    if (!u) {
      u = new Map();
      usage.set(node, u);
    }
    for (const [r, v] of podRequests(pod)) if (wanted.has(r)) u.set(r, (u.get(r) ?? 0) + v);
  }
  return usage;
}

export interface ClusterView {
  pools: PoolInput[];
  nodes: NodeInput[];
  /** Node names per pool, for status. */
  poolNodes: Map<string, NodeLike[]>;
  usage: Map<string, Map<string, number>>;
}

export function clusterView(
  pools: readonly AcceleratorPool[],
  nodes: readonly NodeLike[],
  pods: readonly PodLike[],
): ClusterView {
  const poolNodes = new Map<string, NodeLike[]>();
  const resourceOfNode = new Map<string, string>();
  const poolInputs: PoolInput[] = [];
  for (const pool of pools) {
    const name = pool.metadata.name ?? "";
    const resourceName = poolResourceName(pool.spec) ?? "";
    const selector = poolNodeSelector(pool);
    const matched = nodes.filter((n) => matchesSelector(n.metadata.labels, selector));
    poolNodes.set(name, matched);
    for (const n of matched)
      if (!resourceOfNode.has(n.metadata.name ?? "")) resourceOfNode.set(n.metadata.name ?? "", resourceName);
    poolInputs.push({
      name,
      vendor: pool.spec.vendor as Vendor,
      model: pool.spec.model,
      memoryGiB: pool.spec.memoryGiB,
      interconnect: pool.spec.interconnect,
      resourceName,
      paused: pool.spec.paused ?? false,
      tolerations: (pool.spec.tolerations ?? []) as Toleration[],
      costPerDeviceHour: pool.spec.costPerDeviceHour,
      nodeNames: matched.map((n) => n.metadata.name ?? ""),
    });
  }
  const resources = ["cpu", "memory", ...new Set(resourceOfNode.values())];
  const usage = usageByNode(pods, resources);
  const nodeInputs: NodeInput[] = [];
  for (const node of nodes) {
    const name = node.metadata.name ?? "";
    const resource = resourceOfNode.get(name);
    if (resource === undefined) continue; // in no pool: never a placement target
    const alloc = node.status?.allocatable ?? {};
    const used = usage.get(name);
    const devices = parseQuantity(alloc[resource]) || 0;
    const cpu = cpuMillis(alloc.cpu);
    const memory = bytes(alloc.memory);
    nodeInputs.push({
      name,
      ready: isNodeReady(node),
      unschedulable: node.spec?.unschedulable ?? false,
      taints: node.spec?.taints ?? [],
      allocatableDevices: devices,
      freeDevices: Math.max(0, devices - (used?.get(resource) ?? 0)),
      allocatableCpuMillis: cpu,
      freeCpuMillis: Math.max(0, cpu - Math.round((used?.get("cpu") ?? 0) * 1000)),
      allocatableMemoryBytes: memory,
      freeMemoryBytes: Math.max(0, memory - (used?.get("memory") ?? 0)),
    });
  }
  return { pools: poolInputs, nodes: nodeInputs, poolNodes, usage };
}

/** AcceleratorPool status from the view; conditions are merged by the caller. */
export function poolStatus(
  pool: AcceleratorPool,
  view: ClusterView,
): Omit<AcceleratorPoolStatus, "conditions" | "observedGeneration"> & {
  ready: Pick<Condition, "status" | "reason" | "message">;
} {
  const name = pool.metadata.name ?? "";
  const resource = poolResourceName(pool.spec) ?? "";
  const nodes = view.poolNodes.get(name) ?? [];
  let readyNodes = 0;
  let capacity = 0;
  let allocated = 0;
  let largestFreePerNode = 0;
  for (const node of nodes) {
    if (!isNodeReady(node) || node.spec?.unschedulable) continue;
    readyNodes++;
    const devices = parseQuantity(node.status?.allocatable?.[resource]) || 0;
    const used = Math.min(devices, view.usage.get(node.metadata.name ?? "")?.get(resource) ?? 0);
    capacity += devices;
    allocated += used;
    largestFreePerNode = Math.max(largestFreePerNode, devices - used);
  }
  const ready: Pick<Condition, "status" | "reason" | "message"> =
    nodes.length === 0
      ? { status: "False", reason: "NoNodes", message: "no node matches the pool's nodeSelector" }
      : readyNodes === 0
        ? {
            status: "False",
            reason: "NoReadyNodes",
            message: `none of ${nodes.length} nodes is ready and schedulable`,
          }
        : capacity === 0
          ? { status: "False", reason: "NoDevices", message: `ready nodes advertise no ${resource}` }
          : {
              status: "True",
              reason: "NodesReady",
              message: `${readyNodes} of ${nodes.length} nodes ready with ${capacity} ${resource}`,
            };
  return {
    nodes: nodes.length,
    readyNodes,
    capacity,
    allocated,
    free: capacity - allocated,
    largestFreePerNode,
    ready,
  };
}
