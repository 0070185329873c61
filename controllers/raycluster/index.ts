// The RayCluster controller: a Ray head (pod and Service) and worker groups, each group an
// accelerator pod group of one gang admission. See workers.ts for scaling and status.ts for
// the phases.
import type { ControllerFactory, KubeObject } from "../../operator/index.ts";
import type { AdmitterApi } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import { type RayClusterObject, rayClusterAdapter } from "./adapter.ts";
import { rayClusterReconciler } from "./reconcile.ts";
import { viewWorker } from "./workers.ts";

/** The controller, admitting through the process's one admitter. */
export const rayClusterController =
  (admitter: AdmitterApi): ControllerFactory =>
  (ctx) => {
    const workersOf = (rc: RayClusterObject) =>
      ctx.cache
        .childrenOf<KubeObject>(resourceTypes.pod, rc)
        .flatMap((p) => viewWorker(p, rc.metadata.name ?? "") ?? []);
    const poolNames = () => ctx.cache.list(resourceTypes.acceleratorPool).map((p) => p.metadata.name ?? "");
    admitter.register(rayClusterAdapter(workersOf, (key) => ctx.enqueue(key), poolNames));
    return {
      name: "raycluster",
      for: resourceTypes.rayCluster,
      owns: [resourceTypes.pod, resourceTypes.service],
      reconcile: rayClusterReconciler({ admitter, enqueue: (key) => ctx.enqueue(key) }),
    };
  };
