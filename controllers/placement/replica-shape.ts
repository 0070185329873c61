// The automatic replica shape: how many devices of one pool a model server replica takes when
// the workload states the memory a replica needs instead of a device count.
import type { AcceleratorRequirement, PoolInput, ReplicaShape } from "./types.ts";

/** The most devices one replica may shard over (the API's tensorParallelSize maximum). */
export const MAX_DEVICES_PER_REPLICA = 64;

export type ShapeVerdict = { devices: number } | { why: string };

/**
 * The smallest power-of-two count of devices of `deviceMemoryGiB` that together hold the
 * replica and divide its attention heads. Powers of two because tensor-parallel engines split
 * layers evenly and interconnect topologies come in powers of two; and since a power of two that
 * does not divide the heads has no larger power of two that does, the first count with enough
 * memory is the only candidate.
 */
export function shapeOnDevices(deviceMemoryGiB: number, shape: ReplicaShape): ShapeVerdict {
  if (!(deviceMemoryGiB > 0)) return { why: "device memory unknown" };
  let devices = 1;
  while (devices * deviceMemoryGiB < shape.memoryGiB) {
    devices *= 2;
    if (devices > MAX_DEVICES_PER_REPLICA) {
      const needed = Math.ceil(shape.memoryGiB / deviceMemoryGiB);
      return {
        why: `${deviceMemoryGiB} GiB per device: a replica of ${formatGiB(shape.memoryGiB)} would need ${needed} devices, more than ${MAX_DEVICES_PER_REPLICA}`,
      };
    }
  }
  const heads = shape.attentionHeads;
  if (heads !== undefined && heads % devices !== 0) {
    return {
      why: `${deviceMemoryGiB} GiB per device: a replica of ${formatGiB(shape.memoryGiB)} needs ${devices} devices, which do not divide its ${heads} attention heads`,
    };
  }
  return { devices };
}

/** Devices per pod of `req` on `pool`: the fixed count, or the pool's automatic shape. */
export function devicesOnPool(
  pool: Pick<PoolInput, "memoryGiB">,
  req: AcceleratorRequirement,
): number | undefined {
  if (!req.replicaShape) return req.count;
  const verdict = shapeOnDevices(pool.memoryGiB, req.replicaShape);
  return "devices" in verdict ? verdict.devices : undefined;
}

export function formatGiB(giB: number): string {
  return `${Math.round(giB * 10) / 10} GiB`;
}
