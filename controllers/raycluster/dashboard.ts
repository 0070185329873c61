// Where the operator reaches a RayCluster's dashboard: the head pod's own address, as in a
// real cluster (the Service's DNS name only resolves inside it). For RayJob and RayService.
import type { RayCluster } from "../../crds/runtime/index.ts";
import type { Cache, KubeObject } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";
import { headLabels } from "./pods.ts";
import { headPorts } from "./ray-start.ts";

/** The head pod's IP, once it has one. */
export function headPodIp(cache: Cache, cluster: RayCluster & KubeObject): string | undefined {
  return cache
    .list<KubeObject & { status?: { podIP?: string } }>(resourceTypes.pod, {
      namespace: cluster.metadata.namespace,
      labels: headLabels(cluster),
    })
    .find((p) => !p.metadata.deletionTimestamp)?.status?.podIP;
}

/** http://<head pod IP>:<dashboard port>, once the head pod has an address. */
export function dashboardUrl(cache: Cache, cluster: RayCluster & KubeObject): string | undefined {
  const ip = headPodIp(cache, cluster);
  return ip ? `http://${ip}:${headPorts(cluster.spec.head.rayStartParams).dashboard}` : undefined;
}
