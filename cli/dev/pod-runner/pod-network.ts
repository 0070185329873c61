// The pod network of the dev cluster's local runs, in one place. On a real cluster each pod has
// a network namespace and cluster DNS answers for Services; here every pod's processes share
// this machine, kwok gives each pod an address on loopback (127.64.0.0/16), and this module
// stands in for cluster DNS: the Service names a pod's command line and environment use are
// replaced by the loopback addresses of the pods behind them. Only fully qualified names are
// mapped (`*.svc`, `*.svc.cluster.local`): the operator writes those, and a bare word that
// happens to equal a Service name is left alone. The other liberty the local runner takes with a
// pod is here too (ownNetworkFlags): a program that would bind what its own network namespace
// alone has is told its pod's address and ports. Pure, so what a pod is given is easy to test.

export interface NetworkPod {
  metadata: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: { hostname?: string; subdomain?: string };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

export interface NetworkService {
  metadata: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; selector?: Record<string, string>; publishNotReadyAddresses?: boolean };
}

const ready = (pod: NetworkPod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const selects = (selector: Record<string, string>, pod: NetworkPod): boolean =>
  Object.entries(selector).every(([k, v]) => pod.metadata.labels?.[k] === v);

/**
 * Every cluster DNS name that resolves to a pod's address: a Service's name to the first of its
 * endpoints (by pod name; the local stand-in for a ClusterIP has one backend), and for a headless
 * Service also `<hostname>.<service>` of each pod whose subdomain is that Service, as CoreDNS
 * answers. Endpoints are running pods with an address, ready ones unless the Service publishes
 * not-ready addresses.
 */
export function clusterAddresses(
  pods: readonly NetworkPod[],
  services: readonly NetworkService[],
): Map<string, string> {
  const names = new Map<string, string>();
  const add = (name: string, namespace: string, ip: string): void => {
    for (const fqdn of [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`])
      if (!names.has(fqdn)) names.set(fqdn, ip);
  };
  for (const svc of services) {
    const name = svc.metadata.name;
    const namespace = svc.metadata.namespace ?? "default";
    const selector = svc.spec?.selector;
    if (!name || !selector || Object.keys(selector).length === 0) continue;
    const endpoints = pods
      .filter(
        (p) =>
          (p.metadata.namespace ?? "default") === namespace &&
          !p.metadata.deletionTimestamp &&
          p.status?.phase === "Running" &&
          p.status.podIP &&
          (svc.spec?.publishNotReadyAddresses || ready(p)) &&
          selects(selector, p),
      )
      .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
    const first = endpoints[0]?.status?.podIP;
    if (first) add(name, namespace, first);
    if (svc.spec?.clusterIP !== "None") continue;
    for (const pod of endpoints) {
      const host = pod.spec?.hostname;
      if (host && pod.spec?.subdomain === name && pod.status?.podIP)
        add(`${host}.${name}`, namespace, pod.status.podIP);
    }
  }
  return names;
}

/** Cluster DNS names as they appear in a command line: labels joined by dots, ending in .svc. */
const clusterName =
  /\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.svc(?:\.cluster\.local)?\b/g;

/** `text` with every cluster name that `addresses` knows replaced by its address. */
export function substituteNames(text: string, addresses: ReadonlyMap<string, string>): string {
  return text.replace(clusterName, (name) => addresses.get(name) ?? name);
}

/** The cluster names in `texts` that `addresses` cannot resolve (yet): the runner waits for them. */
export function unresolvedNames(texts: readonly string[], addresses: ReadonlyMap<string, string>): string[] {
  const missing = new Set<string>();
  for (const text of texts)
    for (const name of text.match(clusterName) ?? []) if (!addresses.has(name)) missing.add(name);
  return [...missing];
}

/**
 * Two ports of this machine for a pod alone, from its loopback address (127.64.x.y): pods have
 * distinct addresses, so distinct ports, above Ray's worker port range (10002-19999).
 */
export function podPorts(podIP: string): [number, number] {
  const [, , x = 0, y = 0] = podIP.split(".").map(Number);
  const base = 40_000 + 2 * ((x * 256 + y) % 10_000);
  return [base, base + 1];
}

/**
 * What a pod's own network namespace would have made unnecessary. `ray start` picks the address
 * of the default route: it is told the pod's. And Ray binds its metrics exporter and dashboard
 * agent on every interface at fixed ports, so two Ray nodes on one machine cannot share them:
 * each gets ports of its own (the last of a repeated flag wins). Nothing else is changed.
 */
export function ownNetworkFlags(argv: readonly string[], podIP: string): string[] {
  const [program, sub] = argv;
  if (program !== "ray" || sub !== "start") return [];
  const given = (flag: string) => argv.some((a) => a === flag || a.startsWith(`${flag}=`));
  const [metrics, agent] = podPorts(podIP);
  return [
    ...(given("--node-ip-address") ? [] : [`--node-ip-address=${podIP}`]),
    `--metrics-export-port=${metrics}`,
    `--dashboard-agent-listen-port=${agent}`,
  ];
}
