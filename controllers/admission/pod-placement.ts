// Turns an admitted placement into pod fields: where the pod may run (the pool's nodes, and the
// exact node the engine reserved for it), what it must tolerate, and what this vendor needs
// (resource name, runtime class, environment, image). Every workload kind places pods here, so a
// manifest written once runs on any vendor's pool.
import {
  type AcceleratorPool,
  labels,
  poolNodeSelector,
  poolResourceName,
  type Vendor,
  vendorCatalog,
} from "../../crds/runtime/index.ts";

export interface EnvVarLike {
  name: string;
  value?: string;
  [field: string]: unknown;
}
export interface ContainerLike {
  name: string;
  image?: string;
  env?: EnvVarLike[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  [field: string]: unknown;
}
interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface PodSpecLike {
  containers: ContainerLike[];
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms: { matchExpressions?: NodeSelectorRequirement[] }[];
      };
      [field: string]: unknown;
    };
    [field: string]: unknown;
  };
  tolerations?: unknown[];
  runtimeClassName?: string;
  [field: string]: unknown;
}
export interface PodTemplateLike {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpecLike;
}

export interface PlacementTarget {
  pool: AcceleratorPool;
  /** Devices each pod asks for; 0 for CPU-only pods. */
  devicesPerPod: number;
  /** The node reserved for this pod, when the engine pinned it. */
  node?: string | undefined;
  /** Per-vendor images; the pool's vendor's entry wins over the main container's image. */
  images?: Partial<Record<string, string>> | undefined;
  /** Index of the container that uses the devices; default 0. */
  mainContainer?: number;
}

export const hostnameLabel = "kubernetes.io/hostname";

export function imageFor(
  vendor: string,
  image: string | undefined,
  images: Partial<Record<string, string>> | undefined,
): string | undefined {
  return images?.[vendor] ?? image;
}

/** A copy of `template` with the placement applied; the input is not changed. */
export function placePod<T extends PodTemplateLike>(template: T, target: PlacementTarget): T {
  const pool = target.pool;
  const vendor = pool.spec.vendor as Vendor;
  const info = vendorCatalog[vendor];
  const resourceName = poolResourceName(pool.spec);
  const selector = poolNodeSelector(pool);
  const spec: PodSpecLike = structuredClone(template.spec);
  const metadata = structuredClone(template.metadata ?? {});
  metadata.labels = { ...metadata.labels, [labels.pool]: pool.metadata.name ?? "" };

  spec.nodeSelector = { ...spec.nodeSelector, ...selector.matchLabels };
  const expressions: NodeSelectorRequirement[] = (selector.matchExpressions ?? []).map((e) => ({
    key: e.key,
    operator: e.operator,
    ...(e.values ? { values: [...e.values] } : {}),
  }));
  if (target.node) expressions.push({ key: hostnameLabel, operator: "In", values: [target.node] });
  if (expressions.length > 0) {
    const nodeAffinity = spec.affinity?.nodeAffinity ?? {};
    const terms = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [{}];
    // Terms are ORed, expressions within a term ANDed: the placement must hold in every term.
    const placed = terms.map((t) => ({
      ...t,
      matchExpressions: [...(t.matchExpressions ?? []), ...expressions],
    }));
    spec.affinity = {
      ...spec.affinity,
      nodeAffinity: {
        ...nodeAffinity,
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: placed },
      },
    };
  }
  if (pool.spec.tolerations?.length)
    spec.tolerations = [...(spec.tolerations ?? []), ...pool.spec.tolerations];
  if (pool.spec.runtimeClassName) spec.runtimeClassName = pool.spec.runtimeClassName;

  const index = target.mainContainer ?? 0;
  const main = spec.containers[index];
  if (main) {
    const image = imageFor(vendor, main.image, target.images);
    if (image) main.image = image;
    if (target.devicesPerPod > 0 && resourceName) {
      const count = String(target.devicesPerPod);
      main.resources = {
        ...main.resources,
        requests: { ...main.resources?.requests, [resourceName]: count },
        limits: { ...main.resources?.limits, [resourceName]: count },
      };
      // The vendor's environment goes first so the workload's own settings override it.
      const own = new Set((main.env ?? []).map((e) => e.name));
      const vendorEnv = Object.entries(info.env)
        .filter(([name]) => !own.has(name))
        .map(([name, value]) => ({ name, value }));
      main.env = [...vendorEnv, ...(main.env ?? [])];
    }
  }
  return { ...template, metadata, spec };
}
