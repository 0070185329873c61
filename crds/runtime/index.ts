// The API as the operator uses it at run time: the kinds' names, labels, annotations, constants
// and helpers, and the types inferred from the schemas. Nothing here loads zod, nor the schemas
// (about 25 MB resident that an operator, which never parses with them, would keep): the types
// are imported with `import type`, which leaves no import behind. The controllers import from
// here; the CLI, the generator and the tests use the schemas through ../index.ts.
export type { AcceleratorPool, AcceleratorPoolSpec, AcceleratorPoolStatus } from "../acceleratorpool.ts";
export type { AcceleratorQueue, AcceleratorQueueStatus } from "../acceleratorqueue.ts";
export type { AdmissionStatus } from "../admission.ts";
export type { AutoscalingSpec } from "../autoscaling.ts";
export type { Condition, EnvVar, LabelSelector, Quantity, Toleration } from "../common.ts";
export type { InferenceService, InferenceServiceSpec, InferenceServiceStatus } from "../inferenceservice.ts";
export * from "../labels.ts";
export type {
  RayCluster,
  RayClusterPhase,
  RayClusterSpec,
  RayClusterStatus,
  RayWorkerGroup,
} from "../raycluster.ts";
export type { RayJob, RayJobSpec, RayJobStatusFields } from "../rayjob.ts";
export type { RayService, RayServiceStatusFields } from "../rayservice.ts";
export type { TeamQuota, TeamQuotaStatus } from "../teamquota.ts";
export type { TrainingJob, TrainingJobSpec, TrainingJobStatus } from "../trainingjob.ts";
export * from "../vendors.ts";
export * from "./acceleratorpool.ts";
export * from "./autoscaling.ts";
export * from "./inferenceservice.ts";
export * from "./kinds.ts";
export * from "./queueing.ts";
export * from "./rayjob.ts";
export * from "./rayservice.ts";
export * from "./trainingjob.ts";
