// Turns a zod schema into a structural OpenAPI v3 schema for a CRD. It accepts only the zod
// constructs that have an exact structural equivalent and throws on anything else, so an API
// change that the API server could not express fails at generation time, not at install time.
import { z } from "zod";
import { type CelValidation, extensionsOf } from "./kit.ts";

export interface JSONSchemaProps {
  description?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-list-type"?: "map" | "set";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: CelValidation[];
}

interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  length?: number;
  format?: string;
  pattern?: RegExp;
}

/** The constraint checks of one schema; a format schema (z.int(), z.iso.datetime()) is its own first check. */
function checksOf(schema: z.ZodType): CheckDef[] {
  const own = schema._zod.traits.has("$ZodCheck") ? [schema._zod.def as unknown as CheckDef] : [];
  return [...own, ...(schema._zod.def.checks ?? []).map((c) => c._zod.def as unknown as CheckDef)];
}

interface Unwrapped {
  core: z.ZodType;
  description: string | undefined;
  default: { value: unknown } | undefined;
  validations: CelValidation[];
  node: Partial<JSONSchemaProps>;
}

/** Peels optional/default wrappers, collecting what they say about the field. */
function unwrap(schema: z.ZodType): Unwrapped {
  const out: Unwrapped = {
    core: schema,
    description: undefined,
    default: undefined,
    validations: [],
    node: {},
  };
  for (let s = schema; ; ) {
    // The outermost description wins: a reused type may be described differently where it is used.
    out.description ??= z.globalRegistry.get(s)?.description;
    for (const ext of extensionsOf(s)) {
      if (ext.validations) out.validations.push(...ext.validations);
      if (ext.listType) out.node["x-kubernetes-list-type"] = ext.listType;
      if (ext.listMapKeys) out.node["x-kubernetes-list-map-keys"] = ext.listMapKeys;
      if (ext.maxProperties !== undefined) out.node.maxProperties = ext.maxProperties;
      if (ext.preserveUnknownFields) out.node["x-kubernetes-preserve-unknown-fields"] = true;
    }
    if (s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodDefault) {
      out.default ??= { value: s._zod.def.defaultValue };
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPrefault) {
      // Written out with its nested defaults: the API server checks a default against the CEL
      // rules as it stands, before defaulting inside it.
      out.default ??= { value: z.parse(s.unwrap(), s._zod.def.defaultValue) };
      s = s.unwrap() as z.ZodType;
    } else {
      out.core = s;
      return out;
    }
  }
}

function numberNode(schema: z.ZodType, at: string): JSONSchemaProps {
  const node: JSONSchemaProps = { type: "number" };
  for (const c of checksOf(schema)) {
    if (c.check === "number_format") {
      if (!c.format?.includes("int")) throw new Error(`${at}: unsupported number format ${c.format}`);
      node.type = "integer";
    } else if (c.check === "greater_than" && c.value !== undefined) {
      node.minimum = c.value;
      if (!c.inclusive) node.exclusiveMinimum = true;
    } else if (c.check === "less_than" && c.value !== undefined) {
      node.maximum = c.value;
      if (!c.inclusive) node.exclusiveMaximum = true;
    } else if (c.check !== "custom") {
      throw new Error(`${at}: unsupported number check ${c.check}`);
    }
  }
  return node;
}

function stringNode(schema: z.ZodType, at: string): JSONSchemaProps {
  const node: JSONSchemaProps = { type: "string" };
  for (const c of checksOf(schema)) {
    if (c.check === "min_length") node.minLength = c.minimum;
    else if (c.check === "max_length") node.maxLength = c.maximum;
    else if (c.check === "string_format" && c.format === "regex" && c.pattern) {
      if (node.pattern) throw new Error(`${at}: one pattern per string`);
      node.pattern = c.pattern.source;
    } else if (c.check === "string_format" && c.format === "datetime") node.format = "date-time";
    else if (c.check !== "custom") throw new Error(`${at}: unsupported string check ${c.check}/${c.format}`);
  }
  return node;
}

function arrayBounds(schema: z.ZodType, node: JSONSchemaProps, at: string): void {
  for (const c of checksOf(schema)) {
    if (c.check === "min_length") node.minItems = c.minimum;
    else if (c.check === "max_length") node.maxItems = c.maximum;
    else if (c.check !== "custom") throw new Error(`${at}: unsupported array check ${c.check}`);
  }
}

/** int | string, the only union a structural schema allows (x-kubernetes-int-or-string). */
function intOrStringNode(options: readonly z.ZodType[], at: string): JSONSchemaProps {
  const [int, str] = options;
  if (options.length !== 2 || !int?._zod.traits.has("$ZodNumber") || !str?._zod.traits.has("$ZodString")) {
    throw new Error(`${at}: the only union allowed is int | string`);
  }
  const { type: intType, ...intBounds } = numberNode(int, at);
  if (intType !== "integer") throw new Error(`${at}: the number side of int | string must be an integer`);
  const { type: _string, ...stringBounds } = stringNode(str, at);
  return {
    anyOf: [{ type: "integer" }, { type: "string" }],
    ...intBounds,
    ...stringBounds,
    "x-kubernetes-int-or-string": true,
  };
}

function coreNode(core: z.ZodType, at: string): JSONSchemaProps {
  // Format schemas (z.int(), z.iso.datetime()) are not subclasses of ZodString/ZodNumber in zod 4.
  if (core._zod.traits.has("$ZodString")) return stringNode(core, at);
  if (core._zod.traits.has("$ZodNumber")) return numberNode(core, at);
  if (core instanceof z.ZodBoolean) return { type: "boolean" };
  if (core instanceof z.ZodEnum) return { type: "string", enum: [...core.options] };
  if (core instanceof z.ZodLiteral) return { type: "string", enum: [...core.values] };
  if (core instanceof z.ZodUnion) return intOrStringNode(core.options as readonly z.ZodType[], at);
  if (core instanceof z.ZodArray) {
    const node: JSONSchemaProps = { type: "array" };
    arrayBounds(core, node, at);
    node.items = toOpenAPI(core.element as z.ZodType, `${at}[]`, { describe: false });
    return node;
  }
  if (core instanceof z.ZodRecord) {
    return {
      type: "object",
      additionalProperties: toOpenAPI(core.valueType as z.ZodType, `${at}[*]`, { describe: false }),
    };
  }
  if (core instanceof z.ZodObject) {
    const node: JSONSchemaProps = { type: "object" };
    const catchall = core._zod.def.catchall;
    const shape = core.shape as Record<string, z.ZodType>;
    const keys = Object.keys(shape);
    if (keys.length > 0) {
      node.properties = Object.fromEntries(
        keys.map((k) => [k, toOpenAPI(shape[k] as z.ZodType, `${at}.${k}`)]),
      );
      const required = keys.filter((k) => (shape[k] as z.ZodType)._zod.optin === undefined);
      if (required.length > 0) node.required = required;
    }
    // Unknown fields survive only where the schema says so explicitly (passThroughObject).
    if (catchall && !(catchall instanceof z.ZodNever) && keys.length > 0) {
      throw new Error(`${at}: only strict objects, or empty pass-through objects, are allowed`);
    }
    return node;
  }
  throw new Error(`${at}: ${core.constructor.name} has no structural OpenAPI equivalent`);
}

/**
 * The structural schema of `schema`. `at` names the field in errors; `describe: false` lifts
 * the rule that every field has a description (list items and map values are described by
 * their field).
 */
export function toOpenAPI(schema: z.ZodType, at: string, opts: { describe?: boolean } = {}): JSONSchemaProps {
  const u = unwrap(schema);
  if (opts.describe !== false && !u.description) throw new Error(`${at}: every field needs a description`);
  const core = coreNode(u.core, at);
  if (u.node["x-kubernetes-preserve-unknown-fields"] && core.properties) {
    throw new Error(`${at}: a pass-through object cannot declare properties`);
  }
  const node: JSONSchemaProps = {};
  if (u.description) node.description = u.description;
  Object.assign(node, core);
  if (u.default) node.default = u.default.value;
  Object.assign(node, u.node);
  if (u.validations.length > 0) node["x-kubernetes-validations"] = u.validations;
  return node;
}
