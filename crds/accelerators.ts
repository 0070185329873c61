// AcceleratorRequirement: a workload asks for capability (how many devices, how much memory,
// optionally which vendors, models or pools), never for a vendor's resource name. The operator
// picks a pool and translates.
import { z } from "zod";
import { dnsLabel } from "./common.ts";
import { listSet, withRules } from "./kit.ts";
import { interconnects, vendors } from "./vendors.ts";

// Pool names end up in label values and in child names such as <service>-<pool>.
export const POOL_NAME_MAX_LENGTH = 40;

const MODEL_GLOB = /^[A-Za-z0-9*?][-A-Za-z0-9_.*?]*$/;

const countField = z
  .int()
  .min(0)
  .max(64)
  .describe(
    "Devices per pod (for a TrainingJob: per node, shared by its procsPerNode processes). 0 runs on CPU only.",
  );

const requirementFields = {
  minMemoryGiB: z
    .int()
    .min(0)
    .max(4096)
    .default(0)
    .describe("Minimum memory per device in GiB; 0 accepts any device."),
  vendors: listSet(z.enum(vendors), vendors.length)
    .describe(
      "Vendors allowed to serve this workload, any of nvidia, amd, intel, google, aws, other. Empty: any vendor.",
    )
    .optional(),
  models: listSet(z.string().min(1).max(64).regex(MODEL_GLOB), 16)
    .describe(
      'Globs on the pool\'s model, matched case-insensitively: * matches any run of characters, ? one character ("H100*", "MI300X"). Empty: any model.',
    )
    .optional(),
  pools: listSet(dnsLabel(POOL_NAME_MAX_LENGTH), 32)
    .describe("Only these AcceleratorPools, by name. Empty: any pool that fits.")
    .optional(),
  interconnect: z
    .enum(interconnects)
    .describe("Required device interconnect: nvlink, xgmi, ici, neuronlink, infiniband, roce, efa or pcie.")
    .optional(),
};

const requirementDescription =
  "What accelerators each pod needs, stated as capability rather than as a vendor's resource name; the operator chooses a matching AcceleratorPool and translates (nvidia.com/gpu, amd.com/gpu, google.com/tpu, ...).";

const noFilters = (a: {
  minMemoryGiB: number;
  vendors?: unknown[];
  models?: unknown[];
  interconnect?: string;
}) => a.minMemoryGiB === 0 && !a.vendors?.length && !a.models?.length && a.interconnect === undefined;
const noFiltersRule =
  "(self.minMemoryGiB == 0 && (!has(self.vendors) || self.vendors.size() == 0) && (!has(self.models) || self.models.size() == 0) && !has(self.interconnect))";
const countMessage = "count must be at least 1 when minMemoryGiB, vendors, models or interconnect are set";

export const acceleratorRequirement = withRules(
  z.strictObject({ count: countField.default(1), ...requirementFields }).describe(requirementDescription),
  [
    {
      rule: `self.count > 0 || ${noFiltersRule}`,
      message: countMessage,
      fieldPath: ".count",
      holds: (a) => a.count > 0 || noFilters(a),
    },
  ],
);

/**
 * A model server's requirement: count may be left out, and then follows the engine (its
 * tensorParallelSize, or a shape chosen per pool from the model's size).
 */
export const servingAcceleratorRequirement = withRules(
  z
    .strictObject({
      count: countField
        .describe(
          "Devices per replica; 0 runs on CPU only. Default: engine.tensorParallelSize, or with model.sizeGiB or model.parameters, chosen per pool (the smallest power of two whose memory holds the model and its KV cache).",
        )
        .optional(),
      ...requirementFields,
    })
    .describe(requirementDescription),
  [
    {
      rule: `!has(self.count) || self.count > 0 || ${noFiltersRule}`,
      message: countMessage,
      fieldPath: ".count",
      holds: (a) => a.count === undefined || a.count > 0 || noFilters(a),
    },
  ],
);
export type AcceleratorRequirement = z.output<typeof acceleratorRequirement>;

/** Whether a pool's model matches one of the requirement's globs (case-insensitive). */
export function modelMatches(glob: string, model: string): boolean {
  const pattern = glob
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\-]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${pattern}$`).test(model.toLowerCase());
}
