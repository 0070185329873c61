// What Ray itself says its cluster lacks and which of its nodes do nothing: the data `ray status`
// prints and Ray's autoscaler consumes. The head's autoscaler monitor writes it to the GCS every
// AUTOSCALER_UPDATE_INTERVAL_S (the operator sets 1 s on heads it autoscales) and the dashboard
// serves it at /api/cluster_status; /api/v0/nodes names each node (its IP, which is the pod's).
import type { RayHttpOptions } from "./http.ts";
import { rayJson } from "./http.ts";

export type ResourceBundle = Record<string, number>;

/** Bundles waiting for a node that has them: tasks, actors, placement groups, explicit requests. */
export interface Demand {
  bundle: ResourceBundle;
  count: number;
}

export interface RayNode {
  nodeId: string;
  ip: string;
  isHead: boolean;
  alive: boolean;
  /** Per resource: [used, total], from the last report. */
  usage: Record<string, [number, number]>;
}

export interface RayClusterLoad {
  demand: Demand[];
  nodes: RayNode[];
  /** When the monitor made the report (ms since the epoch), 0 when there is none yet. */
  reportedAt: number;
}

type RawBundleCount = [ResourceBundle, number];
interface RawLoadMetrics {
  resourceDemand?: RawBundleCount[] | null;
  pgDemand?: Array<[{ bundles?: RawBundleCount[]; strategy?: string }, number]> | null;
  requestDemand?: RawBundleCount[] | null;
  usageByNode?: Record<string, Record<string, [number, number]>> | null;
}
interface RawClusterStatus {
  data?: { clusterStatus?: { time?: number; loadMetricsReport?: RawLoadMetrics } | null };
}
interface RawNodes {
  data?: {
    result?: {
      result?: Array<{ node_id?: string; node_ip?: string; is_head_node?: boolean; state?: string }>;
    };
  };
}

const isBundleCount = (v: unknown): v is RawBundleCount =>
  Array.isArray(v) && typeof v[0] === "object" && v[0] !== null && typeof v[1] === "number";

/** Ray's internal resources (node:<ip>, node:__internal_head__) are no one's demand. */
const cleanBundle = (b: ResourceBundle): ResourceBundle =>
  Object.fromEntries(Object.entries(b).filter(([k, v]) => !k.startsWith("node:") && v > 0));

export function parseDemand(report: RawLoadMetrics | undefined): Demand[] {
  const out: Demand[] = [];
  const add = (bundle: ResourceBundle, count: number) => {
    const clean = cleanBundle(bundle);
    if (count > 0 && Object.keys(clean).length > 0) out.push({ bundle: clean, count });
  };
  for (const entry of report?.resourceDemand ?? []) if (isBundleCount(entry)) add(entry[0], entry[1]);
  for (const entry of report?.requestDemand ?? []) if (isBundleCount(entry)) add(entry[0], entry[1]);
  // A pending placement group needs every bundle of it, count times.
  for (const entry of report?.pgDemand ?? []) {
    if (!Array.isArray(entry) || typeof entry[1] !== "number") continue;
    for (const b of entry[0]?.bundles ?? []) if (isBundleCount(b)) add(b[0], b[1] * entry[1]);
  }
  return out;
}

export function parseClusterLoad(status: RawClusterStatus, nodes: RawNodes): RayClusterLoad {
  const cs = status.data?.clusterStatus ?? undefined;
  const usage = cs?.loadMetricsReport?.usageByNode ?? {};
  return {
    demand: parseDemand(cs?.loadMetricsReport),
    reportedAt: cs?.time ? Math.round(cs.time * 1000) : 0,
    nodes: (nodes.data?.result?.result ?? []).flatMap((n) =>
      n.node_id && n.node_ip
        ? [
            {
              nodeId: n.node_id,
              ip: n.node_ip,
              isHead: n.is_head_node === true,
              alive: n.state === "ALIVE",
              usage: usage[n.node_id] ?? {},
            },
          ]
        : [],
    ),
  };
}

/** Resources whose use says nothing about work: memory is reserved, not used, by most tasks. */
const ignoredForIdle = new Set(["memory"]);

/** Whether a node runs nothing and holds no objects, by its last report. */
export function isIdleNode(node: RayNode): boolean {
  if (!node.alive || Object.keys(node.usage).length === 0) return false;
  return Object.entries(node.usage).every(
    ([resource, [used]]) => ignoredForIdle.has(resource) || resource.startsWith("node:") || used <= 0,
  );
}

export async function fetchClusterLoad(
  dashboardUrl: string,
  options?: RayHttpOptions,
): Promise<RayClusterLoad> {
  const [status, nodes] = await Promise.all([
    rayJson<RawClusterStatus>(dashboardUrl, "GET", "/api/cluster_status", undefined, options),
    rayJson<RawNodes>(dashboardUrl, "GET", "/api/v0/nodes?limit=10000", undefined, options),
  ]);
  return parseClusterLoad(status, nodes);
}
