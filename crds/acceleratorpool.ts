// AcceleratorPool: a set of nodes with identical accelerators. Workloads are placed onto pools,
// never onto vendors' resource names directly.
import { z } from "zod";
import { POOL_NAME_MAX_LENGTH } from "./accelerators.ts";
import {
  conditionsField,
  DNS_LABEL,
  dnsSubdomain,
  labelSelector,
  observedGenerationField,
  toleration,
} from "./common.ts";
import { defineKind } from "./kind.ts";
import { withRules } from "./kit.ts";
import { POOL_LABEL } from "./runtime/acceleratorpool.ts";
import { acceleratorPoolNames } from "./runtime/kinds.ts";
import { interconnects, vendorCatalog, vendors } from "./vendors.ts";

const EXTENDED_RESOURCE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const defaultResourceNames = vendors
  .filter((v) => vendorCatalog[v].resourceName)
  .map((v) => `${v}: ${vendorCatalog[v].resourceName}`)
  .join(", ");

export const acceleratorPoolSpec = withRules(
  z
    .strictObject({
      vendor: z.enum(vendors).describe("Who makes the devices: nvidia, amd, intel, google, aws or other."),
      model: z
        .string()
        .min(1)
        .max(64)
        .describe(
          'The device model, free text matched by workloads\' accelerators.models globs ("H100-SXM", "MI300X").',
        ),
      memoryGiB: z.int().min(1).max(4096).describe("Memory per device in GiB."),
      resourceName: z
        .string()
        .max(253)
        .regex(EXTENDED_RESOURCE_NAME)
        .describe(
          `Extended resource the device plugin advertises on these nodes. Defaults by vendor (${defaultResourceNames}); required for vendor other.`,
        )
        .optional(),
      interconnect: z
        .enum(interconnects)
        .describe(
          "How devices within a node are connected: nvlink, xgmi, ici, neuronlink, infiniband, roce, efa or pcie.",
        )
        .optional(),
      nodeSelector: labelSelector()
        .describe(`Which Nodes belong to the pool. Default: nodes labelled ${POOL_LABEL}=<pool name>.`)
        .optional(),
      tolerations: z
        .array(toleration)
        .max(16)
        .describe(
          "Tolerations added to every pod placed in this pool, for taints such as nvidia.com/gpu:NoSchedule.",
        )
        .optional(),
      runtimeClassName: dnsSubdomain()
        .describe(
          "RuntimeClass set on every pod placed in this pool (such as nvidia); unset: the node's default.",
        )
        .optional(),
      costPerDeviceHour: z
        .number()
        .min(0)
        .max(100000)
        .describe(
          "Price of one device for one hour, in any currency used consistently; cheaper pools score higher.",
        )
        .optional(),
      paused: z.boolean().default(false).describe("True: admit nothing new here; what runs keeps running."),
    })
    .describe("The devices in the pool and how to reach the nodes that carry them."),
  [
    {
      rule: "self.vendor != 'other' || has(self.resourceName)",
      message: "resourceName is required when vendor is other",
      fieldPath: ".resourceName",
      holds: (s) => s.vendor !== "other" || s.resourceName !== undefined,
    },
  ],
);
export type AcceleratorPoolSpec = z.output<typeof acceleratorPoolSpec>;

const count = (what: string) => z.int().min(0).describe(what).optional();

export const acceleratorPoolStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    nodes: count("Nodes the selector matches."),
    readyNodes: count("Matched nodes that are Ready and schedulable."),
    capacity: count("Devices on ready nodes."),
    allocated: count("Devices requested by pods on ready nodes that have not terminated."),
    free: count("capacity - allocated."),
    largestFreePerNode: count("The most free devices on any one ready node: the biggest pod that fits now."),
    conditions: conditionsField(["Ready"]),
  })
  .describe("What the operator last observed about the pool's nodes.");
export type AcceleratorPoolStatus = z.output<typeof acceleratorPoolStatus>;

export const acceleratorPoolResource = defineKind({
  ...acceleratorPoolNames,
  description:
    "AcceleratorPool is a set of nodes with identical accelerators (vendor, model, memory). TrainingJobs, RayClusters and InferenceServices are placed onto pools; the pool's vendor decides the resource name, image and runtime settings of their pods.",
  name: {
    maxLength: POOL_NAME_MAX_LENGTH,
    pattern: DNS_LABEL,
    why: "pool names are label values and part of child object names",
  },
  spec: acceleratorPoolSpec,
  status: acceleratorPoolStatus,
  printerColumns: [
    { name: "Vendor", type: "string", jsonPath: ".spec.vendor", description: "Device vendor." },
    { name: "Model", type: "string", jsonPath: ".spec.model", description: "Device model." },
    { name: "Memory", type: "integer", jsonPath: ".spec.memoryGiB", description: "GiB per device." },
    { name: "Ready", type: "integer", jsonPath: ".status.readyNodes", description: "Ready nodes." },
    { name: "Free", type: "integer", jsonPath: ".status.free", description: "Free devices on ready nodes." },
    {
      name: "Capacity",
      type: "integer",
      jsonPath: ".status.capacity",
      description: "Devices on ready nodes.",
    },
    {
      name: "Paused",
      type: "boolean",
      jsonPath: ".spec.paused",
      description: "Admits nothing new.",
      priority: 1,
    },
    {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
      description: "Time since creation.",
    },
  ],
});
export type AcceleratorPool = z.output<typeof acceleratorPoolResource.schema>;

export * from "./runtime/acceleratorpool.ts";
