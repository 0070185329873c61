// The HTTP front: one listener for the OpenAI API (on vLLM's port, so clients keep their URL),
// /metrics, /healthz, /readyz and /router/stats. Node's own limits guard it: a request head
// over maxHeaderSize, one that trickles in slower than headersTimeout, or a body slower than
// requestTimeout gets a JSON error and its connection closed, without touching anyone else's.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "../operator/log.ts";
import { contentType as metricsContentType } from "../operator/metrics.ts";
import { errorBody, errors, type RouterError } from "./openai-errors.ts";
import type { RouterOptions } from "./options.ts";
import { RequestProxy, writeError } from "./proxy.ts";
import type { ReplicaRegistry } from "./replicas.ts";
import type { RouterMetrics } from "./router-metrics.ts";
import { routerStats } from "./stats.ts";

const completionPaths = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);

export interface ServerParts {
  options: RouterOptions;
  registry: ReplicaRegistry;
  proxy: RequestProxy;
  metrics: RouterMetrics;
  /** Why the router is not ready yet (endpoint sources or keys not synced); undefined when ready. */
  notReady: () => string | undefined;
  log: Logger;
}

export function createRouterServer(parts: ServerParts): http.Server {
  const { options, registry, proxy, metrics } = parts;
  const createdSeconds = Math.floor(Date.now() / 1000);
  const server = http.createServer(
    {
      maxHeaderSize: options.maxHeaderBytes,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this period (30 s by default); a slow-head
      // client should be answered near its deadline, not up to 30 s after it.
      connectionsCheckingInterval: Math.max(250, Math.min(1000, options.headersTimeoutMs / 2)),
      noDelay: true,
    },
    (req, res) => {
      const id = RequestProxy.requestId(req);
      res.setHeader("x-request-id", id);
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      if (completionPaths.has(path)) {
        if (req.method === "POST") proxy.handle(req, res, path, id);
        else finishWith(req, res, errors.methodNotAllowed(req.method ?? "", path), id);
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        finishWith(req, res, errors.notFound(req.method ?? "", path), id);
        return;
      }
      switch (path) {
        case "/v1/models":
          sendJson(res, 200, {
            object: "list",
            data: registry.models.map((model) => ({
              id: model,
              object: "model",
              created: createdSeconds,
              owned_by: "sovereign-stack",
              root: model,
              parent: null,
            })),
          });
          return;
        case "/healthz":
          sendText(res, 200, "ok");
          return;
        case "/readyz": {
          const why = parts.notReady();
          sendText(res, why === undefined ? 200 : 503, why ?? "ok");
          return;
        }
        case "/metrics":
          res.writeHead(200, { "content-type": metricsContentType });
          res.end(metrics.render());
          return;
        case "/router/stats":
          sendJson(res, 200, routerStats(registry, proxy.admission, performance.now()));
          return;
        default:
          finishWith(req, res, errors.notFound(req.method ?? "", path), id);
      }
    },
  );
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    parts.log.debug("client connection error", { code: error.code, error: error.message });
    onClientError(error, socket);
  });
  return server;
}

function finishWith(req: IncomingMessage, res: ServerResponse, error: RouterError, id: string): void {
  writeError(res, error, id);
  req.resume();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A request Node could not parse or that broke a limit: a JSON error, then the connection closes. */
function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const code = error.code ?? "";
  if (
    code === "ECONNRESET" ||
    !socket.writable ||
    (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
  ) {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    code === "HPE_HEADER_OVERFLOW"
      ? [
          431,
          "request_header_fields_too_large",
          "the request head (headers) is larger than the router accepts",
        ]
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request_timeout", "the request was not received in time"]
        : [400, "bad_request", `the request could not be parsed as HTTP (${code || error.message})`];
  const body = errorBody({ status, type: "invalid_request_error", code: reason, message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
