// A lean JSON client for the Kubernetes API over node:https. The generated client would
// deserialize every object into class instances (and keep managedFields); here responses
// stay plain JSON, watches are read line by line from one long response, and every request
// except watches passes one token bucket (--kube-api-qps / --kube-api-burst). Credentials
// come from ./kubeconfig.ts (kubeconfig files, in-cluster tokens, exec plugins) or from a
// client-node KubeConfig handed in by the caller.
import http from "node:http";
import https from "node:https";
import { type ClusterConnection, type KubeConfigSource, toClusterConnection } from "./kubeconfig.ts";
import type { Counter, Histogram, MetricsRegistry } from "./metrics.ts";
import { type RequestLane, RequestLimiter } from "./request-limiter.ts";
import {
  type KubeObject,
  type ObjectList,
  type ResourceType,
  resourceOfPath,
  resourcePath,
} from "./resource.ts";

/** A failed API call, carrying the HTTP status and the Status object's reason. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(status: number, reason: string, message: string, body?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.status === 410;
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 409 && e.reason === "AlreadyExists";

export type PatchType = "apply" | "merge" | "json" | "strategic";

const patchContentType: Record<PatchType, string> = {
  apply: "application/apply-patch+yaml",
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
};

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** "report" for events and closing status writes: they go after work (request-limiter.ts). */
  lane?: RequestLane;
}

export interface DeleteOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  /** Delete only the object with this uid (not a new one of the same name). */
  uid?: string | undefined;
  /** 0 deletes at once, without waiting for a kubelet to confirm. */
  gracePeriodSeconds?: number | undefined;
}

export interface WatchEvent<T = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface WatchOptions {
  query?: Query;
  signal?: AbortSignal;
  /** Called once the server accepted the watch (HTTP 200): the connection is alive. */
  onOpen?: () => void;
  /** Destroys the connection after this long without a byte from the server. */
  idleTimeoutMs?: number;
}

export interface KubeClientOptions {
  /** A ClusterConnection (operator/kubeconfig.ts) or a @kubernetes/client-node KubeConfig. */
  kubeConfig: KubeConfigSource;
  /** Requests per second across the client; 0 disables the limit. */
  qps?: number;
  burst?: number;
  userAgent?: string;
  requestTimeoutMs?: number;
  metrics?: MetricsRegistry;
}

interface Connection {
  base: URL;
  transport: typeof http | typeof https;
  agent: http.Agent;
  watchAgent: http.Agent;
  /** When the client certificate in the agents' TLS options expires (ms since the epoch). */
  expiresAt: number;
}

export class KubeClient {
  readonly connection: ClusterConnection;
  private readonly limiter: RequestLimiter;
  private readonly userAgent: string;
  private readonly requestTimeoutMs: number;
  private readonly requestsTotal: Counter | undefined;
  private readonly requestsByResource: Counter | undefined;
  private readonly requestSeconds: Histogram | undefined;
  private transport: Promise<Connection> | undefined;
  /** Connections replaced (expired or refused credentials), closed once their requests are done. */
  private readonly retired = new Set<Connection>();

  constructor(options: KubeClientOptions) {
    this.connection = toClusterConnection(options.kubeConfig);
    this.limiter = new RequestLimiter({ ratePerSecond: options.qps ?? 50, burst: options.burst ?? 100 });
    this.userAgent = options.userAgent ?? "sovereign-stack-operator";
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.requestsTotal = options.metrics?.counter(
      "rest_client_requests_total",
      "Number of HTTP requests, partitioned by status code, method, and host.",
      ["code", "method", "host"],
    );
    // Where the request budget goes (client-go's metric above has no resource).
    this.requestsByResource = options.metrics?.counter(
      "sovereign_api_requests_total",
      "API requests sent, partitioned by method and resource (with its subresource).",
      ["method", "resource"],
    );
    // From a request's token to its answer: the API server's time plus any wait for a socket.
    this.requestSeconds = options.metrics?.histogram(
      "rest_client_request_duration_seconds",
      "Request latency in seconds, from its rate-limit token to its response, by method.",
      ["verb"],
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30],
    );
  }

  /** The API server's URL, e.g. https://127.0.0.1:6443. */
  get server(): string {
    return this.connection.server;
  }

  // ---- typed helpers --------------------------------------------------------------------

  get<T extends KubeObject = KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", resourcePath(rt, namespace, name));
  }

  /** Returns undefined instead of throwing when the object does not exist. */
  async getOrUndefined<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(rt, name, namespace);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  list<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    options: { namespace?: string; query?: Query; signal?: AbortSignal } = {},
  ): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>("GET", resourcePath(rt, options.namespace), {
      query: options.query,
      signal: options.signal,
    });
  }

  create<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    query?: Query,
    lane?: RequestLane,
  ): Promise<T> {
    return this.request<T>("POST", resourcePath(rt, obj.metadata.namespace), { body: obj, query, lane });
  }

  replace<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>("PUT", resourcePath(rt, obj.metadata.namespace, obj.metadata.name, subresource), {
      body: obj,
    });
  }

  /** Server-side apply: the body is the full intent of `fieldManager` for this object. */
  apply<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    options: { fieldManager: string; force?: boolean; subresource?: string; lane?: RequestLane },
  ): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`server-side apply of ${rt.kind} needs metadata.name`);
    return this.request<T>("PATCH", resourcePath(rt, obj.metadata.namespace, name, options.subresource), {
      body: obj,
      contentType: patchContentType.apply,
      query: { fieldManager: options.fieldManager, force: options.force ?? true },
      lane: options.lane,
    });
  }

  patch<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type: PatchType,
    options: { subresource?: string; fieldManager?: string; lane?: RequestLane } = {},
  ): Promise<T> {
    return this.request<T>("PATCH", resourcePath(rt, namespace, name, options.subresource), {
      body: patch,
      contentType: patchContentType[type],
      query: { fieldManager: options.fieldManager },
      lane: options.lane,
    });
  }

  delete(rt: ResourceType, name: string, namespace?: string, options: DeleteOptions = {}): Promise<unknown> {
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (options.propagationPolicy) body.propagationPolicy = options.propagationPolicy;
    if (options.uid) body.preconditions = { uid: options.uid };
    if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds;
    return this.request("DELETE", resourcePath(rt, namespace, name), { body });
  }

  // ---- transport ------------------------------------------------------------------------

  /**
   * One request with a JSON (or patch) body and a JSON response. A 401 means the credentials
   * went stale (a rotated token, a revoked certificate): they are dropped and the request is
   * sent once more with fresh ones.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    try {
      return await this.send<T>(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      await this.refreshCredentials();
      return this.send<T>(method, path, options);
    }
  }

  private async send<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const lane = options.lane ?? "work";
    await this.limiter.take(lane, options.signal);
    try {
      return await this.sendNow<T>(method, path, options);
    } finally {
      this.limiter.done(lane);
    }
  }

  private async sendNow<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    this.requestsByResource?.inc({ method, resource: resourceOfPath(path) });
    const conn = await this.connect();
    const headers = await this.authHeaders();
    const target = requestTarget(conn.base, path, options.query);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const sent = performance.now();
    return new Promise<T>((resolve, reject) => {
      const req = conn.transport.request(
        {
          ...target,
          method,
          agent: conn.agent,
          headers: {
            ...headers,
            Accept: "application/json",
            "User-Agent": this.userAgent,
            ...(payload
              ? {
                  "Content-Type": options.contentType ?? "application/json",
                  "Content-Length": payload.length,
                }
              : {}),
          },
          signal: options.signal,
          timeout: timeoutMs,
        },
        (res) => {
          // Decoded chunk by chunk into a string rather than concatenated into one Buffer:
          // a list page is megabytes, and large malloc'd buffers freed again and again leave
          // the process's native heap fragmented (resident memory that never comes back).
          res.setEncoding("utf8");
          let text = "";
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("error", reject);
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            this.requestsTotal?.inc({ code: String(status), method, host: conn.base.host });
            this.requestSeconds?.observe({ verb: method }, (performance.now() - sent) / 1000);
            let body: unknown;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = text;
            }
            if (status >= 200 && status < 300) resolve(body as T);
            else reject(toApiError(status, body, method, path));
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)),
      );
      req.on("error", (error) => {
        this.requestsTotal?.inc({ code: "<error>", method, host: conn.base.host });
        reject(error);
      });
      req.end(payload);
    });
  }

  /**
   * Streams a watch: resolves when the server ends it (timeoutSeconds reached), rejects on a
   * connection error or a non-200 answer. ERROR events are delivered to `onEvent` as they are.
   */
  async watch<T = KubeObject>(
    path: string,
    onEvent: (event: WatchEvent<T>) => void,
    options: WatchOptions = {},
  ): Promise<void> {
    const conn = await this.connect();
    const headers = await this.authHeaders();
    const target = requestTarget(conn.base, path, { ...options.query, watch: true });
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve();
        else reject(error);
      };
      const req = conn.transport.request(
        {
          ...target,
          method: "GET",
          agent: conn.watchAgent,
          headers: { ...headers, Accept: "application/json", "User-Agent": this.userAgent },
          signal: options.signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let body: unknown = text;
              try {
                body = JSON.parse(text);
              } catch {}
              // The caller restarts the watch; it must not do so with the refused credentials.
              if (status === 401) void this.refreshCredentials();
              finish(toApiError(status, body, "WATCH", path));
            });
            res.on("error", finish);
            return;
          }
          options.onOpen?.();
          res.setEncoding("utf8");
          // Events are newline-delimited JSON documents; a document may span many chunks.
          let pending = "";
          res.on("data", (chunk: string) => {
            let start = 0;
            let newline = chunk.indexOf("\n");
            while (newline >= 0) {
              const line = pending + chunk.slice(start, newline);
              pending = "";
              start = newline + 1;
              newline = chunk.indexOf("\n", start);
              if (line.trim() === "") continue;
              let event: WatchEvent<T>;
              try {
                event = JSON.parse(line) as WatchEvent<T>;
              } catch (error) {
                req.destroy(error as Error);
                return;
              }
              try {
                onEvent(event);
              } catch (error) {
                req.destroy(error as Error);
                return;
              }
            }
            pending += chunk.slice(start);
          });
          res.on("end", () => finish());
          res.on("error", finish);
          res.on("close", () => finish(settled ? undefined : new Error("watch connection closed")));
        },
      );
      if (options.idleTimeoutMs) {
        req.setTimeout(options.idleTimeoutMs, () =>
          req.destroy(new Error(`watch ${path}: silent for ${options.idleTimeoutMs} ms`)),
        );
      }
      req.on("error", finish);
      req.end();
    });
  }

  /** Closes idle keep-alive sockets so a process can exit promptly. */
  async close(): Promise<void> {
    for (const conn of this.retired) destroy(conn);
    this.retired.clear();
    if (!this.transport) return;
    const conn = await this.transport.catch(() => undefined);
    if (conn) destroy(conn);
  }

  private async connect(): Promise<Connection> {
    this.transport ??= this.makeConnection();
    const current = this.transport;
    const conn = await current;
    if (conn.expiresAt > Date.now()) return conn;
    // The client certificate expired: new agents, with the TLS material asked for again.
    if (this.transport === current) this.retire(current, conn);
    this.transport ??= this.makeConnection();
    return this.transport;
  }

  /** Forgets cached credentials and the agents built with them. */
  private async refreshCredentials(): Promise<void> {
    this.connection.invalidate?.();
    const current = this.transport;
    if (!current) return;
    const conn = await current.catch(() => undefined);
    if (this.transport === current) {
      if (conn) this.retire(current, conn);
      else this.transport = undefined;
    }
  }

  /** Replaces the connection; its agents close once requests still on them have had their time. */
  private retire(current: Promise<Connection>, conn: Connection): void {
    if (this.transport === current) this.transport = undefined;
    this.retired.add(conn);
    setTimeout(() => {
      destroy(conn);
      this.retired.delete(conn);
    }, this.requestTimeoutMs).unref();
  }

  private async makeConnection(): Promise<Connection> {
    const server = this.server;
    if (!server) throw new Error("kubeconfig has no current cluster");
    const base = new URL(server);
    const t = await this.connection.tlsOptions();
    const tls: https.AgentOptions = { ca: t.ca, cert: t.cert, key: t.key, servername: t.servername };
    if (t.rejectUnauthorized !== undefined) tls.rejectUnauthorized = t.rejectUnauthorized;
    const isHttps = base.protocol === "https:";
    const transport = isHttps ? https : http;
    const make = (maxSockets: number): http.Agent =>
      isHttps
        ? new https.Agent({ ...tls, keepAlive: true, maxSockets })
        : new http.Agent({ keepAlive: true, maxSockets });
    // Watches hold their socket for minutes; a separate agent keeps them from using up the
    // sockets that short requests need.
    return {
      base,
      transport,
      agent: make(32),
      watchAgent: make(Number.POSITIVE_INFINITY),
      expiresAt: t.expiresAt ?? Number.POSITIVE_INFINITY,
    };
  }

  private authHeaders(): Promise<Record<string, string>> {
    return this.connection.authHeaders();
  }
}

function destroy(conn: Connection): void {
  conn.agent.destroy();
  conn.watchAgent.destroy();
}

/**
 * Where a request goes, as request options: a URL object built, its query set and serialized
 * again for every request was a few percent of the operator's CPU under load.
 */
function requestTarget(
  base: URL,
  path: string,
  query?: Query,
): { protocol: string; hostname: string; port: string; path: string } {
  let search = "";
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      search += `${search ? "&" : "?"}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`;
    }
  }
  // An IPv6 address is bracketed in a URL's hostname, never in a request's.
  const hostname = base.hostname.startsWith("[") ? base.hostname.slice(1, -1) : base.hostname;
  return {
    protocol: base.protocol,
    hostname,
    port: base.port,
    path: `${base.pathname.replace(/\/$/, "")}${path}${search}`,
  };
}

function toApiError(status: number, body: unknown, method: string, path: string): ApiError {
  if (body && typeof body === "object" && (body as { kind?: string }).kind === "Status") {
    const s = body as { reason?: string; message?: string; code?: number };
    return new ApiError(
      status,
      s.reason ?? "",
      `${method} ${path}: ${status} ${s.message ?? s.reason ?? ""}`,
      body,
    );
  }
  return new ApiError(
    status,
    "",
    `${method} ${path}: HTTP ${status} ${String(body ?? "").slice(0, 200)}`,
    body,
  );
}
