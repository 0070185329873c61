// `pools discover`: proposes AcceleratorPools from what the nodes already say about themselves.
// Nodes form one pool when they advertise the same vendor resource, carry the same product and
// memory labels (as the vendors' node-feature tooling writes them) and the same pool label.
import type { V1Node } from "@kubernetes/client-node";
import {
  API_VERSION,
  POOL_LABEL,
  POOL_NAME_MAX_LENGTH,
  type Vendor,
  vendorCatalog,
  vendorForResource,
} from "../../crds/index.ts";

export interface PoolProposal {
  manifest: {
    apiVersion: string;
    kind: "AcceleratorPool";
    metadata: { name: string };
    spec: Record<string, unknown>;
  };
  nodes: string[];
  resourceName: string;
  devicesPerNode: number[];
  /** Things a person has to settle before applying. */
  warnings: string[];
}

interface Group {
  vendor: Vendor;
  resourceName: string;
  model: string | undefined;
  memoryLabelValue: string | undefined;
  poolLabel: string | undefined;
  nodes: V1Node[];
}

const deviceCount = (node: V1Node, resource: string): number =>
  Number(node.status?.capacity?.[resource] ?? node.status?.allocatable?.[resource] ?? 0);

function groupNodes(nodes: readonly V1Node[]): Group[] {
  const groups = new Map<string, Group>();
  for (const node of nodes) {
    const capacity = node.status?.capacity ?? node.status?.allocatable ?? {};
    for (const resourceName of Object.keys(capacity).sort()) {
      const vendor = vendorForResource(resourceName);
      if (!vendor || deviceCount(node, resourceName) <= 0) continue;
      const info = vendorCatalog[vendor];
      const nodeLabels = node.metadata?.labels ?? {};
      const model = info.productLabel ? nodeLabels[info.productLabel] : undefined;
      const memoryLabelValue = info.memoryLabel ? nodeLabels[info.memoryLabel] : undefined;
      const poolLabel = nodeLabels[POOL_LABEL];
      const key = JSON.stringify([resourceName, model, memoryLabelValue, poolLabel]);
      const group = groups.get(key) ?? {
        vendor,
        resourceName,
        model,
        memoryLabelValue,
        poolLabel,
        nodes: [],
      };
      group.nodes.push(node);
      groups.set(key, group);
    }
  }
  return [...groups.values()];
}

const vendorWords = new Set([
  "nvidia",
  "amd",
  "intel",
  "habana",
  "google",
  "aws",
  "instinct",
  "tesla",
  "radeon",
]);

/** A short pool name from a device model: NVIDIA-H100-80GB-HBM3 -> h100, tpu-v5-lite-podslice -> tpu-v5e. */
export function shortModelName(vendor: Vendor, model: string): string {
  const m = model.toLowerCase();
  if (vendor === "google") {
    // GKE accelerator names: tpu-v5-lite-podslice is v5e, tpu-v5p-slice v5p, tpu-v6e-slice v6e.
    const tpu = /^tpu-?(v\d+)(-lite|[a-z])?/.exec(m);
    if (tpu?.[1]) return `tpu-${tpu[1]}${tpu[2] === "-lite" ? "e" : (tpu[2] ?? "")}`;
  }
  if (vendor === "aws") return m.split(".")[0] ?? m; // instance type: trn1.32xlarge -> trn1
  const tokens = m.split(/[-_ .]+/).filter((t) => t && !vendorWords.has(t));
  const name = tokens.find((t) => /\d/.test(t)) ?? tokens[0] ?? vendor;
  return /^[a-z]/.test(name) ? name : `${vendor}-${name}`;
}

function dnsLabel(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, POOL_NAME_MAX_LENGTH)
    .replace(/-+$/, "");
  return cleaned || "pool";
}

function commonTolerations(nodes: readonly V1Node[]): Record<string, unknown>[] {
  const taintKey = (t: { key: string; value?: string; effect: string }) =>
    `${t.key}=${t.value ?? ""}:${t.effect}`;
  const [first, ...rest] = nodes;
  const shared = (first?.spec?.taints ?? []).filter(
    (t) =>
      t.effect !== "PreferNoSchedule" &&
      rest.every((n) => (n.spec?.taints ?? []).some((u) => taintKey(u) === taintKey(t))),
  );
  return shared.map((t) =>
    t.value
      ? { key: t.key, operator: "Equal", value: t.value, effect: t.effect }
      : { key: t.key, operator: "Exists", effect: t.effect },
  );
}

function proposal(group: Group, name: string): PoolProposal {
  const info = vendorCatalog[group.vendor];
  const warnings: string[] = [];
  const nodeNames = group.nodes
    .map((n) => n.metadata?.name ?? "")
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  let nodeSelector: Record<string, unknown>;
  if (group.poolLabel) {
    nodeSelector = { matchLabels: { [POOL_LABEL]: group.poolLabel } };
  } else if (group.model && info.productLabel) {
    const matchLabels: Record<string, string> = { [info.productLabel]: group.model };
    if (group.memoryLabelValue && info.memoryLabel) matchLabels[info.memoryLabel] = group.memoryLabelValue;
    nodeSelector = { matchLabels };
  } else {
    nodeSelector = {
      matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: nodeNames }],
    };
    warnings.push(`pool ${name}: the nodes carry no product label, so they are selected by host name`);
  }
  const memoryGiB = group.memoryLabelValue ? info.parseMemoryGiB(group.memoryLabelValue) : undefined;
  if (memoryGiB === undefined)
    warnings.push(
      `pool ${name}: device memory is not on the nodes' labels (${info.memoryLabel}); set spec.memoryGiB`,
    );
  if (!group.model)
    warnings.push(
      `pool ${name}: device model is not on the nodes' labels (${info.productLabel}); set spec.model`,
    );
  const spec: Record<string, unknown> = {
    vendor: group.vendor,
    model: group.model ?? "unknown",
    ...(memoryGiB === undefined ? {} : { memoryGiB }),
    nodeSelector,
  };
  // Only write resourceName when it is not what the vendor implies anyway.
  if (info.resourceName !== group.resourceName) spec.resourceName = group.resourceName;
  const tolerations = commonTolerations(group.nodes);
  if (tolerations.length > 0) spec.tolerations = tolerations;
  return {
    manifest: { apiVersion: API_VERSION, kind: "AcceleratorPool", metadata: { name }, spec },
    nodes: nodeNames,
    resourceName: group.resourceName,
    devicesPerNode: group.nodes.map((n) => deviceCount(n, group.resourceName)),
    warnings,
  };
}

export function proposePools(nodes: readonly V1Node[]): PoolProposal[] {
  const groups = groupNodes(nodes);
  const base = (g: Group) =>
    dnsLabel(g.poolLabel ?? (g.model ? shortModelName(g.vendor, g.model) : `${g.vendor}-unknown`));
  const taken = new Map<string, number>();
  for (const g of groups) taken.set(base(g), (taken.get(base(g)) ?? 0) + 1);
  const used = new Set<string>();
  const proposals = groups.map((g) => {
    let name = base(g);
    // Same model in several memory sizes (A100 40 and 80 GB): the memory tells them apart.
    if ((taken.get(name) ?? 0) > 1 && !g.poolLabel && g.memoryLabelValue) {
      const gib = vendorCatalog[g.vendor].parseMemoryGiB(g.memoryLabelValue);
      if (gib !== undefined) name = dnsLabel(`${name}-${gib}g`);
    }
    for (let i = 2; used.has(name); i++) name = dnsLabel(`${base(g)}-${i}`);
    used.add(name);
    return proposal(g, name);
  });
  return proposals.sort((a, b) => a.manifest.metadata.name.localeCompare(b.manifest.metadata.name));
}

/** One comment line per proposal, for the YAML it is printed with. */
export function proposalComment(p: PoolProposal): string {
  const devices = p.devicesPerNode.reduce((a, b) => a + b, 0);
  const per = [...new Set(p.devicesPerNode)].join("/");
  const shown = p.nodes.length > 6 ? [...p.nodes.slice(0, 6), "..."] : p.nodes;
  return `# ${p.nodes.length} ${p.nodes.length === 1 ? "node" : "nodes"} (${shown.join(", ")}) with ${per} x ${p.resourceName}: ${devices} devices`;
}
