// The kinds the controllers read and write, as the runtime's ResourceType. One place, so no
// controller spells a plural or an API version of its own.
import {
  acceleratorPoolResource,
  inferenceServiceResource,
  type KindDefinition,
  rayClusterResource,
  trainingJobResource,
} from "../crds/index.ts";
import type { ResourceType } from "../operator/index.ts";

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
  inferenceService: ours(inferenceServiceResource),
  pod: { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true },
  node: { apiVersion: "v1", kind: "Node", plural: "nodes", namespaced: false },
  service: { apiVersion: "v1", kind: "Service", plural: "services", namespaced: true },
  persistentVolumeClaim: {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    namespaced: true,
  },
  secret: { apiVersion: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  deployment: { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments", namespaced: true },
  serviceAccount: { apiVersion: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true },
  role: { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", plural: "roles", namespaced: true },
  roleBinding: {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;
