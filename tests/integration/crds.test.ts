// The generated CRDs against a real API server: they install (server- and client-side), reject
// every invalid manifest naming the same field as `stackctl validate`, fill in the same defaults
// as the zod schemas, accept every sample, and teach `kubectl explain`.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../crds/generate.ts";
import {
  acceleratorPoolResource,
  inferenceServiceResource,
  type KindDefinition,
  rayClusterResource,
  trainingJobResource,
} from "../../crds/index.ts";
import { invalidCases, invalidDir } from "../fixtures/invalid/cases.ts";
import { eventually, kubectl, type TestNamespace, testNamespace } from "../support/cluster.ts";

const crdsDir = join(repoRoot, "crds");
const samplesDir = join(repoRoot, "samples");
const cases = invalidCases();

let ns: TestNamespace;

beforeAll(async () => {
  // Idempotent, and the same field manager as the shared setup, so concurrent installs agree.
  const applied = await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=sovereign-stack",
    "-f",
    crdsDir,
  ]);
  expect(applied.code, applied.stderr).toBe(0);
  const established = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "-f", crdsDir]);
  expect(established.code, established.stderr).toBe(0);
  ns = await testNamespace("crds");
});

afterAll(async () => {
  await ns?.[Symbol.asyncDispose]();
});

/** The API server names a field as `path: ...`, or as "path" in strict-decoding errors. */
const namesField = (message: string, path: string) =>
  message.includes(`${path}:`) || message.includes(`"${path}"`);

describe("the API server rejects each invalid manifest, naming the field", () => {
  test.for(cases.map((c) => [c.file.slice(invalidDir.length), c] as const))("%s", async ([, c]) => {
    const result = await kubectl(["create", "--dry-run=server", "-n", ns.name, "-f", c.file]);
    expect(result.code, result.stdout).not.toBe(0);
    expect(namesField(result.stderr, c.path), `expected ${c.path} in:\n${result.stderr}`).toBe(true);
  });
});

test("stackctl validate rejects the same files offline, naming the same fields", async () => {
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "cli/stackctl.ts"), "validate", "-f", invalidDir],
      { maxBuffer: 16 << 20 },
      (error, out) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout: out }),
    );
  });
  expect(code).toBe(6);
  for (const c of cases) {
    const lines = stdout.split("\n").filter((l) => l.startsWith(c.file));
    expect(
      lines.some((l) => l.includes(`: ${c.path}: `)),
      `${c.file}:\n${lines.join("\n")}`,
    ).toBe(true);
  }
});

describe("the API server fills in the same defaults as the schemas", () => {
  const minimal: [KindDefinition, Record<string, unknown>][] = [
    [acceleratorPoolResource, { vendor: "nvidia", model: "H100", memoryGiB: 80 }],
    [
      trainingJobResource,
      {
        image: "ghcr.io/acme/train:1.0",
        command: ["python", "train.py"],
        accelerators: {},
        checkpoint: { claimName: "ckpt" },
      },
    ],
    [
      rayClusterResource,
      {
        rayVersion: "2.52.0",
        image: "rayproject/ray:2.52.0",
        workerGroups: [{ name: "gpu", accelerators: { count: 1 } }],
      },
    ],
    [
      inferenceServiceResource,
      { model: { uri: "hf://Qwen/Qwen2.5-0.5B-Instruct" }, engine: { image: "vllm/vllm-openai:v0.11.0" } },
    ],
  ];

  test.for(minimal.map(([kind, spec]) => [kind.kind, kind, spec] as const))("%s", async ([, kind, spec]) => {
    const object = { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name: "defaults" }, spec };
    const result = await kubectl(["create", "--dry-run=server", "-o", "json", "-n", ns.name, "-f", "-"], {
      input: JSON.stringify(object),
    });
    expect(result.code, result.stderr).toBe(0);
    const returned = JSON.parse(result.stdout) as { spec: unknown };
    const parsed = kind.schema.parse(object) as { spec: unknown };
    expect(returned.spec).toEqual(parsed.spec);
    expect(returned.spec).not.toEqual(spec); // something was defaulted
  });
});

test("InferenceService autoscaling: the API server's defaults are the schema's; zero is accepted with the router on", async () => {
  const object = {
    apiVersion: inferenceServiceResource.apiVersion,
    kind: inferenceServiceResource.kind,
    metadata: { name: "autoscaled" },
    spec: {
      model: { uri: "hf://Qwen/Qwen2.5-0.5B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      router: { enabled: true },
      autoscaling: { minReplicas: 0, maxReplicas: 8, metric: "kvCacheUsage", target: 1 },
    },
  };
  const result = await kubectl(["create", "--dry-run=server", "-o", "json", "-n", ns.name, "-f", "-"], {
    input: JSON.stringify(object),
  });
  expect(result.code, result.stderr).toBe(0);
  const returned = JSON.parse(result.stdout) as { spec: { autoscaling: unknown } };
  const parsed = inferenceServiceResource.schema.parse(object);
  expect(returned.spec.autoscaling).toEqual(parsed.spec.autoscaling);
  expect(returned.spec.autoscaling).toMatchObject({ scaleDownDelaySeconds: 120, scaleUpLimit: "1000%" });
});

describe("samples", () => {
  const files = readdirSync(samplesDir).filter((f) => f.endsWith(".yaml"));

  test.for(files)("%s applies with server-side apply", async (file) => {
    const path = join(samplesDir, file);
    // AcceleratorPools and TeamQuotas are cluster-scoped and shared with other tests (and a
    // default queue would put this namespace's samples under a quota): check them with a dry run.
    const clusterScoped = file.startsWith("acceleratorpool") || file === "queues.yaml";
    const args = ["apply", "--server-side", "--field-manager=crds-test", "-n", ns.name, "-f", path];
    const result = await kubectl(clusterScoped ? [...args, "--dry-run=server"] : args);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/serverside-applied/);
  });

  test("kubectl get aistack lists every namespaced kind", async () => {
    const listed = await eventually(async () => {
      const result = await kubectl(["get", "aistack", "-n", ns.name, "-o", "name"]);
      // The category also lists the cluster-scoped kinds (AcceleratorPools, TeamQuotas), which
      // other tests own.
      const names = result.stdout
        .trim()
        .split("\n")
        .filter((n) => !n.startsWith("acceleratorpool.") && !n.startsWith("teamquota."));
      return names.length >= 5 ? names : undefined;
    });
    expect(listed.sort()).toEqual(
      [
        "inferenceservice.stack.sovereign.dev/llama-8b",
        "raycluster.stack.sovereign.dev/research",
        "rayjob.stack.sovereign.dev/embeddings-backfill",
        "rayservice.stack.sovereign.dev/embeddings",
        "trainingjob.stack.sovereign.dev/llama-finetune",
      ].sort(),
    );
  });

  test("kubectl scale works on an InferenceService", async () => {
    const scaled = await kubectl(["scale", "-n", ns.name, "inferenceservice/llama-8b", "--replicas=3"]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const replicas = await kubectl([
      "get",
      "-n",
      ns.name,
      "isvc",
      "llama-8b",
      "-o",
      "jsonpath={.spec.replicas}",
    ]);
    expect(replicas.stdout).toBe("3");
  });
});

test("kubectl explain trainingjob.spec.accelerators prints the descriptions", async () => {
  // The OpenAPI document is republished a moment after a CRD changes.
  const out = await eventually(
    async () => {
      const result = await kubectl(["explain", "trainingjob.spec.accelerators"]);
      return result.code === 0 && result.stdout.includes("minMemoryGiB") ? result.stdout : undefined;
    },
    60_000,
    "kubectl explain",
  );
  expect(out).toContain("What accelerators each pod needs");
  expect(out).toMatch(/count\s+<integer>/);
  expect(out).toContain("Minimum memory per device in GiB");
});

test("kubectl apply -f crds/ works client-side (each CRD fits the last-applied annotation)", async () => {
  const result = await kubectl(["apply", "-f", crdsDir]);
  expect(result.code, result.stderr).toBe(0);
  const annotation = await kubectl([
    "get",
    "crd",
    trainingJobResource.crdName,
    "-o",
    "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
  ]);
  expect(annotation.stdout.length).toBeGreaterThan(1000);
  expect(annotation.stdout.length).toBeLessThan(256 * 1024);
});
