// Kube mode: the router's endpoints and API keys come from the API server, through the
// operator's informer (list, then watch from the list's resourceVersion, with bookmarks and
// reconnects). Three watches, all in the router's namespace:
// - EndpointSlices labelled kubernetes.io/service-name in (the fronted services): a replica
//   turning unready leaves the pick list on the watch event, well within a second;
// - optionally the engine Pods (a label selector), only for each endpoint's pool and vendor;
// - the API-key Secret by name (fieldSelector metadata.name=NAME), so RBAC can be a Role with
//   resourceNames: get, list, watch on that one Secret.

import { Informer } from "../operator/informer.ts";
import { KubeClient } from "../operator/kube-client.ts";
import { loadClusterConnection } from "../operator/kubeconfig.ts";
import { describeError, type Logger } from "../operator/log.ts";
import { builtin, type KubeObject, type ResourceType } from "../operator/resource.ts";
import {
  type EndpointSliceLike,
  endpointsFromSlices,
  podFacts,
  serviceNameLabel,
} from "./endpoint-slices.ts";
import type { RouterOptions } from "./options.ts";
import type { KeySource } from "./proxy.ts";
import type { ReplicaRegistry } from "./replicas.ts";
import { ApiKeys, apiKeysFromSecretData } from "./tenants.ts";

export const endpointSlices: ResourceType = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  plural: "endpointslices",
  namespaced: true,
};

export interface KubeSources {
  /** Why not ready, or undefined once every watch has listed. */
  notReady(): string | undefined;
  stop(): Promise<void>;
}

export function startKubeSources(
  options: RouterOptions,
  registry: ReplicaRegistry,
  keys: KeySource,
  log: Logger,
): KubeSources {
  const namespace = options.namespace as string;
  const client = new KubeClient({
    kubeConfig: loadClusterConnection(options.kubeconfig),
    userAgent: "sovereign-stack-router",
    qps: 20,
    burst: 40,
  });
  const informers: Informer[] = [];
  const services = options.services.map((s) => s.service);

  const slices = new Informer<EndpointSliceLike>({
    client,
    resource: endpointSlices,
    namespaces: [namespace],
    labelSelector: `${serviceNameLabel} in (${services.join(",")})`,
    log,
    // An EndpointSlice has no managedFields worth keeping and nothing else to trim.
  });
  informers.push(slices as unknown as Informer);
  const pods = options.poolFromPods
    ? new Informer({
        client,
        resource: builtin.pods,
        namespaces: [namespace],
        labelSelector: options.podSelector,
        log,
      })
    : undefined;
  if (pods) informers.push(pods);

  const refresh = (service: string): void => {
    const own = [...slices.store.values()].filter((s) => s.metadata.labels?.[serviceNameLabel] === service);
    const endpoints = endpointsFromSlices(own, (name) => {
      const pod = pods?.store.get(`${namespace}/${name}`);
      return pod ? podFacts(pod) : undefined;
    });
    registry.setEndpoints(service, endpoints);
  };
  const refreshAll = (): void => {
    for (const s of services) refresh(s);
  };
  const onSlice = (obj: KubeObject): void => {
    const service = obj.metadata.labels?.[serviceNameLabel];
    if (service && services.includes(service)) refresh(service);
  };
  slices.addHandler({ onAdd: onSlice, onUpdate: (_old, obj) => onSlice(obj), onDelete: onSlice });
  // A pod's labels only change the stats' pool; refresh when one of ours changes.
  pods?.addHandler({ onAdd: refreshAll, onUpdate: refreshAll, onDelete: refreshAll });

  let secret: Informer | undefined;
  if (options.apiKeysSecret) {
    const name = options.apiKeysSecret;
    secret = new Informer({
      client,
      resource: builtin.secrets,
      namespaces: [namespace],
      fieldSelector: `metadata.name=${name}`,
      log,
    });
    const load = (obj: KubeObject): void => {
      try {
        keys.current = new ApiKeys(
          apiKeysFromSecretData(obj.data as Record<string, string> | undefined, name),
        );
        log.info("API keys loaded", { secret: name, tenants: keys.current.tenants.length });
      } catch (error) {
        // Keep the keys we had: a typo in the Secret must not lock every tenant out.
        log.error("API key Secret rejected; keeping the previous keys", {
          secret: name,
          error: describeError(error),
        });
      }
    };
    secret.addHandler({
      onAdd: load,
      onUpdate: (_old, obj) => load(obj),
      onDelete: () => {
        // Deleting the Secret revokes every key.
        keys.current = new ApiKeys(new Map());
        log.warn("API key Secret deleted; every request is refused until it exists again", { secret: name });
      },
    });
    informers.push(secret);
  }

  for (const inf of informers) inf.start();
  // A Secret that does not exist yet: synced but absent means no key is valid (fail closed).
  void secret?.waitForSync().then(() => {
    if (!keys.current) keys.current = new ApiKeys(new Map());
  });
  void Promise.all(informers.map((i) => i.waitForSync())).then(() => {
    refreshAll();
    log.info("endpoint sources synced", { services });
  });

  return {
    notReady() {
      const waiting = informers.filter((i) => !i.hasSynced).map((i) => i.id);
      return waiting.length > 0 ? `waiting for the first list of ${waiting.join(", ")}` : undefined;
    },
    async stop() {
      await Promise.all(informers.map((i) => i.stop()));
      await client.close();
    },
  };
}
