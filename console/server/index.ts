// startConsole: the console's server in one call, for `stackctl console`, the chart's
// in-cluster Deployment, the tests and the benchmark.
import { randomBytes } from "node:crypto";
import { KubeClient } from "../../operator/kube-client.ts";
import type { KubeConfigSource } from "../../operator/kubeconfig.ts";
import { loadAssets } from "./assets.ts";
import { ClusterWatch } from "./cluster.ts";
import { ConsoleHttp } from "./http.ts";
import { RouterPoller } from "./router-stats.ts";
import { ConsoleState } from "./state.ts";

export interface ConsoleOptions {
  kubeConfig: KubeConfigSource;
  /** Address to bind; loopback unless the caller says otherwise. */
  address?: string;
  /** Port; 0 picks a free one. */
  port?: number;
  /** false: no session token (the chart, reached through port-forward or a Service). */
  token?: boolean;
  allowedHosts?: readonly string[];
  probeIntervalMs?: number;
  routerPollMs?: number;
}

export interface RunningConsole {
  /** The address the server listens on, e.g. http://127.0.0.1:8443. */
  origin: string;
  /** What to open: the origin with the session token. */
  url: string;
  address: string;
  port: number;
  state: ConsoleState;
  http: ConsoleHttp;
  watch: ClusterWatch;
  close(): Promise<void>;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const address = options.address ?? "127.0.0.1";
  const client = new KubeClient({
    kubeConfig: options.kubeConfig,
    userAgent: "sovereign-stack-console",
    qps: 50,
    burst: 100,
  });
  const state = new ConsoleState(client.server);
  const watch = new ClusterWatch({ client, state, probeIntervalMs: options.probeIntervalMs });
  const token = options.token === false ? undefined : randomBytes(18).toString("base64url");
  const assets = await loadAssets();
  const poller = new RouterPoller({
    services: () => state.values("services"),
    routerPods: (id) => watch.routerPods(id),
    publish: (row) => state.put("routers", row),
    periodMs: options.routerPollMs,
  });
  const security = { token, cookieName: "", allowedHosts: options.allowedHosts ?? [] };
  const http = new ConsoleHttp({
    state,
    assets,
    security,
    onClients: (n) => (n > 0 ? poller.start() : poller.stop()),
  });
  const bound = await http.listen(address, options.port ?? 0);
  // The cookie carries the port: two consoles on one host must not share a session.
  security.cookieName = `stack-console-${bound.port}`;
  watch.start();
  const shown = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  // Bound to every address: the browser on this host reaches it through loopback.
  const host = shown === "0.0.0.0" || shown === "[::]" ? "127.0.0.1" : shown;
  const origin = `http://${host}:${bound.port}`;
  return {
    origin,
    url: token ? `${origin}/?token=${token}` : `${origin}/`,
    address: bound.address,
    port: bound.port,
    state,
    http,
    watch,
    async close() {
      poller.stop();
      await http.close();
      await watch.stop();
      await client.close();
    },
  };
}
