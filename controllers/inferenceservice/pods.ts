// The model server pod, before placement: placePod (controllers/admission) then adds what the
// pool's vendor needs (image, device resource, node selector, tolerations, runtime class, env).
import type { InferenceService, InferenceServiceSpec } from "../../crds/runtime/index.ts";
import type { ContainerLike, PodTemplateLike } from "../admission/pod-placement.ts";
import { cacheMountPath, cacheVolumeName, modelPlumbing, type VolumeLike } from "./model.ts";
import { cacheClaimName, poolLabels, serverPort } from "./names.ts";

export const serverContainerName = "server";
export const healthPath = "/health";
/**
 * vLLM's /health answers as soon as the engine process lives, not when the model is loaded and
 * it can serve; /v1/models answers only then (llm-d's recommendation). With --api-key the /v1
 * routes want the key, which a probe does not have, so such a server falls back to /health.
 */
export const modelsPath = "/v1/models";

/**
 * Probe timings. The startup probe alone guards the model load (minutes for a large model from
 * a cold cache), so liveness can stay strict once the server is up without killing a pod that
 * is still loading: 180 × 10 s = 30 minutes.
 */
export const probes = {
  startup: { periodSeconds: 10, failureThreshold: 180, timeoutSeconds: 5 },
  readiness: { periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 5 },
  liveness: { periodSeconds: 10, failureThreshold: 6, timeoutSeconds: 5 },
} as const;
export const startupBudgetSeconds = probes.startup.periodSeconds * probes.startup.failureThreshold;

/** vLLM's OpenAI server module: the same entry point in the CUDA, ROCm and TPU builds. */
export const serverCommand = ["python3", "-m", "vllm.entrypoints.openai.api_server"];

/** spec.resources as a container's requests and limits (quantities as strings). */
export function containerResources(
  resources: InferenceServiceSpec["resources"],
): ContainerLike["resources"] | undefined {
  if (!resources || Object.keys(resources).length === 0) return undefined;
  const list = Object.fromEntries(Object.entries(resources).map(([k, v]) => [k, String(v)]));
  return { requests: { ...list }, limits: { ...list } };
}

/**
 * The server's arguments: derived ones first, then engine.args, which may override them. One
 * tensor-parallel shard per device of the replica on its pool (a CPU-only replica has one).
 */
export function serverArgs(
  spec: InferenceServiceSpec,
  serviceName: string,
  modelArgs: string[],
  devices: number,
): string[] {
  const args = [
    ...modelArgs,
    "--served-model-name",
    spec.model.name ?? serviceName,
    "--tensor-parallel-size",
    String(Math.max(1, devices)),
  ];
  if (spec.engine.maxModelLen !== undefined) args.push("--max-model-len", String(spec.engine.maxModelLen));
  args.push("--port", String(serverPort), "--download-dir", cacheMountPath);
  return [...args, ...(spec.engine.args ?? [])];
}

const httpProbe = (
  timing: { periodSeconds: number; failureThreshold: number; timeoutSeconds: number },
  path = healthPath,
) => ({
  httpGet: { path, port: "http" },
  ...timing,
});

/** The readiness path: /v1/models, unless engine.args protect it with --api-key. */
export function readinessPath(spec: Pick<InferenceServiceSpec, "engine">): string {
  const keyed = (spec.engine.args ?? []).some((a) => a === "--api-key" || a.startsWith("--api-key="));
  return keyed ? healthPath : modelsPath;
}

/** The pod template of one pool's Deployment, without the pool's placement. */
export function serverPodTemplate(svc: InferenceService, pool: string, devices: number): PodTemplateLike {
  const name = svc.metadata.name ?? "";
  const spec = svc.spec;
  const resources = containerResources(spec.resources);
  const model = modelPlumbing(spec.model, resources);
  const cacheVolume: VolumeLike = spec.modelCache
    ? { name: cacheVolumeName, persistentVolumeClaim: { claimName: cacheClaimName(name) } }
    : { name: cacheVolumeName, emptyDir: {} };
  // Tensor-parallel workers exchange tensors through shared memory; the container runtime's
  // default 64 MiB /dev/shm is far too small.
  const shm: VolumeLike = { name: "dshm", emptyDir: { medium: "Memory" } };

  // The user's env overrides what the operator derives. Names must stay unique: env is a
  // list keyed by name, and server-side apply refuses duplicate keys.
  const own = (spec.engine.env ?? []) as NonNullable<ContainerLike["env"]>;
  const ownNames = new Set(own.map((e) => e.name));
  const env = [...model.env.filter((e) => !ownNames.has(e.name)), ...own];
  const server: ContainerLike = {
    name: serverContainerName,
    image: spec.engine.image,
    command: serverCommand,
    args: serverArgs(spec, name, model.args, devices),
    ports: [{ name: "http", containerPort: serverPort, protocol: "TCP" }],
    ...(env.length > 0 ? { env } : {}),
    ...(model.envFrom.length > 0 ? { envFrom: model.envFrom } : {}),
    ...(resources ? { resources } : {}),
    volumeMounts: [
      { name: cacheVolumeName, mountPath: cacheMountPath },
      { name: "dshm", mountPath: "/dev/shm" },
      ...model.mounts,
    ],
    startupProbe: httpProbe(probes.startup),
    readinessProbe: httpProbe(probes.readiness, readinessPath(spec)),
    livenessProbe: httpProbe(probes.liveness),
  };
  return {
    metadata: { labels: poolLabels(name, pool) },
    spec: {
      // A namespace with hundreds of Services would otherwise put thousands of variables into
      // every server's environment.
      enableServiceLinks: false,
      ...(model.initContainers.length > 0 ? { initContainers: model.initContainers } : {}),
      containers: [server],
      volumes: [cacheVolume, shm, ...model.volumes],
    },
  };
}
