// Kube mode: the router's endpoints and API keys come from the API server, all in the router's
// namespace:
// - the engine Pods of each --pods selector (the operator's way): a replica turning unready
//   leaves the pick list on the pod's watch event, well within a second;
// - or the EndpointSlices labelled kubernetes.io/service-name in (the --service names), and
//   optionally the Pods they point at, only for each endpoint's pool and vendor;
// - the API-key Secret, read with `get` by name every few seconds: a Role can grant exactly
//   that (resourceNames, verb get), and the operator that writes the Role holds only get on
//   Secrets itself, which is what the API server's escalation check asks.
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
import { type EnginePodLike, endpointsFromPods, podsServiceName } from "./pod-endpoints.ts";
import type { KeySource } from "./proxy.ts";
import type { ReplicaRegistry } from "./replicas.ts";
import { ApiKeys, apiKeysFromSecretData } from "./tenants.ts";

export const endpointSlices: ResourceType = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  plural: "endpointslices",
  namespaced: true,
};

/** How often the API-key Secret is read again. */
const secretPollMs = 5000;

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

  const watchSlices = services.length > 0;
  const slices = new Informer<EndpointSliceLike>({
    client,
    resource: endpointSlices,
    namespaces: [namespace],
    labelSelector: `${serviceNameLabel} in (${services.join(",")})`,
    log,
    // An EndpointSlice has no managedFields worth keeping and nothing else to trim.
  });
  if (watchSlices) informers.push(slices as unknown as Informer);
  const pods =
    watchSlices && options.poolFromPods
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

  for (const mapping of options.pods) {
    const service = podsServiceName(mapping);
    const engines = new Informer<EnginePodLike>({
      client,
      resource: builtin.pods,
      namespaces: [namespace],
      labelSelector: mapping.selector,
      log,
    });
    const refreshPods = (): void => registry.setEndpoints(service, endpointsFromPods(engines.store.values()));
    engines.addHandler({ onAdd: refreshPods, onUpdate: refreshPods, onDelete: refreshPods });
    informers.push(engines as unknown as Informer);
  }

  // The API keys: polled by name, so rotating a key takes effect within a poll.
  let keysPolled = options.apiKeysSecret === undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let lastKeys: string | undefined;
  const pollKeys = async (): Promise<void> => {
    const name = options.apiKeysSecret as string;
    try {
      const obj = await client.getOrUndefined(builtin.secrets, name, namespace);
      const data = obj?.data as Record<string, string> | undefined;
      const fingerprint = obj ? JSON.stringify(data ?? {}) : "absent";
      if (fingerprint !== lastKeys) {
        if (obj) {
          keys.current = new ApiKeys(apiKeysFromSecretData(data, name));
          log.info("API keys loaded", { secret: name, tenants: keys.current.tenants.length });
        } else {
          // No Secret: no key is valid (fail closed), until it exists.
          keys.current = new ApiKeys(new Map());
          log.warn("API key Secret not found; every request is refused until it exists", { secret: name });
        }
        lastKeys = fingerprint;
      }
      keysPolled = true;
    } catch (error) {
      // Keep the keys we had: a typo in the Secret or a failed read must not lock every tenant out.
      log.error("API key Secret not read; keeping the previous keys", {
        secret: name,
        error: describeError(error),
      });
    }
  };
  if (options.apiKeysSecret) {
    const loop = (): void => {
      void pollKeys().finally(() => {
        pollTimer = setTimeout(loop, secretPollMs);
        pollTimer.unref();
      });
    };
    loop();
  }

  for (const inf of informers) inf.start();
  void Promise.all(informers.map((i) => i.waitForSync())).then(() => {
    refreshAll();
    log.info("endpoint sources synced", { services });
  });

  return {
    notReady() {
      const waiting = informers.filter((i) => !i.hasSynced).map((i) => i.id);
      if (!keysPolled) waiting.push(`the API-key Secret ${options.apiKeysSecret}`);
      return waiting.length > 0 ? `waiting for the first list of ${waiting.join(", ")}` : undefined;
    },
    async stop() {
      clearTimeout(pollTimer);
      await Promise.all(informers.map((i) => i.stop()));
      await client.close();
    },
  };
}
