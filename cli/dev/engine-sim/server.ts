// The HTTP side: vLLM's OpenAI server routes (FastAPI under uvicorn), answering as it does:
// the same paths, status codes, bodies, SSE framing and access log lines. Requests become
// engine sequences; a client that goes away aborts them, which frees their slot and KV blocks.
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo } from "node:net";
import { parseServeArgs, type ServeArgs } from "./args.ts";
import { Engine, type FinishReason, type Sequence, type SequenceSink } from "./engine.ts";
import { EngineMetrics } from "./metrics.ts";
import {
  base64Embedding,
  type ChoiceResult,
  ChunkWriter,
  chatResponse,
  checkEmbeddingLength,
  completionResponse,
  embeddingResponse,
  embeddingVector,
  type GenerationRequest,
  modelList,
  modelNotFound,
  outputPlan,
  parseChatRequest,
  parseCompletionRequest,
  parseEmbeddingRequest,
  RequestError,
  type Usage,
  usage,
  validationError,
} from "./openai.ts";
import { type EngineConfig, engineConfig, type SimSettings, simSettings } from "./settings.ts";
import { tokenText } from "./tokens.ts";

/** The vLLM release whose API the simulator follows (the demo stack's image). */
export const vllmVersion = "0.11.0";

/** Bodies larger than this are refused (vLLM has no limit; the simulator's memory has one). */
const maxBodyBytes = 64 * 1024 * 1024;

export interface Log {
  info(message: string): void;
  warn(message: string): void;
  /** uvicorn's access log line, already formatted. */
  access(line: string): void;
}

export interface Simulator {
  readonly server: Server;
  readonly engine: Engine;
  readonly metrics: EngineMetrics;
  readonly config: EngineConfig;
  /** Where it listens, e.g. http://127.0.0.1:8000. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

// Request ids as vLLM's (32 hex digits): a random per-process half and a counter, so that a
// burst does not spend its time in the random number generator.
const idPrefix = randomBytes(8).toString("hex");
let idCounter = 0;
const requestId = () => idPrefix + (++idCounter).toString(16).padStart(16, "0");

/** The paths vLLM serves, with their methods; the /v1 ones need the API key when one is set. */
const routes: Record<string, readonly string[]> = {
  "/health": ["GET", "HEAD"],
  "/ping": ["GET", "HEAD", "POST"],
  "/version": ["GET", "HEAD"],
  "/metrics": ["GET", "HEAD"],
  "/v1/models": ["GET", "HEAD"],
  "/v1/chat/completions": ["POST"],
  "/v1/completions": ["POST"],
  "/v1/embeddings": ["POST"],
};
/** vLLM's AuthenticationMiddleware guards these prefixes and nothing else. */
const guardedPrefixes = ["/v1", "/v2", "/inference", "/cohere"];

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: RequestError): void {
  sendJson(res, e.status, e.body);
}

/** The body, or undefined once the client has gone; refuses one over maxBodyBytes with 413. */
function readBody(req: IncomingMessage): Promise<Buffer | RequestError | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.removeAllListeners("data");
        req.resume();
        resolve(
          new RequestError(413, "Request Entity Too Large", `Request body exceeds ${maxBodyBytes} bytes.`),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks, size)));
    req.on("error", () => resolve(undefined));
    req.on("aborted", () => resolve(undefined));
  });
}

/** vLLM's validate_json_request, then FastAPI's JSON parsing with its error. */
function parseJson(req: IncomingMessage, body: Buffer): unknown {
  const media = (req.headers["content-type"] ?? "").toLowerCase().split(";", 1)[0]?.trim();
  if (media !== "application/json")
    throw new RequestError(
      415,
      "Unsupported Media Type",
      "Unsupported Media Type: Only 'application/json' is allowed",
    );
  if (body.length === 0) throw validationError(["body"], "missing", "Field required");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (e) {
    const position = /position (\d+)/.exec(String(e))?.[1];
    throw validationError(["body", Number(position ?? 0)], "json_invalid", "JSON decode error");
  }
}

interface Choice {
  seq: Sequence;
  index: number;
  promptIndex: number;
}

/**
 * One generation request's response: its choices' sequences report tokens here, which go out
 * as SSE chunks (stream) or, when all have finished, as one JSON body. Text is not kept: a
 * sequence's n-th token is a function of its seed, so the body is rebuilt at the end.
 */
class GenerationResponse implements SequenceSink {
  private readonly res: ServerResponse;
  private readonly req: GenerationRequest;
  private readonly chat: boolean;
  private readonly id: string;
  private readonly created: number;
  private readonly model: string;
  private readonly detailsEnabled: boolean;
  private readonly forceUsage: boolean;
  private readonly headers: Record<string, string>;
  private readonly writer: ChunkWriter | undefined;
  readonly choices: Choice[] = [];
  private readonly bySeq = new Map<Sequence, Choice>();
  private remaining = 0;
  private rolesSent = false;
  done = false;

  constructor(
    res: ServerResponse,
    req: GenerationRequest,
    chat: boolean,
    model: string,
    opts: { promptTokensDetails: boolean; forceUsage: boolean; headers: Record<string, string> },
  ) {
    this.res = res;
    this.req = req;
    this.chat = chat;
    this.id = `${chat ? "chatcmpl" : "cmpl"}-${requestId()}`;
    this.created = Math.floor(Date.now() / 1000);
    this.model = model;
    this.detailsEnabled = opts.promptTokensDetails;
    this.forceUsage = opts.forceUsage;
    this.headers = opts.headers;
    this.writer = req.stream ? new ChunkWriter(chat, this.id, this.created, model) : undefined;
  }

  add(seq: Sequence, index: number, promptIndex: number): void {
    const choice = { seq, index, promptIndex };
    this.choices.push(choice);
    this.bySeq.set(seq, choice);
    this.remaining++;
  }

  token(seq: Sequence): void {
    const w = this.writer;
    if (!w || this.done) return;
    const choice = this.bySeq.get(seq) as Choice;
    let out = "";
    if (this.chat && !this.rolesSent) {
      // vLLM sends every choice's role chunk with the first output of the request.
      this.rolesSent = true;
      for (const c of this.choices) out += w.role(c.index);
    }
    const last = seq.generated >= seq.outputTokens;
    const u = this.req.continuousUsage ? this.choiceUsage(choice) : undefined;
    out += w.token(choice.index, tokenText(seq.seed, seq.generated - 1), last ? seq.limitReason : null, u);
    this.res.write(out);
  }

  finish(seq: Sequence, _reason: FinishReason): void {
    if (this.done || !this.bySeq.has(seq)) return;
    if (--this.remaining > 0) return;
    this.done = true;
    const u = this.totalUsage();
    const w = this.writer;
    if (w) {
      const withUsage = this.req.includeUsage || this.forceUsage;
      this.res.end(`${withUsage ? w.usage(u) : ""}${ChunkWriter.done}`);
      return;
    }
    const results: ChoiceResult[] = this.choices.map((c) => ({
      index: c.index,
      text: textOf(c.seq),
      finishReason: c.seq.limitReason,
    }));
    const body = this.chat
      ? chatResponse(this.id, this.created, this.model, results, u)
      : completionResponse(this.id, this.created, this.model, results, u);
    sendJson(this.res, 200, body, this.headers);
  }

  private choiceUsage(c: Choice): Usage {
    return usage(c.seq.promptTokens, c.seq.generated, this.detailsEnabled ? c.seq.cachedTokens : undefined);
  }

  /** Prompt tokens count once per prompt, however many choices it has. */
  private totalUsage(): Usage {
    let prompt = 0;
    let completion = 0;
    let cached = 0;
    for (const c of this.choices) {
      completion += c.seq.generated;
      if (c.index % this.req.n === 0) {
        prompt += c.seq.promptTokens;
        cached += c.seq.cachedTokens;
      }
    }
    return usage(prompt, completion, this.detailsEnabled ? cached : undefined);
  }
}

function textOf(seq: Sequence): string {
  let text = "";
  for (let i = 0; i < seq.generated; i++) text += tokenText(seq.seed, i);
  return text;
}

/** Embeddings: each input is a prefill-only sequence; the response goes when all have run. */
class EmbeddingSink implements SequenceSink {
  remaining = 0;
  done: (() => void) | undefined;

  token(): void {}

  finish(): void {
    if (--this.remaining === 0) this.done?.();
  }
}

function bearerMatches(header: string | undefined, keys: readonly Buffer[]): boolean {
  if (!header) return false;
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") return false;
  const given = Buffer.from(header.slice(space + 1));
  let ok = false;
  for (const k of keys) ok = (k.length === given.length && timingSafeEqual(k, given)) || ok;
  return ok;
}

export interface StartOptions {
  args: ServeArgs;
  settings: SimSettings;
  log: Log;
  /** VLLM_API_KEY, used when --api-key is absent (as vLLM does). */
  envApiKey?: string | undefined;
}

/** Builds the engine and starts listening at --host/--port; resolves once it listens. */
export async function startSimulator(opts: StartOptions): Promise<Simulator> {
  const { args, settings, log } = opts;
  const config = engineConfig(args, settings);
  const engine = new Engine(config);
  const modelName = args.servedModelNames[0] as string;
  const metrics = new EngineMetrics(engine, modelName, {
    blockSize: config.blockSize,
    numGpuBlocks: config.kvBlocks,
    enablePrefixCaching: config.prefixCaching,
    gpuMemoryUtilization: (args.given.get("gpu_memory_utilization") as number | undefined) ?? 0.9,
    cacheDtype: (args.given.get("kv_cache_dtype") as string | undefined) ?? "auto",
  });
  const keys = (args.apiKeys.length > 0 ? args.apiKeys : opts.envApiKey ? [opts.envApiKey] : []).map((k) =>
    Buffer.from(k),
  );
  const served = new Set(args.servedModelNames);
  const created = Math.floor(Date.now() / 1000);
  const accessLog = !args.disableAccessLog && ["trace", "debug", "info"].includes(args.uvicornLogLevel);
  let seedCounter = 0;

  const checkModel = (model: string | undefined) => {
    if (model !== undefined && !served.has(model)) throw modelNotFound(model);
  };

  const generate = (req: IncomingMessage, res: ServerResponse, body: unknown, chat: boolean) => {
    const parsed = chat
      ? parseChatRequest(body, config.blockSize)
      : parseCompletionRequest(body, config.blockSize);
    checkModel(parsed.model);
    const plans = parsed.prompts.map((p) =>
      outputPlan(parsed, p.tokens, config.maxModelLen, settings.outputTokens),
    );
    const headers = requestIdHeader(req);
    const response = new GenerationResponse(res, parsed, chat, modelName, {
      promptTokensDetails: args.enablePromptTokensDetails,
      forceUsage: args.enableForceIncludeUsage,
      headers,
    });
    if (parsed.stream) {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", ...headers });
      res.flushHeaders();
    }
    parsed.prompts.forEach((prompt, p) => {
      const plan = plans[p] as (typeof plans)[number];
      for (let j = 0; j < parsed.n; j++) {
        const seed = (parsed.seed ?? prompt.digest + ++seedCounter) + j;
        const seq = engine.submit({ prompt, ...plan, seed }, response);
        response.add(seq, p * parsed.n + j, p);
      }
    });
    res.on("close", () => {
      if (response.done) return;
      response.done = true;
      for (const c of response.choices) engine.abort(c.seq);
    });
  };

  const embed = (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const parsed = parseEmbeddingRequest(body, config.blockSize);
    checkModel(parsed.model);
    for (const p of parsed.prompts) checkEmbeddingLength(p.tokens, config.maxModelLen);
    const dim = Math.min(parsed.dimensions ?? settings.embeddingDim, settings.embeddingDim);
    const sink = new EmbeddingSink();
    const seqs = parsed.prompts.map((prompt) =>
      engine.submit({ prompt, outputTokens: 0, limitReason: "stop", seed: 0 }, sink),
    );
    sink.remaining = seqs.length;
    let finished = false;
    sink.done = () => {
      finished = true;
      const vectors = parsed.prompts.map((p) => {
        const v = embeddingVector(p.digest, dim);
        return parsed.base64 ? base64Embedding(v) : v;
      });
      const promptTokens = parsed.prompts.reduce((n, p) => n + p.tokens, 0);
      const id = `embd-${requestId()}`;
      sendJson(
        res,
        200,
        embeddingResponse(id, Math.floor(Date.now() / 1000), modelName, vectors, promptTokens),
        requestIdHeader(req),
      );
    };
    res.on("close", () => {
      if (!finished) for (const s of seqs) engine.abort(s);
    });
  };

  const requestIdHeader = (req: IncomingMessage): Record<string, string> => {
    if (!args.enableRequestIdHeaders) return {};
    const given = req.headers["x-request-id"];
    return { "x-request-id": typeof given === "string" ? given : requestId().slice(0, 32) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?", 1)[0] as string;
    const method = req.method ?? "GET";
    if (
      keys.length > 0 &&
      method !== "OPTIONS" &&
      guardedPrefixes.some((p) => path.startsWith(p)) &&
      !bearerMatches(req.headers.authorization, keys)
    ) {
      sendJson(res, 401, { error: "Unauthorized" });
      req.resume();
      return;
    }
    const methods = routes[path];
    if (!methods?.includes(method)) {
      sendJson(res, methods ? 405 : 404, { detail: methods ? "Method Not Allowed" : "Not Found" });
      req.resume();
      return;
    }
    switch (path) {
      case "/health":
      case "/ping":
        res.writeHead(200, { "content-length": 0 });
        res.end();
        req.resume();
        return;
      case "/version":
        sendJson(res, 200, { version: vllmVersion });
        return;
      case "/metrics": {
        const text = metrics.render();
        res.writeHead(200, {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
          "content-length": Buffer.byteLength(text),
        });
        res.end(text);
        return;
      }
      case "/v1/models":
        sendJson(res, 200, modelList(args.servedModelNames, args.model, config.maxModelLen, created));
        return;
    }
    const raw = await readBody(req);
    if (raw === undefined || res.destroyed) return;
    try {
      if (raw instanceof RequestError) throw raw;
      const body = parseJson(req, raw);
      if (path === "/v1/embeddings") embed(req, res, body);
      else generate(req, res, body, path === "/v1/chat/completions");
    } catch (e) {
      if (!(e instanceof RequestError)) throw e;
      sendError(res, e);
    }
  };

  const server = createServer({ maxHeaderSize: 4 * 1024 * 1024 }, (req, res) => {
    if (accessLog)
      res.on("finish", () => {
        const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
        const status = `${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ""}`;
        log.access(`${peer} - "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status}`);
      });
    handle(req, res).catch((e: unknown) => {
      log.warn(`Exception in ASGI application: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent)
        sendJson(res, 500, {
          error: { message: "Internal Server Error", type: "InternalServerError", param: null, code: 500 },
        });
      else res.destroy();
    });
  });
  // uvicorn's keep-alive timeout.
  server.keepAliveTimeout = 5000;
  server.on("clientError", (_e, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  const host = args.host ?? "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: args.port, backlog: 2048 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;

  const statsTimer = args.disableLogStats ? undefined : startStatsLog(engine, log);
  return {
    server,
    engine,
    metrics,
    config,
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        if (statsTimer) clearInterval(statsTimer);
        engine.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const quietLog: Log = { info() {}, warn() {}, access() {} };

/**
 * A simulator in this process, from a vLLM argument vector and SIM_* variables (for tests and
 * benchmarks; `--port 0` picks a free port, `sim.url` says which). Throws ArgumentError or
 * SettingsError for what main.ts would refuse.
 */
export function simulatorFromArgv(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  log: Log = quietLog,
): Promise<Simulator> {
  return startSimulator({
    args: parseServeArgs(argv),
    settings: simSettings(env),
    log,
    envApiKey: env.VLLM_API_KEY,
  });
}

/** vLLM's LoggingStatLogger: every 10 s, throughput and load, at info only when not idle. */
function startStatsLog(engine: Engine, log: Log): NodeJS.Timeout {
  const intervalS = 10;
  let prompt = engine.counters.promptTokens;
  let generation = engine.counters.generationTokens;
  let queries = engine.counters.prefixQueries;
  let hits = engine.counters.prefixHits;
  const timer = setInterval(() => {
    const c = engine.counters;
    const p = (c.promptTokens - prompt) / intervalS;
    const g = (c.generationTokens - generation) / intervalS;
    const hitRate =
      c.prefixQueries > queries ? (100 * (c.prefixHits - hits)) / (c.prefixQueries - queries) : 0;
    prompt = c.promptTokens;
    generation = c.generationTokens;
    queries = c.prefixQueries;
    hits = c.prefixHits;
    if (p === 0 && g === 0 && engine.numRunning === 0 && engine.numWaiting === 0) return;
    log.info(
      `Engine 000: Avg prompt throughput: ${p.toFixed(1)} tokens/s, Avg generation throughput: ${g.toFixed(1)} tokens/s, Running: ${engine.numRunning} reqs, Waiting: ${engine.numWaiting} reqs, GPU KV cache usage: ${(100 * engine.kvUsage).toFixed(1)}%, Prefix cache hit rate: ${hitRate.toFixed(1)}%`,
    );
  }, intervalS * 1000);
  timer.unref();
  return timer;
}
