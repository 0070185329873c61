// Labels the operator puts on every child it creates, so the CLI, `kubectl -l` and the
// controllers themselves find a workload's pods without reading owner references.
export const labels = {
  /** trainingjob | raycluster | inferenceservice */
  kind: "stack.sovereign.dev/kind",
  /** The owning workload's name. */
  name: "stack.sovereign.dev/name",
  /** The pod group: `workers` (training), a Ray worker group's name or `head`, `server`. */
  group: "stack.sovereign.dev/group",
  /** A training pod's node rank. */
  rank: "stack.sovereign.dev/rank",
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
