// What the placement engine is told about teams: their quotas (devices per class of pools, CPU,
// memory), cohorts, preemption policies and weights, and the workloads they have admitted (which
// count against their quota and are the only possible victims of a preemption). Plain shapes, as
// for the rest of the engine: the controllers adapt TeamQuota objects to them. Self-contained, so
// that ../types.ts can name them without an import cycle.
import type { Vendor } from "../../../crds/vendors.ts";

export interface ResourceQuota {
  nominal: number;
  /** Unset: as much as the cohort can lend. */
  borrowingLimit?: number | undefined;
  /** Unset: all of the unused nominal. */
  lendingLimit?: number | undefined;
}

/** A class of pools the team has a device quota on; a pool belongs to the first class matching it. */
export interface DeviceClassQuota extends ResourceQuota {
  name: string;
  /** Empty or absent: any pool (subject to vendor and models). */
  pools?: readonly string[] | undefined;
  vendor?: Vendor | undefined;
  /** Globs on the pool's model. */
  models?: readonly string[] | undefined;
}

export interface TeamInput {
  name: string;
  /** Teams of one cohort lend each other unused quota; absent: a cohort of its own. */
  cohort?: string | undefined;
  devices: readonly DeviceClassQuota[];
  /** In millicores; absent: not limited. */
  cpu?: ResourceQuota | undefined;
  /** In bytes; absent: not limited. */
  memory?: ResourceQuota | undefined;
  withinTeam: "LowerPriority" | "Never";
  reclaimBorrowed: "Any" | "LowerPriority" | "Never";
  /** Fair-sharing weight; 0: borrows only what no one else wants. */
  weight: number;
}

/** An admitted workload of a team: its use of the quota, and what evicting it would free. */
export interface AdmittedWorkload {
  key: string;
  team: string;
  priority: number;
  creationTimestamp: number;
  /** Devices held per pool; CPU and memory over all its pods. */
  pools: readonly { pool: string; devices: number }[];
  cpuMillis: number;
  memoryBytes: number;
  /** Everything it holds per node (pods and reservation alike): what its eviction frees. */
  nodes: readonly { node: string; devices: number; cpuMillis: number; memoryBytes: number }[];
  /** May be chosen as a victim as a whole (by its kind's policy). */
  preemptible: boolean;
  /**
   * Pods that may be taken back one at a time, the first to go first: a RayCluster's workers
   * above their minimum, highest index first, or an InferenceService's replicas above its
   * minimum, by name. A workload with surplus pods that is not preemptible as a whole loses
   * only some of these.
   */
  surplus?: readonly SurplusPod[] | undefined;
  /**
   * At most this many of the surplus pods may go (absent: all of them). For named pods, which
   * are interchangeable, the list may offer more than may go, so that the engine takes those on
   * the nodes the preemptor can use; the list's order is the preference among equals.
   */
  surplusLimit?: number | undefined;
  /** Already told to checkpoint and go: counted as freed when a preemptor checks whether it fits. */
  preempting?: boolean | undefined;
}

export interface SurplusPod {
  group: string;
  /**
   * Its index in the group: taking it back leaves the group at most this many pods. Pods named
   * below are interchangeable: the group's size is its first pod's index plus one.
   */
  index: number;
  /**
   * The pod itself, when its controller deletes pods by name rather than from the highest index
   * down (a Deployment's replicas): then any of the group's pods may be taken, not only a prefix
   * of the list, and the engine takes the fewest that make room, the earlier ones first.
   */
  name?: string | undefined;
  pool: string;
  node: string;
  devices: number;
  cpuMillis: number;
  memoryBytes: number;
}

export interface QuotaInput {
  teams: readonly TeamInput[];
  admitted: readonly AdmittedWorkload[];
  /** Preemption searches per pass (each is a few fits per candidate pool); default 64. */
  maxPreemptionAttempts?: number | undefined;
}

export interface Preemption {
  /** The victim. */
  key: string;
  /** The workload it makes room for. */
  by: string;
  reason: string;
  /**
   * Only some of the victim's surplus pods, per group: how many, and the count the group keeps
   * at most (its pods from that index up go; stated so that applying it twice does no harm),
   * and for named pods which ones go. Absent: the whole workload.
   */
  pods?: { group: string; pods: number; keep: number; names?: string[] | undefined }[] | undefined;
}

/** Per team, after the pass: what it holds and what waits, per device class. */
export interface TeamUsage {
  team: string;
  devices: { name: string; nominal: number; used: number; borrowed: number; pending: number }[];
  admitted: number;
  pending: number;
}
