// rollout.maxSurge / maxUnavailable of the service, as the strategy of each pool's Deployment.
//
// The Deployments roll independently, so a count copied onto each would multiply: with two
// pools, maxUnavailable 1 could take two replicas down at once. Hence:
// - maxUnavailable as a count is split over the pools, in placement order, so the shares add up
//   to the service's count; a percentage is kept as it is (each Deployment rounds its share
//   down, so the total stays within the same percentage).
// - maxSurge is kept as it is: surge pods need spare devices in their own pool, which is per
//   pool anyway, and an extra pod never lowers the ready count.
// - A Deployment with no surge and no unavailability could never replace a pod. When the
//   service allows no surge, a pool whose share of unavailability is 0 gets 1: with more pools
//   than maxUnavailable and maxSurge 0 there is no way to roll without it.
import type { InferenceServiceSpec } from "../../crds/runtime/index.ts";

export type Amount = number | string;
export interface DeploymentStrategy {
  type: "RollingUpdate";
  rollingUpdate: { maxSurge: Amount; maxUnavailable: Amount };
}

const isZero = (a: Amount): boolean => a === 0 || a === "0%";

/** One strategy per pool, for pools with the given replica counts, in placement order. */
export function deploymentStrategies(
  rollout: Partial<InferenceServiceSpec["rollout"]> | undefined,
  replicasPerPool: readonly number[],
): DeploymentStrategy[] {
  const maxSurge: Amount = rollout?.maxSurge ?? 1;
  const maxUnavailable: Amount = rollout?.maxUnavailable ?? 0;
  let left = typeof maxUnavailable === "number" ? maxUnavailable : 0;
  return replicasPerPool.map((replicas) => {
    let unavailable: Amount = maxUnavailable;
    if (typeof maxUnavailable === "number") {
      unavailable = Math.min(left, replicas);
      left -= unavailable;
    }
    if (isZero(maxSurge) && isZero(unavailable)) unavailable = 1;
    return { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable: unavailable } };
  });
}
