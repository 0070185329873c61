// The InferenceService controller: a vLLM-style model server as one Deployment per
// AcceleratorPool in use (each with its vendor's image and device resource) behind one Service,
// admitted replica by replica through the shared admitter. See README.md for the design.
import { labels } from "../../crds/runtime/index.ts";
import { type ControllerFactory, fieldManagerFor, type KubeObject } from "../../operator/index.ts";
import type { AdmitterApi } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import { inferenceServiceAdapter } from "./adapter.ts";
import { AutoscalerLoop } from "./autoscaling/index.ts";
import { OwnDeletions } from "./group-sync.ts";
import { InferencePoolPublisher } from "./inference-pool.ts";
import { kindLabelValue } from "./names.ts";
import { reconcileInferenceService } from "./reconcile.ts";
import { defaultRouterImage } from "./router.ts";
import { SecretCheck } from "./secret.ts";

export interface InferenceServiceControllerOptions {
  /** How soon a service waiting for a missing Secret looks again; default 30 s. */
  secretRecheckMs?: number;
  /** The router pods' image; default $RELATED_IMAGE_ROUTER (the chart sets the operator's own). */
  routerImage?: string;
  workers?: number;
}

export function inferenceServiceControllerWith(
  admitter: AdmitterApi,
  options: InferenceServiceControllerOptions = {},
): ControllerFactory {
  return (ctx) => {
    const rt = resourceTypes.inferenceService;
    admitter.register(inferenceServiceAdapter(rt, ctx.enqueue));
    const secrets = new SecretCheck(ctx.client);
    const secretRecheckMs = options.secretRecheckMs ?? 30_000;
    const routerImage = options.routerImage ?? process.env.RELATED_IMAGE_ROUTER ?? defaultRouterImage;
    const inferencePools = new InferencePoolPublisher(ctx.client, fieldManagerFor("inferenceservice"));
    const autoscaler = new AutoscalerLoop();
    const ownDeletions = new OwnDeletions();
    // Pods are cached for every namespace already (the admitter counts them all); only ours
    // of a service this operator reconciles map to a key.
    const serviceOfPod = (pod: KubeObject): string[] => {
      const l = pod.metadata.labels;
      if (l?.[labels.kind] !== kindLabelValue || !l[labels.name] || !pod.metadata.namespace) return [];
      const key = `${pod.metadata.namespace}/${l[labels.name]}`;
      return ctx.cache.get(rt, key) ? [key] : [];
    };
    return {
      name: "inferenceservice",
      for: rt,
      owns: [
        resourceTypes.deployment,
        resourceTypes.service,
        resourceTypes.persistentVolumeClaim,
        resourceTypes.serviceAccount,
        resourceTypes.role,
        resourceTypes.roleBinding,
      ],
      watches: [{ resource: resourceTypes.pod, map: serviceOfPod }],
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      reconcile: (_key, rctx) =>
        reconcileInferenceService(rctx, {
          rt,
          admitter,
          secrets,
          secretRecheckMs,
          routerImage,
          inferencePools,
          autoscaler,
          ownDeletions,
        }),
    };
  };
}

export const inferenceServiceController = (admitter: AdmitterApi): ControllerFactory =>
  inferenceServiceControllerWith(admitter);
