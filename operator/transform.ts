// What the cache keeps of each object. Reconciles read the cache, never the API, so the
// cache must hold what they decide on, and nothing else: at 40,000 Pods every field kept
// costs megabytes. managedFields alone are often half of an object's JSON.
import type { KubeObject, ObjectMeta } from "./resource.ts";

export type Transform = (obj: KubeObject) => KubeObject;

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/** The metadata every reconcile may need; managedFields and kubectl's copy are dropped. */
export function leanMetadata(meta: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = {};
  if (meta.name !== undefined) out.name = meta.name;
  if (meta.namespace !== undefined) out.namespace = meta.namespace;
  if (meta.uid !== undefined) out.uid = meta.uid;
  if (meta.resourceVersion !== undefined) out.resourceVersion = meta.resourceVersion;
  if (meta.generation !== undefined) out.generation = meta.generation;
  if (meta.creationTimestamp !== undefined) out.creationTimestamp = meta.creationTimestamp;
  if (meta.deletionTimestamp !== undefined) out.deletionTimestamp = meta.deletionTimestamp;
  if (meta.labels !== undefined) out.labels = meta.labels;
  if (meta.annotations !== undefined) {
    if (lastApplied in meta.annotations) {
      const { [lastApplied]: _dropped, ...rest } = meta.annotations;
      if (Object.keys(rest).length > 0) out.annotations = rest;
    } else {
      out.annotations = meta.annotations;
    }
  }
  if (meta.ownerReferences !== undefined) out.ownerReferences = meta.ownerReferences;
  if (meta.finalizers !== undefined) out.finalizers = meta.finalizers;
  return out;
}

/** The default for every kind: the whole object minus managedFields and last-applied. */
export const stripManagedFields: Transform = (obj) => {
  obj.metadata = leanMetadata(obj.metadata);
  return obj;
};

interface ContainerLike {
  name?: string;
  image?: string;
  resources?: unknown;
}

const leanContainers = (containers: unknown): ContainerLike[] | undefined =>
  Array.isArray(containers)
    ? (containers as ContainerLike[]).map((c) => {
        const out: ContainerLike = { name: c.name };
        if (c.image !== undefined) out.image = c.image;
        if (c.resources !== undefined) out.resources = c.resources;
        return out;
      })
    : undefined;

interface ContainerStatusLike {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: unknown;
  lastState?: unknown;
}

/**
 * Pods keep what placement and the workload controllers decide on: where a pod runs, what it
 * requests, its gates and priority, and how its containers ended. Volumes, env, probes,
 * tolerations and image IDs stay in the API server.
 */
export const leanPod: Transform = (obj) => {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const status = (obj.status ?? {}) as Record<string, unknown>;
  const leanSpec: Record<string, unknown> = {};
  for (const field of [
    "nodeName",
    "schedulerName",
    "priority",
    "priorityClassName",
    "nodeSelector",
    "schedulingGates",
    "restartPolicy",
  ]) {
    if (spec[field] !== undefined) leanSpec[field] = spec[field];
  }
  const containers = leanContainers(spec.containers);
  if (containers) leanSpec.containers = containers;
  const initContainers = leanContainers(spec.initContainers);
  if (initContainers) leanSpec.initContainers = initContainers;

  const leanStatus: Record<string, unknown> = {};
  for (const field of ["phase", "reason", "message", "podIP", "hostIP", "startTime", "nominatedNodeName"]) {
    if (status[field] !== undefined) leanStatus[field] = status[field];
  }
  if (Array.isArray(status.conditions)) {
    leanStatus.conditions = (status.conditions as Array<Record<string, unknown>>).map((c) => {
      const out: Record<string, unknown> = { type: c.type, status: c.status };
      if (c.reason !== undefined) out.reason = c.reason;
      if (c.message !== undefined) out.message = c.message;
      return out;
    });
  }
  for (const field of ["containerStatuses", "initContainerStatuses"]) {
    if (!Array.isArray(status[field])) continue;
    leanStatus[field] = (status[field] as ContainerStatusLike[]).map((c) => {
      const out: ContainerStatusLike = { name: c.name, ready: c.ready, restartCount: c.restartCount };
      if (c.state !== undefined) out.state = c.state;
      if (c.lastState !== undefined && Object.keys(c.lastState as object).length > 0)
        out.lastState = c.lastState;
      return out;
    });
  }
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: leanMetadata(obj.metadata),
    spec: leanSpec,
    status: leanStatus,
  };
};

/**
 * Nodes keep capacity, allocatable, taints, schedulability and conditions; status.images
 * (often hundreds of entries) and daemon endpoints are dropped.
 */
export const leanNode: Transform = (obj) => {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const status = (obj.status ?? {}) as Record<string, unknown>;
  const leanSpec: Record<string, unknown> = {};
  for (const field of ["unschedulable", "taints", "providerID"]) {
    if (spec[field] !== undefined) leanSpec[field] = spec[field];
  }
  const leanStatus: Record<string, unknown> = {};
  for (const field of ["capacity", "allocatable"]) {
    if (status[field] !== undefined) leanStatus[field] = status[field];
  }
  if (Array.isArray(status.conditions)) {
    leanStatus.conditions = (status.conditions as Array<Record<string, unknown>>).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
    }));
  }
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: leanMetadata(obj.metadata),
    spec: leanSpec,
    status: leanStatus,
  };
};

/** The transform used when a controller does not choose one. */
export function defaultTransformFor(kind: string): Transform {
  if (kind === "Pod") return leanPod;
  if (kind === "Node") return leanNode;
  return stripManagedFields;
}
