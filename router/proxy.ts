// The request path of the OpenAI endpoints: key -> body -> model -> admission -> replica ->
// relay, with retries before the first byte and one accounting point at the end. Everything
// that decides is elsewhere (body-scan, tenants, admission, picker); this file moves requests
// between those decisions and the sockets.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError, type Logger } from "../operator/log.ts";
import { Admission, type Rejection, type Ticket } from "./admission.ts";
import { BodyError, scanBody } from "./body-scan.ts";
import { fnv1a32 } from "./hash.ts";
import { BoundedLru } from "./lru.ts";
import { errorBody, errors, type RouterError } from "./openai-errors.ts";
import type { RouterOptions } from "./options.ts";
import { type Affinity, affinityKeyHash, type PickerOptions, pickReplica } from "./picker.ts";
import type { ModelGroup, Replica, ReplicaRegistry } from "./replicas.ts";
import type { RouterMetrics } from "./router-metrics.ts";
import type { ApiKeys } from "./tenants.ts";
import { type AttemptOutcome, type Exchange, relay, upstreamHeaders } from "./upstream.ts";

/** Where the router's API keys come from; `current` is undefined until they are loaded. */
export interface KeySource {
  current: ApiKeys | undefined;
}

interface Request extends Exchange {
  id: string;
  req: IncomingMessage;
  tenant: string;
  model: string;
  group: ModelGroup;
  prefix: string;
  sessionId: string | undefined;
  arrivedAt: number;
  ticket: Ticket | undefined;
  tried: Set<string>;
  attempts: number;
  replica: Replica | undefined;
  firstByteAt: number | undefined;
  lastEventAt: number | undefined;
  events: number;
  status: number | undefined;
  finished: boolean;
}

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/** How soon a refused connection to the only replica is tried again (see waitForListener). */
const listenerRetryMs = 200;

export class RequestProxy {
  readonly admission: Admission;
  private readonly options: RouterOptions;
  private readonly registry: ReplicaRegistry;
  private readonly keys: KeySource;
  private readonly metrics: RouterMetrics;
  private readonly log: Logger;
  private readonly picker: PickerOptions;
  private readonly sessions: BoundedLru<string, string>;
  private readonly waiting = new Map<number, Request>();
  private readonly requestCounters = new Map<string, { inc(by?: number): void }>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    options: RouterOptions,
    registry: ReplicaRegistry,
    keys: KeySource,
    metrics: RouterMetrics,
    log: Logger,
  ) {
    this.options = options;
    this.registry = registry;
    this.keys = keys;
    this.metrics = metrics;
    this.log = log;
    this.picker = {
      loadBound: options.loadBound,
      loadSlack: options.loadSlack,
      nearEqual: options.nearEqual,
      random: Math.random,
    };
    this.sessions = new BoundedLru(options.affinityEntries);
    this.admission = new Admission({
      limits: options.limits,
      tenantLimits: options.tenantLimits,
      coldStartWaitMs: options.coldStartWaitMs,
      capacity: (model) => registry.capacity(model, performance.now()),
    });
    metrics.registry.onCollect(() => {
      for (const s of this.admission.tenantStats()) metrics.queueDepth.set({ tenant: s.tenant }, s.queued);
    });
  }

  /** The request id to use: the client's x-request-id when it is sane, else a new one. */
  static requestId(req: IncomingMessage): string {
    const given = req.headers["x-request-id"];
    return typeof given === "string" && requestIdPattern.test(given) ? given : randomUUID();
  }

  /** POST /v1/chat/completions, /v1/completions, /v1/embeddings. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, id: string): void {
    const arrivedAt = performance.now();
    const keys = this.keys.current;
    if (!keys) {
      this.refuse(req, res, errors.keysNotLoaded(), "", "", id);
      return;
    }
    const tenant = keys.tenantOf(req.headers.authorization);
    if (tenant === undefined) {
      this.refuse(req, res, errors.badKey(), "", "", id);
      return;
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > this.options.maxBodyBytes) {
      this.refuse(req, res, errors.tooLarge(this.options.maxBodyBytes), tenant, "", id);
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > this.options.maxBodyBytes) {
        tooLarge = true;
        chunks.length = 0;
        this.refuse(req, res, errors.tooLarge(this.options.maxBodyBytes), tenant, "", id);
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", () => {});
    req.on("end", () => {
      if (tooLarge || res.writableEnded) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      this.route(req, res, path, id, tenant, body, arrivedAt);
    });
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    id: string,
    tenant: string,
    body: Buffer,
    arrivedAt: number,
  ): void {
    let scanned: ReturnType<typeof scanBody>;
    try {
      scanned = scanBody(body, this.options.prefixChars);
    } catch (error) {
      if (error instanceof BodyError) {
        this.refuse(req, res, errors.malformed(error.message, error.param), tenant, "", id);
        return;
      }
      throw error;
    }
    if (scanned.model === undefined || scanned.model === "") {
      this.refuse(req, res, errors.missingModel(), tenant, "", id);
      return;
    }
    const group = this.registry.groupOf(scanned.model);
    if (!group) {
      this.refuse(req, res, errors.unknownModel(scanned.model, this.registry.models), tenant, "", id);
      return;
    }

    const sessionHeader = this.options.sessionHeader;
    const rawSession = sessionHeader ? req.headers[sessionHeader] : undefined;
    const r: Request = {
      id,
      req,
      res,
      path,
      headers: upstreamHeaders(req.rawHeaders, id),
      body,
      clientGone: false,
      abortUpstream: undefined,
      tenant,
      model: group.model,
      group,
      prefix: scanned.prefix,
      sessionId: typeof rawSession === "string" && rawSession !== "" ? rawSession.slice(0, 256) : undefined,
      arrivedAt,
      ticket: undefined,
      tried: new Set(),
      attempts: 0,
      replica: undefined,
      firstByteAt: undefined,
      lastEventAt: undefined,
      events: 0,
      status: undefined,
      finished: false,
    };
    group.requests.add(arrivedAt);
    group.lastRequestTime = Date.now();
    res.on("close", () => {
      if (res.writableFinished) return;
      r.clientGone = true;
      if (r.ticket?.state === "queued") {
        this.admission.cancel(r.ticket);
        this.waiting.delete(r.ticket.id);
        this.finish(r, 499);
      } else r.abortUpstream?.(new Error("client went away"));
    });

    const offer = this.admission.offer(tenant, group.model, arrivedAt);
    if (offer.kind === "rejected") {
      this.reject(r, offer.rejection);
      return;
    }
    r.ticket = offer.ticket;
    if (offer.kind === "admitted") {
      this.metrics.queueWait.observe({ tenant }, 0);
      this.send(r);
      return;
    }
    this.waiting.set(offer.ticket.id, r);
    this.scheduleWake();
  }

  /** dispatch(), with a bug in it answered as a 500 instead of ending the process. */
  private send(r: Request): void {
    this.dispatch(r).catch((error: unknown) => {
      this.log.error("request failed inside the router", { requestId: r.id, error: describeError(error) });
      if (r.res.headersSent) r.res.destroy();
      this.fail(r, {
        status: 500,
        type: "server_error",
        code: "internal_error",
        message: "the router failed this request",
      });
    });
  }

  /** Sends an admitted request to a replica, retrying elsewhere while nothing reached the client. */
  private async dispatch(r: Request): Promise<void> {
    for (;;) {
      if (r.clientGone) {
        this.finish(r, 499);
        return;
      }
      const now = performance.now();
      const candidates = this.registry.available(r.group, now).filter((c) => !r.tried.has(c.id));
      const affinity = this.affinityOf(r);
      const pick = pickReplica(candidates, affinity, this.picker);
      if (!pick && r.tried.size === 0 && this.withinColdStart(r)) {
        // The replica it was admitted for went unready (or is restarting) in the meantime: wait
        // for one as a cold start would, rather than fail at once.
        await new Promise((resolve) => setTimeout(resolve, listenerRetryMs));
        continue;
      }
      if (!pick) {
        const error =
          r.tried.size > 0
            ? errors.upstream(502, `every replica tried for model ${r.model} failed`)
            : {
                status: 503,
                type: "server_error" as const,
                code: "no_ready_replica",
                message: `model ${r.model} has no replica that can take a request now`,
                retryAfter: 1,
              };
        this.fail(r, error);
        return;
      }
      const replica = pick.candidate as Replica;
      if (r.sessionId) this.sessions.set(r.sessionId, replica.id);
      r.attempts++;
      r.replica = replica;
      replica.outstanding++;
      replica.requests.add(now);
      replica.breaker.onSend(now);
      const canRetry = r.attempts <= this.options.retries && candidates.length > 1;
      const outcome = await relay(replica.dispatcher, r, canRetry, {
        firstByte: (at, streaming) => {
          r.firstByteAt = at;
          r.lastEventAt = at;
          if (streaming) this.metrics.ttft(r.model).observe((at - r.arrivedAt) / 1000);
        },
        events: (count, at) => {
          if (r.events > 0 && r.lastEventAt !== undefined) {
            const itl = this.metrics.itl(r.model);
            const each = (at - r.lastEventAt) / 1000 / count;
            for (let i = 0; i < count; i++) itl.observe(each);
          }
          r.events += count;
          r.lastEventAt = at;
          r.group.tokens.add(at, count);
          replica.tokens.add(at, count);
        },
        completionTokens: (count) => {
          const at = performance.now();
          r.group.tokens.add(at, count);
          replica.tokens.add(at, count);
        },
      });
      replica.outstanding--;
      // Not a failure of the replica (no breaker count): it is starting.
      if (this.waitForListener(r, outcome, candidates.length)) {
        await new Promise((resolve) => setTimeout(resolve, listenerRetryMs));
        continue;
      }
      this.account(r, replica, outcome);
      if (outcome.kind !== "retryable") {
        if (
          outcome.kind === "done" &&
          r.events > 2 &&
          r.firstByteAt !== undefined &&
          r.lastEventAt !== undefined
        )
          replica.observeStreamTpot((r.lastEventAt - r.firstByteAt) / 1000 / (r.events - 1));
        this.finish(r, outcome.kind === "client-gone" ? 499 : outcome.status);
        return;
      }
      r.tried.add(replica.id);
      if (!canRetry) {
        const status = outcome.timeout ? 504 : 502;
        this.fail(r, errors.upstream(status, `replica ${replica.id} failed: ${outcome.reason}`));
        return;
      }
      this.metrics.retries.inc({ model: r.model });
    }
  }

  /**
   * Whether to try the same replica again shortly: it refused the connection, it is the only
   * one, and the request is within its cold-start wait. A pod is marked ready by its kubelet's
   * probe, but one that was just started (or restarted) can be listed ready a moment before
   * its server listens; that is a start to wait for, not a failure to answer with 502.
   */
  private waitForListener(r: Request, outcome: AttemptOutcome, candidates: number): boolean {
    if (outcome.kind !== "retryable" || !outcome.reason.startsWith("ECONNREFUSED") || candidates > 1)
      return false;
    if (!this.withinColdStart(r)) return false;
    r.attempts--;
    return true;
  }

  private withinColdStart(r: Request): boolean {
    return performance.now() - r.arrivedAt + listenerRetryMs <= this.options.coldStartWaitMs;
  }

  /** Breaker and error accounting for one attempt. */
  private account(r: Request, replica: Replica, outcome: AttemptOutcome): void {
    const now = performance.now();
    if (outcome.kind === "done") {
      if (outcome.status >= 500) replica.breaker.onFailure(now);
      else replica.breaker.onSuccess();
      return;
    }
    if (outcome.kind === "client-gone") return;
    replica.breaker.onFailure(now);
    const reason =
      outcome.kind === "cut"
        ? "cut"
        : outcome.status
          ? String(outcome.status)
          : outcome.timeout
            ? "timeout"
            : "connect";
    this.metrics.upstreamErrors.inc({ model: r.model, endpoint: replica.id, reason });
    this.log.warn("upstream attempt failed", {
      requestId: r.id,
      model: r.model,
      endpoint: replica.id,
      attempt: r.attempts,
      reason: outcome.reason,
    });
  }

  private affinityOf(r: Request): Affinity | undefined {
    if (r.sessionId) {
      const previous = this.sessions.get(r.sessionId);
      return { keyHash: fnv1a32(`s:${r.sessionId}`), ...(previous ? { previous } : {}) };
    }
    if (this.options.prefixChars <= 0) return undefined;
    const keyHash = affinityKeyHash(undefined, r.prefix, this.options.prefixMinChars);
    return keyHash === undefined ? undefined : { keyHash };
  }

  /** Admission turned a request away. */
  private reject(r: Request, rejection: Rejection): void {
    this.fail(r, {
      status: rejection.status,
      type: rejection.status === 429 ? "rate_limit_error" : "server_error",
      code: rejection.code,
      message: rejection.message,
      retryAfter: rejection.retryAfterSeconds,
    });
  }

  private fail(r: Request, error: RouterError): void {
    if (!r.res.headersSent && !r.clientGone) writeError(r.res, error, r.id);
    this.finish(r, error.status);
  }

  /** The one place a request's accounting ends, whatever happened to it. */
  private finish(r: Request, status: number): void {
    if (r.finished) return;
    r.finished = true;
    r.status = status;
    if (r.ticket) this.admission.release(r.ticket);
    this.count(r.tenant, r.model, status);
    if (this.options.accessLog)
      this.log.info("request", {
        requestId: r.id,
        tenant: r.tenant,
        model: r.model,
        path: r.path,
        status,
        endpoint: r.replica?.id,
        attempts: r.attempts,
        ms: Math.round(performance.now() - r.arrivedAt),
        events: r.events,
      });
    if (this.admission.totalQueued > 0) this.pump();
  }

  /** Answers a request that never reached admission. */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    error: RouterError,
    tenant: string,
    model: string,
    id: string,
  ): void {
    // A body we will not read is not drained: close the connection instead of reading megabytes.
    if (!req.complete) res.setHeader("connection", "close");
    writeError(res, error, id);
    req.resume();
    this.count(tenant, model, error.status);
    if (this.options.accessLog)
      this.log.info("request", { requestId: id, tenant, status: error.status, code: error.code });
  }

  private count(tenant: string, model: string, status: number): void {
    const key = `${tenant}\u0000${model}\u0000${status}`;
    let c = this.requestCounters.get(key);
    if (!c) {
      c = this.metrics.requests.child({ tenant, model, code: String(status) });
      this.requestCounters.set(key, c);
    }
    c.inc();
  }

  /** Capacity may have changed (a replica turned ready, a breaker half-opened). */
  capacityChanged(): void {
    if (this.admission.totalQueued > 0) this.pump();
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const now = performance.now();
        const { admitted, rejected } = this.admission.pump(now);
        for (const { ticket, rejection } of rejected) {
          const r = this.waiting.get(ticket.id);
          if (!r) continue;
          this.waiting.delete(ticket.id);
          this.reject(r, rejection);
        }
        for (const ticket of admitted) {
          const r = this.waiting.get(ticket.id);
          if (!r) {
            this.admission.release(ticket);
            continue;
          }
          this.waiting.delete(ticket.id);
          this.metrics.queueWait.observe({ tenant: r.tenant }, (now - r.arrivedAt) / 1000);
          this.send(r);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    this.scheduleWake();
  }

  private scheduleWake(): void {
    const now = performance.now();
    const next = this.admission.nextWakeAt(now);
    if (next === undefined) return;
    if (this.wakeTimer && next >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = next;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, next - now) + 1,
    );
  }

  /** Rejects everything still waiting (shutdown). */
  close(): void {
    clearTimeout(this.wakeTimer);
    for (const r of this.waiting.values()) {
      if (r.ticket) this.admission.cancel(r.ticket);
      this.fail(r, {
        status: 503,
        type: "server_error",
        code: "shutting_down",
        message: "the router is shutting down",
        retryAfter: 1,
      });
    }
    this.waiting.clear();
  }
}

export function writeError(res: ServerResponse, error: RouterError, requestId: string): void {
  const body = errorBody(error);
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-request-id": requestId,
  };
  if (error.retryAfter !== undefined) headers["retry-after"] = Math.max(1, Math.ceil(error.retryAfter));
  res.writeHead(error.status, headers);
  res.end(body);
}
