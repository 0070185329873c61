// Where the weights come from, as pod fields. Each scheme needs different plumbing:
//   hf://org/model[@rev]  the server downloads them itself (into the cache volume); a token,
//                         if any, reaches it as environment from the Secret.
//   s3://bucket/path      an init container syncs the prefix into the cache volume before the
//                         server starts; credentials reach only that container.
//   pvc://claim/path      the claim is mounted read-only and the server loads from it.
import { posix } from "node:path";
import { type InferenceServiceSpec, parseModelUri } from "../../crds/runtime/index.ts";
import type { ContainerLike } from "../admission/pod-placement.ts";

/** Where the cache volume (PVC or emptyDir) is mounted; vLLM's --download-dir. */
export const cacheMountPath = "/models";
export const cacheVolumeName = "model-cache";
export const sourceVolumeName = "model-source";
export const sourceMountPath = "/model-source";
export const downloaderContainerName = "model-download";
/** An image with the AWS CLI v2, which reads AWS_ENDPOINT_URL (S3-compatible stores) itself. */
export const downloaderImage = "amazon/aws-cli:2.27.50";
/** Written after a complete sync, so replicas sharing a cache skip the download. */
export const completeMarker = ".sovereign-complete";

// Paths reach the script through the environment, never through the script text, so no
// character in a bucket path can change what the shell runs.
export const downloadScript = [
  "set -eu",
  `if [ -f "$MODEL_DIR/${completeMarker}" ]; then echo "model already in the cache: $MODEL_DIR"; exit 0; fi`,
  'mkdir -p "$MODEL_DIR"',
  'aws s3 sync --only-show-errors --no-progress "$MODEL_SOURCE" "$MODEL_DIR"',
  `touch "$MODEL_DIR/${completeMarker}"`,
].join("\n");

export interface VolumeLike {
  name: string;
  [field: string]: unknown;
}
export interface VolumeMountLike {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
export interface EnvFromLike {
  secretRef: { name: string };
}

export interface ModelPlumbing {
  /** Arguments naming the weights: --model and, for a Hugging Face revision, --revision. */
  args: string[];
  /** Volumes beyond the cache volume. */
  volumes: VolumeLike[];
  /** Mounts of the server container beyond the cache mount. */
  mounts: VolumeMountLike[];
  initContainers: ContainerLike[];
  /** Environment of the server container. */
  env: { name: string; value: string }[];
  envFrom: EnvFromLike[];
}

export class InvalidModelUri extends Error {}

/** Joins a path from the URI under a mount point; `..` never climbs above the mount. */
export function underMount(mount: string, path: string): string {
  const inside = posix.normalize(`/${path}`).replace(/\/+$/, "");
  return inside === "" || inside === "/" ? mount : `${mount}${inside}`;
}

/**
 * The plumbing for spec.model. `resources` are the server container's CPU and memory: the
 * downloader gets the same, which costs nothing (a pod's request is the larger of its init
 * containers' and the sum of its containers') and lets the download use the whole slot.
 */
export function modelPlumbing(
  model: InferenceServiceSpec["model"],
  resources: ContainerLike["resources"],
): ModelPlumbing {
  const source = parseModelUri(model.uri);
  if (!source) throw new InvalidModelUri(`spec.model.uri ${JSON.stringify(model.uri)} is not a model URI`);
  const envFrom: EnvFromLike[] = model.secretRef ? [{ secretRef: { name: model.secretRef.name } }] : [];
  const cacheMount: VolumeMountLike = { name: cacheVolumeName, mountPath: cacheMountPath };

  switch (source.scheme) {
    case "hf": {
      const args = ["--model", source.repo];
      // The tokenizer lives in the same repository; pinning one without the other would mix
      // revisions.
      if (source.revision) args.push("--revision", source.revision, "--tokenizer-revision", source.revision);
      return {
        args,
        volumes: [],
        mounts: [],
        initContainers: [],
        // Tokenizer files and hub metadata go to the cache too, not to the container's disk.
        env: [{ name: "HF_HOME", value: `${cacheMountPath}/.hf` }],
        envFrom,
      };
    }
    case "s3": {
      const dir = underMount(`${cacheMountPath}/s3/${source.bucket}`, source.path);
      const prefix = source.path.replace(/\/+$/, "");
      const downloader: ContainerLike = {
        name: downloaderContainerName,
        image: downloaderImage,
        command: ["/bin/sh", "-c", downloadScript],
        env: [
          {
            name: "MODEL_SOURCE",
            value: prefix ? `s3://${source.bucket}/${prefix}` : `s3://${source.bucket}`,
          },
          { name: "MODEL_DIR", value: dir },
        ],
        ...(envFrom.length > 0 ? { envFrom } : {}),
        ...(resources ? { resources } : {}),
        volumeMounts: [cacheMount],
      };
      return {
        args: ["--model", dir],
        volumes: [],
        mounts: [],
        initContainers: [downloader],
        env: [],
        envFrom: [],
      };
    }
    case "pvc":
      return {
        args: ["--model", underMount(sourceMountPath, source.path)],
        volumes: [
          { name: sourceVolumeName, persistentVolumeClaim: { claimName: source.claim, readOnly: true } },
        ],
        mounts: [{ name: sourceVolumeName, mountPath: sourceMountPath, readOnly: true }],
        initContainers: [],
        env: [],
        envFrom: [],
      };
  }
}
