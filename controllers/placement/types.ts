// Plain input and output shapes of the placement engine. They are deliberately independent of the
// zod schemas in crds/: the controllers adapt API objects (AcceleratorPool, Node, Pod, the workload
// kinds) to these, so the engine stays a pure function that a benchmark can drive without an API server.
import type { Vendor } from "../../crds/vendors.ts";
import type { Preemption, QuotaInput, TeamUsage } from "./quota/types.ts";

export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";

export interface Taint {
  key: string;
  value?: string | undefined;
  effect: TaintEffect;
}

/** Kubernetes toleration semantics: an empty key with operator Exists tolerates every taint. */
export interface Toleration {
  key?: string | undefined;
  /** Defaults to "Equal", as in the Pod API. */
  operator?: "Exists" | "Equal" | undefined;
  value?: string | undefined;
  /** Empty or absent: tolerates every effect. */
  effect?: TaintEffect | "" | undefined;
}

export interface PoolInput {
  name: string;
  vendor: Vendor;
  model: string;
  /** Memory per device; 0 when unknown (then no minMemoryGiB > 0 is satisfied). */
  memoryGiB: number;
  interconnect?: string | undefined;
  resourceName: string;
  /** A paused pool admits nothing new; what it already runs is untouched. */
  paused: boolean;
  /** Added to every pod placed here, so they count when checking node taints. */
  tolerations: readonly Toleration[];
  /** Unknown cost sorts after every known cost. */
  costPerDeviceHour?: number | undefined;
  /**
   * The pool's nodeSelector already resolved against the cluster's Nodes. A node listed by two
   * pools (overlapping selectors) is one node: its free capacity is shared, never counted twice.
   */
  nodeNames: readonly string[];
}

export interface NodeInput {
  name: string;
  ready: boolean;
  /** spec.unschedulable (cordoned). */
  unschedulable: boolean;
  taints: readonly Taint[];
  /** Devices of the node's pool's resourceName. */
  allocatableDevices: number;
  /** Allocatable minus the requests of non-terminated pods bound to the node. */
  freeDevices: number;
  allocatableCpuMillis: number;
  freeCpuMillis: number;
  allocatableMemoryBytes: number;
  freeMemoryBytes: number;
}

/** Mirrors the API's AcceleratorRequirement so a parsed spec can be passed as it is. */
export interface AcceleratorRequirement {
  /** Devices per pod; 0 = CPU only (the pod is still placed on a pool, by CPU and memory). */
  count: number;
  /** Per device. */
  minMemoryGiB?: number | undefined;
  /** Empty or absent: any vendor. */
  vendors?: readonly Vendor[] | undefined;
  /** Globs on the pool's model ("H100*", "MI300?"), case-insensitive; empty or absent: any. */
  models?: readonly string[] | undefined;
  /** Explicit pin. The order is a preference: an earlier pool wins whenever it has room. */
  pools?: readonly string[] | undefined;
  interconnect?: string | undefined;
  /**
   * The automatic shape ("replicas" mode only): count is ignored and each pool's devices per pod
   * are the smallest power of two whose memory holds memoryGiB (replica-shape.ts); pools where no
   * count up to 64 does never match.
   */
  replicaShape?: ReplicaShape | undefined;
}

/** What a replica of automatic shape needs, for replica-shape.ts to give it a count per pool. */
export interface ReplicaShape {
  /** Memory one replica needs over all its devices, headroom included. */
  memoryGiB: number;
  /** The model's attention heads: tensor parallelism splits them, so the count must divide them. */
  attentionHeads?: number | undefined;
}

/** Identical pods: a training job's ranks, one Ray worker group, an inference service's replicas. */
export interface PodGroup {
  /** Unique within its workload. */
  name: string;
  pods: number;
  cpuMillis: number;
  memoryBytes: number;
  accelerators: AcceleratorRequirement;
  /**
   * "replicas" mode: each replica is this many pods, every one on its own node of one pool, admitted
   * all together or not at all (a model server spanning nodes). Then `pods`, minPods and the
   * admission's PoolPlacement.pods count replicas, while NodeAssignment.pods counts pods and the
   * shape (accelerators, cpu, memory) is per pod. Default 1.
   */
  podsPerReplica?: number | undefined;
}

export interface Workload {
  /** Unique, e.g. "TrainingJob/ns/name"; the last tie-breaker of the queue order. */
  key: string;
  /** Higher first. */
  priority: number;
  /** Milliseconds since the epoch; earlier first among equal priorities. */
  creationTimestamp: number;
  /** When it (re)entered the queue, for the starvation guard; defaults to creationTimestamp. */
  queuedSince?: number | undefined;
  tolerations?: readonly Toleration[] | undefined;
  groups: readonly PodGroup[];
  /**
   * "gang" (default): every pod of every group or nothing; each group lands on exactly one pool
   * (different groups may land on different pools).
   * "replicas": exactly one group of independent pods, split across pools (fill the preferred pool,
   * then spill to the next); admitted when at least minPods fit, the rest stay pending.
   */
  mode?: "gang" | "replicas" | undefined;
  /**
   * "replicas": admitted when at least this many pods fit; default 1.
   * "gang" of exactly one group: a size range, as in Kueue's partial admission: admitted with the
   * largest count from minPods up to the group's pods that fits on one pool, and that count is
   * final (no pods stay pending); default: all of them.
   * 0 counts as 1 in both: an admission must place something.
   */
  minPods?: number | undefined;
  /** The TeamQuota whose quota the workload uses (input.quota.teams); absent: no quota applies. */
  team?: string | undefined;
}

/** Capacity held by an admitted workload whose pods are not yet bound to nodes. */
export interface Reservation {
  key: string;
  nodes: readonly ReservedNode[];
}

export interface ReservedNode {
  node: string;
  devices: number;
  cpuMillis: number;
  memoryBytes: number;
}

export interface PlacementInput {
  pools: readonly PoolInput[];
  nodes: readonly NodeInput[];
  /** Admitted but not yet bound: subtracted from free capacity before anything is placed. */
  reservations?: readonly Reservation[] | undefined;
  /** Workloads waiting for admission (not the admitted ones: those are reservations or pods). */
  workloads: readonly Workload[];
  /** The caller's clock in ms since the epoch; only the starvation guard reads it. */
  now?: number | undefined;
  /** Team quotas, cohorts and preemption (quota/); absent: one queue, no quotas. */
  quota?: QuotaInput | undefined;
}

export interface PlacementOptions {
  /**
   * A gang queued for at least this long that still does not fit holds, for this pass, the pools
   * it is closest to fitting on: workloads behind it may not be admitted there. Off when absent
   * or when input.now is absent.
   */
  starvationAfterMs?: number | undefined;
  /**
   * How many starving gangs may hold pools at once, the first ones in queue order. Default 1:
   * every held pool idles capacity until its holder fits, so holders take turns.
   */
  maxHolders?: number | undefined;
  /** Pools listed in a queued workload's reason before "and N more". Default 4. */
  maxPoolsInReason?: number | undefined;
}

export interface NodeAssignment {
  node: string;
  pods: number;
  devices: number;
  cpuMillis: number;
  memoryBytes: number;
}

export interface PoolPlacement {
  pool: string;
  vendor: Vendor;
  resourceName: string;
  pods: number;
  /** Automatic shape only (accelerators.replicaShape): the devices each pod takes on this pool. */
  devicesPerPod?: number | undefined;
  /** Sorted by node name. */
  nodes: NodeAssignment[];
}

export interface GroupAdmission {
  group: string;
  pods: number;
  /** Exactly one for a gang's group; one or more for "replicas". */
  placements: PoolPlacement[];
}

export interface Admission {
  key: string;
  /** Sorted by group name. */
  groups: GroupAdmission[];
  /** "replicas" only: pods that did not fit this pass; 0 for gangs. */
  pendingPods: number;
  /** Why the pending pods did not fit, when pendingPods > 0. */
  pendingReason?: string | undefined;
}

export type QueuedCode =
  | "InsufficientCapacity"
  | "PoolPaused"
  | "PoolHeld"
  | "NoReadyNodes"
  /** Its team's quota (with what the cohort can lend) holds it. */
  | "QuotaExceeded"
  /** Victims were chosen for it; it is admitted once they are gone. */
  | "Preempting"
  /** Decided outside the engine: preempted, it waits until its preemptor is admitted. */
  | "Reclaimed"
  /** Decided outside the engine: the queue or TeamQuota it names does not exist. */
  | "QueueNotFound";

export interface QueuedWorkload {
  key: string;
  /** 1-based, in queue order, counting only queued workloads. */
  position: number;
  code: QueuedCode;
  reason: string;
  /** Queued long enough to trigger the starvation guard. */
  starving: boolean;
}

export type UnschedulableCode =
  | "InvalidRequest"
  | "NoMatchingPool"
  | "Untolerated"
  | "ExceedsNodeCapacity"
  | "ExceedsPoolCapacity"
  /** More than the team may ever use: nominal + borrowingLimit, or all its cohort lends. */
  | "ExceedsQuota";

/** Would not fit even if every matching pool were empty, ready, uncordoned and unpaused. */
export interface UnschedulableWorkload {
  key: string;
  code: UnschedulableCode;
  reason: string;
}

export interface PoolHold {
  pool: string;
  /** The starving workload that the pool is held for. */
  key: string;
}

export interface PlacementResult {
  /** In admission (queue) order. */
  admitted: Admission[];
  /** In queue order; positions 1..n. */
  queued: QueuedWorkload[];
  /** In queue order. Re-evaluated every pass: adding nodes or pools can lift the verdict. */
  unschedulable: UnschedulableWorkload[];
  holds: PoolHold[];
  /** With input.quota: admitted workloads to preempt now, and each team's use after the pass. */
  preempted?: Preemption[] | undefined;
  teams?: TeamUsage[] | undefined;
}
