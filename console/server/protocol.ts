// What the console's server sends the browser over its event stream (GET /api/stream, SSE).
// Rows are views computed on the server from the watched objects, so the browser holds small
// flat records, not Kubernetes objects. The first message is a snapshot of every collection;
// after it, patches carry the rows that changed and the ids that went, at most a few per second.

export interface PoolRow {
  id: string;
  name: string;
  vendor: string;
  model: string;
  memoryGiB?: number;
  paused: boolean;
  /** From the pool's status; undefined until the operator has reported it. */
  nodes?: number;
  readyNodes?: number;
  capacity?: number;
  allocated?: number;
  free?: number;
  largestFreePerNode?: number;
}

export interface DeviceHolder {
  /** The workload (trainingjob/ns/name) or, for a pod of no workload, the pod (pod/ns/name). */
  holder: string;
  devices: number;
}

export interface NodeRow {
  id: string;
  name: string;
  pool?: string;
  vendor?: string;
  devices: number;
  ready: boolean;
  holders: DeviceHolder[];
}

export interface ChildRow {
  kind: string;
  name: string;
  status: string;
  node?: string;
}

export interface PhaseMark {
  phase: string;
  time: string;
}

export interface WorkloadRow {
  /** Kind/namespace/name. */
  id: string;
  kind: "TrainingJob" | "RayCluster" | "InferenceService";
  namespace: string;
  name: string;
  phase: string;
  pools: string[];
  created?: string;
  restarts: number;
  /** What it asks for, as describe says it ("8 devices of at least 80 GiB, vendor nvidia"). */
  needs: string;
  queuePosition?: number;
  /** describe's admission line: label "Queue", "Waiting" or "Failure" and its text. */
  admission?: { label: string; text: string };
  ready: string;
  children: ChildRow[];
  timeline: PhaseMark[];
}

export interface EventRow {
  id: string;
  /** The WorkloadRow (or pool) id the event is about. */
  about: string;
  type: string;
  reason: string;
  time?: string;
  count: number;
  from: string;
  message: string;
}

export interface VendorReplicas {
  pool: string;
  vendor: string;
  replicas: number;
  ready: number;
  devicesPerReplica?: number;
}

export interface RouterPoint {
  /** Milliseconds since the epoch. */
  t: number;
  requestsPerSecond: number;
  queued: number;
  inFlight: number;
  tokensPerSecond: number;
  /** Time to first token over the last interval, seconds (bucket bounds); absent: no requests. */
  ttftP50?: number;
  ttftP99?: number;
  /** Answers refused with 429 per second over the last interval. */
  rejectedPerSecond: number;
}

export interface ServiceRow {
  id: string;
  namespace: string;
  name: string;
  phase: string;
  replicas: number;
  ready: number;
  desired?: number;
  perVendor: VendorReplicas[];
  /** Whether the service has a router; its figures come in the routers collection. */
  routed: boolean;
  /** The model name the engines serve (spec.model.name), as the router reports it. */
  servedModel?: string;
}

export interface RouterRow {
  /** The ServiceRow id. */
  id: string;
  reachable: boolean;
  error?: string;
  points: RouterPoint[];
}

export interface Collections {
  pools: PoolRow;
  nodes: NodeRow;
  workloads: WorkloadRow;
  events: EventRow;
  services: ServiceRow;
  routers: RouterRow;
}

export type CollectionName = keyof Collections;
export const collectionNames: readonly CollectionName[] = [
  "pools",
  "nodes",
  "workloads",
  "events",
  "services",
  "routers",
];

export interface ClusterState {
  /** The API server answers and every watch is open. */
  connected: boolean;
  server: string;
  /** Why not, in words, while not connected. */
  message?: string;
  /** Every watch has listed once: the collections are complete. */
  synced: boolean;
}

export type Snapshot = { [K in CollectionName]: Collections[K][] };

export interface Patch {
  upserts: Partial<{ [K in CollectionName]: Collections[K][] }>;
  deletes: Partial<Record<CollectionName, string[]>>;
}
