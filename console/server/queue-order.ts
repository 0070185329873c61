// The Queue page's order, shared by the server's tests and the browser: by queue position, then
// age; workloads queued without a position (not yet given one) last.
import type { WorkloadRow } from "./protocol.ts";

export function queueOrder(rows: Iterable<WorkloadRow>): WorkloadRow[] {
  return [...rows]
    .filter((w) => w.phase === "Queued" || w.queuePosition !== undefined)
    .sort(
      (a, b) =>
        (a.queuePosition ?? Number.MAX_SAFE_INTEGER) - (b.queuePosition ?? Number.MAX_SAFE_INTEGER) ||
        codepoints(a.created ?? "", b.created ?? "") ||
        codepoints(a.id, b.id),
    );
}

/** ISO times and ids compare by code point: no collator needed, and it is much faster. */
const codepoints = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
