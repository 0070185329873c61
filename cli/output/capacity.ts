// The capacity view of `stackctl pools`: per pool, what is free, allocated and there, with a bar.
import { type AcceleratorPool, poolResourceName, type Vendor } from "../../crds/index.ts";
import type { StackObject } from "../kube/objects.ts";
import { num, rec, str } from "./summary.ts";
import { formatTable } from "./table.ts";

const BAR_WIDTH = 20;

/** [##########..........]  50% */
export function usageBar(used: number, total: number, width = BAR_WIDTH): string {
  if (total <= 0) return `[${".".repeat(width)}]    -`;
  const share = Math.min(1, Math.max(0, used / total));
  const filled = Math.round(share * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${`${Math.round(share * 100)}%`.padStart(4)}`;
}

interface Counts {
  nodes?: number;
  readyNodes?: number;
  capacity?: number;
  allocated?: number;
  free?: number;
  largestFreePerNode?: number;
}

const countsOf = (pool: StackObject): Counts => {
  const s = rec(pool.status);
  return {
    nodes: num(s.nodes),
    readyNodes: num(s.readyNodes),
    capacity: num(s.capacity),
    allocated: num(s.allocated),
    free: num(s.free),
    largestFreePerNode: num(s.largestFreePerNode),
  };
};

const show = (n: number | undefined): string => (n === undefined ? "-" : String(n));

function row(name: string, spec: Record<string, unknown>, c: Counts, wide: boolean): string[] {
  const known = c.capacity !== undefined;
  const cells = [
    name,
    str(spec.vendor) ?? "",
    str(spec.model) ?? "",
    spec.memoryGiB === undefined ? "" : `${str(spec.memoryGiB)}Gi`,
    c.nodes === undefined ? "-" : `${c.readyNodes ?? 0}/${c.nodes}`,
    show(c.free),
    show(c.allocated),
    show(c.capacity),
    known ? usageBar(c.allocated ?? 0, c.capacity ?? 0) : "(no status yet)",
  ];
  if (wide) {
    const resource = spec.vendor
      ? (poolResourceName({ vendor: str(spec.vendor) as Vendor, resourceName: str(spec.resourceName) }) ?? "")
      : "";
    cells.splice(8, 0, show(c.largestFreePerNode), resource);
  }
  return cells;
}

export function capacityTable(pools: readonly StackObject[], opts: { wide: boolean }): string {
  const header = ["POOL", "VENDOR", "MODEL", "MEMORY", "NODES", "FREE", "ALLOCATED", "CAPACITY", "USAGE"];
  if (opts.wide) header.splice(8, 0, "LARGEST-FREE", "RESOURCE");
  const rows = pools.map((p) => {
    const spec = rec(p.spec) as Partial<AcceleratorPool["spec"]> & Record<string, unknown>;
    const name = spec.paused ? `${p.metadata.name} (paused)` : p.metadata.name;
    return row(name, spec, countsOf(p), opts.wide);
  });
  if (pools.length > 1) {
    const counts = pools.map(countsOf);
    const sum = (k: keyof Counts) =>
      counts.every((c) => c[k] === undefined) ? undefined : counts.reduce((n, c) => n + (c[k] ?? 0), 0);
    const largest = Math.max(...counts.map((c) => c.largestFreePerNode ?? 0));
    rows.push(
      row(
        "TOTAL",
        {},
        {
          nodes: sum("nodes"),
          readyNodes: sum("readyNodes"),
          capacity: sum("capacity"),
          allocated: sum("allocated"),
          free: sum("free"),
          largestFreePerNode: largest,
        },
        opts.wide,
      ),
    );
  }
  return formatTable([header, ...rows]);
}
