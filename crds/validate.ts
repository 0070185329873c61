// Offline validation: what the API server would say about a manifest, without a cluster. It runs
// the same zod schemas the CRDs are generated from, including the TypeScript twins of every CEL
// rule, and writes field paths and messages the way the API server does.
import type { z } from "zod";
import { GROUP } from "./common.ts";
import { openAPISchemaOf } from "./crd.ts";
import { resourceForKind, resources } from "./index.ts";
import type { KindDefinition } from "./kind.ts";
import type { JSONSchemaProps } from "./openapi.ts";

export interface FieldError {
  /** As the API server writes it: spec.workerGroups[0].minReplicas */
  path: string;
  message: string;
}

export interface DocumentResult {
  /** Position in the input, from 0. */
  index: number;
  kind: string | undefined;
  name: string | undefined;
  errors: FieldError[];
  /** Set when the document is not one of this API's kinds and was not checked. */
  skipped?: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

const jsonType = (value: unknown): string => {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
};

const show = (value: unknown): string => (typeof value === "string" ? JSON.stringify(value) : String(value));

// zod writes a regex issue's pattern as /source/flags; the API server writes the bare source.
const patternSource = (pattern: string): string => /^\/(.*)\/[a-z]*$/s.exec(pattern)?.[1] ?? pattern;

const structuralSchemas = new WeakMap<KindDefinition, JSONSchemaProps>();

/** The type the CRD declares at a path; zod says "number" for integers. */
function declaredType(kind: KindDefinition, path: readonly PropertyKey[]): string | undefined {
  let node = structuralSchemas.get(kind);
  if (!node) {
    node = openAPISchemaOf(kind);
    structuralSchemas.set(kind, node);
  }
  for (const segment of path) {
    node =
      typeof segment === "number"
        ? node?.items
        : (node?.properties?.[String(segment)] ?? node?.additionalProperties);
  }
  return node?.["x-kubernetes-int-or-string"] ? "integer or string" : node?.type;
}

function messageOf(issue: z.core.$ZodIssue, kind: KindDefinition): string {
  const input = (issue as { input?: unknown }).input;
  if (input === undefined && issue.code !== "custom") return "Required value";
  switch (issue.code) {
    case "invalid_type":
      return `Invalid value: "${jsonType(input)}": must be of type ${declaredType(kind, issue.path) ?? issue.expected}`;
    case "too_small":
      if (issue.origin === "string")
        return `Invalid value: ${show(input)}: should be at least ${issue.minimum} chars long`;
      if (issue.origin === "array")
        return `Invalid value: ${(input as unknown[]).length}: should have at least ${issue.minimum} items`;
      return `Invalid value: ${show(input)}: should be greater than or equal to ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "string") return `Too long: may not be more than ${issue.maximum} bytes`;
      if (issue.origin === "array")
        return `Too many: ${(input as unknown[]).length}: must have at most ${issue.maximum} items`;
      return `Invalid value: ${show(input)}: should be less than or equal to ${issue.maximum}`;
    case "invalid_format":
      return `Invalid value: ${show(input)}: should match '${issue.pattern ? patternSource(issue.pattern) : issue.format}'`;
    case "invalid_value":
      return `Unsupported value: ${show(input)}: supported values: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return `Invalid value: "${jsonType(input)}": must be of type integer or string`;
    default:
      // Custom issues carry the CEL rule's message, list duplicates and name checks.
      return issue.message;
  }
}

function errorsOf(issues: readonly z.core.$ZodIssue[], kind: KindDefinition): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  const push = (path: string, message: string) => {
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) errors.push({ path, message });
    seen.add(key);
  };
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        push(path, `unknown field "${path}"`);
      }
    } else {
      push(formatPath(issue.path), messageOf(issue, kind));
    }
  }
  return errors;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates one parsed manifest. */
export function validateObject(object: unknown): Omit<DocumentResult, "index"> {
  if (!isRecord(object)) {
    return {
      kind: undefined,
      name: undefined,
      errors: [{ path: "", message: `must be an object, not ${jsonType(object)}` }],
    };
  }
  const { apiVersion, kind } = object;
  const name =
    isRecord(object.metadata) && typeof object.metadata.name === "string" ? object.metadata.name : undefined;
  const kindName = typeof kind === "string" ? kind : undefined;
  const definition = resourceForKind(apiVersion, kind);
  if (!definition) {
    if (typeof apiVersion === "string" && apiVersion.startsWith(`${GROUP}/`)) {
      const known = resources.map((r) => `${r.apiVersion} ${r.kind}`).join(", ");
      const path = resources.some((r) => r.apiVersion === apiVersion) ? "kind" : "apiVersion";
      return {
        kind: kindName,
        name,
        errors: [{ path, message: `no kind ${JSON.stringify(kind)} in ${apiVersion}; known: ${known}` }],
      };
    }
    return { kind: kindName, name, errors: [], skipped: "not a Sovereign Stack kind" };
  }
  // The API server drops status on create and update; so does this check.
  const { status: _status, ...rest } = object;
  const result = definition.schema.safeParse(rest, { reportInput: true });
  return { kind: kindName, name, errors: result.success ? [] : errorsOf(result.error.issues, definition) };
}

/** Validates every document of a (multi-document) manifest; empty documents are ignored. */
export function validateDocuments(documents: readonly unknown[]): DocumentResult[] {
  const results: DocumentResult[] = [];
  documents.forEach((doc, index) => {
    if (doc === null || doc === undefined) return;
    results.push({ index, ...validateObject(doc) });
  });
  return results;
}
