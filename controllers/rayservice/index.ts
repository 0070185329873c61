// The RayService controller: Serve applications on RayClusters it owns, behind a stable serve
// Service, upgraded by a new cluster. See reconcile.ts.
import type { ControllerFactory } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";
import { type RayServiceDeps, rayServiceReconciler } from "./reconcile.ts";

export const rayServiceController =
  (deps: RayServiceDeps = {}): ControllerFactory =>
  () => ({
    name: "rayservice",
    for: resourceTypes.rayService,
    owns: [resourceTypes.rayCluster, resourceTypes.service],
    reconcile: rayServiceReconciler(deps),
  });
