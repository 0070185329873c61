// Events a person reads with `kubectl describe rayc`: transitions and the operator's own
// actions, never the steady state (a reconcile that changes nothing says nothing).
import type { RayClusterStatus } from "../../crds/runtime/index.ts";
import type { EventInput } from "../../operator/index.ts";
import { describeAdmission } from "./status.ts";
import type { PlannedDelete } from "./workers.ts";

export interface Happenings {
  previous: RayClusterStatus | undefined;
  next: RayClusterStatus;
  deletes: readonly PlannedDelete[];
  /** The head pod was created although the cluster already had one once. */
  headRecreated: boolean;
  /** The admission was released to ask for more workers. */
  released: boolean;
  trimmed: ReadonlyMap<string, [number, number]>;
}

const names = (ds: readonly PlannedDelete[]) => ds.map((d) => d.name).join(", ");

export function eventsFor(h: Happenings): EventInput[] {
  const out: EventInput[] = [];
  const before = h.previous?.phase;
  const after = h.next.phase;
  const readyMessage = h.next.conditions?.find((c) => c.type === "Ready")?.message;

  if (!h.previous?.admission && h.next.admission)
    out.push({
      type: "Normal",
      reason: "Admitted",
      action: "Admit",
      note: describeAdmission(h.next.admission),
    });
  if (h.released)
    out.push({
      type: "Normal",
      reason: "ScalingUp",
      action: "Admit",
      note: "released the admission to ask for the added workers; the running ones keep their nodes",
    });
  for (const [group, [from, to]] of h.trimmed) {
    const gone = h.deletes.filter((d) => d.group === group && d.reason === "ScaleDown");
    const which = gone.length > 0 ? `removed ${names(gone)}` : "the newest were removed";
    out.push({
      type: "Normal",
      reason: "ScaledDown",
      action: "Delete",
      note: `group ${group}: ${from} -> ${to} workers; ${which} and their capacity released`,
    });
  }
  const failed = h.deletes.filter((d) => d.reason === "Failed");
  if (failed.length > 0)
    out.push({
      type: "Warning",
      reason: "WorkerFailed",
      action: "Delete",
      note: `deleted failed worker pods ${names(failed)}; they will be recreated`,
    });
  const removed = h.deletes.filter((d) => d.reason === "GroupRemoved");
  if (removed.length > 0)
    out.push({ type: "Normal", reason: "GroupRemoved", action: "Delete", note: `deleted ${names(removed)}` });
  if (h.headRecreated)
    out.push({
      type: "Warning",
      reason: "HeadRecreated",
      action: "Create",
      note: "the head pod was gone; created it again, the workers rejoin it",
    });

  if (before !== after) {
    if (after === "Ready")
      out.push({
        type: "Normal",
        reason: "Ready",
        action: "Reconcile",
        note: readyMessage ?? "the cluster is ready",
      });
    else if (after === "Degraded")
      out.push({
        type: "Warning",
        reason: "Degraded",
        action: "Reconcile",
        note: readyMessage ?? "the cluster is degraded",
      });
    else if (after === "Suspended")
      out.push({
        type: "Normal",
        reason: "Suspended",
        action: "Suspend",
        note: "deleted every pod; the spec is kept",
      });
    if (before === "Suspended")
      out.push({
        type: "Normal",
        reason: "Resumed",
        action: "Resume",
        note: "recreating the head and asking for the workers",
      });
  }
  return out;
}
