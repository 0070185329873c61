// One attempt to relay a request to one replica, on undici's dispatcher API: the response is
// written to the client chunk by chunk as it arrives, and when the client's socket is full the
// upstream read pauses until it drains (backpressure reaches the engine through TCP). If the
// client goes away, the upstream request is aborted, which frees the engine's slot. Until the
// first byte of a response reaches the client an attempt can still be retried elsewhere: a
// connection failure, a timeout before the response head, or a 502/503/504 from the engine.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";

export type AttemptOutcome =
  /** The response was relayed to its end. */
  | { kind: "done"; status: number }
  /** Nothing reached the client; another replica may be tried. */
  | { kind: "retryable"; reason: string; status: number | undefined; timeout: boolean }
  /** The response broke after its head was sent: the client got a truncated answer. */
  | { kind: "cut"; status: number; reason: string }
  /** The client went away first; the upstream request was aborted. */
  | { kind: "client-gone"; status: number | undefined };

/** What the relay reports while the response flows, for metrics and speed. */
export interface RelayObserver {
  /** The first byte of the response body (time to first token for streams). */
  firstByte(now: number, streaming: boolean): void;
  /** `events` server-sent events arrived in one chunk at `now`. */
  events(count: number, now: number): void;
  /** A non-streamed response's completion_tokens, when its usage says so. */
  completionTokens(count: number): void;
}

export interface Exchange {
  res: ServerResponse;
  path: string;
  headers: string[];
  body: Buffer;
  clientGone: boolean;
  /** Set while an attempt is in flight: aborts it. */
  abortUpstream: ((reason: Error) => void) | undefined;
}

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-connection",
]);

/** Request headers for the engine: the client's, minus hop-by-hop ones, Host, the API key and length. */
export function upstreamHeaders(rawHeaders: readonly string[], requestId: string): string[] {
  const out: string[] = [];
  let hasId = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (
      hopByHop.has(name) ||
      name === "host" ||
      name === "authorization" ||
      name === "content-length" ||
      name === "expect"
    )
      continue;
    if (name.startsWith("proxy-")) continue;
    if (name === "x-request-id") hasId = true;
    out.push(rawHeaders[i] as string, rawHeaders[i + 1] as string);
  }
  if (!hasId) out.push("x-request-id", requestId);
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !hopByHop.has(k)) out[k] = v;
  return out;
}

const retryableStatus = new Set([502, 503, 504]);
const timeoutCodes = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);
const NEWLINE = 0x0a;
const emptyBody = Buffer.alloc(0);
const tailBytes = 256;

class ClientGone extends Error {
  constructor() {
    super("client went away");
  }
}

class RetryStatus extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`engine answered ${status}`);
    this.status = status;
  }
}

class RelayHandler implements Dispatcher.DispatchHandler {
  private readonly exchange: Exchange;
  private readonly canRetry: boolean;
  private readonly observer: RelayObserver;
  private readonly settle: (outcome: AttemptOutcome) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private status: number | undefined;
  private streaming = false;
  private started = false;
  private tail: Buffer | undefined;
  private waitingForDrain = false;

  constructor(
    exchange: Exchange,
    canRetry: boolean,
    observer: RelayObserver,
    settle: (o: AttemptOutcome) => void,
  ) {
    this.exchange = exchange;
    this.canRetry = canRetry;
    this.observer = observer;
    this.settle = settle;
  }

  private corked = false;

  private readonly uncork = (): void => {
    // Once only: a second uncork would reach the socket's next response.
    if (!this.corked) return;
    this.corked = false;
    this.exchange.res.uncork();
  };

  private readonly resume = (): void => {
    this.waitingForDrain = false;
    this.controller?.resume();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.exchange.clientGone) controller.abort(new ClientGone());
    else this.exchange.abortUpstream = (reason) => controller.abort(reason);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.status = statusCode;
    if (this.canRetry && retryableStatus.has(statusCode)) {
      controller.abort(new RetryStatus(statusCode));
      return;
    }
    const contentType = headers["content-type"];
    this.streaming = typeof contentType === "string" && contentType.includes("text/event-stream");
    const res = this.exchange.res;
    // No retry from here on: let go of the request body (220 KB prompts add up at 5,000 streams).
    this.exchange.body = emptyBody;
    res.writeHead(statusCode, responseHeaders(headers));
    // Send the head now: a streaming client sees the response start before the first token.
    if (this.streaming) res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const now = performance.now();
    if (!this.started) {
      this.started = true;
      this.observer.firstByte(now, this.streaming);
    }
    if (this.streaming) {
      // Events end with a blank line; counting "\n\n" is cheap and near enough per chunk.
      let events = 0;
      for (let i = chunk.indexOf(NEWLINE); i >= 0 && i + 1 < chunk.length; i = chunk.indexOf(NEWLINE, i + 1))
        if (chunk[i + 1] === NEWLINE) events++;
      if (events > 0) this.observer.events(events, now);
    } else {
      this.tail =
        chunk.length >= tailBytes || !this.tail
          ? chunk.subarray(Math.max(0, chunk.length - tailBytes))
          : Buffer.concat([this.tail, chunk]).subarray(-tailBytes);
    }
    const res = this.exchange.res;
    // One TCP read from the engine often holds several events, each its own HTTP chunk, and
    // undici hands them over one by one in the same tick: corked until the tick's microtasks
    // run, they leave in one write instead of one system call each.
    if (!this.corked) {
      this.corked = true;
      res.cork();
      queueMicrotask(this.uncork);
    }
    if (!res.write(chunk) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      controller.pause();
      res.once("drain", this.resume);
    }
  }

  onResponseEnd(): void {
    this.exchange.abortUpstream = undefined;
    if (!this.streaming && this.tail) {
      const m = /"completion_tokens"\s*:\s*(\d+)/.exec(this.tail.toString("latin1"));
      if (m?.[1]) this.observer.completionTokens(Number(m[1]));
    }
    // Uncork first: end() writes the last chunk marker before flushing what cork() held.
    this.uncork();
    this.exchange.res.end();
    this.settle({ kind: "done", status: this.status ?? 0 });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.exchange.abortUpstream = undefined;
    this.uncork();
    if (this.waitingForDrain) this.exchange.res.off("drain", this.resume);
    const res = this.exchange.res;
    if (error instanceof ClientGone || this.exchange.clientGone) {
      this.settle({ kind: "client-gone", status: this.status });
      return;
    }
    if (error instanceof RetryStatus) {
      this.settle({ kind: "retryable", reason: error.message, status: error.status, timeout: false });
      return;
    }
    const code = (error as { code?: string }).code ?? "";
    const reason = code ? `${code}: ${error.message}` : error.message;
    if (!res.headersSent) {
      this.settle({ kind: "retryable", reason, status: undefined, timeout: timeoutCodes.has(code) });
      return;
    }
    res.destroy(error);
    this.settle({ kind: "cut", status: this.status ?? 0, reason });
  }
}

/** Relays one attempt; resolves when it ended one way or another (it never rejects). */
export function relay(
  dispatcher: Dispatcher,
  exchange: Exchange,
  canRetry: boolean,
  observer: RelayObserver,
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: AttemptOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    const handler = new RelayHandler(exchange, canRetry, observer, settle);
    try {
      dispatcher.dispatch(
        { method: "POST", path: exchange.path, headers: exchange.headers, body: exchange.body },
        handler,
      );
    } catch (error) {
      settle({ kind: "retryable", reason: (error as Error).message, status: undefined, timeout: false });
    }
  });
}
