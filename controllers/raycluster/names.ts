// Child names and addresses. Deterministic, so a repeated reconcile (or a restarted operator)
// finds and re-applies the same objects instead of creating new ones.

/** Ports of the head; the head Service exposes them under these names. */
export const defaultPorts = {
  gcs: 6379,
  dashboard: 8265,
  client: 10001,
  metrics: 8080,
} as const;

export type HeadPorts = { [K in keyof typeof defaultPorts]: number };

export const headPodName = (cluster: string): string => `${cluster}-head`;
export const headServiceName = (cluster: string): string => `${cluster}-head`;
export const workerPodName = (cluster: string, group: string, index: number): string =>
  `${cluster}-${group}-${index}`;

/** The head Service's in-cluster DNS name. `.svc` without the cluster domain works under any domain. */
export const headHost = (cluster: string, namespace: string): string =>
  `${headServiceName(cluster)}.${namespace}.svc`;

export interface Endpoints {
  gcs: string;
  dashboard: string;
  client: string;
}

export function endpointsFor(cluster: string, namespace: string, ports: HeadPorts): Endpoints {
  const host = headHost(cluster, namespace);
  return {
    gcs: `${host}:${ports.gcs}`,
    dashboard: `http://${host}:${ports.dashboard}`,
    client: `ray://${host}:${ports.client}`,
  };
}
