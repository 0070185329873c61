// The names of every kind of the API: group, version, and each kind's plural, singular, short
// names and scope. The schema modules (crds/<kind>.ts) define their kinds with these; the
// operator reads them from here, without loading zod (crds/runtime/index.ts).

export const GROUP = "stack.sovereign.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = "aistack";

export interface KindNames {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
}

export const acceleratorPoolNames: KindNames = {
  kind: "AcceleratorPool",
  plural: "acceleratorpools",
  singular: "acceleratorpool",
  shortNames: ["ap"],
  scope: "Cluster",
};

export const acceleratorQueueNames: KindNames = {
  kind: "AcceleratorQueue",
  plural: "acceleratorqueues",
  singular: "acceleratorqueue",
  shortNames: ["aq"],
  scope: "Namespaced",
};

export const trainingJobNames: KindNames = {
  kind: "TrainingJob",
  plural: "trainingjobs",
  singular: "trainingjob",
  shortNames: ["tj"],
  scope: "Namespaced",
};

export const rayClusterNames: KindNames = {
  kind: "RayCluster",
  plural: "rayclusters",
  singular: "raycluster",
  shortNames: ["rayc"],
  scope: "Namespaced",
};

export const rayJobNames: KindNames = {
  kind: "RayJob",
  plural: "rayjobs",
  singular: "rayjob",
  shortNames: ["rayjob"],
  scope: "Namespaced",
};

export const rayServiceNames: KindNames = {
  kind: "RayService",
  plural: "rayservices",
  singular: "rayservice",
  shortNames: ["raysvc"],
  scope: "Namespaced",
};

export const inferenceServiceNames: KindNames = {
  kind: "InferenceService",
  plural: "inferenceservices",
  singular: "inferenceservice",
  shortNames: ["isvc"],
  scope: "Namespaced",
};

export const teamQuotaNames: KindNames = {
  kind: "TeamQuota",
  plural: "teamquotas",
  singular: "teamquota",
  shortNames: ["tq"],
  scope: "Cluster",
};
