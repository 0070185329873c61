// What zod does not model but a CRD needs: CEL rules (enforced by the API server, and the same
// predicate enforced offline by stackctl validate), list semantics, map bounds and embedded
// pass-through fragments. Each is attached as a zod check rather than as metadata because a
// check travels with the schema through every clone zod makes (.meta, .optional, .default),
// so the generator finds it wherever the schema is reused.
import { z } from "zod";

/** A cross-field constraint, written once for the API server (CEL) and once for Node. */
export interface CelRule<T> {
  /** CEL expression, `self` is the value the rule is attached to. */
  rule: string;
  /** The error message, identical from the API server and from `stackctl validate`. */
  message: string;
  /** Where the error points, relative to the value (".minReplicas"); the value itself if unset. */
  fieldPath?: string;
  /** The same predicate in TypeScript. */
  holds: (self: T) => boolean;
}

export interface CelValidation {
  rule: string;
  message: string;
  fieldPath?: string;
}

/** The OpenAPI extensions a check contributes to the node it is attached to. */
export interface Extensions {
  validations?: CelValidation[];
  listType?: "map" | "set";
  listMapKeys?: string[];
  maxProperties?: number;
  preserveUnknownFields?: boolean;
}

const extensionsByCheck = new WeakMap<object, Extensions>();

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Extensions attached to this schema instance (not to wrapped inner schemas). */
export function extensionsOf(schema: z.ZodType): Extensions[] {
  const found: Extensions[] = [];
  for (const check of schema._zod.def.checks ?? []) {
    const ext = extensionsByCheck.get(check);
    if (ext) found.push(ext);
  }
  return found;
}

// `runAlways`: the API server checks list uniqueness and map size even when items are invalid,
// unlike CEL rules, which it skips once a type error is found (as zod skips refinements).
function attach<S extends z.ZodType>(
  schema: S,
  ext: Extensions,
  refine: (value: z.output<S>, ctx: z.RefinementCtx) => void,
  runAlways?: (value: unknown) => boolean,
): S {
  const check = z.superRefine<z.output<S>>(
    refine,
    runAlways ? { when: (payload) => runAlways(payload.value) } : undefined,
  );
  extensionsByCheck.set(check, ext);
  return schema.check(check);
}

/** ".a.b" -> ["a", "b"]: the path zod reports relative to the value. */
function fieldPathSegments(fieldPath: string | undefined): string[] {
  return fieldPath ? fieldPath.split(".").filter((s) => s !== "") : [];
}

/** Adds CEL rules to a schema; the offline validator runs their `holds` twins. */
export function withRules<S extends z.ZodType>(schema: S, rules: CelRule<z.output<S>>[]): S {
  for (const r of rules) {
    if (r.fieldPath !== undefined && !/^(\.[A-Za-z][A-Za-z0-9]*)+$/.test(r.fieldPath)) {
      throw new Error(`fieldPath ${r.fieldPath} must be a dotted path such as .minReplicas`);
    }
  }
  const validations = rules.map(({ rule, message, fieldPath }) =>
    fieldPath ? { rule, message, fieldPath } : { rule, message },
  );
  return attach(schema, { validations }, (value, ctx) => {
    for (const r of rules) {
      if (!r.holds(value))
        ctx.addIssue({
          code: "custom",
          message: r.message,
          path: fieldPathSegments(r.fieldPath),
          input: value,
        });
    }
  });
}

/** A list whose items are identified by `key` (x-kubernetes-list-type: map); duplicates are rejected. */
export function listMap<T extends z.ZodType>(item: T, key: string, maxItems: number): z.ZodArray<T> {
  return attach(
    z.array(item).max(maxItems),
    { listType: "map", listMapKeys: [key] },
    (items, ctx) => {
      const seen = new Set<unknown>();
      items.forEach((entry, index) => {
        const id = isRecord(entry) ? entry[key] : undefined;
        if (id === undefined) return;
        if (seen.has(id)) {
          ctx.addIssue({
            code: "custom",
            message: `Duplicate value: {"${key}":${JSON.stringify(id)}}`,
            path: [index],
            input: entry,
          });
        }
        seen.add(id);
      });
    },
    Array.isArray,
  );
}

/** A list of distinct scalars (x-kubernetes-list-type: set). */
export function listSet<T extends z.ZodType>(item: T, maxItems: number): z.ZodArray<T> {
  return attach(
    z.array(item).max(maxItems),
    { listType: "set" },
    (items, ctx) => {
      const seen = new Set<unknown>();
      items.forEach((entry, index) => {
        if (seen.has(entry))
          ctx.addIssue({
            code: "custom",
            message: `Duplicate value: ${JSON.stringify(entry)}`,
            path: [index],
            input: entry,
          });
        seen.add(entry);
      });
    },
    Array.isArray,
  );
}

/** A string-keyed map with at most `maxProperties` entries. */
export function boundedMap<V extends z.ZodType>(
  value: V,
  maxProperties: number,
): z.ZodRecord<z.ZodString, V> {
  return attach(
    z.record(z.string(), value),
    { maxProperties },
    (map, ctx) => {
      const size = Object.keys(map).length;
      if (size > maxProperties) {
        ctx.addIssue({
          code: "custom",
          message: `Too many: ${size}: must have at most ${maxProperties} items`,
          path: [],
          input: map,
        });
      }
    },
    isRecord,
  );
}

/**
 * An embedded Kubernetes fragment (a PodTemplateSpec) kept as written: the API server stores it
 * without pruning and the operator merges it into the pods it renders.
 */
export function passThroughObject(): z.ZodObject<Record<string, never>, z.core.$loose> {
  return attach(z.looseObject({}), { preserveUnknownFields: true }, () => {});
}
