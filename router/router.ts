// Assembles a router from its options: the replica registry fed by static backends or by
// the cluster, the scraper, admission and proxy, and the HTTP server. startRouter() is what
// main.ts runs, and what tests and the benchmark run in a process of their own or in-process.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "../operator/log.ts";
import { type KubeSources, startKubeSources } from "./kube-sources.ts";
import type { RouterOptions } from "./options.ts";
import { podsServiceName } from "./pod-endpoints.ts";
import { type KeySource, RequestProxy } from "./proxy.ts";
import { ReplicaRegistry } from "./replicas.ts";
import { createRouterMetrics } from "./router-metrics.ts";
import { Scraper } from "./scraper.ts";
import { createRouterServer } from "./server.ts";
import { ApiKeys, apiKeysFromJson } from "./tenants.ts";

export interface RunningRouter {
  /** http://host:port actually bound. */
  url: string;
  port: number;
  registry: ReplicaRegistry;
  proxy: RequestProxy;
  close(): Promise<void>;
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `--api-keys-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

export async function startRouter(
  options: RouterOptions,
  log: Logger = createLogger({ level: options.logLevel }),
): Promise<RunningRouter> {
  const registry = new ReplicaRegistry(
    {
      connections: options.upstreamConnections,
      connectTimeoutMs: options.upstreamConnectTimeoutMs,
      firstByteTimeoutMs: options.upstreamFirstByteTimeoutMs,
      idleTimeoutMs: options.upstreamIdleTimeoutMs,
      scrapeTimeoutMs: options.scrapeTimeoutMs,
      breakerFailures: options.breakerFailures,
      breakerOpenMs: options.breakerOpenMs,
    },
    options.maxInflightPerReplica,
  );
  const keys: KeySource = { current: undefined };
  if (options.apiKeysFile)
    keys.current = new ApiKeys(apiKeysFromJson(readKeyFile(options.apiKeysFile), options.apiKeysFile));
  else if (!options.apiKeysSecret) keys.current = new ApiKeys(undefined);

  // Static backends: one service per model, named after it.
  const staticServices = new Map<string, typeof options.backends>();
  for (const b of options.backends) {
    const service = `static:${b.model}`;
    staticServices.set(service, [...(staticServices.get(service) ?? []), b]);
  }
  for (const [service, backends] of staticServices)
    registry.addService(service, (backends[0] as (typeof backends)[0]).model);
  for (const s of options.services) registry.addService(s.service, s.model);
  for (const p of options.pods) registry.addService(podsServiceName(p), p.model);

  const metrics = createRouterMetrics(registry, () => performance.now());
  const proxy = new RequestProxy(options, registry, keys, metrics, log);
  registry.onChange = () => proxy.capacityChanged();
  for (const [service, backends] of staticServices)
    registry.setEndpoints(
      service,
      backends.map((b) => ({ address: new URL(b.origin).host, ready: true, pool: b.pool, vendor: b.vendor })),
    );

  let kube: KubeSources | undefined;
  if (options.services.length > 0 || options.pods.length > 0 || options.apiKeysSecret)
    kube = startKubeSources(options, registry, keys, log);

  const scraper = new Scraper(registry, options.scrapeIntervalMs);
  scraper.onTick = () => proxy.capacityChanged();
  scraper.start();

  const server = createRouterServer({
    options,
    registry,
    proxy,
    metrics,
    notReady: () => kube?.notReady() ?? (keys.current ? undefined : "API keys not loaded"),
    log,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // A burst opens thousands of connections at once; Node's default accept backlog (511)
    // would drop the SYNs beyond it, and clients retry only after a second or more. The
    // kernel caps this at net.core.somaxconn.
    server.listen({ port: options.port, host: options.host, backlog: 65_535 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  log.info("router listening", { url: `http://${host}:${address.port}`, models: registry.models });

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    registry,
    proxy,
    async close() {
      scraper.stop();
      proxy.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await kube?.stop();
      await registry.close();
    },
  };
}
