// The kinds the controllers read and write, as the runtime's ResourceType. One place, so no
// controller spells a plural or an API version of its own.
import {
  acceleratorPoolResource,
  acceleratorQueueResource,
  inferenceServiceResource,
  type KindDefinition,
  rayClusterResource,
  rayJobResource,
  rayServiceResource,
  teamQuotaResource,
  trainingJobResource,
} from "../crds/index.ts";
import { builtin, type ResourceType } from "../operator/index.ts";

const ours = (k: KindDefinition): ResourceType => ({
  apiVersion: k.apiVersion,
  kind: k.kind,
  plural: k.plural,
  namespaced: k.scope === "Namespaced",
});

export const resourceTypes = {
  acceleratorPool: ours(acceleratorPoolResource),
  trainingJob: ours(trainingJobResource),
  rayCluster: ours(rayClusterResource),
  rayJob: ours(rayJobResource),
  rayService: ours(rayServiceResource),
  inferenceService: ours(inferenceServiceResource),
  acceleratorQueue: ours(acceleratorQueueResource),
  teamQuota: ours(teamQuotaResource),
  // Built-in kinds are the runtime's own (operator/resource.ts), under the names used here.
  pod: builtin.pods,
  node: builtin.nodes,
  service: builtin.services,
  persistentVolumeClaim: builtin.persistentVolumeClaims,
  secret: builtin.secrets,
  deployment: builtin.deployments,
  job: builtin.jobs,
  serviceAccount: builtin.serviceAccounts,
  role: builtin.roles,
  roleBinding: builtin.roleBindings,
  priorityClass: builtin.priorityClasses,
} as const satisfies Record<string, ResourceType>;
