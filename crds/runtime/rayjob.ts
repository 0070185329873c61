// RayJob's statuses (Ray's own job states) and phases, apart from its schema (../rayjob.ts).

export const rayJobStatuses = ["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"] as const;
export const rayJobPhases = [
  "Waiting",
  "Initializing",
  "Running",
  "Complete",
  "Failed",
  "Suspended",
] as const;
export type RayJobPhase = (typeof rayJobPhases)[number];
