// The API of Sovereign Stack: schemas, the types inferred from them, and per-kind constants.
// Controllers and the CLI import from here.
import { acceleratorPoolResource } from "./acceleratorpool.ts";
import { acceleratorQueueResource } from "./acceleratorqueue.ts";
import { inferenceServiceResource } from "./inferenceservice.ts";
import type { KindDefinition } from "./kind.ts";
import { rayClusterResource } from "./raycluster.ts";
import { rayJobResource } from "./rayjob.ts";
import { rayServiceResource } from "./rayservice.ts";
import { teamQuotaResource } from "./teamquota.ts";
import { trainingJobResource } from "./trainingjob.ts";

export * from "./acceleratorpool.ts";
export * from "./acceleratorqueue.ts";
export * from "./accelerators.ts";
export * from "./admission.ts";
export * from "./autoscaling.ts";
export {
  API_VERSION,
  CATEGORY,
  type Condition,
  condition,
  type EnvVar,
  GROUP,
  type LabelSelector,
  type Quantity,
  type Toleration,
  VERSION,
} from "./common.ts";
export * from "./inferenceservice.ts";
export type { KindDefinition, ObjectMeta, PrinterColumn } from "./kind.ts";
export * from "./labels.ts";
export * from "./queueing.ts";
export * from "./raycluster.ts";
export * from "./rayjob.ts";
export * from "./rayservice.ts";
export * from "./teamquota.ts";
export * from "./trainingjob.ts";
export * from "./vendors.ts";

/** Every kind of the API, in the order the reference documents them. */
export const resources: readonly KindDefinition[] = [
  acceleratorPoolResource,
  trainingJobResource,
  rayClusterResource,
  rayJobResource,
  rayServiceResource,
  inferenceServiceResource,
  acceleratorQueueResource,
  teamQuotaResource,
];

export function resourceForKind(apiVersion: unknown, kind: unknown): KindDefinition | undefined {
  return resources.find((r) => r.apiVersion === apiVersion && r.kind === kind);
}
