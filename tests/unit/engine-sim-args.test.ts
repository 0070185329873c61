// The simulator's command line is vLLM's: what the controller writes must parse, and what vLLM
// (argparse) refuses must be refused with argparse's words and exit status.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ArgumentError, parseServeArgs } from "../../cli/dev/engine-sim/args.ts";
import { modelPlumbing } from "../../controllers/inferenceservice/model.ts";
import { serverArgs } from "../../controllers/inferenceservice/pods.ts";
import { devicesPerReplica } from "../../controllers/inferenceservice/sizing.ts";
import { inferenceServiceResource } from "../../crds/index.ts";

const parseError = (argv: string[]): string => {
  try {
    parseServeArgs(argv);
  } catch (e) {
    if (e instanceof ArgumentError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
};

/** The arguments the controller gives the server container for a spec. */
function controllerArgs(name: string, spec: Record<string, unknown>): string[] {
  const parsed = inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name, namespace: "ml" },
    spec: { engine: { image: "vllm/vllm-openai:v0.11.0" }, ...spec },
  });
  const devices = devicesPerReplica(parsed.spec) ?? 1;
  return serverArgs(parsed.spec, name, modelPlumbing(parsed.spec.model, undefined).args, devices);
}

describe("the controller's arguments", () => {
  it.each([
    ["a Hugging Face model", { model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" } }],
    [
      "a pinned revision, a served name and a context length",
      {
        model: { uri: "hf://Qwen/Qwen2.5-7B-Instruct@a09a354", name: "qwen" },
        engine: { image: "vllm/vllm-openai:v0.11.0", maxModelLen: 32768, tensorParallelSize: 2 },
        accelerators: { count: 2 },
      },
    ],
    ["weights from S3", { model: { uri: "s3://models/llama/8b/" } }],
    ["weights on a claim", { model: { uri: "pvc://weights/llama-8b" } }],
    [
      "engine.args in both forms",
      {
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
        engine: {
          image: "vllm/vllm-openai:v0.11.0",
          args: [
            "--gpu-memory-utilization=0.9",
            "--enable-prefix-caching",
            "--max-num-seqs",
            "64",
            "--max-num-batched-tokens=16k",
            "--dtype",
            "bfloat16",
            "--kv-cache-dtype=fp8",
            "--disable-log-requests",
            "--enable-chunked-prefill",
            "--served-model-name",
            "llama",
            "llama-8b",
          ],
        },
      },
    ],
  ])("parse for %s", (_what, spec) => {
    const argv = controllerArgs("demo", spec);
    const args = parseServeArgs(argv);
    expect(args.port).toBe(8000);
    expect(args.given.get("download_dir")).toBe("/models");
    expect(args.model).toBe(argv[argv.indexOf("--model") + 1]);
  });

  it("read as the controller means them: later engine.args override the derived ones", () => {
    const args = parseServeArgs(
      controllerArgs("demo", {
        model: { uri: "hf://Qwen/Qwen2.5-7B-Instruct@a09a354", name: "qwen" },
        engine: {
          image: "vllm/vllm-openai:v0.11.0",
          maxModelLen: 8192,
          args: ["--max-model-len=4k", "--served-model-name", "q1", "q2", "--max-num-batched-tokens=16k"],
        },
      }),
    );
    expect(args).toMatchObject({
      model: "Qwen/Qwen2.5-7B-Instruct",
      servedModelNames: ["q1", "q2"],
      maxModelLen: 4000,
      maxNumBatchedTokens: 16000,
      tensorParallelSize: 1,
      enablePrefixCaching: true,
    });
    expect(args.given.get("revision")).toBe("a09a354");
    expect(args.given.get("tokenizer_revision")).toBe("a09a354");
  });
});

describe("vLLM's other options", () => {
  it("take values after a space or an =, underscores for dashes, short forms and --no- forms", () => {
    const args = parseServeArgs([
      "--model=m",
      "--host",
      "127.0.0.5",
      "--port=9001",
      "-tp",
      "4",
      "-pp=2",
      "--data_parallel_size",
      "2",
      "--no-enable-prefix-caching",
      "--block-size",
      "32",
      "--api-key",
      "k1",
      "k2",
      "--seed=7",
      "--swap-space",
      "4",
      "--enforce-eager",
      "--trust-remote-code",
      "--quantization",
      "awq",
      "--uvicorn-log-level=warning",
      "--generation-config",
      "vllm",
      "--max-logprobs",
      "5",
      "--disable-log-stats",
      "--compilation-config",
      '{"level": 3}',
    ]);
    expect(args).toMatchObject({
      model: "m",
      servedModelNames: ["m"],
      host: "127.0.0.5",
      port: 9001,
      tensorParallelSize: 4,
      pipelineParallelSize: 2,
      dataParallelSize: 2,
      enablePrefixCaching: false,
      blockSize: 32,
      apiKeys: ["k1", "k2"],
      seed: 7,
      uvicornLogLevel: "warning",
      disableLogStats: true,
    });
    expect(args.given.get("compilation_config")).toEqual({ level: 3 });
  });

  it("accept a unique prefix of an option, as argparse does", () => {
    expect(parseServeArgs(["--max-model", "2048"]).maxModelLen).toBe(2048);
    expect(parseError(["--max-num", "8"])).toBe(
      "ambiguous option: --max-num could match --max-num-batched-tokens, --max-num-partial-prefills, --max-num-seqs",
    );
  });

  it("default as vLLM does", () => {
    expect(parseServeArgs([])).toMatchObject({
      model: "Qwen/Qwen3-0.6B",
      servedModelNames: ["Qwen/Qwen3-0.6B"],
      host: undefined,
      port: 8000,
      enablePrefixCaching: true,
      blockSize: 16,
      apiKeys: [],
    });
  });
});

describe("refused as argparse refuses", () => {
  it.each([
    [["--model", "m", "--frobnicate"], "unrecognized arguments: --frobnicate"],
    [["--frobnicate", "3", "--model", "m", "--bogus=1"], "unrecognized arguments: --frobnicate 3 --bogus=1"],
    [["stray"], "unrecognized arguments: stray"],
    [["--port", "x"], "argument --port: invalid int value: 'x'"],
    [["--port=8000.5"], "argument --port: invalid int value: '8000.5'"],
    [["-tp", "two"], "argument -tp/--tensor-parallel-size: invalid int value: 'two'"],
    [["--gpu-memory-utilization", "most"], "argument --gpu-memory-utilization: invalid float value: 'most'"],
    [["--max-model-len", "lots"], "argument --max-model-len: invalid human_readable_int value: 'lots'"],
    [["--port"], "argument --port: expected one argument"],
    [["--port", "--host", "h"], "argument --port: expected one argument"],
    [["--served-model-name", "--port", "1"], "argument --served-model-name: expected at least one argument"],
    [
      ["--dtype", "fp4"],
      "argument --dtype: invalid choice: 'fp4' (choose from 'auto', 'half', 'float16', 'bfloat16', 'float', 'float32')",
    ],
    [["--block-size", "7"], "argument --block-size: invalid choice: 7 (choose from 1, 8, 16, 32, 64, 128)"],
    [["--enforce-eager=yes"], "argument --enforce-eager/--no-enforce-eager: ignored explicit argument 'yes'"],
    [["--compilation-config", "{level"], "argument -O/--compilation-config: invalid loads value: '{level'"],
  ])("%j", (argv, message) => {
    expect(parseError(argv)).toBe(message);
  });

  it("on stderr with the usage line, exit status 2, from the simulator's entry point", () => {
    const main = fileURLToPath(new URL("../../cli/dev/engine-sim/main.ts", import.meta.url));
    const run = spawnSync(process.execPath, [main, "--model", "m", "--port", "0", "--frobnicate"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^usage: api_server\.py \[-h\] \[--host HOST\] \[--port PORT\]/);
    expect(run.stderr).toMatch(/\napi_server\.py: error: unrecognized arguments: --frobnicate\n$/);
  });
});
