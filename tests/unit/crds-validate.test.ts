import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { loadAll } from "js-yaml";
import { describe, expect, test } from "vitest";
import { registerValidate } from "../../cli/commands/validate.ts";
import { CliError } from "../../cli/errors.ts";
import { repoRoot } from "../../crds/generate.ts";
import { resources } from "../../crds/index.ts";
import { formatPath, validateDocuments, validateObject } from "../../crds/validate.ts";
import { invalidCases, invalidDir } from "../fixtures/invalid/cases.ts";

const cases = invalidCases();
const samplesDir = join(repoRoot, "samples");
const sampleFiles = readdirSync(samplesDir)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => join(samplesDir, f));

const load = (file: string) => loadAll(readFileSync(file, "utf8"));

test("the invalid table has at least 40 cases and covers every kind", () => {
  expect(cases.length).toBeGreaterThanOrEqual(40);
  for (const kind of resources)
    expect(cases.filter((c) => c.kind === kind.kind).length, kind.kind).toBeGreaterThanOrEqual(8);
});

describe("each invalid manifest is rejected offline, naming the field", () => {
  test.for(cases.map((c) => [c.file.slice(invalidDir.length), c] as const))("%s", ([, c]) => {
    const [result] = validateDocuments(load(c.file));
    expect(result?.skipped).toBeUndefined();
    expect(result?.errors.map((e) => e.path)).toContain(c.path);
  });
});

test("every sample is valid", () => {
  for (const file of sampleFiles) {
    for (const result of validateDocuments(load(file))) expect(result.errors, file).toEqual([]);
  }
  const kinds = new Set(
    sampleFiles.flatMap((f) =>
      validateDocuments(load(f))
        .filter((r) => !r.skipped)
        .map((r) => r.kind),
    ),
  );
  expect([...kinds].sort()).toEqual(resources.map((r) => r.kind).sort());
});

test("a multi-document manifest reports every error of every document", () => {
  const picked = cases.filter((_, i) => i % 8 === 0);
  const text = picked.map((c) => readFileSync(c.file, "utf8")).join("\n---\n");
  const results = validateDocuments(loadAll(text));
  expect(results.map((r) => r.index)).toEqual(picked.map((_, i) => i));
  for (const [i, r] of results.entries()) expect(r.errors.map((e) => e.path)).toContain(picked[i]?.path);
});

test("several errors in one object are all reported", () => {
  const { errors } = validateObject({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "RayCluster",
    metadata: { name: "Bad_Name" },
    spec: {
      rayVersion: "2",
      workerGroups: [
        { name: "gpu", replicas: 2, minReplicas: 3 },
        { name: "gpu", replicas: "two" },
      ],
    },
  });
  expect(errors.map((e) => e.path).sort()).toEqual(
    [
      "metadata.name",
      "spec.image",
      "spec.rayVersion",
      "spec.workerGroups[0].minReplicas",
      "spec.workerGroups[1]",
      "spec.workerGroups[1].replicas",
    ].sort(),
  );
  expect(errors.find((e) => e.path === "spec.workerGroups[1].replicas")?.message).toBe(
    'Invalid value: "string": must be of type integer',
  );
});

test("messages of CEL rules are the rule's message", () => {
  const { errors } = validateObject({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: { name: "job" },
    spec: { image: "i", command: ["x"], elastic: { minNodes: 3, maxNodes: 2 } },
  });
  expect(errors).toEqual([
    { path: "spec.elastic.minNodes", message: "minNodes must be less than or equal to maxNodes" },
  ]);
});

test("status is ignored, as the API server ignores it on create", () => {
  const { errors } = validateObject({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "AcceleratorPool",
    metadata: { name: "p" },
    spec: { vendor: "nvidia", model: "H100", memoryGiB: 80 },
    status: { nodes: "many" },
  });
  expect(errors).toEqual([]);
});

test("other kinds are skipped; unknown kinds of this group are errors", () => {
  const [configMap, unknownKind, badVersion, empty] = [
    validateObject({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }),
    validateObject({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "TrainingJobs",
      metadata: { name: "t" },
    }),
    validateObject({ apiVersion: "stack.sovereign.dev/v1", kind: "TrainingJob", metadata: { name: "t" } }),
    validateObject("text"),
  ];
  expect(configMap.skipped).toBeDefined();
  expect(configMap.errors).toEqual([]);
  expect(unknownKind.errors.map((e) => e.path)).toEqual(["kind"]);
  expect(badVersion.errors.map((e) => e.path)).toEqual(["apiVersion"]);
  expect(empty.errors).toHaveLength(1);
  expect(validateDocuments([null, undefined])).toEqual([]);
});

test("metadata needs a name or generateName", () => {
  const spec = { vendor: "nvidia", model: "H100", memoryGiB: 80 };
  const base = { apiVersion: "stack.sovereign.dev/v1alpha1", kind: "AcceleratorPool", spec };
  expect(validateObject({ ...base, metadata: { generateName: "pool-" } }).errors).toEqual([]);
  expect(validateObject({ ...base, metadata: {} }).errors).toEqual([
    { path: "metadata.name", message: "Required value: name or generateName is required" },
  ]);
});

test("paths are written the way the API server writes them", () => {
  expect(formatPath(["spec", "workerGroups", 0, "minReplicas"])).toBe("spec.workerGroups[0].minReplicas");
  expect(formatPath(["spec", "env", 1])).toBe("spec.env[1]");
  expect(formatPath([])).toBe("");
});

describe("stackctl validate", () => {
  async function run(args: string[]): Promise<{ output: string; error: unknown }> {
    let output = "";
    const program = new Command().exitOverride();
    registerValidate(program, {
      write: (chunk: string) => {
        output += chunk;
        return true;
      },
    } as NodeJS.WritableStream);
    try {
      await program.parseAsync(["node", "stackctl", "validate", ...args]);
      return { output, error: undefined };
    } catch (error) {
      return { output, error };
    }
  }

  test("names every expected path, in every file, and fails with exit code 1", async () => {
    const { output, error } = await run(["-f", invalidDir]);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(6);
    expect((error as CliError).message).toContain(`${cases.length} of ${cases.length} documents invalid`);
    for (const c of cases) {
      const lines = output.split("\n").filter((l) => l.startsWith(c.file));
      expect(
        lines.some((l) => l.includes(`: ${c.path}: `)),
        `${c.file}\n${lines.join("\n")}`,
      ).toBe(true);
    }
  });

  test("passes the samples", async () => {
    const { output, error } = await run(["-f", ...sampleFiles]);
    expect(error).toBeUndefined();
    const lines = output.trim().split("\n");
    // What the samples need besides (a Secret, a claim) is passed over, and said so.
    const skipped = lines.filter((l) => l.endsWith(": skipped, not a Sovereign Stack kind"));
    expect(skipped.map((l) => l.replace(/^.*\] /, ""))).toEqual([
      "Secret/hf-token: skipped, not a Sovereign Stack kind",
      "Secret/llama-8b-api-keys: skipped, not a Sovereign Stack kind",
      "PersistentVolumeClaim/llama-finetune-checkpoints: skipped, not a Sovereign Stack kind",
    ]);
    const rest = lines.filter((l) => !skipped.includes(l));
    // One object per sample, but for prerequisites.yaml (none of ours) and queues.yaml (three).
    expect(rest).toHaveLength(sampleFiles.length - 1 + 2);
    for (const line of rest) expect(line).toMatch(/: valid$/);
  });

  test("reports unreadable and malformed files without stopping", async () => {
    const first = cases[0]?.file ?? "";
    const { output, error } = await run(["-f", "/nonexistent.yaml", first, "-o", "json"]);
    expect(error).toBeInstanceOf(CliError);
    const reports = JSON.parse(output) as { file: string; error?: string; documents: unknown[] }[];
    expect(reports[0]?.error).toMatch(/cannot read/);
    expect(reports[1]?.documents).toHaveLength(1);
  });
});
