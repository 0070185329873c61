// Finalizers, for the few controllers that must clean up something outside the API before
// an object goes away. Written as JSON patches with a `test` op, so adding or removing ours
// never overwrites a finalizer another controller added at the same moment, and needs no
// resourceVersion (no conflicts to retry).
import type { KubeClient } from "./kube-client.ts";
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
 * Adds `finalizer` to `obj`. A failed `test` (someone changed the list meanwhile) surfaces
 * as an error, and the reconcile retries with a fresh copy.
 */
export async function addFinalizer(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  finalizer: string,
): Promise<KubeObject> {
  const patch = addFinalizerPatch(obj, finalizer);
  if (!patch) return obj;
  return client.patch(rt, obj.metadata.name as string, obj.metadata.namespace, patch, "json");
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
