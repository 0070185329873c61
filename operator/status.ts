// The status write at the end of a reconcile. It is skipped when the computed status equals
// what the cache already shows, because a write bumps the resourceVersion, which fires a
// watch event, which queues another reconcile: an unconditional write would loop forever.
// The write is a server-side apply to the status subresource, so it can never touch spec
// and fields the controller no longer reports disappear.
import { deepEqual } from "./equality.ts";
import type { KubeClient } from "./kube-client.ts";
import type { RequestLane } from "./request-limiter.ts";
import type { KubeObject, ResourceType } from "./resource.ts";

export interface StatusWriteOptions {
  fieldManager: string;
  /** The request lane (request-limiter.ts): "report" for a write that nothing waits on. */
  lane?: RequestLane;
}

/** Sets status.observedGeneration to the generation the status was computed from. */
export function withObservedGeneration<S extends object>(
  obj: KubeObject,
  status: S,
): S & { observedGeneration?: number } {
  const generation = obj.metadata.generation;
  return generation === undefined ? status : { ...status, observedGeneration: generation };
}

/** deepEqual counts undefined members as absent already: no JSON round trip of both sides. */
export function statusEquals(current: unknown, desired: unknown): boolean {
  return deepEqual(current ?? {}, desired ?? {});
}

/**
 * Writes `status` for `obj` unless it equals obj.status. Returns the object the server
 * returned, or undefined when nothing was written.
 */
export async function writeStatus(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  status: unknown,
  options: StatusWriteOptions,
): Promise<KubeObject | undefined> {
  if (statusEquals(obj.status, status)) return undefined;
  const { name, namespace } = obj.metadata;
  const patch: KubeObject = {
    apiVersion: rt.apiVersion,
    kind: rt.kind,
    metadata: namespace ? { name, namespace } : { name },
    status,
  };
  return client.apply(rt, patch, {
    fieldManager: options.fieldManager,
    force: true,
    subresource: "status",
    lane: options.lane,
  });
}
