// What the runtime needs to know about a kind to list, watch and write it: its group/version,
// its plural (the URL segment) and whether it lives in a namespace. Declared explicitly rather
// than discovered, so a controller's watches are visible in its source and need no extra
// round trips at startup.

export interface ResourceType {
  /** "v1" for the core group, "group/version" otherwise. */
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

export function resourceId(rt: ResourceType): string {
  const group = groupOf(rt.apiVersion);
  return group ? `${rt.plural}.${group}` : rt.plural;
}

/** The collection or object URL: /api/v1/namespaces/ns/pods/name/status. */
export function resourcePath(
  rt: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const root = rt.apiVersion.includes("/") ? `/apis/${rt.apiVersion}` : `/api/${rt.apiVersion}`;
  let path = root;
  if (rt.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${rt.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/**
 * The resource a request path names, as the API server's own metrics label it: "pods",
 * "rayclusters/status", "namespaces". The inverse of resourcePath, for counting requests.
 */
export function resourceOfPath(path: string): string {
  const parts = (path.split("?")[0] ?? "").split("/").filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  const rest = parts[0] === "api" ? parts.slice(2) : parts[0] === "apis" ? parts.slice(3) : [];
  if (rest.length === 0) return "<other>";
  // "namespaces/<ns>" is a scope when a resource follows it; a Namespace's own subresources
  // (status, finalize) are the exception, as in the API server's request info.
  const namespaceSubresource = rest.length === 3 && ["status", "finalize"].includes(rest[2] ?? "");
  const scoped = rest[0] === "namespaces" && rest.length > 2 && !namespaceSubresource ? rest.slice(2) : rest;
  const [resource, , subresource] = scoped;
  return subresource ? `${resource}/${subresource}` : (resource ?? "<other>");
}

/** The work-queue and cache key: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: { metadata: ObjectMeta }): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : (name ?? "");
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

const core = (kind: string, plural: string, namespaced = true): ResourceType => ({
  apiVersion: "v1",
  kind,
  plural,
  namespaced,
});

/** Built-in kinds the controllers of this project read or write. */
export const builtin = {
  pods: core("Pod", "pods"),
  services: core("Service", "services"),
  configMaps: core("ConfigMap", "configmaps"),
  secrets: core("Secret", "secrets"),
  serviceAccounts: core("ServiceAccount", "serviceaccounts"),
  persistentVolumeClaims: core("PersistentVolumeClaim", "persistentvolumeclaims"),
  nodes: core("Node", "nodes", false),
  namespaces: core("Namespace", "namespaces", false),
  deployments: { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments", namespaced: true },
  statefulSets: { apiVersion: "apps/v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true },
  jobs: { apiVersion: "batch/v1", kind: "Job", plural: "jobs", namespaced: true },
  roles: { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", plural: "roles", namespaced: true },
  roleBindings: {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
  },
  leases: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", plural: "leases", namespaced: true },
  priorityClasses: {
    apiVersion: "scheduling.k8s.io/v1",
    kind: "PriorityClass",
    plural: "priorityclasses",
    namespaced: false,
  },
  events: { apiVersion: "events.k8s.io/v1", kind: "Event", plural: "events", namespaced: true },
  customResourceDefinitions: {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    namespaced: false,
  },
} satisfies Record<string, ResourceType>;
