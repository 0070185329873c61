import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadAll } from "js-yaml";
import { describe, expect, test } from "vitest";
import { customResourceDefinition, openAPISchemaOf } from "../../crds/crd.ts";
import { renderAll, repoRoot } from "../../crds/generate.ts";
import {
  acceleratorPoolResource,
  gangSize,
  inferenceServiceResource,
  modelMatches,
  parseModelUri,
  poolNodeSelector,
  poolResourceName,
  procsPerNode,
  rayClusterResource,
  resources,
  trainingJobResource,
} from "../../crds/index.ts";
import type { JSONSchemaProps } from "../../crds/openapi.ts";

// kubectl's client-side apply stores the whole object in an annotation, capped at 256 KiB.
const LAST_APPLIED_LIMIT = 256 * 1024;

describe("generated files", () => {
  test("npm run crds leaves the checked-in CRDs and API reference unchanged", () => {
    for (const [path, content] of renderAll()) {
      const onDisk = readFileSync(join(repoRoot, path), "utf8");
      expect(onDisk, `${path} is stale: run npm run crds`).toBe(content);
    }
  });

  test("one CRD file per kind, each a single CustomResourceDefinition document", () => {
    const crdFiles = [...renderAll().keys()].filter((p) => p.startsWith("crds/"));
    expect(crdFiles.sort()).toEqual(resources.map((r) => `crds/stack.sovereign.dev_${r.plural}.yaml`).sort());
    for (const path of crdFiles) {
      const docs = loadAll(readFileSync(join(repoRoot, path), "utf8"));
      expect(docs).toHaveLength(1);
      expect((docs[0] as { kind: string }).kind).toBe("CustomResourceDefinition");
    }
  });

  test("each CRD fits comfortably in kubectl's last-applied annotation", () => {
    for (const kind of resources) {
      const size = Buffer.byteLength(JSON.stringify(customResourceDefinition(kind)));
      expect(size, kind.kind).toBeLessThan(LAST_APPLIED_LIMIT / 4);
    }
  });
});

/** Every schema node with its path, for structural checks. */
function* nodes(node: JSONSchemaProps, path: string): Generator<[string, JSONSchemaProps]> {
  yield [path, node];
  for (const [key, child] of Object.entries(node.properties ?? {})) yield* nodes(child, `${path}.${key}`);
  if (node.items) yield* nodes(node.items, `${path}[]`);
  if (node.additionalProperties) yield* nodes(node.additionalProperties, `${path}{}`);
  for (const [i, branch] of (node.anyOf ?? []).entries()) yield* nodes(branch, `${path}|${i}`);
}

describe.each(resources.map((r) => [r.kind, r] as const))("%s CRD", (_name, kind) => {
  const schema = openAPISchemaOf(kind);
  const specAndStatus = [
    ...nodes(schema.properties?.spec ?? {}, "spec"),
    ...nodes(schema.properties?.status ?? {}, "status"),
  ];

  test("is structural: a type on every node, int-or-string as the only anyOf, no $ref", () => {
    for (const [path, node] of specAndStatus) {
      expect(JSON.stringify(node), path).not.toContain('"$ref"');
      if (path.includes("|")) {
        // anyOf branches of int-or-string carry nothing but a type.
        expect(Object.keys(node), path).toEqual(["type"]);
        continue;
      }
      if (node["x-kubernetes-int-or-string"]) {
        expect(node.anyOf, path).toEqual([{ type: "integer" }, { type: "string" }]);
        expect(node.type, path).toBeUndefined();
      } else {
        expect(node.type, path).toBeDefined();
        expect(node.anyOf, path).toBeUndefined();
      }
      expect(
        node.properties && node.additionalProperties,
        `${path}: properties beside additionalProperties`,
      ).toBeFalsy();
    }
  });

  test("describes every field, so kubectl explain teaches the API", () => {
    for (const [path, node] of specAndStatus) {
      if (/(\[\]|\{\}|\|\d)$/.test(path)) continue; // list items and map values: described by their field
      expect(node.description, path).toMatch(/\S/);
    }
  });

  test("keeps unknown fields only in embedded fragments: a pod template, Ray's runtime_env", () => {
    const preserved = specAndStatus
      .filter(([, n]) => n["x-kubernetes-preserve-unknown-fields"])
      .map(([p]) => p);
    const embedded: Record<string, string[]> = {
      TrainingJob: ["spec.template"],
      RayJob: ["spec.runtimeEnv"],
    };
    expect(preserved).toEqual(embedded[kind.kind] ?? []);
  });

  test("bounds every string and list, so CEL rules have a bounded cost", () => {
    for (const [path, node] of specAndStatus) {
      if (path.includes("|")) continue; // int-or-string branches: bounded at the field
      if (node.type === "array") expect(node.maxItems, path).toBeDefined();
      if (node.type === "object" && node.additionalProperties) expect(node.maxProperties, path).toBeDefined();
      if (node.type === "string" && !node.enum && node.format !== "date-time")
        expect(node.maxLength, path).toBeDefined();
    }
  });

  test("list-maps have required keys; conditions are a list-map keyed on type", () => {
    for (const [path, node] of specAndStatus) {
      if (node["x-kubernetes-list-type"] !== "map") continue;
      for (const key of node["x-kubernetes-list-map-keys"] ?? [])
        expect(node.items?.required, path).toContain(key);
    }
    const conditions = schema.properties?.status?.properties?.conditions;
    expect(conditions?.["x-kubernetes-list-type"]).toBe("map");
    expect(conditions?.["x-kubernetes-list-map-keys"]).toEqual(["type"]);
    expect(conditions?.items?.required).toEqual([
      "type",
      "status",
      "lastTransitionTime",
      "reason",
      "message",
    ]);
    expect(schema.properties?.status?.properties?.observedGeneration?.type).toBe("integer");
  });

  test("is in the aistack category with a short name, printer columns and the status subresource", () => {
    const crd = customResourceDefinition(kind) as {
      spec: {
        names: { categories: string[]; shortNames: string[] };
        versions: { subresources: Record<string, unknown>; additionalPrinterColumns: { name: string }[] }[];
      };
    };
    expect(crd.spec.names.categories).toEqual(["aistack"]);
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    const version = crd.spec.versions[0];
    expect(version?.subresources.status).toEqual({});
    const columns = version?.additionalPrinterColumns.map((c) => c.name) ?? [];
    expect(columns).toContain("Age");
    // What a person looks for first: readiness, or for a run-to-completion job, Ray's status.
    expect(columns).toContain(kind.kind === "RayJob" ? "Job Status" : "Ready");
  });
});

test("InferenceService has the scale subresource on spec.replicas, status.replicas and status.selector", () => {
  const crd = customResourceDefinition(inferenceServiceResource) as {
    spec: { versions: { subresources: Record<string, unknown> }[] };
  };
  expect(crd.spec.versions[0]?.subresources.scale).toEqual({
    specReplicasPath: ".spec.replicas",
    statusReplicasPath: ".status.replicas",
    labelSelectorPath: ".status.selector",
  });
});

test("cross-field constraints are CEL rules with messages", () => {
  const rules = (kind: (typeof resources)[number]) =>
    [...nodes(openAPISchemaOf(kind), "")].flatMap(([, n]) =>
      (n["x-kubernetes-validations"] ?? []).map((v) => v.message),
    );
  expect(rules(rayClusterResource)).toContain("minReplicas must be less than or equal to maxReplicas");
  expect(rules(trainingJobResource)).toContain("minNodes must be less than or equal to maxNodes");
  expect(rules(acceleratorPoolResource)).toContain("resourceName is required when vendor is other");
  expect(rules(inferenceServiceResource)).toContain(
    "uri must be hf://<org>/<model>[@<revision>], s3://<bucket>[/<path>] or pvc://<claim>[/<path>]",
  );
  expect(rules(trainingJobResource)).toContain(
    "keys must be vendors: nvidia, amd, intel, google, aws, other",
  );
});

describe("defaults", () => {
  const meta = { name: "x" };
  test("TrainingJob: one node, 3 restarts, priority 0, not suspended, one device when accelerators is given", () => {
    const job = trainingJobResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "TrainingJob",
      metadata: meta,
      spec: {
        image: "i",
        command: ["python", "train.py"],
        accelerators: {},
        checkpoint: { claimName: "ckpt" },
      },
    });
    expect(job.spec).toMatchObject({ maxRestarts: 3, priority: 0, suspend: false });
    expect(job.spec.accelerators).toEqual({ count: 1, minMemoryGiB: 0 });
    expect(job.spec.checkpoint?.mountPath).toBe("/checkpoints");
    expect(gangSize(job.spec)).toEqual({ min: 1, max: 1 });
    expect(procsPerNode(job.spec)).toBe(1);
    expect(gangSize({ elastic: { minNodes: 2, maxNodes: 4 } })).toEqual({ min: 2, max: 4 });
    expect(procsPerNode({ accelerators: { count: 8, minMemoryGiB: 0 } })).toBe(8);
  });

  test("RayCluster: head ClusterIP, groups of one replica from zero", () => {
    const ray = rayClusterResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "RayCluster",
      metadata: meta,
      spec: { rayVersion: "2.52.0", image: "i", workerGroups: [{ name: "gpu" }] },
    });
    expect(ray.spec.head).toEqual({ serviceType: "ClusterIP" });
    expect(ray.spec.workerGroups?.[0]).toEqual({ name: "gpu", replicas: 1, minReplicas: 0 });
    expect(ray.spec.suspend).toBe(false);
  });

  test("InferenceService: one replica, tensor parallel left to the shape, surge 1 and nothing unavailable", () => {
    const isvc = inferenceServiceResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "InferenceService",
      metadata: meta,
      spec: { model: { uri: "s3://models/llama" }, engine: { image: "vllm/vllm-openai:v0.11.0" } },
    });
    expect(isvc.spec.replicas).toBe(1);
    // Unset means "not explicit": the device count decides it (see the sizing rules).
    expect(isvc.spec.engine.tensorParallelSize).toBeUndefined();
    expect(isvc.spec.rollout).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  test("AcceleratorPool: not paused, resource name and node selector from the vendor and the name", () => {
    const pool = acceleratorPoolResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "AcceleratorPool",
      metadata: { name: "mi300x" },
      spec: { vendor: "amd", model: "MI300X", memoryGiB: 192 },
    });
    expect(pool.spec.paused).toBe(false);
    expect(poolResourceName(pool.spec)).toBe("amd.com/gpu");
    expect(poolResourceName({ vendor: "other", resourceName: "acme.com/npu" })).toBe("acme.com/npu");
    expect(poolNodeSelector(pool)).toEqual({ matchLabels: { "sovereign.dev/pool": "mi300x" } });
  });
});

describe("helpers", () => {
  test.each([
    ["H100*", "H100-SXM", true],
    ["h100*", "H100-SXM", true],
    ["MI300X", "MI300X", true],
    ["MI300X", "MI300X-OAM", false],
    ["MI3?0X", "MI300X", true],
    ["*H100*", "NVIDIA-H100-80GB-HBM3", true],
    ["H100.SXM", "H100-SXM", false],
  ])("model glob %s on %s: %s", (glob, model, expected) => {
    expect(modelMatches(glob, model)).toBe(expected);
  });

  test("model URIs", () => {
    expect(parseModelUri("hf://meta-llama/Llama-3.1-8B-Instruct@v1.0")).toEqual({
      scheme: "hf",
      repo: "meta-llama/Llama-3.1-8B-Instruct",
      revision: "v1.0",
    });
    expect(parseModelUri("hf://Qwen/Qwen2.5-0.5B")).toEqual({
      scheme: "hf",
      repo: "Qwen/Qwen2.5-0.5B",
      revision: undefined,
    });
    expect(parseModelUri("s3://models/llama/8b")).toEqual({
      scheme: "s3",
      bucket: "models",
      path: "llama/8b",
    });
    expect(parseModelUri("pvc://weights")).toEqual({ scheme: "pvc", claim: "weights", path: "" });
    expect(parseModelUri("https://huggingface.co/x/y")).toBeUndefined();
    expect(parseModelUri("hf://no-org")).toBeUndefined();
  });
});
