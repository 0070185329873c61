// The OpenAI API as vLLM serves it: request validation with vLLM's (pydantic's) wording and
// status codes, and the response bodies and stream chunks in vLLM's shape. Pure functions;
// server.ts does the I/O.
import { type Prompt, renderChat, textPrompt, tokenIdsPrompt } from "./tokens.ts";

/** vLLM's ErrorResponse. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

export const errorBody = (
  message: string,
  type: string,
  code: number,
  param: string | null = null,
): ErrorBody => ({
  error: { message, type, param, code },
});

/** A request vLLM refuses: the status and the body it answers with. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  readonly status: number;
  readonly body: ErrorBody;

  constructor(status: number, type: string, message: string, param: string | null = null) {
    super(message);
    this.status = status;
    this.body = errorBody(message, type, status, param);
  }
}

/** What vLLM's create_error_response makes of a ValueError: 400 BadRequestError. */
export const badRequest = (message: string, param: string | null = null) =>
  new RequestError(400, "BadRequestError", message, param);

/** FastAPI's RequestValidationError as vLLM's handler words it (one error; type "Bad Request"). */
export function validationError(loc: readonly (string | number)[], type: string, msg: string): RequestError {
  const parts = loc.map((p) => (typeof p === "string" ? `'${p}'` : String(p)));
  const tuple = `(${parts.join(", ")}${parts.length === 1 ? "," : ""})`;
  const message = `1 validation error:\n  {'type': '${type}', 'loc': ${tuple}, 'msg': '${msg}'}`;
  return new RequestError(400, "Bad Request", message, loc.join("."));
}

export const modelNotFound = (model: string) =>
  new RequestError(404, "NotFoundError", `The model \`${model}\` does not exist.`, "model");

type Body = Record<string, unknown>;

/** The JSON body as an object, or pydantic's error for anything else. */
export function requestObject(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw validationError(
      ["body"],
      "model_attributes_type",
      "Input should be a valid dictionary or object to extract fields from",
    );
  return body as Body;
}

/** pydantic's lax int: integers, integral floats and numeric strings. */
function intField(body: Body, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v;
    throw validationError(
      ["body", key],
      "int_from_float",
      "Input should be a valid integer, got a number with a fractional part",
    );
  }
  if (typeof v === "string") {
    if (/^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
    throw validationError(
      ["body", key],
      "int_parsing",
      "Input should be a valid integer, unable to parse string as an integer",
    );
  }
  throw validationError(["body", key], "int_type", "Input should be a valid integer");
}

const truthy = new Set(["true", "1", "yes", "on", "t", "y"]);
const falsy = new Set(["false", "0", "no", "off", "f", "n"]);

/** pydantic's lax bool: booleans, 0/1 and the usual words. */
function boolField(obj: Body, key: string, loc: readonly (string | number)[]): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === "string") {
    const s = v.toLowerCase();
    if (truthy.has(s)) return true;
    if (falsy.has(s)) return false;
    throw validationError(
      [...loc, key],
      "bool_parsing",
      "Input should be a valid boolean, unable to interpret input",
    );
  }
  throw validationError([...loc, key], "bool_type", "Input should be a valid boolean");
}

function stringField(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string")
    throw validationError(["body", key], "string_type", "Input should be a valid string");
  return v;
}

export interface GenerationRequest {
  model: string | undefined;
  /** One per prompt (chat has one); each yields n choices. */
  prompts: Prompt[];
  n: number;
  maxTokens: number | undefined;
  minTokens: number;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  seed: number | undefined;
}

/** The fields chat and completions share: sampling limits and streaming. */
function generationFields(body: Body, maxTokensKeys: readonly string[]): Omit<GenerationRequest, "prompts"> {
  const model = stringField(body, "model");
  const stream = boolField(body, "stream", ["body"]) ?? false;
  let includeUsage = false;
  let continuousUsage = false;
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (!stream)
      throw validationError(
        ["body"],
        "value_error",
        "Value error, Stream options can only be defined when `stream=True`.",
      );
    const o = requestObject(options);
    includeUsage = boolField(o, "include_usage", ["body", "stream_options"]) ?? true;
    continuousUsage = boolField(o, "continuous_usage_stats", ["body", "stream_options"]) ?? false;
  }
  let maxTokens: number | undefined;
  for (const key of maxTokensKeys) maxTokens ??= intField(body, key);
  if (maxTokens !== undefined && maxTokens < 1)
    throw badRequest(`max_tokens must be at least 1, got ${maxTokens}.`, "max_tokens");
  const n = intField(body, "n") ?? 1;
  if (n < 1) throw badRequest(`n must be at least 1, got ${n}.`, "n");
  const minTokens = intField(body, "min_tokens") ?? 0;
  if (minTokens < 0)
    throw badRequest(`min_tokens must be greater than or equal to 0, got ${minTokens}.`, "min_tokens");
  if (maxTokens !== undefined && minTokens > maxTokens)
    throw badRequest(
      `min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`,
      "min_tokens",
    );
  return {
    model,
    n,
    maxTokens,
    minTokens,
    ignoreEos: boolField(body, "ignore_eos", ["body"]) ?? false,
    stream,
    includeUsage,
    continuousUsage,
    seed: intField(body, "seed"),
  };
}

/** A message's content as text: a string, or the text parts of a list of parts. */
function contentText(content: unknown, loc: readonly (string | number)[]): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((part, i) => {
        const p = requestObject(part);
        if (typeof p.type !== "string")
          throw validationError([...loc, i, "type"], "missing", "Field required");
        return p.type === "text" && typeof p.text === "string" ? p.text : "";
      })
      .join("");
  throw validationError(loc, "string_type", "Input should be a valid string");
}

export function parseChatRequest(raw: unknown, blockSize: number): GenerationRequest {
  const body = requestObject(raw);
  const messages = body.messages;
  if (messages === undefined) throw validationError(["body", "messages"], "missing", "Field required");
  if (!Array.isArray(messages))
    throw validationError(["body", "messages"], "list_type", "Input should be a valid list");
  const rendered = messages.map((m, i) => {
    const loc = ["body", "messages", i];
    const message = requestObject(m);
    if (typeof message.role !== "string")
      throw validationError([...loc, "role"], "missing", "Field required");
    return { role: message.role, content: contentText(message.content, [...loc, "content"]) };
  });
  const fields = generationFields(body, ["max_completion_tokens", "max_tokens"]);
  return { ...fields, prompts: [textPrompt(renderChat(rendered), blockSize)] };
}

const isTokenIds = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x));

/** A completion's or embedding's input: a string, strings, token ids, or lists of token ids. */
function promptsOf(input: unknown, key: string, blockSize: number): Prompt[] {
  if (typeof input === "string") return [textPrompt(input, blockSize)];
  if (isTokenIds(input)) return [tokenIdsPrompt(input, blockSize)];
  if (Array.isArray(input) && input.length > 0) {
    return input.map((item, i) => {
      if (typeof item === "string") return textPrompt(item, blockSize);
      if (isTokenIds(item)) return tokenIdsPrompt(item, blockSize);
      if (Array.isArray(item) && item.length === 0) throw badRequest("The decoder prompt cannot be empty");
      throw validationError(["body", key, i], "string_type", "Input should be a valid string");
    });
  }
  if (Array.isArray(input)) throw badRequest("The decoder prompt cannot be empty");
  throw validationError(["body", key], "string_type", "Input should be a valid string");
}

export function parseCompletionRequest(raw: unknown, blockSize: number): GenerationRequest {
  const body = requestObject(raw);
  if (body.prompt === undefined || body.prompt === null)
    throw validationError(
      ["body"],
      "value_error",
      "Value error, Either prompt or prompt_embeds must be provided and non-empty.",
    );
  const fields = generationFields(body, ["max_tokens"]);
  return { ...fields, prompts: promptsOf(body.prompt, "prompt", blockSize) };
}

export interface EmbeddingRequest {
  model: string | undefined;
  prompts: Prompt[];
  base64: boolean;
  dimensions: number | undefined;
}

export function parseEmbeddingRequest(raw: unknown, blockSize: number): EmbeddingRequest {
  const body = requestObject(raw);
  if (body.input === undefined) throw validationError(["body", "input"], "missing", "Field required");
  const format = stringField(body, "encoding_format") ?? "float";
  if (format !== "float" && format !== "base64")
    throw validationError(
      ["body", "encoding_format"],
      "literal_error",
      "Input should be 'float' or 'base64'",
    );
  return {
    model: stringField(body, "model"),
    prompts: promptsOf(body.input, "input", blockSize),
    base64: format === "base64",
    dimensions: intField(body, "dimensions"),
  };
}

export interface OutputPlan {
  outputTokens: number;
  limitReason: "stop" | "length";
}

/**
 * How many tokens a sequence generates and why it stops; throws vLLM's 400 when the prompt
 * or prompt plus max_tokens does not fit the context. Without max_tokens a real model stops at
 * its end-of-sequence token: here after `naturalTokens` (or at the end of the context).
 */
export function outputPlan(
  req: GenerationRequest,
  promptTokens: number,
  maxModelLen: number,
  naturalTokens: number,
): OutputPlan {
  if (promptTokens >= maxModelLen)
    throw badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${promptTokens} input tokens. Please reduce the length of the input messages.`,
      "input_tokens",
    );
  const room = maxModelLen - promptTokens;
  const max = req.maxTokens;
  if (max !== undefined && max > room)
    throw badRequest(
      `'max_tokens' or 'max_completion_tokens' is too large: ${max}. This model's maximum context length is ${maxModelLen} tokens and your request has ${promptTokens} input tokens (${max} > ${maxModelLen} - ${promptTokens}).`,
      "max_tokens",
    );
  const cap = max ?? room;
  const natural = req.ignoreEos ? cap : Math.max(naturalTokens, req.minTokens);
  return natural < cap
    ? { outputTokens: natural, limitReason: "stop" }
    : { outputTokens: cap, limitReason: "length" };
}

/** vLLM's check for embeddings: the input may fill the whole context. */
export function checkEmbeddingLength(promptTokens: number, maxModelLen: number): void {
  if (promptTokens > maxModelLen)
    throw badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens} tokens in the input for embedding generation. Please reduce the length of the input.`,
      "input_tokens",
    );
}

export interface Usage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens: number } | null;
}

export function usage(prompt: number, completion: number, cached: number | undefined): Usage {
  return {
    prompt_tokens: prompt,
    total_tokens: prompt + completion,
    completion_tokens: completion,
    prompt_tokens_details: cached === undefined ? null : { cached_tokens: cached },
  };
}

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: "vllm";
  root: string;
  parent: null;
  max_model_len: number;
  permission: Record<string, unknown>[];
}

export function modelList(names: readonly string[], root: string, maxModelLen: number, created: number) {
  const data: ModelCard[] = names.map((id, i) => ({
    id,
    object: "model",
    created,
    owned_by: "vllm",
    root,
    parent: null,
    max_model_len: maxModelLen,
    permission: [
      {
        id: `modelperm-${created.toString(16)}${i}`,
        object: "model_permission",
        created,
        allow_create_engine: false,
        allow_sampling: true,
        allow_logprobs: true,
        allow_search_indices: false,
        allow_view: true,
        allow_fine_tuning: false,
        organization: "*",
        group: null,
        is_blocking: false,
      },
    ],
  }));
  return { object: "list", data };
}

export interface ChoiceResult {
  index: number;
  text: string;
  finishReason: string;
}

/** A non-streamed chat completion. */
export function chatResponse(id: string, created: number, model: string, choices: ChoiceResult[], u: Usage) {
  return {
    id,
    object: "chat.completion",
    created,
    model,
    choices: choices.map((c) => ({
      index: c.index,
      message: {
        role: "assistant",
        content: c.text,
        refusal: null,
        annotations: null,
        audio: null,
        function_call: null,
        tool_calls: [],
        reasoning_content: null,
      },
      logprobs: null,
      finish_reason: c.finishReason,
      stop_reason: null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: u,
    prompt_logprobs: null,
    prompt_token_ids: null,
    kv_transfer_params: null,
  };
}

/** A non-streamed text completion. */
export function completionResponse(
  id: string,
  created: number,
  model: string,
  choices: ChoiceResult[],
  u: Usage,
) {
  return {
    id,
    object: "text_completion",
    created,
    model,
    choices: choices.map((c) => ({
      index: c.index,
      text: c.text,
      logprobs: null,
      finish_reason: c.finishReason,
      stop_reason: null,
      prompt_logprobs: null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: u,
    kv_transfer_params: null,
  };
}

/**
 * SSE chunks of one streamed response. The fixed head of every chunk is built once; a token
 * chunk is then one string concatenation, which matters at thousands of streams.
 */
export class ChunkWriter {
  private readonly head: string;
  private readonly chat: boolean;

  constructor(chat: boolean, id: string, created: number, model: string) {
    this.chat = chat;
    const object = chat ? "chat.completion.chunk" : "text_completion";
    this.head = `data: {"id":${JSON.stringify(id)},"object":"${object}","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  }

  /** The chat stream's first chunk of a choice: the role, empty content. */
  role(index: number): string {
    return `${this.head}{"index":${index},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** A token; `finishReason` on the choice's last one; `u` when usage goes on every chunk. */
  token(index: number, text: string, finishReason: string | null, u?: Usage): string {
    const reason = finishReason === null ? "null" : `"${finishReason}"`;
    const tail = finishReason === null ? "" : ',"stop_reason":null';
    const usagePart = u ? `,"usage":${JSON.stringify(u)}` : "";
    const choice = this.chat
      ? `{"index":${index},"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":${reason}${tail}}`
      : `{"index":${index},"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":${reason},"stop_reason":null}`;
    return `${this.head}${choice}]${usagePart}}\n\n`;
  }

  /** The usage chunk after the last token (stream_options.include_usage). */
  usage(u: Usage): string {
    return `${this.head}],"usage":${JSON.stringify(u)}}\n\n`;
  }

  static readonly done = "data: [DONE]\n\n";
}

/**
 * A deterministic unit vector for an input: the same text always embeds the same way.
 * (xorshift32 seeded by the prompt's digest; good enough to tell inputs apart.)
 */
export function embeddingVector(digest: number, dim: number): number[] {
  let x = (digest % 0xffffffff) + 1;
  const v = new Array<number>(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const value = ((x >>> 0) / 0xffffffff) * 2 - 1;
    v[i] = value;
    norm += value * value;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  return v.map((value) => value * scale);
}

/** An embedding as vLLM's base64 encoding_format: little-endian float32. */
export function base64Embedding(vector: readonly number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString("base64");
}

export function embeddingResponse(
  id: string,
  created: number,
  model: string,
  embeddings: (number[] | string)[],
  promptTokens: number,
) {
  return {
    id,
    object: "list",
    created,
    model,
    data: embeddings.map((embedding, index) => ({ index, object: "embedding", embedding })),
    usage: usage(promptTokens, 0, undefined),
  };
}
