// The engine's Admission as the status.admission record the workload keeps.
import type { AdmissionStatus } from "../../crds/runtime/index.ts";
import { podNodes } from "../placement/index.ts";
import type { Admission } from "../placement/types.ts";

/**
 * One placement entry per group, or per group and pool for replicas that may span pools
 * (`perPool`; keyed `group/pool` then, because the record is a list-map keyed on group).
 */
export function toAdmissionStatus(admission: Admission, now: Date, perPool = false): AdmissionStatus {
  const placements = admission.groups.flatMap((g) =>
    g.placements.map((p) => ({
      group: perPool || g.placements.length > 1 ? `${g.group}/${p.pool}` : g.group,
      pool: p.pool,
      vendor: p.vendor,
      resourceName: p.resourceName,
      nodes: podNodes(p),
      replicas: p.pods,
    })),
  );
  return { admittedAt: now.toISOString(), placements };
}
