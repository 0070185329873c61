// stackctl serve MODEL_URI: an InferenceService (vLLM, OpenAI-compatible) from flags, e.g.
//   stackctl serve hf://meta-llama/Llama-3.1-8B-Instruct --replicas 2 --accelerators 1 --min-memory 24
import type { Command } from "commander";
import { inferenceServiceResource, parseModelUri } from "../../crds/index.ts";
import {
  type AcceleratorFlags,
  acceleratorsFrom,
  addAcceleratorOptions,
  addImageOptions,
  addResourceOptions,
  addSubmitOptions,
  compact,
  type ImageFlags,
  integer,
  keyValue,
  type ResourceFlags,
  resourcesFrom,
  type SubmitFlags,
} from "../kube/manifest-flags.ts";
import { manifestOf, submit } from "../kube/submit.ts";
import { fail } from "../output/exit-codes.ts";

export const DEFAULT_ENGINE_IMAGE = "vllm/vllm-openai:v0.11.0";
const NAME_MAX_LENGTH = 45;

interface ServeFlags extends AcceleratorFlags, ImageFlags, ResourceFlags, SubmitFlags {
  name?: string;
  modelName?: string;
  replicas?: number;
  tensorParallel?: number;
  maxModelLen?: number;
  arg?: string[];
  env?: Record<string, string>;
  secret?: string;
  cache?: string;
  cacheClass?: string;
}

/**
 * A service name from the model's last path segment (hf://meta-llama/Llama-3.1-8B -> llama-3-1-8b),
 * with the segment before it when the last one starts with a digit (s3://m/llama/8b -> llama-8b).
 */
export function nameFromModelUri(uri: string): string | undefined {
  const parsed = parseModelUri(uri);
  if (!parsed) return undefined;
  const source =
    parsed.scheme === "hf"
      ? parsed.repo
      : parsed.scheme === "s3"
        ? `${parsed.bucket}/${parsed.path}`
        : `${parsed.claim}/${parsed.path}`;
  const segments = source
    .split("/")
    .map((x) =>
      x
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, ""),
    )
    .filter(Boolean);
  let name = segments.pop() ?? "";
  if (!/^[a-z]/.test(name) && segments.length > 0) name = `${segments.pop()}-${name}`;
  name = name
    .replace(/^[^a-z]+/, "")
    .slice(0, NAME_MAX_LENGTH)
    .replace(/-+$/, "");
  return name || undefined;
}

export function inferenceServiceSpec(uri: string, flags: ServeFlags): Record<string, unknown> {
  const cache = flags.cache ? compact({ size: flags.cache, storageClassName: flags.cacheClass }) : undefined;
  if (flags.cacheClass && !flags.cache) throw fail("usage", "--cache-class needs --cache SIZE");
  return compact({
    model: compact({
      uri,
      name: flags.modelName,
      secretRef: flags.secret ? { name: flags.secret } : undefined,
    }),
    engine: compact({
      image: flags.image ?? DEFAULT_ENGINE_IMAGE,
      images: flags.imageFor,
      tensorParallelSize: flags.tensorParallel,
      maxModelLen: flags.maxModelLen,
      args: flags.arg,
      env: flags.env && Object.entries(flags.env).map(([name, value]) => ({ name, value })),
    }),
    // One device per shard unless told otherwise: the API requires count == tensorParallelSize.
    accelerators: acceleratorsFrom(flags, flags.tensorParallel),
    resources: resourcesFrom(flags),
    replicas: flags.replicas,
    modelCache: cache,
  });
}

export function registerServe(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  const serve = program
    .command("serve")
    .description("serve a model behind an OpenAI-compatible endpoint (InferenceService)")
    .argument("<model-uri>", "hf://ORG/MODEL[@REVISION], s3://BUCKET/PATH or pvc://CLAIM/PATH")
    .option("--name <name>", "name of the InferenceService (default: from the model)")
    .option("--model-name <name>", "model name clients send (default: the service name)")
    .option("--replicas <n>", "model server replicas, over all pools", integer(0, 1000))
    .option("--tensor-parallel <n>", "devices one replica shards the model over", integer(1, 64))
    .option("--max-model-len <tokens>", "context length", integer(1, 10_000_000))
    .option("--arg <arg>", "extra model server argument, repeatable", (v: string, p: string[] = []) => [
      ...p,
      v,
    ])
    .option("--env <name=value>", "environment variable, repeatable", keyValue("NAME=VALUE"))
    .option("--secret <name>", "Secret with download credentials (HF_TOKEN, AWS_*)")
    .option("--cache <size>", "download the model once into a volume of this size (200Gi)")
    .option("--cache-class <storage-class>", "StorageClass of the cache volume");
  addImageOptions(serve, "model server", { fallback: DEFAULT_ENGINE_IMAGE });
  addAcceleratorOptions(serve, "replica");
  addResourceOptions(serve, "replica");
  addSubmitOptions(serve, "the service is Ready");
  serve.action(async (uri: string, flags: ServeFlags, cmd: Command) => {
    const name = flags.name ?? nameFromModelUri(uri);
    if (!name) throw fail("usage", `cannot derive a name from ${uri}; pass --name`);
    await submit(
      cmd,
      inferenceServiceResource,
      (namespace) => manifestOf(inferenceServiceResource, name, inferenceServiceSpec(uri, flags), namespace),
      flags,
      out,
    );
  });
}
