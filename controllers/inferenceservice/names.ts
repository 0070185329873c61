// Child names, labels and addresses. Deterministic, so a repeated reconcile (or a restarted
// operator) finds and re-applies the same objects instead of creating new ones.
import { createHash } from "node:crypto";
import { labels } from "../../crds/runtime/index.ts";

/** The one pod group of a service; placements are keyed `server/<pool>`. */
export const serverGroup = "server";
/** The workers of a replica spanning nodes: never behind the Service or the router. */
export const workerGroup = "worker";
/** The group label of the members' headless Services, to tell them from the engines' Service. */
export const membersGroup = "members";
/** The OpenAI-compatible port, on the pods and on the Service. */
export const serverPort = 8000;
export const kindLabelValue = "inferenceservice";

export const deploymentName = (service: string, pool: string): string => `${service}-${pool}`;
export const serviceName = (service: string): string => service;
export const routerName = (service: string): string => `${service}-router`;
/** The router listens where the engines do, so a client only changes the host. */
export const routerPort = 8000;
/**
 * The headless Service that gives the members of replicas spanning nodes on one pool their DNS
 * names (as a StatefulSet's pods get theirs). A DNS label: a long pool name is replaced by a digest.
 */
export function membersServiceName(service: string, pool: string): string {
  const name = `${service}-${pool}`;
  return name.length <= 63
    ? name
    : `${service}-${createHash("sha256").update(pool).digest("hex").slice(0, 8)}`;
}
/** Member `rank` (0 the leader) of replica `index` on a pool. */
export const memberPodName = (service: string, pool: string, index: number, rank: number): string =>
  `${service}-${pool}-${index}-${rank}`;
export const cacheClaimName = (service: string): string => `${service}-model-cache`;

/** `.svc` without the cluster domain resolves under any cluster domain. */
export const serviceUrl = (service: string, namespace: string): string =>
  `http://${serviceName(service)}.${namespace}.svc:${serverPort}/v1`;

export const routerUrl = (service: string, namespace: string): string =>
  `http://${routerName(service)}.${namespace}.svc:${routerPort}/v1`;

/** Every model server pod of the service, on every pool: the Service's and the scale selector. */
export function serverLabels(service: string): Record<string, string> {
  return { [labels.kind]: kindLabelValue, [labels.name]: service, [labels.group]: serverGroup };
}

/** The pods of one pool's Deployment; its (immutable) selector. */
export function poolLabels(service: string, pool: string): Record<string, string> {
  return { ...serverLabels(service), [labels.pool]: pool };
}

/** Every member (leader and workers) of the replicas spanning nodes on one pool. */
export function memberLabels(service: string, pool: string): Record<string, string> {
  return { [labels.kind]: kindLabelValue, [labels.name]: service, [labels.pool]: pool };
}

/** status.selector, in the string form the scale subresource and HPAs read. */
export function selectorString(service: string): string {
  return Object.entries(serverLabels(service))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
