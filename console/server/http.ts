// The console's HTTP server: the front end's three files, and /api/stream, the server-sent
// event stream of the cluster's state (a snapshot, then patches as the watches report changes).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Asset } from "./assets.ts";
import { checkRequest, type SecurityOptions, sameToken } from "./security.ts";
import type { ConsoleState } from "./state.ts";

export interface HttpOptions {
  state: ConsoleState;
  assets: Map<string, Asset>;
  security: SecurityOptions;
  /** How often pending changes are sent. */
  flushIntervalMs?: number;
  /** Called when the first browser connects and when the last one leaves. */
  onClients?: (count: number) => void;
}

const securityHeaders = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

/** What one browser may leave unread before it is disconnected. */
const maxBufferedBytes = 16 << 20;

export class ConsoleHttp {
  readonly server: Server;
  private readonly options: HttpOptions;
  private readonly clients = new Set<ServerResponse>();
  private readonly flushTimer: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;
  private lastCluster = "";

  constructor(options: HttpOptions) {
    this.options = options;
    this.server = createServer((req, res) => this.handle(req, res));
    this.flushTimer = setInterval(() => this.flush(), options.flushIntervalMs ?? 250);
    // Comments keep proxies and the browser from closing a quiet stream.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(": keep-alive\n\n");
    }, 15_000);
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    // For the kubelet's probes, which come with the pod's IP as Host: it says only "ok".
    if (url.pathname === "/healthz" && req.method === "GET") {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", ...securityHeaders });
      res.end("ok\n");
      return;
    }
    const { security } = this.options;
    const verdict = checkRequest(
      {
        method: req.method ?? "GET",
        path: url.pathname,
        host: req.headers.host,
        origin: req.headers.origin,
        secFetchSite: header(req, "sec-fetch-site"),
        cookie: req.headers.cookie,
      },
      security,
    );
    if (!verdict.ok) {
      res.writeHead(verdict.status, { "Content-Type": "text/plain; charset=utf-8", ...securityHeaders });
      res.end(`${verdict.reason}\n`);
      return;
    }
    const token = url.searchParams.get("token");
    if (url.pathname === "/" && token !== null && security.token !== undefined) {
      if (!sameToken(token, security.token)) {
        res.writeHead(401, { "Content-Type": "text/plain; charset=utf-8", ...securityHeaders });
        res.end("wrong console token\n");
        return;
      }
      // The token leaves the address bar (and the history) for a cookie no script can read.
      res.writeHead(303, {
        Location: "/",
        "Set-Cookie": `${security.cookieName}=${security.token}; HttpOnly; SameSite=Strict; Path=/`,
        ...securityHeaders,
      });
      res.end();
      return;
    }
    if (url.pathname === "/api/stream") {
      this.stream(req, res);
      return;
    }
    if (url.pathname === "/api/health") {
      res.writeHead(200, { "Content-Type": "application/json", ...securityHeaders });
      res.end(JSON.stringify(this.options.state.cluster));
      return;
    }
    const name = url.pathname === "/" ? "index.html" : url.pathname.slice(1);
    const asset = this.options.assets.get(name);
    if (!asset) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", ...securityHeaders });
      res.end("not found\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": asset.type,
      "Content-Length": asset.body.length,
      ...securityHeaders,
    });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
      ...securityHeaders,
    });
    const { state } = this.options;
    // Pending changes go to the clients already listening first, so the snapshot below is not
    // followed by a patch that repeats part of it.
    this.flush();
    res.write(`retry: 2000\n\nevent: cluster\ndata: ${JSON.stringify(state.cluster)}\n\n`);
    res.write(`event: snapshot\ndata: ${JSON.stringify(state.snapshot())}\n\n`);
    this.clients.add(res);
    if (this.clients.size === 1) this.options.onClients?.(1);
    req.on("close", () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.options.onClients?.(0);
    });
  }

  private send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) {
      // A tab that stopped reading (frozen, asleep) would make the server buffer without end:
      // it is dropped instead, and gets a fresh snapshot when it reconnects.
      if (c.writableLength > maxBufferedBytes) {
        c.destroy();
        this.clients.delete(c);
        continue;
      }
      c.write(text);
    }
  }

  flush(): void {
    const { state } = this.options;
    const cluster = JSON.stringify(state.cluster);
    if (cluster !== this.lastCluster) {
      this.lastCluster = cluster;
      this.send("cluster", state.cluster);
    }
    const patch = state.flush();
    if (patch) this.send("patch", patch);
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
