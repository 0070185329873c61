// The vLLM engine simulator: `node cli/dev/engine-sim/main.ts ARGS` where ARGS are what a
// pod's container passes to `python3 -m vllm.entrypoints.openai.api_server` (see
// controllers/inferenceservice/pods.ts). It refuses what vLLM refuses (usage line and
// "error: ..." on stderr, exit 2) and serves vLLM's OpenAI API, /health, /ping, /version and
// /metrics at --host (default 0.0.0.0) and --port (default 8000; 0 picks a free one).
//
// What vLLM has no flag for comes from the environment (unset or empty: the default):
//
//   SIM_TTFT_MS               15       fixed cost of an engine step that runs prefill, ms
//   SIM_PREFILL_TOKENS_PER_S  20000    prefill throughput: uncached prompt tokens a second
//   SIM_ITL_MS                8        one decode step at batch size 1, ms
//   SIM_BATCH_SLOWDOWN        0.01     k in step = SIM_ITL_MS * (1 + k * batch): per-token latency
//                                      grows with the sequences in the batch
//   SIM_SPEED                 1        relative speed of this replica; 0.5 is twice as slow (a
//                                      slower vendor's part in a mixed pool)
//   SIM_LOAD_SECONDS          0        model load time; nothing listens until it has passed
//   SIM_KV_TOKENS             262144   KV-cache capacity in tokens (requests queue when it is full)
//   SIM_OUTPUT_TOKENS         128      output length when a request sets no max_tokens (where a
//                                      real model would emit its end-of-sequence token)
//   SIM_PREFIX_CACHE_BLOCKS   (all)    at most this many --block-size blocks stay cached for reuse
//   SIM_MODEL_MAX_LEN         32768    the model's own context length, used without --max-model-len
//   SIM_EMBEDDING_DIM         384      length of the vectors /v1/embeddings returns
//   VLLM_API_KEY                       the API key when --api-key is absent, as in vLLM
//
// Model load: vLLM binds its port before loading but only accepts connections (uvicorn starts)
// once the engine is up, so during the load every probe gets "connection refused", /health
// included; from then on /health and /v1/models answer together. The simulator does the same
// by listening only after SIM_LOAD_SECONDS: a startup probe on either path waits out the load.
//
// Prompts count 4 characters a token (token-id prompts count exactly); see tokens.ts.
import { ArgumentError, HelpRequested, parseServeArgs, prog, usage } from "./args.ts";
import { type Log, startSimulator, vllmVersion } from "./server.ts";
import { engineConfig, SettingsError, simSettings } from "./settings.ts";

const stamp = () => {
  const d = new Date();
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
};
const log: Log = {
  info: (m) => process.stdout.write(`INFO ${stamp()} [engine-sim] ${m}\n`),
  warn: (m) => process.stderr.write(`WARNING ${stamp()} [engine-sim] ${m}\n`),
  access: (line) => process.stdout.write(`INFO:     ${line}\n`),
};

function fail(message: string): never {
  process.stderr.write(`ERROR ${stamp()} [engine-sim] ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseServeArgs>;
  try {
    args = parseServeArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.message);
      process.exit(0);
    }
    if (!(e instanceof ArgumentError)) throw e;
    process.stderr.write(`${usage()}\n${prog}: error: ${e.message}\n`);
    process.exit(2);
  }
  let settings: ReturnType<typeof simSettings>;
  try {
    settings = simSettings(process.env);
    engineConfig(args, settings);
  } catch (e) {
    if (e instanceof SettingsError) fail(`ValueError: ${e.message}`);
    throw e;
  }
  if (args.port < 0 || args.port > 65535) fail("OverflowError: bind(): port must be 0-65535.");

  log.info(`vLLM API server version ${vllmVersion} (engine simulator)`);
  const given = Object.fromEntries(args.given);
  log.info(`non-default args: ${JSON.stringify(given)}`);
  if (settings.loadSeconds > 0) {
    log.info(`Starting to load model ${args.model}...`);
    await new Promise((resolve) => setTimeout(resolve, settings.loadSeconds * 1000));
    log.info(`Model loading took ${settings.loadSeconds.toFixed(4)} seconds`);
  }

  const sim = await startSimulator({ args, settings, log, envApiKey: process.env.VLLM_API_KEY }).catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") fail("OSError: [Errno 98] Address already in use");
      if (e.code === "EADDRNOTAVAIL") fail("OSError: [Errno 99] Cannot assign requested address");
      throw e;
    },
  );
  log.info(`Starting vLLM API server 0 on ${sim.url}`);
  process.stdout.write(`INFO:     Started server process [${process.pid}]\n`);
  process.stdout.write("INFO:     Waiting for application startup.\n");
  process.stdout.write("INFO:     Application startup complete.\n");

  const stop = () => {
    process.stdout.write("INFO:     Shutting down\n");
    sim.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
