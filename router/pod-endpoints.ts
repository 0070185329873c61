// From the engine Pods a label selector matches to the router's endpoint list: the mode the
// operator deploys the router in (--pods). Pods rather than EndpointSlices because a readiness
// flip reaches the router on the pod's own watch event, without the EndpointSlice controller's
// batching, and because endpoint addresses may not be loopback, which the dev cluster's pod
// IPs are. Pure, so the readiness rules are tested without a cluster:
// - ready: the Ready condition is True, the pod is not being deleted and has an IP (the
//   kubelet's readiness probe, on the engine's /v1/models, decides Ready: the model is loaded);
// - the port: the container port named "http", else vLLM's 8000.
import type { KubeObject } from "../operator/resource.ts";
import { podFacts } from "./endpoint-slices.ts";
import type { PodMapping } from "./options.ts";
import type { EndpointSpec } from "./replicas.ts";

const vllmPort = 8000;

export interface EnginePodLike extends KubeObject {
  spec?: { containers?: Array<{ ports?: Array<{ name?: string; containerPort?: number }> }> };
  status?: { podIP?: string; conditions?: Array<{ type?: string; status?: string }> };
}

/** The registry's service name for a --pods mapping. */
export const podsServiceName = (mapping: PodMapping): string => `pods:${mapping.model}`;

function portOf(pod: EnginePodLike): number {
  for (const c of pod.spec?.containers ?? []) {
    const http = c.ports?.find((p) => p.name === "http")?.containerPort;
    if (http) return http;
  }
  return vllmPort;
}

export function endpointsFromPods(pods: Iterable<EnginePodLike>): EndpointSpec[] {
  const out: EndpointSpec[] = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (!ip) continue;
    const ready =
      !pod.metadata.deletionTimestamp &&
      (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
    const { pool, vendor } = podFacts(pod);
    out.push({
      address: ip.includes(":") ? `[${ip}]:${portOf(pod)}` : `${ip}:${portOf(pod)}`,
      ready,
      pool,
      vendor,
    });
  }
  return out.sort((a, b) => a.address.localeCompare(b.address));
}
