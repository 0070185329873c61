// Simulated accelerator nodes: fake Node objects that kwok keeps Ready, with the capacity and
// the labels each vendor's node-feature tooling would set, so the real scheduler and the
// operator see what they would see on real hardware.
import type { V1Node } from "@kubernetes/client-node";
import { type Vendor, vendorCatalog } from "../../crds/vendors.ts";
import { simulatedNodeAnnotation } from "./kwok-stages.ts";

export const poolLabel = "sovereign.dev/pool";

export interface SimulatedPool {
  name: string;
  nodes: number;
  /** undefined: CPU-only nodes. */
  accelerator?: {
    vendor: Vendor;
    model: string;
    devicesPerNode: number;
    memoryGiB: number;
    /** Needed for vendor "other" only; otherwise the catalog's. */
    resourceName?: string;
  };
  cpu: string;
  memory: string;
  taints?: { key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[];
  labels?: Record<string, string>;
}

/** The default preset of `stackctl dev up` and of the test cluster. */
export const defaultPreset: SimulatedPool[] = [
  {
    name: "h100",
    nodes: 4,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 8, memoryGiB: 80 },
    cpu: "192",
    memory: "2Ti",
  },
  {
    name: "mi300x",
    nodes: 2,
    accelerator: { vendor: "amd", model: "AMD-Instinct-MI300X", devicesPerNode: 8, memoryGiB: 192 },
    cpu: "192",
    memory: "2Ti",
  },
  {
    name: "tpu-v5e",
    nodes: 4,
    accelerator: { vendor: "google", model: "tpu-v5-lite-podslice", devicesPerNode: 4, memoryGiB: 16 },
    cpu: "112",
    memory: "192Gi",
    labels: { "cloud.google.com/gke-tpu-topology": "4x4" },
  },
  { name: "cpu", nodes: 2, cpu: "32", memory: "128Gi" },
];

function memoryLabelValue(vendor: Vendor, gib: number): string {
  // Each vendor's tooling writes memory its own way; write it the way the catalog reads it.
  if (vendor === "nvidia") return String(gib * 1024);
  if (vendor === "amd") return `${gib}G`;
  return String(gib);
}

export function resourceNameOf(pool: SimulatedPool): string | undefined {
  const acc = pool.accelerator;
  if (!acc) return undefined;
  const name = acc.resourceName ?? vendorCatalog[acc.vendor].resourceName;
  if (!name) throw new Error(`simulated pool ${pool.name}: vendor ${acc.vendor} needs a resourceName`);
  return name;
}

/** The Node objects of one pool; names are `<pool>-<index>`. */
export function simulatedNodes(pool: SimulatedPool): V1Node[] {
  const labels: Record<string, string> = { [poolLabel]: pool.name, type: "kwok", ...pool.labels };
  const capacity: Record<string, string> = { cpu: pool.cpu, memory: pool.memory, pods: "110" };
  const acc = pool.accelerator;
  if (acc) {
    const info = vendorCatalog[acc.vendor];
    if (info.productLabel) labels[info.productLabel] = acc.model;
    if (info.memoryLabel) labels[info.memoryLabel] = memoryLabelValue(acc.vendor, acc.memoryGiB);
    labels["sovereign.dev/accelerator-vendor"] = acc.vendor;
    const resource = resourceNameOf(pool);
    if (resource) capacity[resource] = String(acc.devicesPerNode);
  }
  return Array.from({ length: pool.nodes }, (_, i) => {
    const name = `${pool.name}-${i}`;
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        labels: {
          ...labels,
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
        },
        annotations: {
          [simulatedNodeAnnotation.key]: simulatedNodeAnnotation.value,
          "node.alpha.kubernetes.io/ttl": "0",
        },
      },
      spec: { taints: pool.taints?.map((t) => ({ ...t })) },
      status: { capacity, allocatable: { ...capacity } },
    };
  });
}
