// What the operator reads of AcceleratorPool at run time, apart from its schema (../acceleratorpool.ts).
import type { LabelSelector } from "../common.ts";
import { type Vendor, vendorCatalog } from "../vendors.ts";

/** The node label that puts a node into the pool of that name when the pool has no nodeSelector. */
export const POOL_LABEL = "sovereign.dev/pool";

/** The extended resource the pool's devices are requested by (vendor default unless overridden). */
export function poolResourceName(spec: {
  vendor: string;
  resourceName?: string | undefined;
}): string | undefined {
  return spec.resourceName ?? vendorCatalog[spec.vendor as Vendor].resourceName;
}

/** The node selector of a pool, with the documented default. */
export function poolNodeSelector(pool: {
  metadata: { name?: string | undefined };
  spec: { nodeSelector?: LabelSelector | undefined };
}): LabelSelector {
  return pool.spec.nodeSelector ?? { matchLabels: { [POOL_LABEL]: pool.metadata.name ?? "" } };
}
