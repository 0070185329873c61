// Static matching of a requirement against a pool: what the pool IS, never what it has free.
import { shapeOnDevices } from "./replica-shape.ts";
import type { AcceleratorRequirement, PoolInput } from "./types.ts";

const globCache = new Map<string, RegExp>();

/** Shell-style glob ("*", "?"), whole-string, case-insensitive: "h100*" matches "H100-SXM". */
export function globMatches(glob: string, text: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    const source = glob
      .split("")
      .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\/-]/g, "\\$&")))
      .join("");
    re = new RegExp(`^${source}$`, "i");
    globCache.set(glob, re);
  }
  return re.test(text);
}

/** Why the pool can never serve the requirement, or undefined when it matches. */
export function poolMismatch(pool: PoolInput, req: AcceleratorRequirement): string | undefined {
  if (req.pools && req.pools.length > 0 && !req.pools.includes(pool.name)) return "not in the pinned pools";
  if (req.vendors && req.vendors.length > 0 && !req.vendors.includes(pool.vendor)) {
    return `vendor ${pool.vendor}`;
  }
  if (req.models && req.models.length > 0 && !req.models.some((g) => globMatches(g, pool.model))) {
    return `model ${pool.model}`;
  }
  const minMemory = req.minMemoryGiB ?? 0;
  if (minMemory > 0 && !(pool.memoryGiB >= minMemory)) {
    return pool.memoryGiB > 0 ? `${pool.memoryGiB} GiB per device` : "device memory unknown";
  }
  if (req.interconnect && pool.interconnect !== req.interconnect) {
    return `interconnect ${pool.interconnect ?? "unknown"}`;
  }
  if (req.replicaShape) {
    const verdict = shapeOnDevices(pool.memoryGiB, req.replicaShape);
    if ("why" in verdict) return verdict.why;
  }
  return undefined;
}

/** Order-insensitive where order carries no meaning; the pin order is a preference, so it stays. */
export function requirementSignature(req: AcceleratorRequirement): string {
  return `${sorted(req.vendors)}|${sorted(req.models)}|${req.minMemoryGiB ?? 0}|${req.interconnect ?? ""}|${req.pools ? req.pools.join(",") : ""}${req.replicaShape ? `|${req.replicaShape.memoryGiB}/${req.replicaShape.attentionHeads ?? ""}` : ""}`;
}

// Called for every queued group on every pass, hence the shortcuts for the usual short lists.
function sorted(xs: readonly string[] | undefined): string {
  if (!xs || xs.length === 0) return "";
  if (xs.length === 1) return xs[0] as string;
  return [...xs].sort().join(",");
}

/** "≥80 GiB, nvidia or amd, model H100* or MI300X, nvlink, pools a or b" (empty when unconstrained). */
export function describeFilters(req: AcceleratorRequirement): string {
  const parts: string[] = [];
  if ((req.minMemoryGiB ?? 0) > 0) parts.push(`≥${req.minMemoryGiB} GiB`);
  if (req.vendors && req.vendors.length > 0) parts.push([...req.vendors].sort().join(" or "));
  if (req.models && req.models.length > 0) parts.push(`model ${[...req.models].sort().join(" or ")}`);
  if (req.interconnect) parts.push(req.interconnect);
  if (req.pools && req.pools.length > 0) parts.push(`pool ${req.pools.join(" or ")}`);
  return parts.join(", ");
}
