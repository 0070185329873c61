// What the operator reads of TrainingJob at run time, apart from its schema (../trainingjob.ts).
import type { TrainingJobSpec } from "../trainingjob.ts";

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
export function gangSize(spec: Pick<TrainingJobSpec, "nodes" | "elastic">): { min: number; max: number } {
  if (spec.elastic) return { min: spec.elastic.minNodes, max: spec.elastic.maxNodes };
  const n = spec.nodes ?? 1;
  return { min: n, max: n };
}

/** Processes per node: explicit, else one per device, else one on CPU. */
export function procsPerNode(spec: Pick<TrainingJobSpec, "procsPerNode" | "accelerators">): number {
  return spec.procsPerNode ?? (spec.accelerators?.count || 1);
}
