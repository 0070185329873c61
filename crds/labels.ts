// Labels the operator puts on every child it creates, so the CLI, `kubectl -l` and the
// controllers themselves find a workload's pods without reading owner references.
export const labels = {
  /** trainingjob | raycluster | inferenceservice */
  kind: "stack.sovereign.dev/kind",
  /** The owning workload's name. */
  name: "stack.sovereign.dev/name",
  /** The pod group: `workers` (training), a Ray worker group's name or `head`, `server`. */
  group: "stack.sovereign.dev/group",
  /** A training pod's node rank; a member's rank in a replica spanning nodes (0 the leader). */
  rank: "stack.sovereign.dev/rank",
  /** Which replica of its pool a member of a replica spanning nodes belongs to (0, 1, ...). */
  replica: "stack.sovereign.dev/replica",
  /** A digest of the pod template a pod was made from: pods the operator makes itself roll by it. */
  templateHash: "stack.sovereign.dev/template-hash",
  /** head | worker */
  rayNodeType: "stack.sovereign.dev/ray-node-type",
  /** A Ray worker group's name. */
  rayGroup: "stack.sovereign.dev/ray-group",
  /** The AcceleratorPool a pod was placed on. */
  pool: "stack.sovereign.dev/pool",
  /** Which gang attempt a pod belongs to (TrainingJob restarts). */
  attempt: "stack.sovereign.dev/attempt",
} as const;

export type WorkloadKindLabel = "trainingjob" | "raycluster" | "inferenceservice";
