// Model sources and the model server container: each scheme renders the right volumes, init
// containers, environment and arguments.
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  cacheMountPath,
  downloaderImage,
  downloadScript,
  modelPlumbing,
  underMount,
} from "../../controllers/inferenceservice/model.ts";
import {
  containerResources,
  serverArgs,
  serverCommand,
  serverPodTemplate,
  startupBudgetSeconds,
} from "../../controllers/inferenceservice/pods.ts";
import { devicesPerReplica } from "../../controllers/inferenceservice/sizing.ts";
import { inferenceServiceResource } from "../../crds/index.ts";

function svc(
  spec: Record<string, unknown> = {},
  model: Record<string, unknown> = {},
): InferenceServiceObject {
  return inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1", generation: 1 },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", ...model },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      ...spec,
    },
  }) as InferenceServiceObject;
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: unknown[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: unknown;
  startupProbe?: { httpGet: { path: string; port: string }; periodSeconds: number; failureThreshold: number };
  readinessProbe?: { httpGet: { path: string } };
  livenessProbe?: { httpGet: { path: string } };
  ports?: unknown[];
}
const podSpec = (s: InferenceServiceObject) =>
  serverPodTemplate(s, "h100", devicesPerReplica(s.spec, 80) ?? 1).spec as unknown as {
    containers: Container[];
    initContainers?: Container[];
    volumes: { name: string; [k: string]: unknown }[];
    enableServiceLinks: boolean;
  };
const argValue = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};

describe("model sources", () => {
  it.each([
    [
      "hf without revision",
      { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      ["--model", "meta-llama/Llama-3.1-8B-Instruct"],
    ],
    [
      "hf with a revision pins model and tokenizer",
      { uri: "hf://Qwen/Qwen2.5-7B@a1b2c3" },
      ["--model", "Qwen/Qwen2.5-7B", "--revision", "a1b2c3", "--tokenizer-revision", "a1b2c3"],
    ],
    ["s3 prefix", { uri: "s3://models/llama/8b/" }, ["--model", "/models/s3/models/llama/8b"]],
    ["s3 bucket only", { uri: "s3://models" }, ["--model", "/models/s3/models"]],
    ["pvc with a path", { uri: "pvc://weights/llama/8b" }, ["--model", "/model-source/llama/8b"]],
    ["pvc root", { uri: "pvc://weights" }, ["--model", "/model-source"]],
  ])("%s", (_, model, args) => {
    expect(modelPlumbing(model, undefined).args).toEqual(args);
  });

  it("hf: the server downloads itself; a token Secret becomes its environment, the hub cache is on the volume", () => {
    const spec = podSpec(svc({}, { secretRef: { name: "hf-token" } }));
    expect(spec.initContainers).toBeUndefined();
    const server = spec.containers[0] as Container;
    expect(server.envFrom).toEqual([{ secretRef: { name: "hf-token" } }]);
    expect(server.env).toContainEqual({ name: "HF_HOME", value: `${cacheMountPath}/.hf` });
    expect(spec.volumes.map((v) => v.name)).toEqual(["model-cache", "dshm"]);
  });

  it("hf without a Secret has no envFrom", () => {
    expect((podSpec(svc()).containers[0] as Container).envFrom).toBeUndefined();
  });

  it("s3: an init container syncs into the cache with the credentials; the server gets none", () => {
    const spec = podSpec(
      svc(
        { resources: { cpu: "8", memory: "32Gi" } },
        { uri: "s3://models/llama/8b", secretRef: { name: "aws" } },
      ),
    );
    const [init] = spec.initContainers ?? [];
    expect(init).toMatchObject({
      name: "model-download",
      image: downloaderImage,
      command: ["/bin/sh", "-c", downloadScript],
      env: [
        { name: "MODEL_SOURCE", value: "s3://models/llama/8b" },
        { name: "MODEL_DIR", value: "/models/s3/models/llama/8b" },
      ],
      envFrom: [{ secretRef: { name: "aws" } }],
      volumeMounts: [{ name: "model-cache", mountPath: "/models" }],
      // The same as the server: free, since a pod's request is the larger of the two.
      resources: { requests: { cpu: "8", memory: "32Gi" }, limits: { cpu: "8", memory: "32Gi" } },
    });
    const server = spec.containers[0] as Container;
    expect(server.envFrom).toBeUndefined();
    expect(argValue(server.args ?? [], "--model")).toBe("/models/s3/models/llama/8b");
  });

  it("s3: the script reads its paths from the environment and skips a completed download", () => {
    expect(downloadScript).toContain('"$MODEL_SOURCE" "$MODEL_DIR"');
    expect(downloadScript).toMatch(/if \[ -f "\$MODEL_DIR\/\.sovereign-complete" \]; then .*exit 0; fi/);
    expect(downloadScript).not.toContain("models/llama");
  });

  it("pvc: the claim is mounted read-only and loaded from", () => {
    const spec = podSpec(svc({}, { uri: "pvc://weights/llama" }));
    expect(spec.volumes).toContainEqual({
      name: "model-source",
      persistentVolumeClaim: { claimName: "weights", readOnly: true },
    });
    const server = spec.containers[0] as Container;
    expect(server.volumeMounts).toContainEqual({
      name: "model-source",
      mountPath: "/model-source",
      readOnly: true,
    });
    expect(argValue(server.args ?? [], "--model")).toBe("/model-source/llama");
    expect(spec.initContainers).toBeUndefined();
  });

  it.each([
    ["/m", "a/b", "/m/a/b"],
    ["/m", "", "/m"],
    ["/m", "a/", "/m/a"],
    ["/m", "../../etc", "/m/etc"],
    ["/m", "a/../../b", "/m/b"],
  ])("underMount(%s, %s) = %s", (mount, path, out) => expect(underMount(mount, path)).toBe(out));

  it("an invalid URI is refused", () => {
    expect(() => modelPlumbing({ uri: "ftp://x/y" }, undefined)).toThrow(/not a model URI/);
  });
});

describe("the model cache volume", () => {
  it("is an emptyDir without spec.modelCache", () => {
    expect(podSpec(svc()).volumes[0]).toEqual({ name: "model-cache", emptyDir: {} });
  });
  it("is the shared claim with spec.modelCache", () => {
    expect(podSpec(svc({ modelCache: { size: "200Gi" } })).volumes[0]).toEqual({
      name: "model-cache",
      persistentVolumeClaim: { claimName: "llama-model-cache" },
    });
  });
});

describe("the server container", () => {
  it("runs vLLM's OpenAI server with the derived arguments, then engine.args", () => {
    const s = svc({
      engine: {
        image: "vllm/vllm-openai:v0.11.0",
        tensorParallelSize: 2,
        maxModelLen: 8192,
        args: ["--enable-prefix-caching"],
      },
      accelerators: { count: 2 },
    });
    const server = podSpec(s).containers[0] as Container;
    expect(server.command).toEqual(serverCommand);
    expect(server.args).toEqual([
      "--model",
      "meta-llama/Llama-3.1-8B-Instruct",
      "--served-model-name",
      "llama",
      "--tensor-parallel-size",
      "2",
      "--max-model-len",
      "8192",
      "--port",
      "8000",
      "--download-dir",
      "/models",
      "--enable-prefix-caching",
    ]);
  });

  it("serves under model.name when given, and leaves --max-model-len to the model otherwise", () => {
    const args = serverArgs(svc({}, { name: "llama-8b" }).spec, "llama", ["--model", "m"], 1);
    expect(argValue(args, "--served-model-name")).toBe("llama-8b");
    expect(args).not.toContain("--max-model-len");
  });

  it("is ready when the model is (/v1/models), alive on /health, with a startup budget for a large load", () => {
    const server = podSpec(svc()).containers[0] as Container;
    expect(server.startupProbe?.httpGet).toEqual({ path: "/health", port: "http" });
    expect(server.readinessProbe?.httpGet.path).toBe("/v1/models");
    expect(server.livenessProbe?.httpGet.path).toBe("/health");
    expect(startupBudgetSeconds).toBeGreaterThanOrEqual(20 * 60);
    expect(server.ports).toEqual([{ name: "http", containerPort: 8000, protocol: "TCP" }]);
  });

  it("falls back to /health for readiness when --api-key protects the /v1 routes", () => {
    for (const args of [["--api-key", "k"], ["--api-key=k"]]) {
      const server = podSpec(svc({ engine: { image: "i", args } })).containers[0] as Container;
      expect(server.readinessProbe?.httpGet.path).toBe("/health");
    }
  });

  it("lets engine.env override what the operator derives, keeping names unique", () => {
    const server = podSpec(
      svc({
        engine: {
          image: "i",
          env: [
            { name: "HF_HOME", value: "/elsewhere" },
            { name: "VLLM_LOGGING_LEVEL", value: "DEBUG" },
          ],
        },
      }),
    ).containers[0] as Container;
    expect(server.env).toEqual([
      { name: "HF_HOME", value: "/elsewhere" },
      { name: "VLLM_LOGGING_LEVEL", value: "DEBUG" },
    ]);
  });

  it("mounts shared memory for tensor-parallel workers and disables service links", () => {
    const spec = podSpec(svc());
    expect(spec.volumes).toContainEqual({ name: "dshm", emptyDir: { medium: "Memory" } });
    expect(spec.enableServiceLinks).toBe(false);
  });

  it.each([
    ["no accelerators: one device per shard", { engine: { image: "i", tensorParallelSize: 4 } }, 4],
    ["no accelerators, default size", {}, 1],
    ["accelerators.count", { accelerators: { count: 2 }, engine: { image: "i", tensorParallelSize: 2 } }, 2],
    ["CPU only", { accelerators: { count: 0 } }, 0],
  ])("devices per replica: %s", (_, spec, n) => expect(devicesPerReplica(svc(spec).spec)).toBe(n));

  it("uses resources as requests and limits, quantities as strings", () => {
    expect(containerResources({ cpu: 8, memory: "32Gi" })).toEqual({
      requests: { cpu: "8", memory: "32Gi" },
      limits: { cpu: "8", memory: "32Gi" },
    });
    expect(containerResources(undefined)).toBeUndefined();
  });
});

describe("the API rule tying tensorParallelSize to accelerators.count", () => {
  const parse = (spec: Record<string, unknown>) =>
    inferenceServiceResource.schema.safeParse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "x" },
      spec: { model: { uri: "hf://a/b" }, ...spec },
    });
  it.each([
    ["no accelerators, any size", { engine: { image: "i", tensorParallelSize: 4 } }, true],
    ["equal", { engine: { image: "i", tensorParallelSize: 4 }, accelerators: { count: 4 } }, true],
    ["CPU only", { engine: { image: "i" }, accelerators: { count: 0 } }, true],
    [
      "size above count",
      { engine: { image: "i", tensorParallelSize: 4 }, accelerators: { count: 2 } },
      false,
    ],
    [
      "size below count",
      { engine: { image: "i", tensorParallelSize: 2 }, accelerators: { count: 4 } },
      false,
    ],
    [
      "count left out follows the size",
      { engine: { image: "i", tensorParallelSize: 2 }, accelerators: { minMemoryGiB: 24 } },
      true,
    ],
  ])("%s", (_, spec, ok) => {
    const result = parse(spec);
    expect(result.success).toBe(ok);
    if (!ok)
      expect(JSON.stringify(result.error?.issues)).toContain(
        "tensorParallelSize must equal accelerators.count",
      );
  });
});
