// InferenceService: a vLLM-style OpenAI-compatible model server, possibly spread over pools of
// different vendors behind one Service.
import { z } from "zod";
import { servingAcceleratorRequirement } from "./accelerators.ts";
import { admissionStatus } from "./admission.ts";
import { autoscalingSpec, autoscalingStatus } from "./autoscaling.ts";
import {
  conditionsField,
  DNS_1035_LABEL,
  envField,
  imageRef,
  observedGenerationField,
  quantity,
  resourcesField,
  secretReference,
  vendorImagesField,
} from "./common.ts";
import { defineKind } from "./kind.ts";
import { listMap, withRules } from "./kit.ts";
import { priorityClassNameField, queueNameField } from "./queueing.ts";
import { MAX_NODES_PER_REPLICA, MODEL_URI_PATTERN, modelUriRegExp } from "./runtime/inferenceservice.ts";
import { inferenceServiceNames } from "./runtime/kinds.ts";

const MAX_REPLICAS = 1000;

const modelUri = withRules(z.string().min(1).max(1024), [
  {
    rule: `self.matches('${MODEL_URI_PATTERN}')`,
    message: "uri must be hf://<org>/<model>[@<revision>], s3://<bucket>[/<path>] or pvc://<claim>[/<path>]",
    holds: (uri) => modelUriRegExp.test(uri),
  },
]);

export const modelDtypes = ["bf16", "fp16", "fp8", "int8", "int4"] as const;

const model = withRules(
  z
    .strictObject({
      uri: modelUri.describe(
        "Where the weights are: hf://<org>/<model>[@<revision>] (Hugging Face; revision is a branch, tag or commit), s3://<bucket>/<path> or pvc://<claim>/<path> (a claim in the service's namespace).",
      ),
      name: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9][-A-Za-z0-9_./:]*$/)
        .describe("Model name clients send in OpenAI requests; default: the service's name.")
        .optional(),
      secretRef: secretReference()
        .describe(
          "Secret with download credentials: HF_TOKEN for hf://; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_ENDPOINT_URL, AWS_REGION for s3://. Its keys become the downloader's environment.",
        )
        .optional(),
      sizeGiB: z
        .number()
        .gt(0)
        .max(100_000)
        .describe(
          "Size of the weights in GiB. With it (or parameters) and no accelerators.count, each pool's replica gets the fewest devices (a power of two) that hold the weights and the KV cache.",
        )
        .optional(),
      parameters: z
        .number()
        .gt(0)
        .max(100_000)
        .describe("Parameters in billions (70 for a 70B model); with dtype, gives sizeGiB. Not with sizeGiB.")
        .optional(),
      dtype: z
        .enum(modelDtypes)
        .describe(
          "Type of the weights, for the size from parameters: bf16 or fp16 (2 bytes), fp8 or int8 (1), int4 (½). Default bf16.",
        )
        .optional(),
      attentionHeads: z
        .int()
        .min(1)
        .max(1024)
        .describe(
          "The model's attention heads: a chosen device count must divide them (tensor parallelism splits the heads).",
        )
        .optional(),
    })
    .describe("The model to serve and where to fetch it from."),
  [
    {
      rule: "!(has(self.sizeGiB) && has(self.parameters))",
      message: "give sizeGiB or parameters, not both",
      fieldPath: ".parameters",
      holds: (m) => !(m.sizeGiB !== undefined && m.parameters !== undefined),
    },
    {
      rule: "!has(self.dtype) || has(self.parameters)",
      message: "dtype goes with parameters (it gives the bytes per parameter)",
      fieldPath: ".dtype",
      holds: (m) => m.dtype === undefined || m.parameters !== undefined,
    },
    {
      rule: "!has(self.secretRef) || !self.uri.startsWith('pvc://')",
      message: "secretRef is not used with pvc:// models",
      fieldPath: ".secretRef",
      holds: (m) => m.secretRef === undefined || !m.uri.startsWith("pvc://"),
    },
  ],
);

const engine = z
  .strictObject({
    image: imageRef().describe(
      "Model server image (vllm/vllm-openai:v0.11.0); see images for per-vendor builds.",
    ),
    images: vendorImagesField("the model server (rocm/vllm for amd, vllm/vllm-tpu for google)"),
    tensorParallelSize: z
      .int()
      .min(1)
      .max(64)
      .describe(
        "Devices one replica shards the model over. accelerators.count must equal it; without accelerators.count each replica gets this many devices. Default: accelerators.count, or with model.sizeGiB or model.parameters the count chosen per pool, else 1. Not with a shape chosen per pool.",
      )
      .optional(),
    pipelineParallelSize: z
      .int()
      .min(1)
      .max(MAX_NODES_PER_REPLICA)
      .describe(
        "Pipeline stages one replica splits the model's layers over, one per node: the replica becomes a group of this many pods on as many nodes of one pool (a leader and workers joined by Ray), tensor parallel within each node. Default: nodesPerReplica, else 1.",
      )
      .optional(),
    kvCacheGiB: z
      .number()
      .gt(0)
      .max(100_000)
      .describe(
        "Device memory to leave per replica for the KV cache, in GiB, when the shape is chosen from the model's size. Default: 2 GiB per 4096 tokens of maxModelLen (32768 when unset), at least 2.",
      )
      .optional(),
    maxModelLen: z
      .int()
      .min(1)
      .max(10000000)
      .describe("Context length in tokens; default: the model's own.")
      .optional(),
    args: z
      .array(z.string().max(1024))
      .max(64)
      .describe(
        "Extra server arguments, appended after the ones the operator derives (--gpu-memory-utilization=0.9).",
      )
      .optional(),
    env: envField("the model server"),
  })
  .describe("The model server: image and engine settings.");

const percentOrCount = () =>
  z.union([
    z.int().min(0).max(MAX_REPLICAS),
    z
      .string()
      .max(4)
      .regex(/^(100|[1-9]?[0-9])%$/),
  ]);

const isZero = (v: number | string) => v === 0 || v === "0%";

const rollout = withRules(
  z
    .strictObject({
      maxSurge: percentOrCount()
        .default(1)
        .describe("Extra replicas allowed during a rollout, as a count or a percentage of replicas."),
      maxUnavailable: percentOrCount()
        .default(0)
        .describe("Replicas that may be unavailable during a rollout, as a count or a percentage."),
    })
    .describe("How replicas are replaced when the spec changes."),
  [
    {
      rule: "!((self.maxSurge == 0 || self.maxSurge == '0%') && (self.maxUnavailable == 0 || self.maxUnavailable == '0%'))",
      message: "maxSurge and maxUnavailable must not both be zero",
      fieldPath: ".maxUnavailable",
      holds: (r) => !(isZero(r.maxSurge) && isZero(r.maxUnavailable)),
    },
  ],
);

const positive = (what: string, max: number) => z.number().gt(0).max(max).describe(what);

const routerLimits = z
  .strictObject({
    requestsPerSecond: positive(
      "Sustained requests per second per tenant (a token bucket's rate).",
      1_000_000,
    ).default(100),
    burst: z
      .int()
      .min(1)
      .max(1_000_000)
      .default(200)
      .describe("Requests a tenant may send at once above its rate (the bucket's size)."),
    maxConcurrency: z
      .int()
      .min(1)
      .max(1_000_000)
      .default(256)
      .describe("Requests of one tenant in flight at the engines at once."),
    maxQueue: z
      .int()
      .min(0)
      .max(1_000_000)
      .default(1024)
      .describe("Requests of one tenant held at the router while it is at its limits; beyond it, 429."),
    maxQueueWaitSeconds: positive(
      "Longest a request waits in the tenant's queue before it gets 429.",
      3600,
    ).default(10),
  })
  .describe("Per-tenant admission at the router: rate, burst, concurrency and a bounded wait queue.");

const router = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe("Put the OpenAI-compatible router in front of the replicas; status.url then points at it."),
    replicas: z.int().min(1).max(64).default(1).describe("Router pods."),
    image: imageRef()
      .describe("Router image; default: the operator's own image (the router ships in the same package).")
      .optional(),
    apiKeysSecret: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
      .describe(
        "Secret in the service's namespace whose keys are tenant names and whose values are that tenant's API keys, one per line; unset: no keys are asked for and every request is tenant default.",
      )
      .optional(),
    limits: routerLimits.prefault({}),
    coldStartWaitSeconds: positive(
      "How long the router holds requests while no replica is ready (a start, or from zero) before answering 503.",
      3600,
    ).default(60),
    resources: resourcesField("router pod"),
  })
  .describe(
    "The OpenAI-compatible router: load- and prefix-aware picking across replicas of every pool, per-tenant limits, 429 with Retry-After instead of silent drops.",
  );

export const inferenceServiceSpec = withRules(
  z
    .strictObject({
      model,
      engine,
      accelerators: servingAcceleratorRequirement.optional(),
      resources: resourcesField("replica"),
      replicas: z
        .int()
        .min(0)
        .max(MAX_REPLICAS)
        .default(1)
        .describe(
          "Model server pods wanted, over all pools; the scale subresource, so kubectl scale and an HPA work. With autoscaling set, only the count to start from.",
        ),
      nodesPerReplica: z
        .int()
        .min(1)
        .max(MAX_NODES_PER_REPLICA)
        .describe(
          "Nodes one replica spans: each replica is a group of this many pods (rank 0 the leader, which serves; the others Ray workers), admitted together onto distinct nodes of one pool and restarted together. accelerators.count (or the shape chosen per pool) is then per pod. Default: engine.pipelineParallelSize, else 1.",
        )
        .optional(),
      modelCache: z
        .strictObject({
          size: quantity().describe("Size of the cache volume (200Gi)."),
          storageClassName: z
            .string()
            .max(253)
            .describe("StorageClass of the cache volume; unset: the cluster default.")
            .optional(),
        })
        .describe(
          "A persistent volume the model is downloaded into once and read by the replicas; unset: each pod downloads into an emptyDir.",
        )
        .optional(),
      rollout: rollout.prefault({}),
      router: router.optional(),
      autoscaling: autoscalingSpec.optional(),
      queueName: queueNameField(),
      priorityClassName: priorityClassNameField(),
    })
    .describe("The model, the engine, the accelerators per replica and how many replicas."),
  [
    {
      // One device per tensor-parallel shard. Without a count the count follows
      // tensorParallelSize (and the other way round); count 0 (CPU only) goes with 1.
      rule: "!has(self.accelerators) || !has(self.accelerators.count) || !has(self.engine.tensorParallelSize) || self.accelerators.count == self.engine.tensorParallelSize || (self.accelerators.count == 0 && self.engine.tensorParallelSize == 1)",
      message:
        "engine.tensorParallelSize must equal accelerators.count (one device per shard; leave accelerators.count out to use tensorParallelSize devices)",
      fieldPath: ".engine.tensorParallelSize",
      holds: (s) =>
        s.accelerators?.count === undefined ||
        s.engine.tensorParallelSize === undefined ||
        s.accelerators.count === s.engine.tensorParallelSize ||
        (s.accelerators.count === 0 && s.engine.tensorParallelSize === 1),
    },
    {
      // The shape chosen per pool sets the tensor-parallel size per Deployment; a fixed one
      // would be silently overridden on some pools, so it is refused instead.
      rule: "!(has(self.model.sizeGiB) || has(self.model.parameters)) || (has(self.accelerators) && has(self.accelerators.count)) || !has(self.engine.tensorParallelSize)",
      message:
        "engine.tensorParallelSize cannot be set when the shape is chosen per pool (model.sizeGiB or model.parameters without accelerators.count): leave it out, or set accelerators.count to fix the shape on every pool",
      fieldPath: ".engine.tensorParallelSize",
      holds: (s) =>
        (s.model.sizeGiB === undefined && s.model.parameters === undefined) ||
        s.accelerators?.count !== undefined ||
        s.engine.tensorParallelSize === undefined,
    },
    {
      // One pipeline stage per node: two different numbers would leave nodes idle or stages
      // without a node.
      rule: "!has(self.nodesPerReplica) || !has(self.engine.pipelineParallelSize) || self.nodesPerReplica == self.engine.pipelineParallelSize",
      message:
        "engine.pipelineParallelSize must equal nodesPerReplica (one pipeline stage per node); give one of them",
      fieldPath: ".engine.pipelineParallelSize",
      holds: (s) =>
        s.nodesPerReplica === undefined ||
        s.engine.pipelineParallelSize === undefined ||
        s.nodesPerReplica === s.engine.pipelineParallelSize,
    },
    {
      // A CPU-only replica has no devices to shard over nodes.
      rule: "!(has(self.nodesPerReplica) && self.nodesPerReplica > 1 || has(self.engine.pipelineParallelSize) && self.engine.pipelineParallelSize > 1) || !has(self.accelerators) || !has(self.accelerators.count) || self.accelerators.count > 0",
      message:
        "a replica spanning nodes needs accelerators: accelerators.count 0 (CPU only) cannot span nodes",
      fieldPath: ".accelerators.count",
      holds: (s) =>
        Math.max(s.nodesPerReplica ?? 1, s.engine.pipelineParallelSize ?? 1) <= 1 ||
        s.accelerators?.count !== 0,
    },
    {
      rule: "!has(self.autoscaling) || self.autoscaling.minReplicas > 0 || (has(self.router) && self.router.enabled)",
      message:
        "autoscaling.minReplicas 0 needs router.enabled: true (the router holds requests while the first replica starts)",
      fieldPath: ".autoscaling.minReplicas",
      holds: (s) =>
        s.autoscaling === undefined || s.autoscaling.minReplicas > 0 || s.router?.enabled === true,
    },
  ],
);
export type InferenceServiceSpec = z.output<typeof inferenceServiceSpec>;

export const inferenceServicePhases = ["Pending", "Loading", "Ready", "Degraded"] as const;
export type InferenceServicePhase = (typeof inferenceServicePhases)[number];

const count = (what: string) => z.int().min(0).describe(what).optional();

export const inferenceServiceStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    phase: z.enum(inferenceServicePhases).describe("Pending, Loading, Ready or Degraded.").optional(),
    replicas: count("Model server pods that exist, over all pools (the scale subresource reads it)."),
    readyReplicas: count("Model server pods that are ready."),
    selector: z
      .string()
      .max(1024)
      .describe("Label selector of the pods, in string form, for the scale subresource and HPAs.")
      .optional(),
    url: z
      .string()
      .max(512)
      .describe(
        "OpenAI-compatible base URL: the router's (http://<name>-router.<namespace>.svc:8000/v1) when it is enabled, else the engines' Service (http://<name>.<namespace>.svc:8000/v1).",
      )
      .optional(),
    placements: listMap(
      z
        .strictObject({
          pool: z.string().max(253).describe("The AcceleratorPool."),
          replicas: count("Replicas placed on the pool."),
          devicesPerReplica: count(
            "Devices each replica on the pool takes, over all its nodes (tensor-parallel size × nodes per replica).",
          ),
          nodesPerReplica: count("Nodes (pods) each replica spans, when more than one."),
          readyReplicas: count("Ready replicas on the pool."),
        })
        .describe("Replicas on one pool."),
      "pool",
      32,
    )
      .describe("Where the replicas run: one entry per pool in use; a service may span vendors.")
      .optional(),
    queuePosition: z
      .int()
      .min(1)
      .describe("Place in the admission queue, 1 first; only while waiting.")
      .optional(),
    admission: admissionStatus.optional(),
    router: z
      .strictObject({
        replicas: count("Router pods that exist."),
        readyReplicas: count("Router pods that are ready."),
      })
      .describe("The router's pods, while spec.router.enabled.")
      .optional(),
    desiredReplicas: count(
      "Replicas the service should have: the autoscaler's last decision with spec.autoscaling, else spec.replicas.",
    ),
    autoscaling: autoscalingStatus.optional(),
    conditions: conditionsField(["Admitted", "Ready", "RouterReady", "ScalingLimited"]),
  })
  .describe("What the operator last observed about the service.");
export type InferenceServiceStatus = z.output<typeof inferenceServiceStatus>;

export const inferenceServiceResource = defineKind({
  ...inferenceServiceNames,
  description:
    "InferenceService serves a model through a vLLM-style OpenAI-compatible server: one Deployment per AcceleratorPool in use, each with its vendor's image, behind one Service on port 8000.",
  name: {
    maxLength: 45,
    pattern: DNS_1035_LABEL,
    why: "the name is a Service name and the prefix of one Deployment per pool",
  },
  spec: inferenceServiceSpec,
  status: inferenceServiceStatus,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas", description: "Ready replicas." },
    { name: "Replicas", type: "integer", jsonPath: ".status.replicas", description: "Replicas that exist." },
    { name: "URL", type: "string", jsonPath: ".status.url", description: "OpenAI base URL.", priority: 1 },
    {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
      description: "Time since creation.",
    },
  ],
  scale: {
    specReplicasPath: ".spec.replicas",
    statusReplicasPath: ".status.replicas",
    labelSelectorPath: ".status.selector",
  },
});
export type InferenceService = z.output<typeof inferenceServiceResource.schema>;

export * from "./runtime/inferenceservice.ts";
