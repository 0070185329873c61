// The RayJob controller: one Ray entrypoint on a RayCluster it creates (admitted by the
// RayCluster controller like any other) or selects. See reconcile.ts.
import type { ControllerFactory, KubeObject } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";
import { type RayJobDeps, type RayJobObject, rayJobReconciler } from "./reconcile.ts";

export const rayJobController =
  (deps: RayJobDeps = {}): ControllerFactory =>
  (ctx) => ({
    name: "rayjob",
    for: resourceTypes.rayJob,
    owns: [resourceTypes.rayCluster, resourceTypes.job],
    watches: [
      {
        // A selected cluster is not owned: its changes reach the jobs that select it.
        resource: resourceTypes.rayCluster,
        map: (rc: KubeObject) =>
          ctx.cache
            .list<RayJobObject>(resourceTypes.rayJob, { namespace: rc.metadata.namespace })
            .filter((j) => {
              const sel = j.spec.clusterSelector;
              return (
                sel !== undefined && Object.entries(sel).every(([k, v]) => rc.metadata.labels?.[k] === v)
              );
            })
            .map((j) => `${j.metadata.namespace}/${j.metadata.name}`),
      },
    ],
    reconcile: rayJobReconciler(deps),
  });
