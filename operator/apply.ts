// Writing children with server-side apply. Each controller applies with its own field
// manager and always sends its complete intent for a child, so:
// - fields it stops setting are removed by the server (it owns them);
// - fields other actors set (HPA replicas, admission defaults) are left alone;
// - applying the same intent twice changes nothing (no new resourceVersion).
// A resync of 10,000 objects must not become 10,000 no-op PATCHes, so an apply is skipped
// when the cached child shows that this very intent was applied last (a hash of it, kept in
// an annotation on the child, as KubeRay and LeaderWorkerSet do) and still holds. Comparing
// the intent with the child alone is not enough: an intent that dropped a field is a subset
// of the child that still has it, and the server is never asked to remove it.
import { createHash } from "node:crypto";
import { isSubset } from "./equality.ts";
import { isAlreadyExists, type KubeClient } from "./kube-client.ts";
import type { KubeObject, OwnerReference, ResourceType } from "./resource.ts";

/** The annotation holding the hash of the intent last applied to a child. */
export const appliedIntentHashAnnotation = "stack.sovereign.dev/applied-intent-hash";

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
  current?: KubeObject | undefined;
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

/**
 * JSON with object keys sorted, so that equal intents hash equally whatever their key order.
 * Undefined members are left out and undefined array items are null, as JSON.stringify does.
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const entries: string[] = [];
    for (const k of Object.keys(record).sort()) {
      const v = record[k];
      if (v !== undefined) entries.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
    }
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The hash of an intent (without its own hash annotation), as the annotation carries it. */
export function intentHash(intent: KubeObject): string {
  return createHash("sha256").update(canonicalJson(intent)).digest("base64url").slice(0, 22);
}

/**
 * The intents already made of desired objects. A desired object is never changed once it is
 * applied, so a controller that keeps one (a child that only depends on its owner's identity)
 * has it hashed once rather than on every reconcile.
 */
const intents = new WeakMap<KubeObject, { rt: ResourceType; intent: KubeObject }>();

/** The intent to send: `desired` with its type and the annotation recording its hash. */
export function appliedIntent(rt: ResourceType, desired: KubeObject): KubeObject {
  const known = intents.get(desired);
  if (known?.rt === rt) return known.intent;
  const typed = withTypeMeta(rt, desired);
  const annotations = { ...typed.metadata.annotations, [appliedIntentHashAnnotation]: intentHash(typed) };
  const intent = { ...typed, metadata: { ...typed.metadata, annotations } };
  intents.set(desired, { rt, intent });
  return intent;
}

/**
 * Whether applying `intent` (from appliedIntent) over `current` would change nothing: the
 * child records this intent as the last one applied and still carries every field of it.
 */
export function isApplied(intent: KubeObject, current: KubeObject | undefined): boolean {
  if (!current || current.metadata.deletionTimestamp) return false;
  const hash = intent.metadata.annotations?.[appliedIntentHashAnnotation];
  return current.metadata.annotations?.[appliedIntentHashAnnotation] === hash && isSubset(intent, current);
}

export async function applyObject(
  client: KubeClient,
  rt: ResourceType,
  desired: KubeObject,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const intent = appliedIntent(rt, desired);
  if (options.current && isApplied(intent, options.current))
    return { object: options.current, written: false };
  const object = await client.apply(rt, intent, {
    fieldManager: options.fieldManager,
    force: options.force ?? true,
  });
  return { object, written: true };
}

/** A create of a child written once; AlreadyExists (the cache is behind) is not an error. */
export async function createObject(
  client: KubeClient,
  rt: ResourceType,
  desired: KubeObject,
  fieldManager: string,
): Promise<ApplyResult> {
  try {
    const object = await client.create(rt, withTypeMeta(rt, desired), { fieldManager });
    return { object, written: true };
  } catch (error) {
    if (isAlreadyExists(error)) return { object: desired, written: false };
    throw error;
  }
}
