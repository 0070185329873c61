// The children of a service: one Deployment per pool with that vendor's image, device resource
// and placement; one Service over every pool; the shared model cache claim.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  desiredCacheClaim,
  desiredDeployment,
  desiredService,
  progressDeadlineSeconds,
} from "../../controllers/inferenceservice/children.ts";
import { selectorString, serviceUrl } from "../../controllers/inferenceservice/names.ts";
import { startupBudgetSeconds } from "../../controllers/inferenceservice/pods.ts";
import type { DeploymentStrategy } from "../../controllers/inferenceservice/rollout.ts";
import { type AcceleratorPool, acceleratorPoolResource, inferenceServiceResource } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";

const samplePool = (file: string) =>
  acceleratorPoolResource.schema.parse(
    load(readFileSync(new URL(`../../samples/${file}`, import.meta.url), "utf8")),
  ) as AcceleratorPool & KubeObject;
const h100 = samplePool("acceleratorpool-h100.yaml");
const mi300x = samplePool("acceleratorpool-mi300x.yaml");
const tpu = samplePool("acceleratorpool-tpu-v5e.yaml");

function svc(spec: Record<string, unknown> = {}): InferenceServiceObject {
  return inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1", generation: 1 },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      engine: {
        image: "vllm/vllm-openai:v0.11.0",
        images: { amd: "rocm/vllm:rocm6.4.1", google: "vllm/vllm-tpu:nightly" },
      },
      accelerators: { count: 1, minMemoryGiB: 24 },
      resources: { cpu: "8", memory: "32Gi" },
      ...spec,
    },
  }) as InferenceServiceObject;
}

const strategy: DeploymentStrategy = {
  type: "RollingUpdate",
  rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
};

interface Dep {
  metadata: KubeObject["metadata"];
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    strategy: DeploymentStrategy;
    progressDeadlineSeconds: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: {
          image: string;
          env?: { name: string; value?: string }[];
          resources: { requests: Record<string, string>; limits: Record<string, string> };
        }[];
        nodeSelector: Record<string, string>;
        tolerations?: unknown[];
        runtimeClassName?: string;
        affinity?: unknown;
      };
    };
  };
}
const deployment = (s: InferenceServiceObject, pool: AcceleratorPool & KubeObject, replicas = 2) =>
  desiredDeployment(s, pool, replicas, strategy) as unknown as Dep;

describe("one Deployment per pool", () => {
  it.each([
    [h100, "llama-h100", "vllm/vllm-openai:v0.11.0", "nvidia.com/gpu", "NVIDIA_DRIVER_CAPABILITIES"],
    [mi300x, "llama-mi300x", "rocm/vllm:rocm6.4.1", "amd.com/gpu", "HSA_FORCE_FINE_GRAIN_PCIE"],
    [tpu, "llama-tpu-v5e", "vllm/vllm-tpu:nightly", "google.com/tpu", "PJRT_DEVICE"],
  ])("%#: %s with the vendor's image, resource and environment", (pool, name, image, resource, envName) => {
    const d = deployment(svc(), pool);
    expect(d.metadata.name).toBe(name);
    const main = d.spec.template.spec.containers[0];
    expect(main?.image).toBe(image);
    expect(main?.resources.limits).toEqual({ cpu: "8", memory: "32Gi", [resource]: "1" });
    expect(main?.resources.requests[resource]).toBe("1");
    expect(main?.env?.some((e) => e.name === envName)).toBe(true);
    expect(d.spec.template.spec.nodeSelector).toEqual({ "sovereign.dev/pool": pool.metadata.name });
  });

  it("without a per-vendor image the main image is used", () => {
    const s = svc({ engine: { image: "vllm/vllm-openai:v0.11.0" } });
    expect(deployment(s, mi300x).spec.template.spec.containers[0]?.image).toBe("vllm/vllm-openai:v0.11.0");
  });

  it("carries the pool's tolerations and runtime class, and no per-node pin", () => {
    const d = deployment(svc(), h100);
    expect(d.spec.template.spec.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(d.spec.template.spec.affinity).toBeUndefined();
  });

  it("devices per replica follow the tensor-parallel size", () => {
    const s = svc({ accelerators: undefined, engine: { image: "i", tensorParallelSize: 4 } });
    expect(deployment(s, h100).spec.template.spec.containers[0]?.resources.limits["nvidia.com/gpu"]).toBe(
      "4",
    );
  });

  it("labels, selector, replicas, strategy, progress deadline and owner", () => {
    const d = deployment(svc(), mi300x, 3);
    const podLabels = {
      "stack.sovereign.dev/kind": "inferenceservice",
      "stack.sovereign.dev/name": "llama",
      "stack.sovereign.dev/group": "server",
      "stack.sovereign.dev/pool": "mi300x",
    };
    expect(d.spec.selector.matchLabels).toEqual(podLabels);
    expect(d.spec.template.metadata.labels).toEqual(podLabels);
    expect(d.metadata.labels).toEqual(podLabels);
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.strategy).toEqual(strategy);
    expect(d.spec.progressDeadlineSeconds).toBe(progressDeadlineSeconds);
    expect(progressDeadlineSeconds).toBeGreaterThan(startupBudgetSeconds);
    expect(d.metadata.ownerReferences).toEqual([
      {
        apiVersion: "stack.sovereign.dev/v1alpha1",
        kind: "InferenceService",
        name: "llama",
        uid: "u1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });
});

describe("the Service", () => {
  it("selects every server pod of the service on port 8000, whatever the pool", () => {
    const s = desiredService(svc()) as unknown as {
      metadata: { name: string };
      spec: Record<string, unknown>;
    };
    expect(s.metadata.name).toBe("llama");
    expect(s.spec).toEqual({
      type: "ClusterIP",
      selector: {
        "stack.sovereign.dev/kind": "inferenceservice",
        "stack.sovereign.dev/name": "llama",
        "stack.sovereign.dev/group": "server",
      },
      ports: [{ name: "http", port: 8000, targetPort: "http", protocol: "TCP" }],
    });
    // Every Deployment's pods match it.
    for (const pool of [h100, mi300x]) {
      const labels = deployment(svc(), pool).spec.template.metadata.labels;
      for (const [k, v] of Object.entries(s.spec.selector as Record<string, string>))
        expect(labels[k]).toBe(v);
    }
  });

  it("names the URL and the scale selector", () => {
    expect(serviceUrl("llama", "ml")).toBe("http://llama.ml.svc:8000/v1");
    expect(selectorString("llama")).toBe(
      "stack.sovereign.dev/kind=inferenceservice,stack.sovereign.dev/name=llama,stack.sovereign.dev/group=server",
    );
  });
});

describe("the model cache claim", () => {
  it("is absent without spec.modelCache", () => {
    expect(desiredCacheClaim(svc())).toBeUndefined();
  });

  it("is a ReadWriteMany claim of the asked size and class, owned by the service", () => {
    const c = desiredCacheClaim(svc({ modelCache: { size: "200Gi", storageClassName: "fast" } }));
    expect(c).toMatchObject({
      metadata: {
        name: "llama-model-cache",
        namespace: "ml",
        ownerReferences: [{ uid: "u1", controller: true }],
      },
      spec: {
        accessModes: ["ReadWriteMany"],
        resources: { requests: { storage: "200Gi" } },
        storageClassName: "fast",
      },
    });
  });

  it("keeps an existing claim's class and never shrinks it", () => {
    const existing = {
      metadata: { name: "llama-model-cache" },
      spec: { storageClassName: "standard", resources: { requests: { storage: "300Gi" } } },
    };
    const c = desiredCacheClaim(svc({ modelCache: { size: "200Gi", storageClassName: "fast" } }), existing);
    expect(c?.spec).toEqual({
      accessModes: ["ReadWriteMany"],
      resources: { requests: { storage: "300Gi" } },
      storageClassName: "standard",
    });
    const grown = desiredCacheClaim(svc({ modelCache: { size: "1Ti" } }), existing);
    expect(grown?.spec).toMatchObject({ resources: { requests: { storage: "1Ti" } } });
  });
});
