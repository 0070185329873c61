// The desired children of a service: one Deployment per pool in use, one Service over all of
// them, and the model cache claim when spec.modelCache asks for one. Pure: the reconcile
// applies what these return.
import { createHash } from "node:crypto";
import { type AcceleratorPool, labels } from "../../crds/runtime/index.ts";
import { controllerReference, type KubeObject } from "../../operator/index.ts";
import { parseQuantity, placePod } from "../admission/index.ts";
import type { PodTemplateLike } from "../admission/pod-placement.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import {
  cacheClaimName,
  deploymentName,
  kindLabelValue,
  poolLabels,
  serverLabels,
  serverPort,
  serviceName,
} from "./names.ts";
import { serverPodTemplate, startupBudgetSeconds } from "./pods.ts";
import type { DeploymentStrategy } from "./rollout.ts";
import { devicesPerReplica } from "./sizing.ts";

/** Longer than the startup budget, so a slow model load is not reported as a stuck rollout. */
export const progressDeadlineSeconds = startupBudgetSeconds * 2;

/** A short stable digest of a JSON value (what was last applied, in inference-pool.ts). */
export function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

function childMeta(svc: InferenceServiceObject, name: string, extraLabels: Record<string, string>) {
  return {
    name,
    namespace: svc.metadata.namespace,
    labels: { [labels.kind]: kindLabelValue, [labels.name]: svc.metadata.name ?? "", ...extraLabels },
    ownerReferences: [controllerReference(svc)],
  };
}

/** The server pod on a pool, placed there, and the devices it takes (its tensor-parallel size). */
export function placedServerTemplate(
  svc: InferenceServiceObject,
  pool: AcceleratorPool & KubeObject,
): { template: PodTemplateLike; devices: number } {
  // A pool the automatic shape has no count for is dropped from the admission before this.
  const devices = devicesPerReplica(svc.spec, pool.spec.memoryGiB) ?? 1;
  const template = placePod(serverPodTemplate(svc, pool.metadata.name ?? "", devices), {
    pool,
    devicesPerPod: devices,
    images: svc.spec.engine.images,
  });
  return { template, devices };
}

export function desiredDeployment(
  svc: InferenceServiceObject,
  pool: AcceleratorPool & KubeObject,
  replicas: number,
  strategy: DeploymentStrategy,
): KubeObject {
  const name = svc.metadata.name ?? "";
  const poolName = pool.metadata.name ?? "";
  const { template } = placedServerTemplate(svc, pool);
  const spec = {
    replicas,
    selector: { matchLabels: poolLabels(name, poolName) },
    strategy,
    progressDeadlineSeconds,
    revisionHistoryLimit: 3,
    template,
  };
  const meta = childMeta(svc, deploymentName(name, poolName), {
    [labels.group]: "server",
    [labels.pool]: poolName,
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    // A field the controller stops setting (a secretRef removed, say) is removed by the apply:
    // the runtime's applied-intent hash (operator/apply.ts) notices the changed intent.
    metadata: meta,
    spec,
  };
}

export function desiredService(svc: InferenceServiceObject): KubeObject {
  const name = svc.metadata.name ?? "";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMeta(svc, serviceName(name), {}),
    spec: {
      type: "ClusterIP",
      selector: serverLabels(name),
      ports: [{ name: "http", port: serverPort, targetPort: "http", protocol: "TCP" }],
    },
  };
}

interface ClaimLike extends KubeObject {
  spec?: { storageClassName?: string; resources?: { requests?: { storage?: string } } };
}

/**
 * The shared cache claim, or undefined when spec.modelCache is unset. ReadWriteMany, because
 * replicas on several nodes (and pools) read it at once. A claim's storage class cannot change
 * and its size cannot shrink, so an existing claim's values win over a spec that asks for that.
 */
export function desiredCacheClaim(svc: InferenceServiceObject, existing?: ClaimLike): KubeObject | undefined {
  const cache = svc.spec.modelCache;
  if (!cache) return undefined;
  let size = String(cache.size);
  const current = existing?.spec?.resources?.requests?.storage;
  if (current !== undefined && parseQuantity(current) > parseQuantity(size)) size = current;
  const storageClassName = existing ? existing.spec?.storageClassName : cache.storageClassName;
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: childMeta(svc, cacheClaimName(svc.metadata.name ?? ""), {}),
    spec: {
      accessModes: ["ReadWriteMany"],
      resources: { requests: { storage: size } },
      ...(storageClassName !== undefined ? { storageClassName } : {}),
    },
  };
}
