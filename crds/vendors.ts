// The vendor catalog: everything the operator must know to turn a vendor-neutral
// AcceleratorRequirement into a pod for one vendor's hardware. Adding a vendor is adding a row.

export const vendors = ["nvidia", "amd", "intel", "google", "aws", "other"] as const;
export type Vendor = (typeof vendors)[number];

export interface VendorInfo {
  /** Human name for tables and messages. */
  displayName: string;
  /** Extended resource the vendor's device plugin advertises; undefined: must be given per pool. */
  resourceName: string | undefined;
  /** Node label set by the vendor's node-feature tooling that names the device model. */
  productLabel: string | undefined;
  /** Node label that carries per-device memory, and how to read it as GiB. */
  memoryLabel: string | undefined;
  parseMemoryGiB: (value: string) => number | undefined;
  /** RuntimeClass customary for this vendor's containers, if any. */
  runtimeClassName: string | undefined;
  /** Environment a container on this hardware needs beyond what the device plugin injects. */
  env: Record<string, string>;
  /** torch.distributed backend for multi-node training on this hardware. */
  torchBackend: string;
  /** How Ray is told about the devices: built-in GPUs or a named custom resource. */
  ray: { kind: "gpus" } | { kind: "resource"; name: string };
  /** Interconnect names this vendor's devices use. */
  interconnects: readonly string[];
}

const mibToGiB = (value: string): number | undefined => {
  const mib = Number(value);
  return Number.isFinite(mib) && mib > 0 ? Math.round(mib / 1024) : undefined;
};

// "192G", "192Gi", "196608M", "80" (GiB) -> GiB.
const sizeToGiB = (value: string): number | undefined => {
  const m = /^(\d+(?:\.\d+)?)\s*(M|Mi|G|Gi)?$/.exec(value.trim());
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return m[2]?.startsWith("M") ? Math.round(n / 1024) : n;
};

export const vendorCatalog: Record<Vendor, VendorInfo> = {
  nvidia: {
    displayName: "NVIDIA",
    resourceName: "nvidia.com/gpu",
    productLabel: "nvidia.com/gpu.product", // GPU feature discovery
    memoryLabel: "nvidia.com/gpu.memory", // MiB
    parseMemoryGiB: mibToGiB,
    runtimeClassName: "nvidia",
    env: { NVIDIA_DRIVER_CAPABILITIES: "compute,utility" },
    torchBackend: "nccl",
    ray: { kind: "gpus" },
    interconnects: ["nvlink", "infiniband", "pcie"],
  },
  amd: {
    displayName: "AMD",
    resourceName: "amd.com/gpu",
    productLabel: "amd.com/gpu.product-name", // AMD GPU node labeller
    memoryLabel: "amd.com/gpu.vram", // e.g. "192G"
    parseMemoryGiB: sizeToGiB,
    runtimeClassName: undefined,
    env: { HSA_FORCE_FINE_GRAIN_PCIE: "1" },
    torchBackend: "nccl", // RCCL answers to the nccl backend name in ROCm builds of PyTorch
    ray: { kind: "gpus" },
    interconnects: ["xgmi", "infiniband", "pcie"],
  },
  intel: {
    displayName: "Intel Gaudi",
    resourceName: "habana.ai/gaudi",
    productLabel: "habana.ai/gaudi.product",
    memoryLabel: "habana.ai/gaudi.memory", // GiB
    parseMemoryGiB: sizeToGiB,
    runtimeClassName: "habana",
    env: { HABANA_VISIBLE_DEVICES: "all", PT_HPU_LAZY_MODE: "1" },
    torchBackend: "hccl",
    ray: { kind: "resource", name: "HPU" },
    interconnects: ["roce", "pcie"],
  },
  google: {
    displayName: "Google TPU",
    resourceName: "google.com/tpu",
    productLabel: "cloud.google.com/gke-tpu-accelerator", // e.g. tpu-v5-lite-podslice
    memoryLabel: "sovereign.dev/device-memory-gib", // GKE sets none; pools or our nodes say it
    parseMemoryGiB: sizeToGiB,
    runtimeClassName: undefined,
    env: { PJRT_DEVICE: "TPU" },
    torchBackend: "xla",
    ray: { kind: "resource", name: "TPU" },
    interconnects: ["ici"],
  },
  aws: {
    displayName: "AWS Trainium/Inferentia",
    resourceName: "aws.amazon.com/neuron",
    productLabel: "node.kubernetes.io/instance-type", // trn1.32xlarge, inf2.48xlarge
    memoryLabel: "sovereign.dev/device-memory-gib",
    parseMemoryGiB: sizeToGiB,
    runtimeClassName: undefined,
    env: { NEURON_RT_LOG_LEVEL: "WARN" },
    torchBackend: "xla",
    ray: { kind: "resource", name: "neuron_cores" },
    interconnects: ["neuronlink", "efa"],
  },
  other: {
    displayName: "Other",
    resourceName: undefined,
    productLabel: undefined,
    memoryLabel: "sovereign.dev/device-memory-gib",
    parseMemoryGiB: sizeToGiB,
    runtimeClassName: undefined,
    env: {},
    torchBackend: "gloo",
    ray: { kind: "resource", name: "accelerator" },
    interconnects: [],
  },
};

/** Every interconnect any vendor uses, for the API's enum. */
export const interconnects = [
  "nvlink",
  "xgmi",
  "ici",
  "neuronlink",
  "infiniband",
  "roce",
  "efa",
  "pcie",
] as const;
export type Interconnect = (typeof interconnects)[number];

/** The vendor that owns an extended resource name, for discovery from node capacity. */
export function vendorForResource(resourceName: string): Vendor | undefined {
  return vendors.find((v) => vendorCatalog[v].resourceName === resourceName);
}

/** The catalog as the Markdown table the README shows (a test keeps the README in step). */
export function vendorTableMarkdown(): string {
  const code = (s: string | undefined): string => (s ? `\`${s}\`` : "—");
  const rows = [
    "| vendor | resource name | product label | device memory label | customary runtime class | torch backend | Ray resource | container env |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const v of vendors) {
    const i = vendorCatalog[v];
    const env = Object.entries(i.env).map(([k, x]) => code(`${k}=${x}`));
    rows.push(
      `| ${code(v)} | ${i.resourceName ? code(i.resourceName) : "set per pool"} | ${code(i.productLabel)} | ${code(i.memoryLabel)} | ${i.runtimeClassName ?? "—"} | ${i.torchBackend} | ${i.ray.kind === "gpus" ? code("--num-gpus") : code(i.ray.name)} | ${env.join(" ") || "—"} |`,
    );
  }
  return rows.join("\n");
}
