// A replica's size from the model: weights (model.sizeGiB, or parameters × bytes per parameter)
// plus the KV cache, over the share of device memory the engine may use. With it and no fixed
// count, the placement engine gives each pool its own device count (placement/replica-shape.ts).
import type { InferenceServiceSpec } from "../../crds/runtime/index.ts";
import { type ReplicaShape, shapeOnDevices } from "../placement/index.ts";

const GiB = 2 ** 30;

export const bytesPerParameter = { bf16: 2, fp16: 2, fp8: 1, int8: 1, int4: 0.5 } as const;

/**
 * The share of device memory that holds weights and KV cache; the rest is headroom for
 * activations, CUDA/HIP graphs and the runtime. vLLM's own default --gpu-memory-utilization.
 */
export const usableMemoryFraction = 0.9;

/** KV cache default: 2 GiB per 4096 tokens of context, the context 32768 tokens when unset. */
export const kvGiBPer4096Tokens = 2;
export const defaultContextTokens = 32_768;
export const minKvCacheGiB = 2;

type SizingSpec = Pick<InferenceServiceSpec, "model" | "engine" | "accelerators"> &
  Partial<Pick<InferenceServiceSpec, "nodesPerReplica">>;

/**
 * Nodes (pods) one replica spans: nodesPerReplica, else engine.pipelineParallelSize, else 1. One
 * pipeline stage per node, tensor parallel within it, as vLLM's multi-node serving runs.
 */
export function nodesPerReplica(spec: SizingSpec): number {
  return Math.max(1, spec.nodesPerReplica ?? spec.engine.pipelineParallelSize ?? 1);
}

/** The weights in GiB, or undefined when the spec gives no size. */
export function weightsGiB(model: InferenceServiceSpec["model"]): number | undefined {
  if (model.sizeGiB !== undefined) return model.sizeGiB;
  if (model.parameters === undefined) return undefined;
  return (model.parameters * 1e9 * bytesPerParameter[model.dtype ?? "bf16"]) / GiB;
}

export function kvCacheGiB(engine: InferenceServiceSpec["engine"]): number {
  if (engine.kvCacheGiB !== undefined) return engine.kvCacheGiB;
  const tokens = engine.maxModelLen ?? defaultContextTokens;
  return Math.max(minKvCacheGiB, (kvGiBPer4096Tokens * tokens) / 4096);
}

/**
 * The automatic shape, when the spec asks for one: a size and no fixed device count. Its memory
 * is per pod: a replica spanning nodes divides it over them.
 */
export function replicaShapeOf(spec: SizingSpec): ReplicaShape | undefined {
  const weights = weightsGiB(spec.model);
  if (weights === undefined || spec.accelerators?.count !== undefined) return undefined;
  // The API refuses a tensorParallelSize with an automatic shape; a stored object that predates
  // the rule keeps its fixed shape rather than having it silently replaced.
  if (spec.engine.tensorParallelSize !== undefined) return undefined;
  // A replica spanning nodes holds an equal share of the layers (and their cache) on each.
  const memoryGiB = (weights + kvCacheGiB(spec.engine)) / usableMemoryFraction / nodesPerReplica(spec);
  return { memoryGiB, ...(spec.model.attentionHeads ? { attentionHeads: spec.model.attentionHeads } : {}) };
}

/**
 * Devices per pod (per node of a replica spanning nodes; the whole replica otherwise) on a pool with devices of `poolMemoryGiB`: accelerators.count, else the
 * automatic shape on that pool, else engine.tensorParallelSize, else 1. Undefined when the
 * automatic shape has no count on the pool (the engine never places replicas there).
 */
export function devicesPerReplica(spec: SizingSpec, poolMemoryGiB?: number): number | undefined {
  const shape = replicaShapeOf(spec);
  if (!shape) return spec.accelerators?.count ?? spec.engine.tensorParallelSize ?? 1;
  const verdict = shapeOnDevices(poolMemoryGiB ?? 0, shape);
  return "devices" in verdict ? verdict.devices : undefined;
}
