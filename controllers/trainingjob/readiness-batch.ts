// Readiness counts are batched. While a gang starts, every pod that turns Running changes
// status.readyNodes (and the Running condition's "n of m ranks running"), and a write per pod
// is a write per rank: ~4 per 4-pod job, each also a watch event and a reconcile back. A write
// that changes nothing but those counts waits up to `readinessBatchMs` from the first count it
// held back; any other change (the phase, an admission, a condition flipping, a child write)
// writes at once and takes the held-back counts with it. The counts are recomputed from the
// pods on every reconcile, so a crash loses nothing but the wait. Pure.
import { deepEqual, findCondition } from "../../operator/index.ts";
import type { JobStatus } from "./planner.ts";

/** How long a change of readiness counts alone may wait to be written. */
export const readinessBatchMs = 5000;

/** The Running condition's reason while ranks are still coming up (phase-admitted.ts). */
const STARTING = "Starting";

/** True when `after` differs from `before` in readyNodes and the starting ranks' count only. */
export function onlyReadinessChanged(before: JobStatus, after: JobStatus): boolean {
  if (deepEqual(before, after)) return false;
  const b = findCondition(before.conditions, "Running");
  const a = findCondition(after.conditions, "Running");
  const sameRunning =
    a === undefined ||
    b === undefined ||
    a.message === b.message ||
    (a.status === b.status && a.reason === STARTING && b.reason === STARTING);
  if (!sameRunning) return false;
  return sameBesides(before, after, a?.message ?? b?.message);
}

/** Deep equality of the two statuses with readyNodes and the Running condition's message left out. */
function sameBesides(before: JobStatus, after: JobStatus, runningMessage: string | undefined): boolean {
  const strip = (s: JobStatus): JobStatus => ({
    ...s,
    readyNodes: undefined,
    conditions: s.conditions?.map((c) =>
      c.type === "Running" ? { ...c, message: runningMessage ?? "" } : c,
    ),
  });
  return deepEqual(strip(before), strip(after));
}

export type ReadinessVerdict = { write: true } | { write: false; heldSince: number; retryAfterMs: number };

/**
 * Whether a status write goes now. `batchable` says nothing else of the reconcile depends on
 * the write (no admission, no pod created or deleted, no event to send with it); `heldSince`
 * is when counts were first held back and are still unwritten (undefined: none are).
 */
export function readinessVerdict(o: {
  before: JobStatus;
  after: JobStatus;
  batchable: boolean;
  heldSince: number | undefined;
  now: number;
  windowMs?: number;
}): ReadinessVerdict {
  const windowMs = o.windowMs ?? readinessBatchMs;
  if (!o.batchable || !onlyReadinessChanged(o.before, o.after)) return { write: true };
  const heldSince = o.heldSince ?? o.now;
  const left = heldSince + windowMs - o.now;
  if (left <= 0) return { write: true };
  return { write: false, heldSince, retryAfterMs: left };
}
