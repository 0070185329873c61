// -o table|wide|json|yaml|name for objects of the API's kinds. Tables come from the printer
// columns the CRDs declare, so `stackctl get` and `kubectl get` show the same columns.
import { InvalidArgumentError, Option } from "commander";
import { dump } from "js-yaml";
import type { KindDefinition, PrinterColumn } from "../../crds/index.ts";
import { qualifiedName } from "../kube/kinds.ts";
import { forDisplay, type StackObject } from "../kube/objects.ts";
import { age } from "./age.ts";
import { formatTable } from "./table.ts";

export const outputFormats = ["table", "wide", "json", "yaml", "name"] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** -o; without a fallback the command picks its own default when the flag is absent. */
export function outputOption(
  formats: readonly string[] = outputFormats,
  fallback: string | null = "table",
): Option {
  const option = new Option("-o, --output <format>", `output format: ${formats.join(", ")}`);
  if (fallback !== null) option.default(fallback);
  return option.argParser((value: string) => {
    if (!formats.includes(value))
      throw new InvalidArgumentError(`unknown output format; use one of ${formats.join(", ")}`);
    return value;
  });
}

/** The value at a printer column's JSONPath (.status.phase, .spec.items[0].name). */
export function valueAt(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const segment of path.split(/\.|(?=\[)/).filter(Boolean)) {
    if (current === null || typeof current !== "object") return undefined;
    const index = /^\[(\d+)\]$/.exec(segment);
    current = index?.[1]
      ? (current as unknown[])[Number(index[1])]
      : (current as Record<string, unknown>)[segment];
  }
  return current;
}

function cell(column: PrinterColumn, value: unknown, now: number): string {
  if (value === undefined || value === null) return "";
  if (column.type === "date") return age(value, now);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export interface TableOptions {
  wide: boolean;
  /** -A on a namespaced kind: a NAMESPACE column first. */
  withNamespace: boolean;
  /** Several kinds in one listing: names as kind.group/name, like kubectl. */
  qualifyNames: boolean;
  now: number;
}

export function tableRows(
  kind: KindDefinition,
  objects: readonly StackObject[],
  opts: TableOptions,
): string[][] {
  const columns = kind.printerColumns.filter((c) => opts.wide || !c.priority);
  const namespace = opts.withNamespace && kind.scope === "Namespaced";
  const header = [...(namespace ? ["NAMESPACE"] : []), "NAME", ...columns.map((c) => c.name.toUpperCase())];
  const rows = objects.map((o) => [
    ...(namespace ? [o.metadata.namespace ?? ""] : []),
    opts.qualifyNames ? qualifiedName(kind, o.metadata.name) : o.metadata.name,
    ...columns.map((c) => cell(c, valueAt(o, c.jsonPath), opts.now)),
  ]);
  return [header, ...rows];
}

export interface KindGroup {
  kind: KindDefinition;
  objects: StackObject[];
}

export function toYaml(value: unknown): string {
  return dump(value, { noRefs: true, lineWidth: -1 });
}

/** One object stays one object; anything else becomes a v1 List, as kubectl prints it. */
function document(groups: readonly KindGroup[], single: boolean): unknown {
  const items = groups.flatMap((g) => g.objects.map(forDisplay));
  if (single && items.length === 1) return items[0];
  return { apiVersion: "v1", kind: "List", items, metadata: { resourceVersion: "" } };
}

export function render(
  groups: readonly KindGroup[],
  format: OutputFormat,
  opts: { single: boolean; allNamespaces: boolean; now?: number },
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(document(groups, opts.single), null, 2)}\n`;
    case "yaml":
      return toYaml(document(groups, opts.single));
    case "name":
      return groups
        .flatMap((g) => g.objects.map((o) => `${qualifiedName(g.kind, o.metadata.name)}\n`))
        .join("");
    default: {
      const shown = groups.filter((g) => g.objects.length > 0);
      return shown
        .map((g) =>
          formatTable(
            tableRows(g.kind, g.objects, {
              wide: format === "wide",
              withNamespace: opts.allNamespaces,
              qualifyNames: groups.length > 1,
              now: opts.now ?? Date.now(),
            }),
          ),
        )
        .join("\n");
    }
  }
}
