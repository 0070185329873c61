// train submit, serve and ray create with --dry-run, run in-process: the manifests carry exactly
// what the flags say, validate against the API, and bad input fails with the right exit code.
import { PassThrough } from "node:stream";
import { CommanderError } from "commander";
import { load } from "js-yaml";
import { describe, expect, test } from "vitest";
import { nameFromModelUri } from "../../cli/commands/serve.ts";
import { CliError } from "../../cli/errors.ts";
import { exitCodes } from "../../cli/output/exit-codes.ts";
import { buildProgram } from "../../cli/stackctl.ts";
import { validateObject } from "../../crds/validate.ts";

async function run(...args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => {
    text += c.toString();
  });
  const program = buildProgram(out).configureOutput({ writeErr: () => {}, writeOut: () => {} });
  await program.parseAsync(args, { from: "user" });
  return text;
}

async function exitCodeOf(...args: string[]): Promise<number> {
  try {
    await run(...args);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return exitCodes.usage;
    if (error instanceof CliError) return error.exitCode;
    throw error;
  }
}

const manifest = async (...args: string[]) => {
  const object = load(await run(...args)) as Record<string, unknown>;
  expect(validateObject(object).errors).toEqual([]);
  return object;
};

describe("train submit --dry-run", () => {
  test("the flags of the issue's example", async () => {
    expect(
      await manifest(
        "train",
        "submit",
        "--name",
        "llama",
        "--image",
        "ghcr.io/acme/train:1.0",
        "--nodes",
        "4",
        "--accelerators",
        "8",
        "--min-memory",
        "80",
        "--vendor",
        "nvidia",
        "--vendor",
        "amd",
        "--image-for",
        "amd=ghcr.io/acme/train:1.0-rocm",
        "--dry-run",
        "--",
        "python",
        "train.py",
        "--epochs",
        "3",
      ),
    ).toEqual({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "TrainingJob",
      metadata: { name: "llama" },
      spec: {
        image: "ghcr.io/acme/train:1.0",
        images: { amd: "ghcr.io/acme/train:1.0-rocm" },
        command: ["python", "train.py", "--epochs", "3"],
        nodes: 4,
        accelerators: { count: 8, minMemoryGiB: 80, vendors: ["nvidia", "amd"] },
      },
    });
  });

  test("elastic gangs, environment, checkpoint, deadlines and -n", async () => {
    const m = await manifest(
      "-n",
      "research",
      "train",
      "submit",
      "--name",
      "ft",
      "--image",
      "img:1",
      "--nodes",
      "2-4",
      "--env",
      "A=1",
      "--env",
      "B=x=y",
      "--checkpoint",
      "ckpt:/data",
      "--deadline",
      "2h",
      "--ttl",
      "90s",
      "--priority",
      "10",
      "--cpu",
      "32",
      "--memory",
      "256Gi",
      "--dry-run",
      "--",
      "python",
      "-m",
      "train",
    );
    expect(m.metadata).toEqual({ name: "ft", namespace: "research" });
    expect(m.spec).toMatchObject({
      elastic: { minNodes: 2, maxNodes: 4 },
      env: [
        { name: "A", value: "1" },
        { name: "B", value: "x=y" },
      ],
      checkpoint: { claimName: "ckpt", mountPath: "/data" },
      activeDeadlineSeconds: 7200,
      ttlSecondsAfterFinished: 90,
      priority: 10,
      resources: { cpu: "32", memory: "256Gi" },
      command: ["python", "-m", "train"],
    });
  });

  test("-o json prints the same manifest as JSON", async () => {
    const json = JSON.parse(
      await run("train", "submit", "--name", "j", "--image", "i:1", "--dry-run", "-o", "json", "--", "x"),
    );
    expect(json).toMatchObject({ kind: "TrainingJob", spec: { command: ["x"] } });
  });
});

describe("serve --dry-run", () => {
  test("a name from the model, the default engine image, tensor parallelism", async () => {
    expect(
      await manifest(
        "serve",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        "--replicas",
        "2",
        "--accelerators",
        "2",
        "--min-memory",
        "24",
        "--tensor-parallel",
        "2",
        "--image-for",
        "amd=rocm/vllm:latest",
        "--cache",
        "200Gi",
        "--dry-run",
      ),
    ).toEqual({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "llama-3-1-8b-instruct" },
      spec: {
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
        engine: {
          image: "vllm/vllm-openai:v0.11.0",
          images: { amd: "rocm/vllm:latest" },
          tensorParallelSize: 2,
        },
        accelerators: { count: 2, minMemoryGiB: 24 },
        replicas: 2,
        modelCache: { size: "200Gi" },
      },
    });
  });

  test("--tensor-parallel alone asks for one device per shard", async () => {
    const m = await manifest("serve", "hf://a/b", "--tensor-parallel", "4", "--vendor", "amd", "--dry-run");
    expect(m.spec).toMatchObject({
      engine: { tensorParallelSize: 4 },
      accelerators: { count: 4, vendors: ["amd"] },
    });
  });

  test.for([
    ["hf://Qwen/Qwen2.5-7B@main", "qwen2-5-7b"],
    ["s3://models/llama/8b-instruct", "llama-8b-instruct"],
    ["s3://models", "models"],
    ["pvc://weights/mistral-7b", "mistral-7b"],
    ["http://example.com/model", undefined],
  ] as const)("name from %s", ([uri, name]) => {
    expect(nameFromModelUri(uri)).toBe(name);
  });
});

describe("ray create --dry-run", () => {
  test("worker groups with devices take the device flags, CPU groups none", async () => {
    const m = await manifest(
      "ray",
      "create",
      "research",
      "--workers",
      "gpu=2:1",
      "--workers",
      "tpu=1:4",
      "--workers",
      "cpu=3",
      "--min-memory",
      "16",
      "--vendor",
      "nvidia,google",
      "--head-cpu",
      "4",
      "--dry-run",
    );
    expect(m.spec).toEqual({
      rayVersion: "2.52.0",
      image: "rayproject/ray:2.52.0",
      head: { resources: { cpu: "4" } },
      workerGroups: [
        {
          name: "gpu",
          replicas: 2,
          accelerators: { count: 1, minMemoryGiB: 16, vendors: ["nvidia", "google"] },
        },
        {
          name: "tpu",
          replicas: 1,
          accelerators: { count: 4, minMemoryGiB: 16, vendors: ["nvidia", "google"] },
        },
        { name: "cpu", replicas: 3 },
      ],
    });
  });
});

describe("ray job submit and ray serve deploy --dry-run", () => {
  test("an entrypoint after -- on a cluster of its own, quoted where the shell would need it", async () => {
    const m = await manifest(
      "ray",
      "job",
      "submit",
      "backfill",
      "--workers",
      "gpu=1:1",
      "--vendor",
      "nvidia",
      "--shutdown",
      "--backoff-limit",
      "2",
      "--dry-run",
      "--",
      "python",
      "run.py",
      "--note",
      "two words",
    );
    expect(m.spec).toEqual({
      entrypoint: "python run.py --note 'two words'",
      rayClusterSpec: {
        rayVersion: "2.52.0",
        image: "rayproject/ray:2.52.0",
        workerGroups: [{ name: "gpu", replicas: 1, accelerators: { count: 1, vendors: ["nvidia"] } }],
      },
      shutdownAfterJobFinishes: true,
      backoffLimit: 2,
    });
  });

  test("on a selected cluster, and the Serve config read from its file", async () => {
    const m = await manifest(
      "ray",
      "job",
      "submit",
      "q",
      "--cluster-selector",
      "team=search",
      "--dry-run",
      "--",
      "python",
      "q.py",
    );
    expect(m.spec).toEqual({ entrypoint: "python q.py", clusterSelector: { team: "search" } });
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const file = join(mkdtempSync(join(tmpdir(), "serve-")), "serve.yaml");
    writeFileSync(file, "applications:\n  - name: a\n    import_path: a:app\n");
    const svc = await manifest("ray", "serve", "deploy", "embed", "--config", file, "--dry-run");
    expect(svc.spec).toMatchObject({ serveConfigV2: "applications:\n  - name: a\n    import_path: a:app\n" });
    writeFileSync(file, "applications: [unclosed");
    expect(await exitCodeOf("ray", "serve", "deploy", "embed", "--config", file, "--dry-run")).toBe(
      exitCodes.invalidManifest,
    );
  });
});

describe("bad input: one exit code per class", () => {
  test.for([
    [["train", "submit", "--name", "x", "--dry-run", "--", "python"], exitCodes.usage], // no --image
    [
      ["train", "submit", "--name", "x", "--image", "i", "--nodes", "two", "--dry-run", "--", "p"],
      exitCodes.usage,
    ],
    [
      ["train", "submit", "--name", "x", "--image", "i", "--vendor", "acme", "--dry-run", "--", "p"],
      exitCodes.usage,
    ],
    [["ray", "create", "r", "--workers", "gpu", "--dry-run"], exitCodes.usage],
    [["ray", "create", "r", "--workers", "a=1", "--workers", "a=2", "--dry-run"], exitCodes.usage],
    [["serve", "http://nope", "--dry-run"], exitCodes.usage], // no name can be derived
    [
      ["train", "submit", "--name", "Upper", "--image", "i", "--dry-run", "--", "p"],
      exitCodes.invalidManifest,
    ],
    [["serve", "http://example.com/m", "--name", "m", "--dry-run"], exitCodes.invalidManifest],
    [
      ["serve", "hf://a/b", "--tensor-parallel", "4", "--accelerators", "2", "--dry-run"],
      exitCodes.invalidManifest,
    ],
    [["get", "widgets"], exitCodes.unknownKind],
    [["get", "--bogus"], exitCodes.usage],
  ] as const)("%j -> %i", async ([args, code]) => {
    expect(await exitCodeOf(...args)).toBe(code);
  });

  test("an invalid manifest is reported on one line with every field", async () => {
    const error = await run("serve", "http://x/y", "--name", "Bad", "--dry-run").catch((e: Error) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).not.toContain("\n");
    expect((error as Error).message).toContain("metadata.name");
    expect((error as Error).message).toContain("spec.model.uri");
  });
});
