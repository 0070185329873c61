// The API reference page, rendered from the same structural schemas the CRDs carry, so the
// reference cannot describe a field, default or rule the API server does not enforce.
import { openAPISchemaOf } from "./crd.ts";
import type { KindDefinition } from "./kind.ts";
import type { JSONSchemaProps } from "./openapi.ts";

interface Row {
  path: string;
  node: JSONSchemaProps;
  required: boolean;
}

function flatten(node: JSONSchemaProps, prefix: string, required: boolean, rows: Row[]): void {
  if (prefix) rows.push({ path: prefix, node, required });
  const requiredKeys = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    flatten(child, prefix ? `${prefix}.${key}` : key, requiredKeys.has(key), rows);
  }
  const items = node.items;
  if (items?.properties) {
    const itemRequired = new Set(items.required ?? []);
    for (const [key, child] of Object.entries(items.properties)) {
      flatten(child, `${prefix}[].${key}`, itemRequired.has(key), rows);
    }
  }
}

function typeOf(node: JSONSchemaProps): string {
  if (node["x-kubernetes-int-or-string"]) return "int or string";
  if (node["x-kubernetes-preserve-unknown-fields"]) return "object (kept as written)";
  if (node.type === "array") return `[]${node.items ? typeOf(node.items) : "?"}`;
  if (node.type === "object" && node.additionalProperties)
    return `map[string]${typeOf(node.additionalProperties)}`;
  return node.type ?? "?";
}

const code = (s: string) => `\`${s.replaceAll("|", "\\|")}\``;
const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

function constraintsOf(row: Row): string[] {
  const n = row.node;
  const out: string[] = [];
  if (row.required) out.push("**required**");
  if (n.enum) out.push(`one of ${n.enum.map((v) => code(String(v))).join(", ")}`);
  const element = n.items;
  if (element?.enum) out.push(`items one of ${element.enum.map((v) => code(String(v))).join(", ")}`);
  if (n.minimum !== undefined) out.push(`${n.exclusiveMinimum ? ">" : "≥"} ${n.minimum}`);
  if (n.maximum !== undefined) out.push(`${n.exclusiveMaximum ? "<" : "≤"} ${n.maximum}`);
  if (n.minLength !== undefined) out.push(`length ≥ ${n.minLength}`);
  if (n.maxLength !== undefined) out.push(`length ≤ ${n.maxLength}`);
  if (n.pattern) out.push(`matches ${code(n.pattern)}`);
  if (n.format) out.push(`format ${n.format}`);
  if (n.minItems !== undefined) out.push(`at least ${n.minItems} items`);
  if (n.maxItems !== undefined) out.push(`at most ${n.maxItems} items`);
  if (n.maxProperties !== undefined) out.push(`at most ${n.maxProperties} entries`);
  if (n["x-kubernetes-list-type"] === "set") out.push("items unique");
  if (n["x-kubernetes-list-type"] === "map")
    out.push(`unique by ${code(n["x-kubernetes-list-map-keys"]?.join(", ") ?? "")}`);
  if (element?.maxLength !== undefined) out.push(`items length ≤ ${element.maxLength}`);
  if (element?.pattern) out.push(`items match ${code(element.pattern)}`);
  for (const v of n["x-kubernetes-validations"] ?? []) out.push(`rule: ${cell(v.message)}`);
  for (const v of element?.["x-kubernetes-validations"] ?? []) out.push(`each item: ${cell(v.message)}`);
  return out;
}

function table(root: JSONSchemaProps, prefix: string): string {
  const rows: Row[] = [];
  flatten(root, "", true, rows);
  const lines = ["| Field | Type | Default | Constraints | Description |", "| --- | --- | --- | --- | --- |"];
  for (const row of rows) {
    const def = row.node.default === undefined ? "" : code(JSON.stringify(row.node.default));
    lines.push(
      `| ${code(`${prefix}.${row.path}`)} | ${cell(typeOf(row.node))} | ${def} | ${constraintsOf(row).join("; ")} | ${cell(row.node.description ?? "")} |`,
    );
  }
  return lines.join("\n");
}

function kindSection(kind: KindDefinition): string {
  const schema = openAPISchemaOf(kind);
  const spec = schema.properties?.spec ?? {};
  const status = schema.properties?.status ?? {};
  const subresources = kind.scale
    ? `status, scale (replicas ${code(kind.scale.specReplicasPath)}, status ${code(kind.scale.statusReplicasPath)}, selector ${code(kind.scale.labelSelectorPath)})`
    : "status";
  const columns = kind.printerColumns.map((c) => `${c.name}${c.priority ? " (wide)" : ""}`).join(", ");
  // Outside a table a pipe needs no escaping; inside a code span the backslash would show.
  const specRules = (spec["x-kubernetes-validations"] ?? []).map((v) => `- \`${v.rule}\`: ${v.message}`);
  return [
    `## ${kind.kind}`,
    "",
    kind.description,
    "",
    `- apiVersion: ${code(kind.apiVersion)}, scope: ${kind.scope}, plural: ${code(kind.plural)}, short name: ${kind.shortNames.map(code).join(", ")}, category: ${kind.categories.map(code).join(", ")}`,
    `- metadata.name: at most ${kind.name.maxLength} characters matching ${code(kind.name.pattern.source)} (${kind.name.why})`,
    `- subresources: ${subresources}`,
    `- printer columns: ${columns}`,
    "",
    `### ${kind.kind} spec`,
    "",
    spec.description ?? "",
    "",
    ...(specRules.length > 0 ? ["Rules on the whole spec:", "", ...specRules, ""] : []),
    table(spec, "spec"),
    "",
    `### ${kind.kind} status`,
    "",
    status.description ?? "",
    "",
    table(status, "status"),
    "",
  ].join("\n");
}

const introduction = `# Sovereign Stack API reference

Generated by \`npm run crds\` from the zod schemas in \`crds/*.ts\`; do not edit. The same schemas
produce the CRDs in \`crds/\`, the TypeScript types the operator and \`stackctl\` use, and the offline
checks of \`stackctl validate -f FILE\`, which report the same field paths and rule messages as the
API server.

Group \`stack.sovereign.dev\`, version \`v1alpha1\`. Every kind is in the category \`aistack\`
(\`kubectl get aistack\`), has the status subresource, \`status.observedGeneration\` and
\`status.conditions\` (metav1.Condition, unique by \`type\`). \`kubectl explain\` prints the
descriptions below.

## Conventions

- A workload asks for accelerators by capability (\`accelerators\`: count, minMemoryGiB, vendors,
  models, pools, interconnect), never by a vendor's resource name; the operator chooses an
  AcceleratorPool and translates.
- Wherever a kind takes \`image\`, it also takes \`images\`, a map from vendor to image; the entry for
  the chosen pool's vendor wins. Keys other than the vendors are rejected, not silently dropped.
- Quantities (\`resources\`, \`modelCache.size\`) are integers or strings such as \`500m\`, \`16Gi\`.
  \`resources\` names cpu, memory, ephemeral-storage and hugepages-*; devices come from
  \`accelerators\`.
- Lists with identity (env, worker groups, conditions, placements) are list-maps: entries are
  unique by their key and merge entry by entry under server-side apply.

## Additions to the design (API.md)

- \`TrainingJob.spec.nodes\` and \`spec.elastic: {minNodes, maxNodes}\` are mutually exclusive; with
  neither the job runs on one node. A field is clearer than overloading \`nodes\` with two shapes.
- \`InferenceService.spec.model.secretRef\` names a Secret with download credentials (HF_TOKEN,
  or AWS_* for s3://); \`hf://org/model@revision\` pins a branch, tag or commit.
- \`InferenceService.spec.engine.env\` and \`TrainingJob.spec.env\` take container env entries.
- \`AcceleratorPool.spec.nodeSelector\` defaults to nodes labelled \`sovereign.dev/pool=<pool name>\`;
  \`resourceName\` defaults from the vendor at run time (required for \`other\`).
- Status fields for printer columns: \`TrainingJob.status.nodes/readyNodes\`,
  \`RayCluster.status.desiredWorkers/readyWorkers\`, \`InferenceService.status.selector\` (scale
  subresource).
- Names are narrower than Kubernetes requires, because they become Service and host names; each
  kind states its limit below.
`;

export function apiReference(kinds: readonly KindDefinition[]): string {
  const index = [
    "## Kinds",
    "",
    "| Kind | Scope | Short name | Plural |",
    "| --- | --- | --- | --- |",
    ...kinds.map(
      (k) =>
        `| [${k.kind}](#${k.kind.toLowerCase()}) | ${k.scope} | ${k.shortNames.join(", ")} | ${k.plural} |`,
    ),
    "",
  ].join("\n");
  return `${[introduction, index, ...kinds.map(kindSection)].join("\n").trimEnd()}\n`;
}
