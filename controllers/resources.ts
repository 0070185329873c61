// The kinds the controllers read and write, as the runtime's ResourceType. One place, so no
// controller spells a plural or an API version of its own.
import {
  API_VERSION,
  acceleratorPoolNames,
  acceleratorQueueNames,
  inferenceServiceNames,
  type KindNames,
  rayClusterNames,
  rayJobNames,
  rayServiceNames,
  teamQuotaNames,
  trainingJobNames,
} from "../crds/runtime/index.ts";
import { builtin, type ResourceType } from "../operator/index.ts";

const ours = (k: KindNames): ResourceType => ({
  apiVersion: API_VERSION,
  kind: k.kind,
  plural: k.plural,
  namespaced: k.scope === "Namespaced",
});

export const resourceTypes = {
  acceleratorPool: ours(acceleratorPoolNames),
  trainingJob: ours(trainingJobNames),
  rayCluster: ours(rayClusterNames),
  rayJob: ours(rayJobNames),
  rayService: ours(rayServiceNames),
  inferenceService: ours(inferenceServiceNames),
  acceleratorQueue: ours(acceleratorQueueNames),
  teamQuota: ours(teamQuotaNames),
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
