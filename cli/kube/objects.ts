// Reading and writing objects of the API's kinds through the custom objects endpoint.
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KindDefinition } from "../../crds/index.ts";
import { CliError } from "../errors.ts";
import { exitCodes } from "../output/exit-codes.ts";
import { explain } from "./errors.ts";
import type { Session } from "./session.ts";

export interface StackObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: unknown[];
    ownerReferences?: { uid: string; kind: string; name: string; controller?: boolean }[];
    [field: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

export const FIELD_MANAGER = "stackctl";

const namespaced = (kind: KindDefinition): boolean => kind.scope === "Namespaced";

export function notFoundMessage(kind: KindDefinition, name: string, namespace: string): string {
  const where = namespaced(kind) ? ` in namespace ${namespace}` : "";
  return `${kind.singular} "${name}" not found${where}`;
}

/** Every object of a kind in `namespace`, or in all namespaces when it is undefined. */
export async function listObjects(
  session: Session,
  kind: KindDefinition,
  opts: { namespace: string | undefined; selector?: string },
): Promise<StackObject[]> {
  const { group, version, plural } = kind;
  const labelSelector = opts.selector;
  const list = (await explain(() =>
    namespaced(kind) && opts.namespace !== undefined
      ? session.custom.listNamespacedCustomObject({
          group,
          version,
          plural,
          namespace: opts.namespace,
          labelSelector,
        })
      : session.custom.listClusterCustomObject({ group, version, plural, labelSelector }),
  )) as { items?: StackObject[] };
  return list.items ?? [];
}

export async function getObject(
  session: Session,
  kind: KindDefinition,
  name: string,
  namespace: string,
): Promise<StackObject> {
  const { group, version, plural } = kind;
  return (await explain(
    () =>
      namespaced(kind)
        ? session.custom.getNamespacedCustomObject({ group, version, plural, namespace, name })
        : session.custom.getClusterCustomObject({ group, version, plural, name }),
    notFoundMessage(kind, name, namespace),
  )) as StackObject;
}

export async function getObjectOrUndefined(
  session: Session,
  kind: KindDefinition,
  name: string,
  namespace: string,
): Promise<StackObject | undefined> {
  try {
    return await getObject(session, kind, name, namespace);
  } catch (error) {
    if (error instanceof CliError && error.exitCode === exitCodes.notFound) return undefined;
    throw error;
  }
}

export type ApplyOutcome = "created" | "configured" | "unchanged";

/**
 * Server-side apply as field manager stackctl. The object is read first only to tell the user,
 * like kubectl does, whether it was created, changed or already as asked.
 */
export async function applyObject(
  session: Session,
  kind: KindDefinition,
  object: StackObject,
  opts: { force?: boolean } = {},
): Promise<{ object: StackObject; outcome: ApplyOutcome }> {
  const { group, version, plural } = kind;
  const { name } = object.metadata;
  const namespace = object.metadata.namespace ?? session.namespace;
  const before = await getObjectOrUndefined(session, kind, name, namespace);
  const apply = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
  const common = {
    group,
    version,
    plural,
    name,
    body: object,
    fieldManager: FIELD_MANAGER,
    force: opts.force,
  };
  const after = (await explain(() =>
    namespaced(kind)
      ? session.custom.patchNamespacedCustomObject({ ...common, namespace }, apply)
      : session.custom.patchClusterCustomObject(common, apply),
  )) as StackObject;
  const outcome: ApplyOutcome = !before
    ? "created"
    : before.metadata.resourceVersion === after.metadata.resourceVersion
      ? "unchanged"
      : "configured";
  return { object: after, outcome };
}

/** The object as kubectl prints it: without managedFields, which only matter to the server. */
export function forDisplay(object: StackObject): StackObject {
  const { managedFields: _managed, ...metadata } = object.metadata;
  return { ...object, metadata };
}
