// How many replicas each pool holds, kept in status.admission (one placement per pool, group
// `server/<pool>`, in the order the pools were admitted). The record changes in three ways:
// - grow: the admitter admits only the replicas missing (see adapter.ts) and the result is
//   merged in: a pool already in use gets more, a new pool is appended;
// - shrink: replicas are taken from the last pool first, so a service that spilled over to a
//   second pool moves back to its first choice as it scales down;
// - repair: pools that no longer exist or no longer satisfy the requirement are dropped, and
//   their replicas are admitted again elsewhere.
// Each placement also keeps the nodes the engine counted its pods on, as a reservation while
// the scheduler has not bound them yet; once every pod of the pool is bound, the pods
// themselves hold the devices and the nodes are forgotten (they were never a pin: the
// Deployment's pods may land on any node of the pool).
import type { AdmissionStatus } from "../../crds/runtime/index.ts";

export type Placement = NonNullable<AdmissionStatus["placements"]>[number];

export const placementsOf = (admission: AdmissionStatus | undefined): Placement[] =>
  admission?.placements ?? [];

export function admittedReplicas(admission: AdmissionStatus | undefined): number {
  return placementsOf(admission).reduce((n, p) => n + (p.replicas ?? 0), 0);
}

/** The record with `placements`, or undefined when nothing is left (which releases it). */
function withPlacements(
  admission: AdmissionStatus | undefined,
  placements: Placement[],
): AdmissionStatus | undefined {
  if (placements.length === 0) return undefined;
  return { ...admission, placements };
}

/** `span`: pods per replica; their nodes are kept replica by replica (groups.ts, groupMajorNodes). */
export function resized(p: Placement, replicas: number, span: number): Placement {
  const out: Placement = { ...p, replicas };
  if (p.nodes && p.nodes.length > replicas * span) out.nodes = p.nodes.slice(0, replicas * span);
  return out;
}

export interface Released {
  pool: string;
  replicas: number;
}

/**
 * The order a scale-down takes placements in: the most expensive pool first (costPerDeviceHour;
 * a pool without one counts as free), and among equals the last admitted first, so a service
 * that spilled over moves back to its first choice. Indices into `placements`.
 */
export function shrinkOrder(
  placements: readonly Placement[],
  costOf: (pool: string) => number | undefined = () => undefined,
): number[] {
  return placements
    .map((p, i) => ({ i, cost: costOf(p.pool) ?? 0 }))
    .sort((a, b) => b.cost - a.cost || b.i - a.i)
    .map((o) => o.i);
}

/** Takes replicas away, last pool first, until at most `desired` remain. */
export function shrinkAdmission(
  admission: AdmissionStatus | undefined,
  desired: number,
  costOf: (pool: string) => number | undefined = () => undefined,
  span = 1,
): { admission: AdmissionStatus | undefined; released: Released[] } {
  const placements = placementsOf(admission).map((p) => ({ ...p }));
  let excess = admittedReplicas(admission) - Math.max(0, desired);
  if (excess <= 0) return { admission, released: [] };
  const released: Released[] = [];
  for (const i of shrinkOrder(placements, costOf)) {
    if (excess <= 0) break;
    const p = placements[i] as Placement;
    const take = Math.min(excess, p.replicas ?? 0);
    excess -= take;
    released.push({ pool: p.pool, replicas: take });
    placements[i] = resized(p, (p.replicas ?? 0) - take, span);
  }
  return {
    admission: withPlacements(
      admission,
      placements.filter((p) => (p.replicas ?? 0) > 0),
    ),
    released,
  };
}

/**
 * Adds a further admission of the same service's replicas to the record. A pool whose nodes were
 * forgotten (its pods were all bound) lists them again, from `boundNodes`: the admitter reserves
 * a placement's nodes less the service's pods bound there, so a list of only the new replicas'
 * nodes would be offset by the old replicas' pods on the same nodes, and reserve nothing.
 */
export function mergeAdmission(
  current: AdmissionStatus | undefined,
  added: AdmissionStatus,
  boundNodes: (pool: string) => readonly string[] = () => [],
): AdmissionStatus {
  const placements = placementsOf(current).map((p) => ({ ...p }));
  for (const a of placementsOf(added)) {
    const i = placements.findIndex((p) => p.group === a.group);
    const existing = placements[i];
    if (!existing) {
      placements.push({ ...a });
      continue;
    }
    const merged: Placement = { ...existing, replicas: (existing.replicas ?? 0) + (a.replicas ?? 0) };
    const held = existing.nodes ?? boundNodes(existing.pool).slice(0, existing.replicas ?? 0);
    const nodes = [...held, ...(a.nodes ?? [])];
    if (nodes.length > 0) merged.nodes = nodes;
    placements[i] = merged;
  }
  return { ...added, ...current, placements };
}

/** Drops the placements `keep` rejects; returns what was dropped. */
export function dropPlacements(
  admission: AdmissionStatus | undefined,
  keep: (p: Placement) => boolean,
): { admission: AdmissionStatus | undefined; dropped: Placement[] } {
  const all = placementsOf(admission);
  const dropped = all.filter((p) => !keep(p));
  if (dropped.length === 0) return { admission, dropped };
  return { admission: withPlacements(admission, all.filter(keep)), dropped };
}

/** Forgets the reserved nodes of each pool whose pods are all bound (`bound` counts them). */
export function forgetBoundNodes(
  admission: AdmissionStatus | undefined,
  bound: (pool: string) => number,
): AdmissionStatus | undefined {
  const all = placementsOf(admission);
  if (!all.some((p) => p.nodes && p.nodes.length > 0 && bound(p.pool) >= (p.replicas ?? 0))) return admission;
  return withPlacements(
    admission,
    all.map((p) => {
      if (!p.nodes || bound(p.pool) < (p.replicas ?? 0)) return p;
      const { nodes: _forgotten, ...rest } = p;
      return rest;
    }),
  );
}
