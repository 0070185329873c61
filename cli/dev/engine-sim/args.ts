// vLLM's command line, parsed the way vLLM parses it: Python's argparse behind vLLM's
// FlexibleArgumentParser (which turns `--max_model_len` into `--max-model-len`). The same
// argument vector that the controller gives `python3 -m vllm.entrypoints.openai.api_server`
// is accepted or refused here as vLLM would, so the simulator checks what the controller writes.
//
// The table holds the options of `vllm serve` that a deployment plausibly sets (vLLM has a few
// hundred; the rest are refused as unknown, which is the safe side for a check). Kinds follow
// vLLM: config booleans are argparse.BooleanOptionalAction (`--x` / `--no-x`), lists take one
// or more values (nargs="+"), a few legacy switches are store_true.

/** How an option takes its value, as argparse's action and nargs. */
type OptionKind = "value" | "list" | "store_true" | "boolean_optional";
/** The type function argparse applies; its name appears in "invalid <type> value" errors. */
type ValueType = "str" | "int" | "float" | "human_readable_int" | "loads";

interface OptionSpec {
  /** Option strings in vLLM's order: the first is the one usage shows. */
  names: string[];
  /** The attribute on argparse's Namespace (snake case). */
  dest: string;
  kind: OptionKind;
  type: ValueType;
  choices?: readonly (string | number)[];
}

export type ArgValue = string | number | boolean | unknown[] | Record<string, unknown>;

const DTYPES = ["auto", "half", "float16", "bfloat16", "float", "float32"];
const KV_CACHE_DTYPES = ["auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"];
const QUANTIZATIONS = [
  "awq",
  "awq_marlin",
  "auto-round",
  "bitblas",
  "bitsandbytes",
  "compressed-tensors",
  "deepspeedfp",
  "experts_int8",
  "fbgemm_fp8",
  "fp8",
  "gguf",
  "gptq",
  "gptq_bitblas",
  "gptq_marlin",
  "gptq_marlin_24",
  "hqq",
  "inc",
  "ipex",
  "marlin",
  "modelopt",
  "modelopt_fp4",
  "moe_wna16",
  "mxfp4",
  "petit_nvfp4",
  "ptpc_fp8",
  "quark",
  "rtn",
  "torchao",
  "tpu_int8",
];

const spec = (
  kind: OptionKind,
  type: ValueType,
  name: string,
  extra: { short?: string; choices?: readonly (string | number)[] } = {},
): OptionSpec => {
  const long = `--${name}`;
  const names =
    kind === "boolean_optional" ? [long, `--no-${name}`] : extra.short ? [extra.short, long] : [long];
  return {
    names,
    dest: name.replaceAll("-", "_"),
    kind,
    type,
    ...(extra.choices ? { choices: extra.choices } : {}),
  };
};
const str = (name: string, choices?: readonly string[]) =>
  spec("value", "str", name, choices ? { choices } : {});
const int = (name: string, short?: string) => spec("value", "int", name, short ? { short } : {});
const float = (name: string) => spec("value", "float", name);
const size = (name: string) => spec("value", "human_readable_int", name);
const json = (name: string, short?: string) => spec("value", "loads", name, short ? { short } : {});
const list = (name: string) => spec("list", "str", name);
const bool = (name: string) => spec("boolean_optional", "str", name);
const flag = (name: string) => spec("store_true", "str", name);

export const options: readonly OptionSpec[] = [
  // Frontend (vllm/entrypoints/openai/cli_args.py)
  str("host"),
  int("port"),
  str("uds"),
  str("uvicorn-log-level", ["critical", "error", "warning", "info", "debug", "trace"]),
  bool("disable-uvicorn-access-log"),
  str("disable-access-log-for-endpoints"),
  bool("allow-credentials"),
  json("allowed-origins"),
  json("allowed-methods"),
  json("allowed-headers"),
  list("api-key"),
  list("lora-modules"),
  str("chat-template"),
  str("chat-template-content-format", ["auto", "string", "openai"]),
  bool("trust-request-chat-template"),
  json("default-chat-template-kwargs"),
  str("response-role"),
  str("ssl-keyfile"),
  str("ssl-certfile"),
  str("ssl-ca-certs"),
  int("ssl-cert-reqs"),
  str("root-path"),
  list("middleware"),
  bool("return-tokens-as-token-ids"),
  bool("disable-frontend-multiprocessing"),
  bool("enable-request-id-headers"),
  bool("enable-auto-tool-choice"),
  bool("exclude-tools-when-tool-choice-none"),
  str("tool-call-parser"),
  str("tool-parser-plugin"),
  str("tool-server"),
  str("log-config-file"),
  int("max-log-len"),
  bool("disable-fastapi-docs"),
  bool("enable-prompt-tokens-details"),
  bool("enable-server-load-tracking"),
  bool("enable-force-include-usage"),
  bool("enable-tokenizer-info-endpoint"),
  bool("enable-log-outputs"),
  bool("log-error-stack"),
  int("h11-max-incomplete-event-size"),
  int("h11-max-header-count"),
  int("api-server-count", "-asc"),
  bool("headless"),
  bool("enable-log-requests"),
  flag("disable-log-requests"),
  flag("disable-log-stats"),
  // Model (ModelConfig)
  str("model"),
  str("runner", ["auto", "generate", "pooling", "draft"]),
  str("convert", ["auto", "none", "embed", "classify", "reward"]),
  str("task", ["auto", "generate", "embedding", "embed", "classify", "score", "reward", "transcription"]),
  str("tokenizer"),
  str("tokenizer-mode", ["auto", "slow", "mistral", "custom"]),
  bool("trust-remote-code"),
  str("dtype", DTYPES),
  int("seed"),
  str("hf-config-path"),
  str("allowed-local-media-path"),
  str("revision"),
  str("code-revision"),
  json("rope-scaling"),
  float("rope-theta"),
  str("tokenizer-revision"),
  size("max-model-len"),
  spec("value", "str", "quantization", { short: "-q", choices: QUANTIZATIONS }),
  bool("enforce-eager"),
  int("max-logprobs"),
  str("logprobs-mode", ["raw_logprobs", "raw_logits", "processed_logprobs", "processed_logits"]),
  bool("disable-sliding-window"),
  bool("disable-cascade-attn"),
  bool("skip-tokenizer-init"),
  bool("enable-prompt-embeds"),
  list("served-model-name"),
  str("config-format"),
  json("hf-overrides"),
  json("pooler-config"),
  str("logits-processor-pattern"),
  list("logits-processors"),
  str("generation-config"),
  json("override-generation-config"),
  bool("enable-sleep-mode"),
  str("model-impl", ["auto", "vllm", "transformers", "terratorch"]),
  str("override-attention-dtype"),
  int("max-seq-len-to-capture"),
  // Load (LoadConfig)
  str("load-format"),
  str("download-dir"),
  str("safetensors-load-strategy"),
  json("model-loader-extra-config"),
  list("ignore-patterns"),
  bool("use-tqdm-on-load"),
  // Structured outputs and reasoning
  str("reasoning-parser"),
  str("guided-decoding-backend"),
  json("structured-outputs-config"),
  // Parallel (ParallelConfig)
  str("distributed-executor-backend", ["ray", "mp", "uni", "external_launcher"]),
  int("pipeline-parallel-size", "-pp"),
  int("tensor-parallel-size", "-tp"),
  int("decode-context-parallel-size", "-dcp"),
  int("data-parallel-size", "-dp"),
  int("data-parallel-rank", "-dpn"),
  int("data-parallel-size-local", "-dpl"),
  spec("value", "str", "data-parallel-address", { short: "-dpa" }),
  int("data-parallel-rpc-port", "-dpp"),
  spec("value", "str", "data-parallel-backend", { short: "-dpb" }),
  bool("data-parallel-hybrid-lb"),
  bool("enable-expert-parallel"),
  bool("enable-eplb"),
  int("max-parallel-loading-workers"),
  bool("ray-workers-use-nsight"),
  bool("disable-custom-all-reduce"),
  str("worker-cls"),
  // Cache (CacheConfig)
  spec("value", "int", "block-size", { choices: [1, 8, 16, 32, 64, 128] }),
  float("gpu-memory-utilization"),
  size("kv-cache-memory-bytes"),
  float("swap-space"),
  str("kv-cache-dtype", KV_CACHE_DTYPES),
  int("num-gpu-blocks-override"),
  bool("enable-prefix-caching"),
  str("prefix-caching-hash-algo", ["sha256", "sha256_cbor"]),
  float("cpu-offload-gb"),
  bool("calculate-kv-scales"),
  bool("kv-sharing-fast-prefill"),
  // Multimodal
  json("limit-mm-per-prompt"),
  json("mm-processor-kwargs"),
  float("mm-processor-cache-gb"),
  bool("disable-mm-preprocessor-cache"),
  // LoRA
  bool("enable-lora"),
  int("max-loras"),
  int("max-lora-rank"),
  int("max-cpu-loras"),
  bool("fully-sharded-loras"),
  str("lora-dtype"),
  // Observability
  str("show-hidden-metrics-for-version"),
  str("otlp-traces-endpoint"),
  str("collect-detailed-traces"),
  // Scheduler (SchedulerConfig)
  size("max-num-batched-tokens"),
  int("max-num-seqs"),
  int("max-num-partial-prefills"),
  int("max-long-partial-prefills"),
  int("long-prefill-token-threshold"),
  int("num-lookahead-slots"),
  str("scheduling-policy", ["fcfs", "priority"]),
  bool("enable-chunked-prefill"),
  bool("disable-chunked-mm-input"),
  str("scheduler-cls"),
  bool("disable-hybrid-kv-cache-manager"),
  bool("async-scheduling"),
  // Engine-wide configs given as JSON
  json("speculative-config"),
  json("kv-transfer-config"),
  json("kv-events-config"),
  json("compilation-config", "-O"),
  json("additional-config"),
  str("device"),
];

/** Option string -> its spec; the `--no-` forms of boolean options included. */
const byName = new Map<string, OptionSpec>(options.flatMap((o) => o.names.map((n) => [n, o] as const)));
const longNames = [...byName.keys()].filter((n) => n.startsWith("--")).sort();

/** What argparse would print before exiting with status 2. */
export class ArgumentError extends Error {
  override readonly name = "ArgumentError";
}

/** Raised for -h/--help, which argparse answers with the help text and status 0. */
export class HelpRequested extends Error {
  override readonly name = "HelpRequested";
}

export const prog = "api_server.py";

const metavar = (o: OptionSpec): string => (o.choices ? `{${o.choices.join(",")}}` : o.dest.toUpperCase());

function usagePart(o: OptionSpec): string {
  const first = o.names[0] as string;
  switch (o.kind) {
    case "store_true":
      return `[${first}]`;
    case "boolean_optional":
      return `[${o.names.join(" | ")}]`;
    case "list":
      return `[${first} ${metavar(o)} [${metavar(o)} ...]]`;
    case "value":
      return `[${first} ${metavar(o)}]`;
  }
}

/** argparse's usage line, wrapped as argparse wraps it (continuation lines under the first option). */
export function usage(width = 100): string {
  const head = `usage: ${prog} `;
  const lines: string[] = [];
  let line = `${head}[-h]`;
  for (const part of options.map(usagePart)) {
    if (line.length + 1 + part.length > width) {
      lines.push(line);
      line = " ".repeat(head.length) + part;
    } else line += ` ${part}`;
  }
  lines.push(line);
  return lines.join("\n");
}

/** The help text: usage and every option, one a line. */
export function help(): string {
  const rows = options.map((o) => `  ${o.names.join(", ")}${o.kind === "value" ? ` ${metavar(o)}` : ""}`);
  return `${usage()}\n\nvLLM OpenAI-Compatible RESTful API server (engine simulator).\n\noptions:\n  -h, --help            show this help message and exit\n${rows.join("\n")}\n`;
}

const actionName = (o: OptionSpec) => o.names.join("/");
/** Python's repr of a str: single quotes unless the text holds one. */
const pyRepr = (s: string) =>
  s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replaceAll("'", "\\'")}'`;

/** Python int(): optional sign, digits with single underscores between them, surrounding blanks. */
function pythonInt(text: string): number | undefined {
  const m = /^\s*([+-]?\d+(?:_\d+)*)\s*$/.exec(text);
  return m ? Number((m[1] as string).replaceAll("_", "")) : undefined;
}

function pythonFloat(text: string): number | undefined {
  const t = text.trim().toLowerCase().replaceAll("_", "");
  if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/.test(t)) return Number.NaN;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) ? Number(t) : undefined;
}

/** vLLM's human_readable_int: 1k = 1000, 1K = 1024, 25.6k = 25600; binary suffixes take no decimals. */
function humanReadableInt(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT])$/.exec(text.trim());
  if (!m) return pythonInt(text);
  const [, digits, suffix] = m as unknown as [string, string, string];
  const decimal: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
  const binary: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  const d = decimal[suffix];
  if (d !== undefined) return Math.trunc(Number(digits) * d);
  if (digits.includes("."))
    throw new ArgumentError(
      `Decimals are not allowed with binary suffixes like ${suffix}. Did you mean to use ${digits}${suffix.toLowerCase()} instead?`,
    );
  return Number(digits) * (binary[suffix] as number);
}

function convert(o: OptionSpec, text: string): ArgValue {
  let value: ArgValue | undefined;
  try {
    switch (o.type) {
      case "str":
        value = text;
        break;
      case "int":
        value = pythonInt(text);
        break;
      case "float":
        value = pythonFloat(text);
        break;
      case "human_readable_int":
        value = humanReadableInt(text);
        break;
      case "loads":
        value = JSON.parse(text) as ArgValue;
        break;
    }
  } catch (e) {
    if (e instanceof ArgumentError) throw new ArgumentError(`argument ${actionName(o)}: ${e.message}`);
    value = undefined;
  }
  if (value === undefined)
    throw new ArgumentError(`argument ${actionName(o)}: invalid ${o.type} value: ${pyRepr(text)}`);
  if (o.choices && !o.choices.includes(value as string | number)) {
    const shown = o.choices.map((c) => (typeof c === "string" ? pyRepr(c) : String(c))).join(", ");
    const got = typeof value === "string" ? pyRepr(value) : String(value);
    throw new ArgumentError(`argument ${actionName(o)}: invalid choice: ${got} (choose from ${shown})`);
  }
  return value;
}

/**
 * Whether argparse takes this string for an option rather than a value: it starts with '-',
 * is not a negative number (the parser has no option that looks like one) and holds no space.
 */
function looksLikeOption(arg: string): boolean {
  if (!arg.startsWith("-") || arg === "-") return false;
  if (/^-\d+$|^-\d*\.\d+$/.test(arg)) return false;
  if (byName.has(arg.split("=", 1)[0] as string)) return true;
  return !arg.includes(" ");
}

/** FlexibleArgumentParser: underscores in an option's name (before any '=' or '.') become dashes. */
function normalize(arg: string): string {
  if (!arg.startsWith("--")) return arg;
  const eq = arg.indexOf("=");
  const key = eq < 0 ? arg : arg.slice(0, eq);
  const dot = key.indexOf(".");
  const name = dot < 0 ? key : key.slice(0, dot);
  return name.replaceAll("_", "-") + arg.slice(name.length);
}

/** Resolves an option string as argparse does: exact, else a unique prefix of a long option. */
function resolve(key: string): OptionSpec | undefined {
  const exact = byName.get(key);
  if (exact || !key.startsWith("--")) return exact;
  const candidates = longNames.filter((n) => n.startsWith(key));
  if (candidates.length > 1)
    throw new ArgumentError(`ambiguous option: ${key} could match ${candidates.join(", ")}`);
  return candidates.length === 1 ? byName.get(candidates[0] as string) : undefined;
}

/**
 * Parses an argument vector into argparse's Namespace (dest -> value, only what was given).
 * Later occurrences override earlier ones, as argparse does, which is how engine.args
 * overrides what the controller derives.
 */
export function parseArgs(argv: readonly string[]): Map<string, ArgValue> {
  const values = new Map<string, ArgValue>();
  const extras: string[] = [];
  const args = argv.map(normalize);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") {
      extras.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") throw new HelpRequested(help());
    if (!looksLikeOption(arg)) {
      extras.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const explicit = eq < 0 ? undefined : arg.slice(eq + 1);
    const o = resolve(key);
    if (!o) {
      extras.push(arg);
      continue;
    }
    if (o.kind === "store_true" || o.kind === "boolean_optional") {
      if (explicit !== undefined)
        throw new ArgumentError(`argument ${actionName(o)}: ignored explicit argument ${pyRepr(explicit)}`);
      values.set(o.dest, !(o.kind === "boolean_optional" && key.startsWith("--no-")));
      continue;
    }
    if (o.kind === "value") {
      let text = explicit;
      if (text === undefined) {
        const next = args[i + 1];
        if (next === undefined || looksLikeOption(next))
          throw new ArgumentError(`argument ${actionName(o)}: expected one argument`);
        text = next;
        i++;
      }
      values.set(o.dest, convert(o, text));
      continue;
    }
    const items: ArgValue[] = [];
    if (explicit !== undefined) items.push(convert(o, explicit));
    else
      while (i + 1 < args.length && !looksLikeOption(args[i + 1] as string))
        items.push(convert(o, args[++i] as string));
    if (items.length === 0)
      throw new ArgumentError(`argument ${actionName(o)}: expected at least one argument`);
    values.set(o.dest, items);
  }
  if (extras.length > 0) throw new ArgumentError(`unrecognized arguments: ${extras.join(" ")}`);
  return values;
}

/** What the simulator uses of the command line, with vLLM's defaults filled in. */
export interface ServeArgs {
  model: string;
  /** Every name the model answers to; the first one is the name in responses and metrics. */
  servedModelNames: string[];
  /** Undefined: every interface (vLLM binds "" then, which is 0.0.0.0). */
  host: string | undefined;
  port: number;
  /** Undefined: the model's own context length. */
  maxModelLen: number | undefined;
  tensorParallelSize: number;
  pipelineParallelSize: number;
  dataParallelSize: number;
  /** Undefined: vLLM picks by GPU (1024 on 70 GiB+ parts like H100 and MI300X). */
  maxNumSeqs: number | undefined;
  maxNumBatchedTokens: number | undefined;
  enablePrefixCaching: boolean;
  blockSize: number;
  apiKeys: string[];
  seed: number;
  disableLogStats: boolean;
  disableAccessLog: boolean;
  uvicornLogLevel: string;
  enablePromptTokensDetails: boolean;
  enableRequestIdHeaders: boolean;
  enableForceIncludeUsage: boolean;
  /** Everything given on the command line, by dest, as vLLM logs "non-default args". */
  given: ReadonlyMap<string, ArgValue>;
}

/** The defaults of vLLM's serve command for the arguments the simulator reads. */
export const defaultModel = "Qwen/Qwen3-0.6B";

/**
 * Parses `python3 -m vllm.entrypoints.openai.api_server ARGS`; throws ArgumentError with
 * argparse's message for what argparse refuses.
 */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const v = parseArgs(argv);
  const get = <T extends ArgValue>(dest: string, fallback: T): T =>
    (v.get(dest) as T | undefined) ?? fallback;
  const model = get("model", defaultModel);
  const names = v.get("served_model_name") as string[] | undefined;
  return {
    model,
    servedModelNames: names && names.length > 0 ? names : [model],
    host: v.get("host") as string | undefined,
    port: get("port", 8000),
    maxModelLen: v.get("max_model_len") as number | undefined,
    tensorParallelSize: get("tensor_parallel_size", 1),
    pipelineParallelSize: get("pipeline_parallel_size", 1),
    dataParallelSize: get("data_parallel_size", 1),
    maxNumSeqs: v.get("max_num_seqs") as number | undefined,
    maxNumBatchedTokens: v.get("max_num_batched_tokens") as number | undefined,
    enablePrefixCaching: get("enable_prefix_caching", true),
    blockSize: get("block_size", 16),
    apiKeys: (v.get("api_key") as string[] | undefined) ?? [],
    seed: get("seed", 0),
    disableLogStats: get("disable_log_stats", false),
    disableAccessLog: get("disable_uvicorn_access_log", false),
    uvicornLogLevel: get("uvicorn_log_level", "info"),
    enablePromptTokensDetails: get("enable_prompt_tokens_details", false),
    enableRequestIdHeaders: get("enable_request_id_headers", false),
    enableForceIncludeUsage: get("enable_force_include_usage", false),
    given: v,
  };
}
