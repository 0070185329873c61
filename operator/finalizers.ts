// Finalizers, for the few controllers that must clean up something outside the API before
// an object goes away. Written as JSON patches with a `test` op, so adding or removing ours
// never overwrites a finalizer another controller added at the same moment. Only the first
// finalizer of an object is guarded by its resourceVersion (see addFinalizerPatch).
import { ApiError, type KubeClient } from "./kube-client.ts";
import type { KubeObject, ResourceType } from "./resource.ts";

/** JSON patch adding `finalizer` (none when present). Exported for tests. */
export function addFinalizerPatch(obj: KubeObject, finalizer: string): unknown[] | undefined {
  const list = obj.metadata.finalizers;
  if (list?.includes(finalizer)) return undefined;
  if (!list || list.length === 0) {
    // "add" on a missing list would replace a list another writer created meanwhile, so
    // the patch only applies to the exact version we read.
    return [
      { op: "test", path: "/metadata/resourceVersion", value: obj.metadata.resourceVersion },
      { op: "add", path: "/metadata/finalizers", value: [finalizer] },
    ];
  }
  return [{ op: "add", path: "/metadata/finalizers/-", value: finalizer }];
}

/** JSON patch removing `finalizer` by position, guarded by a test of that position. */
export function removeFinalizerPatch(obj: KubeObject, finalizer: string): unknown[] | undefined {
  const index = obj.metadata.finalizers?.indexOf(finalizer) ?? -1;
  if (index < 0) return undefined;
  return [
    { op: "test", path: `/metadata/finalizers/${index}`, value: finalizer },
    { op: "remove", path: `/metadata/finalizers/${index}` },
  ];
}

/**
 * Adds `finalizer` to `obj`. A failed `test` (the object changed since it was read) is tried
 * again on a fresh copy, at most three times; then it surfaces and the reconcile retries.
 */
export async function addFinalizer(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  finalizer: string,
): Promise<KubeObject> {
  let current = obj;
  // The guard on an empty list fails (422) when the object moved on since it was read (a status
  // write of its own controller, say): read it again and add to what it is now, a few times.
  for (let attempt = 0; ; attempt++) {
    const patch = addFinalizerPatch(current, finalizer);
    if (!patch) return current;
    try {
      return await client.patch(
        rt,
        current.metadata.name as string,
        current.metadata.namespace,
        patch,
        "json",
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 422) || attempt >= 3) throw error;
      current = await client.get(rt, current.metadata.name as string, current.metadata.namespace);
    }
  }
}

export async function removeFinalizer(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  finalizer: string,
): Promise<KubeObject> {
  const patch = removeFinalizerPatch(obj, finalizer);
  if (!patch) return obj;
  return client.patch(rt, obj.metadata.name as string, obj.metadata.namespace, patch, "json");
}
