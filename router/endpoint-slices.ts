// From a Service's EndpointSlices (and, when read, the Pods they point at) to the router's
// endpoint list. Pure, so the readiness rules are tested without a cluster:
// - an endpoint is ready when conditions.ready is not false (the API's nil means ready) and it
//   is not terminating; the kubelet's readiness probe (the engine's /v1/models, which answers
//   once the model is loaded) decides conditions.ready;
// - the port is the slice's port named "http", else its first TCP port;
// - an address in two slices (slices are rewritten in pieces) is ready if any says so.
import { labels } from "../crds/labels.ts";
import { vendorForResource } from "../crds/vendors.ts";
import type { KubeObject } from "../operator/resource.ts";
import type { EndpointSpec } from "./replicas.ts";

export const serviceNameLabel = "kubernetes.io/service-name";

export interface EndpointSliceLike extends KubeObject {
  addressType?: string;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind?: string; name?: string };
  }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
}

export interface PodFacts {
  pool: string | undefined;
  vendor: string | undefined;
}

interface PodLike extends KubeObject {
  spec?: {
    containers?: Array<{
      resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
    }>;
  };
}

/** The pool label and the vendor whose device the pod asks for. */
export function podFacts(pod: KubeObject): PodFacts {
  const pool = pod.metadata.labels?.[labels.pool];
  let vendor: string | undefined;
  for (const c of (pod as PodLike).spec?.containers ?? []) {
    for (const name of [
      ...Object.keys(c.resources?.limits ?? {}),
      ...Object.keys(c.resources?.requests ?? {}),
    ]) {
      vendor ??= vendorForResource(name);
    }
  }
  return { pool, vendor };
}

function slicePort(slice: EndpointSliceLike): number | undefined {
  const ports = (slice.ports ?? []).filter(
    (p) => (p.protocol ?? "TCP") === "TCP" && typeof p.port === "number",
  );
  return (ports.find((p) => p.name === "http") ?? ports[0])?.port;
}

/** Endpoints of one service from its slices, in a stable order. */
export function endpointsFromSlices(
  slices: readonly EndpointSliceLike[],
  pods: (name: string) => PodFacts | undefined,
): EndpointSpec[] {
  const byAddress = new Map<string, EndpointSpec>();
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const port = slicePort(slice);
    if (port === undefined) continue;
    for (const e of slice.endpoints ?? []) {
      const ip = e.addresses?.[0];
      if (!ip) continue;
      const address = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
      const ready = e.conditions?.ready !== false && e.conditions?.terminating !== true;
      const facts = e.targetRef?.kind === "Pod" && e.targetRef.name ? pods(e.targetRef.name) : undefined;
      const known = byAddress.get(address);
      if (known) {
        known.ready ||= ready;
        known.pool ??= facts?.pool;
        known.vendor ??= facts?.vendor;
      } else byAddress.set(address, { address, ready, pool: facts?.pool, vendor: facts?.vendor });
    }
  }
  return [...byAddress.values()].sort((a, b) => a.address.localeCompare(b.address));
}
