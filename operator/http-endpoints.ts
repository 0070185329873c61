// The two HTTP listeners every kubebuilder-style operator has: metrics (scraped by
// Prometheus) and health probes (used by the kubelet). They are separate so the probe port
// can stay reachable while metrics are disabled or firewalled.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { contentType, type MetricsRegistry } from "./metrics.ts";

export interface Check {
  name: string;
  /** undefined when healthy, otherwise why not. */
  check(): string | undefined;
}

export interface BoundServer {
  server: http.Server;
  /** host:port actually bound (port 0 resolves to the chosen port). */
  address: string;
  close(): Promise<void>;
}

/** Parses kubebuilder-style addresses: ":8080", "127.0.0.1:0", "[::1]:8080"; "0" disables. */
export function parseBindAddress(value: string): { host: string | undefined; port: number } | undefined {
  if (value === "0" || value === "") return undefined;
  const colon = value.lastIndexOf(":");
  if (colon < 0) throw new Error(`bind address ${value} has no port`);
  const rawHost = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(value.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`bind address ${value} has a bad port`);
  return { host: rawHost === "" ? undefined : rawHost, port };
}

function listen(server: http.Server, address: string): Promise<BoundServer | undefined> {
  const parsed = parseBindAddress(address);
  if (!parsed) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(parsed.port, parsed.host, () => {
      server.off("error", reject);
      const info = server.address() as AddressInfo;
      const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
      resolve({
        server,
        address: `${host}:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

export function serveMetrics(address: string, registry: MetricsRegistry): Promise<BoundServer | undefined> {
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      res.writeHead(200, { "Content-Type": contentType });
      res.end(registry.render());
      return;
    }
    res.writeHead(404).end();
  });
  return listen(server, address);
}

/** Renders checks the way controller-runtime's healthz does: "ok", or the failures listed. */
export function runChecks(checks: readonly Check[], verbose: boolean): { ok: boolean; body: string } {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    const failure = c.check();
    if (failure === undefined) lines.push(`[+]${c.name} ok`);
    else {
      ok = false;
      lines.push(`[-]${c.name} failed: ${failure}`);
    }
  }
  if (ok && !verbose) return { ok, body: "ok" };
  lines.push(ok ? "healthz check passed" : "healthz check failed");
  return { ok, body: `${lines.join("\n")}\n` };
}

export function serveProbes(
  address: string,
  probes: { healthz: readonly Check[]; readyz: readonly Check[] },
): Promise<BoundServer | undefined> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://probe");
    const checks =
      url.pathname === "/healthz" || url.pathname === "/livez"
        ? probes.healthz
        : url.pathname === "/readyz"
          ? probes.readyz
          : undefined;
    if (req.method !== "GET" || !checks) {
      res.writeHead(404).end();
      return;
    }
    const { ok, body } = runChecks(checks, url.searchParams.has("verbose"));
    res.writeHead(ok ? 200 : 500, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(body);
  });
  return listen(server, address);
}
