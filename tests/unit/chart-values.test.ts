// The chart's values: every one is declared in values.schema.json (whose root refuses unknown
// keys, so a misspelling fails `helm install`) and documented in the chart README; the CRD
// templates are the generated CRDs, installed only with crds.install and kept on uninstall.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { describe, expect, test } from "vitest";
import { chartCrdDir, chartCrdFileName, repoRoot } from "../../crds/generate.ts";
import { resources } from "../../crds/index.ts";

const chartDir = join(repoRoot, "charts/sovereign-stack");
const read = (path: string): string => readFileSync(join(chartDir, path), "utf8");
const values = load(read("values.yaml")) as Record<string, unknown>;

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  $ref?: string;
  [key: string]: unknown;
}
const rootSchema = JSON.parse(read("values.schema.json")) as Schema & { definitions: Record<string, Schema> };
const resolve = (s: Schema): Schema =>
  s.$ref ? resolve(rootSchema.definitions[s.$ref.replace("#/definitions/", "")] ?? {}) : s;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Paths of values.yaml down to scalars, lists and empty maps. */
function leaves(v: unknown, path: string[] = []): string[][] {
  if (isMap(v) && Object.keys(v).length > 0)
    return Object.entries(v).flatMap(([k, c]) => leaves(c, [...path, k]));
  return [path];
}

/** The schema of a value path, or undefined when the schema does not declare it. */
function schemaAt(path: string[]): Schema | undefined {
  let s: Schema | undefined = resolve(rootSchema);
  for (const key of path) {
    if (!s) return undefined;
    const next: Schema | undefined =
      s.properties?.[key] ??
      (typeof s.additionalProperties === "object" ? s.additionalProperties : undefined);
    // An object declared without properties (securityContext, affinity) takes any keys.
    if (!next && s.type === "object" && !s.properties && s.additionalProperties === undefined) return {};
    s = next ? resolve(next) : undefined;
  }
  return s;
}

const typeOf = (v: unknown): string =>
  Array.isArray(v)
    ? "array"
    : v === null
      ? "null"
      : Number.isInteger(v)
        ? "integer"
        : typeof v === "number"
          ? "number"
          : typeof v;

describe("values.yaml", () => {
  const paths = leaves(values);

  test.each(paths.map((p) => [p.join(".")]))(
    "%s is declared in values.schema.json with its type",
    (joined) => {
      const path = joined.split(".");
      const schema = schemaAt(path);
      expect(schema, `${joined} is missing from values.schema.json`).toBeDefined();
      const value = path.reduce<unknown>((v, k) => (isMap(v) ? v[k] : undefined), values);
      const types = [schema?.type ?? []].flat();
      if (types.length > 0) {
        const t = typeOf(value);
        expect(
          types.includes(t) || (t === "integer" && types.includes("number")),
          `${joined}: ${t} vs ${types}`,
        ).toBe(true);
      }
      if (schema?.enum) expect(schema.enum).toContain(value);
    },
  );

  test("every object in the schema refuses keys it does not declare", () => {
    const open: string[] = [];
    const walk = (s: Schema, path: string): void => {
      const r = resolve(s);
      if (r.properties) {
        if (r.additionalProperties !== false) open.push(path || "(root)");
        for (const [k, c] of Object.entries(r.properties)) walk(c, path ? `${path}.${k}` : k);
      }
    };
    walk(rootSchema, "");
    expect(open).toEqual([]);
  });

  test.each(paths.map((p) => [p.join(".")]))("%s is documented in the chart README", (joined) => {
    // The first cell of each row of the README's tables (padded by the formatter).
    const rows = new Set(
      read("README.md")
        .split("\n")
        .map((line) => /^\|\s*`([^`]+)`\s*\|/.exec(line)?.[1])
        .filter((cell): cell is string => cell !== undefined),
    );
    const path = joined.split(".");
    // A row may document a whole object (`resources`) rather than each of its keys.
    const documented = path.some((_, i) => rows.has(path.slice(0, i + 1).join(".")));
    expect(documented, `${joined} has no row in the README's values table`).toBe(true);
  });
});

describe("the CRD templates", () => {
  test("are exactly the generated CRDs, one per kind, and nothing else is in their folder", () => {
    const dir = join(repoRoot, chartCrdDir);
    expect(readdirSync(dir).sort()).toEqual(
      resources.map((r) => chartCrdFileName(r).slice(chartCrdDir.length + 1)).sort(),
    );
  });

  test.each(resources.map((r) => [r.kind, r] as const))(
    "%s: only with crds.install, kept on uninstall, same spec as crds/",
    (_k, kind) => {
      const text = readFileSync(join(repoRoot, chartCrdFileName(kind)), "utf8");
      const lines = text.trimEnd().split("\n");
      expect(lines[0]).toBe("{{- if .Values.crds.install }}");
      expect(lines.at(-1)).toBe("{{- end }}");
      const chartCrd = load(lines.slice(1, -1).join("\n")) as {
        metadata: { annotations?: Record<string, string> };
      };
      expect(chartCrd.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
      const plain = load(readFileSync(join(repoRoot, `crds/${kind.group}_${kind.plural}.yaml`), "utf8")) as {
        metadata: Record<string, unknown>;
      };
      const { annotations: _a, ...chartMeta } = chartCrd.metadata;
      expect({ ...chartCrd, metadata: chartMeta }).toEqual(plain);
    },
  );
});
