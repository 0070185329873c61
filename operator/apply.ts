// Writing children with server-side apply. Each controller applies with its own field
// manager and always sends its complete intent for a child, so:
// - fields it stops setting are removed by the server (it owns them);
// - fields other actors set (HPA replicas, admission defaults) are left alone;
// - applying the same intent twice changes nothing (no new resourceVersion).
// Before sending, the intent is compared with the cached child: when every field we set is
// already there, no request is made at all, which is what keeps a resync of 10,000 objects
// from becoming 10,000 no-op PATCHes.
import { isSubset, normalize } from "./equality.ts";
import type { KubeClient } from "./kube-client.ts";
import type { KubeObject, OwnerReference, ResourceType } from "./resource.ts";

/** An owner reference that makes `owner` the controller of the child (GC deletes the child). */
export function controllerReference(owner: KubeObject): OwnerReference {
  const { name, uid } = owner.metadata;
  if (!owner.apiVersion || !owner.kind || !name || !uid) {
    throw new Error("an owner reference needs the owner's apiVersion, kind, name and uid");
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** True when `child` is controlled by the object with `ownerUid`. */
export function isControlledBy(child: KubeObject, ownerUid: string): boolean {
  return child.metadata.ownerReferences?.some((r) => r.controller && r.uid === ownerUid) ?? false;
}

/** The controlling owner reference of `obj`, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller);
}

export interface ApplyOptions {
  fieldManager: string;
  /** The cached copy of the child, if the caller has one; enables the no-request shortcut. */
  current?: KubeObject;
  /** Take ownership of fields another manager set; true by default, as for controllers. */
  force?: boolean;
}

export interface ApplyResult {
  object: KubeObject;
  /** False when the cached child already matched and no request was sent. */
  written: boolean;
}

/** Fills apiVersion and kind from the resource type, which apply requires. */
export function withTypeMeta(rt: ResourceType, obj: KubeObject): KubeObject {
  return { ...obj, apiVersion: obj.apiVersion ?? rt.apiVersion, kind: obj.kind ?? rt.kind };
}

export async function applyObject(
  client: KubeClient,
  rt: ResourceType,
  desired: KubeObject,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const intent = normalize(withTypeMeta(rt, desired));
  if (options.current && !options.current.metadata.deletionTimestamp && isSubset(intent, options.current)) {
    return { object: options.current, written: false };
  }
  const object = await client.apply(rt, intent, {
    fieldManager: options.fieldManager,
    force: options.force ?? true,
  });
  return { object, written: true };
}
