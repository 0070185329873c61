// The placement and admission engine's public surface: controllers call schedule() once per pass
// with what they observed, apply the decisions, and feed admitted-but-unbound workloads back as
// reservations on the next pass.
export { compareWorkloads, schedule } from "./engine.ts";
export type * from "./quota/types.ts";
export {
  devicesOnPool,
  MAX_DEVICES_PER_REPLICA,
  shapeOnDevices,
} from "./replica-shape.ts";
export type * from "./types.ts";

import type { Admission, PoolPlacement, Reservation, ReservedNode } from "./types.ts";

/** What an admission holds, per node, until its pods are bound: pass it back as a reservation. */
export function reservationFor(admission: Admission): Reservation {
  const byNode = new Map<string, ReservedNode>();
  for (const group of admission.groups) {
    for (const placement of group.placements) {
      for (const n of placement.nodes) {
        const r = byNode.get(n.node) ?? { node: n.node, devices: 0, cpuMillis: 0, memoryBytes: 0 };
        byNode.set(n.node, {
          node: n.node,
          devices: r.devices + n.devices,
          cpuMillis: r.cpuMillis + n.cpuMillis,
          memoryBytes: r.memoryBytes + n.memoryBytes,
        });
      }
    }
  }
  const nodes = [...byNode.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { key: admission.key, nodes };
}

/** One node name per pod, in node-name order: pod i of the placement goes to podNodes(p)[i]. */
export function podNodes(placement: PoolPlacement): string[] {
  return placement.nodes.flatMap((n) => Array.from({ length: n.pods }, () => n.node));
}
