// The simulator's knobs that vLLM has no flag for (environment variables, documented in
// main.ts), and the engine configuration they make together with the command line.
import type { ServeArgs } from "./args.ts";

export interface SimSettings {
  /** Fixed cost of an engine step that runs prefill, ms. */
  ttftMs: number;
  /** Prefill throughput at SIM_SPEED 1, prompt tokens per second. */
  prefillTokensPerSecond: number;
  /** A decode step at batch size 1, ms. */
  itlMs: number;
  /** k in step = itl * (1 + k * batch): how much each sequence in the batch slows a step. */
  batchSlowdown: number;
  /** Relative speed of this replica: 0.5 takes twice as long for everything. */
  speed: number;
  /** Seconds before the server listens (vLLM loads the model before it binds its port). */
  loadSeconds: number;
  /** KV-cache capacity in tokens. */
  kvTokens: number;
  /** Output length when the request sets no max_tokens (where a real model would stop). */
  outputTokens: number;
  /** At most this many blocks stay in the prefix cache; undefined: as many as the KV cache holds. */
  prefixCacheBlocks: number | undefined;
  /** The model's own context length, used when --max-model-len is absent. */
  modelMaxLen: number;
  /** Length of the vectors /v1/embeddings returns. */
  embeddingDim: number;
}

interface Knob {
  key: keyof SimSettings;
  fallback: number | undefined;
  /** Smallest value allowed; `exclusive` when the value must be greater than it. */
  min: number;
  exclusive?: boolean;
  integer?: boolean;
}

export const knobs: Record<string, Knob> = {
  SIM_TTFT_MS: { key: "ttftMs", fallback: 15, min: 0 },
  SIM_PREFILL_TOKENS_PER_S: { key: "prefillTokensPerSecond", fallback: 20_000, min: 0, exclusive: true },
  SIM_ITL_MS: { key: "itlMs", fallback: 8, min: 0, exclusive: true },
  SIM_BATCH_SLOWDOWN: { key: "batchSlowdown", fallback: 0.01, min: 0 },
  SIM_SPEED: { key: "speed", fallback: 1, min: 0, exclusive: true },
  SIM_LOAD_SECONDS: { key: "loadSeconds", fallback: 0, min: 0 },
  SIM_KV_TOKENS: { key: "kvTokens", fallback: 262_144, min: 1, integer: true },
  SIM_OUTPUT_TOKENS: { key: "outputTokens", fallback: 128, min: 1, integer: true },
  SIM_PREFIX_CACHE_BLOCKS: { key: "prefixCacheBlocks", fallback: undefined, min: 0, integer: true },
  SIM_MODEL_MAX_LEN: { key: "modelMaxLen", fallback: 32_768, min: 1, integer: true },
  SIM_EMBEDDING_DIM: { key: "embeddingDim", fallback: 384, min: 1, integer: true },
};

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

/** The knobs from the environment; an unset or empty variable takes its default. */
export function simSettings(env: Readonly<Record<string, string | undefined>>): SimSettings {
  const out: Partial<Record<keyof SimSettings, number | undefined>> = {};
  for (const [name, knob] of Object.entries(knobs)) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") {
      out[knob.key] = knob.fallback;
      continue;
    }
    const value = Number(raw);
    const bound = knob.exclusive ? value > knob.min : value >= knob.min;
    if (!Number.isFinite(value) || !bound || (knob.integer && !Number.isInteger(value))) {
      const what = knob.integer ? "an integer" : "a number";
      const relation = knob.exclusive ? "greater than" : "at least";
      throw new SettingsError(`${name} must be ${what} ${relation} ${knob.min}, got ${JSON.stringify(raw)}`);
    }
    out[knob.key] = value;
  }
  return out as SimSettings;
}

/** What the scheduler needs, from the command line and the knobs. */
export interface EngineConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  maxModelLen: number;
  blockSize: number;
  kvBlocks: number;
  prefixCaching: boolean;
  prefixCacheBlocks: number;
  ttftMs: number;
  prefillTokensPerSecond: number;
  itlMs: number;
  batchSlowdown: number;
  speed: number;
}

/** vLLM V1's defaults for an OpenAI server on a GPU with 70 GiB or more (H100, MI300X). */
export const defaultMaxNumSeqs = 1024;
export const defaultMaxNumBatchedTokens = 8192;

/**
 * The engine's configuration; throws what vLLM's engine raises at start-up for a
 * configuration it cannot serve (a context longer than the KV cache holds, a token budget
 * smaller than the batch).
 */
export function engineConfig(args: ServeArgs, sim: SimSettings): EngineConfig {
  const maxNumSeqs = args.maxNumSeqs ?? defaultMaxNumSeqs;
  const maxNumBatchedTokens = args.maxNumBatchedTokens ?? defaultMaxNumBatchedTokens;
  const maxModelLen = args.maxModelLen ?? sim.modelMaxLen;
  const kvBlocks = Math.floor(sim.kvTokens / args.blockSize);
  if (maxNumSeqs < 1) throw new SettingsError(`max_num_seqs (${maxNumSeqs}) must be at least 1.`);
  if (maxModelLen < 1) throw new SettingsError(`max_model_len (${maxModelLen}) must be at least 1.`);
  if (maxNumBatchedTokens < maxNumSeqs)
    throw new SettingsError(
      `max_num_batched_tokens (${maxNumBatchedTokens}) must be greater than or equal to max_num_seqs (${maxNumSeqs}).`,
    );
  if (Math.ceil(maxModelLen / args.blockSize) > kvBlocks)
    throw new SettingsError(
      `To serve at least one request with the models's max seq len (${maxModelLen}), (${maxModelLen} tokens of KV cache is needed, which is larger than the available KV cache memory (${kvBlocks * args.blockSize} tokens, SIM_KV_TOKENS). Based on the available memory, the estimated maximum model length is ${kvBlocks * args.blockSize}. Try increasing \`gpu_memory_utilization\` or decreasing \`max_model_len\` when initializing the engine.`,
    );
  return {
    maxNumSeqs,
    maxNumBatchedTokens,
    maxModelLen,
    blockSize: args.blockSize,
    kvBlocks,
    prefixCaching: args.enablePrefixCaching,
    prefixCacheBlocks: Math.min(kvBlocks, sim.prefixCacheBlocks ?? kvBlocks),
    ttftMs: sim.ttftMs,
    prefillTokensPerSecond: sim.prefillTokensPerSecond,
    itlMs: sim.itlMs,
    batchSlowdown: sim.batchSlowdown,
    speed: sim.speed,
  };
}

/**
 * The modelled duration of one engine step, ms: every sequence in the batch slows the
 * forward pass a little, and prefill adds a fixed cost plus its tokens at the prefill rate.
 */
export function stepDurationMs(c: EngineConfig, batchSize: number, prefillTokens: number): number {
  const decode = c.itlMs * (1 + c.batchSlowdown * batchSize);
  const prefill = prefillTokens > 0 ? c.ttftMs + (prefillTokens * 1000) / c.prefillTokensPerSecond : 0;
  return (decode + prefill) / c.speed;
}
