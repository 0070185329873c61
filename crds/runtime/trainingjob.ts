// What the operator reads of TrainingJob at run time, apart from its schema (../trainingjob.ts).
export const trainingJobPhases = [
  "Queued",
  "Admitted",
  "Running",
  "Restarting",
  "Succeeded",
  "Failed",
  "Suspended",
  "Preempting",
  "Preempted",
] as const;
export type TrainingJobPhase = (typeof trainingJobPhases)[number];

/** The gang sizes a job accepts: fixed (nodes, default 1) or elastic. */
export function gangSize(spec: {
  nodes?: number | undefined;
  elastic?: { minNodes: number; maxNodes: number } | undefined;
}): { min: number; max: number } {
  if (spec.elastic) return { min: spec.elastic.minNodes, max: spec.elastic.maxNodes };
  const n = spec.nodes ?? 1;
  return { min: n, max: n };
}

/** What procsPerNode reads of a spec (a whole spec, or a fragment of one). */
interface ProcsFields {
  procsPerNode?: number | undefined;
  accelerators?: { count?: number | undefined } | undefined;
}

/** Processes per node: explicit, else one per device, else one on CPU. */
export function procsPerNode<S extends ProcsFields>(spec: S): number {
  return spec.procsPerNode ?? (spec.accelerators?.count || 1);
}
