// stackctl get against the real API server: golden tables (the same text kubectl prints for
// the CRDs' printer columns), -o wide/name/json/yaml, -A and -l, and the kubectl plugin.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { load } from "js-yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toolPath } from "../../cli/dev/tools.ts";
import { inferenceServiceResource, rayClusterResource, trainingJobResource } from "../../crds/index.ts";
import { kubectl, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { cliPath, condition, normalizeAges, readObject, run, stackctl, writeStatus } from "./cli-harness.ts";

let ns: TestNamespace;
let token: string;

// Namespace names are random; a placeholder of the same length keeps the columns aligned.
const normalize = (text: string) =>
  normalizeAges(text.replaceAll(ns.name, "cli-get-xxxxxx").replaceAll(token, "tttttt"));

beforeAll(async () => {
  ns = await testNamespace("cli-get");
  token = ns.name.slice(-6);
  for (const sample of ["trainingjob", "raycluster", "inferenceservice"]) {
    const created = await kubectl(["create", "-n", ns.name, "-f", `samples/${sample}.yaml`]);
    expect(created.code, created.stderr).toBe(0);
  }
  const submitted = await stackctl([
    "-n",
    ns.name,
    "train",
    "submit",
    "--name",
    "bert",
    "--image",
    "ghcr.io/acme/bert:2",
    "--accelerators",
    "1",
    "--",
    "python",
    "pretrain.py",
  ]);
  expect(submitted.stdout).toBe("trainingjob.stack.sovereign.dev/bert created\n");
  expect((await kubectl(["label", "-n", ns.name, "tj", "llama-finetune", `cli-test=${token}`])).code).toBe(0);

  await writeStatus(trainingJobResource, "llama-finetune", ns.name, {
    observedGeneration: 1,
    phase: "Running",
    pool: "h100",
    nodes: 4,
    readyNodes: 4,
    restarts: 1,
    conditions: [condition("Running", "True", "AllRanksReady", "4 of 4 pods ready")],
  });
  await writeStatus(trainingJobResource, "bert", ns.name, {
    observedGeneration: 1,
    phase: "Queued",
    queuePosition: 2,
    conditions: [
      condition("Admitted", "False", "InsufficientCapacity", "needs 1 free device; every pool is full"),
    ],
  });
  await writeStatus(rayClusterResource, "research", ns.name, {
    observedGeneration: 1,
    phase: "Ready",
    readyWorkers: 3,
    desiredWorkers: 3,
    endpoints: { dashboard: `http://research-head.${ns.name}.svc:8265` },
  });
  await writeStatus(inferenceServiceResource, "llama-8b", ns.name, {
    observedGeneration: 1,
    phase: "Ready",
    replicas: 2,
    readyReplicas: 2,
    url: `http://llama-8b.${ns.name}.svc:8000/v1`,
  });
});

afterAll(async () => {
  await ns?.[Symbol.asyncDispose]();
});

const get = async (...args: string[]) => {
  const result = await stackctl(["get", ...args]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout;
};

describe("tables", () => {
  test("trainingjobs: golden, and the same text kubectl prints", async () => {
    const ours = await get("tj", "-n", ns.name);
    await expect(normalize(ours)).toMatchFileSnapshot("../golden/get-trainingjobs.txt");
    const theirs = await kubectl(["get", "trainingjobs", "-n", ns.name]);
    expect(normalize(ours)).toBe(normalize(theirs.stdout));
  });

  test.for(["tj", "rayc", "isvc"])("%s -o wide matches kubectl -o wide", async (kind) => {
    const ours = await get(kind, "-n", ns.name, "-o", "wide");
    const theirs = await kubectl(["get", kind, "-n", ns.name, "-o", "wide"]);
    expect(normalize(ours)).toBe(normalize(theirs.stdout));
  });

  test("several kinds: one table each, names qualified", async () => {
    const ours = await get("tj,rayc,isvc", "-n", ns.name);
    await expect(normalize(ours)).toMatchFileSnapshot("../golden/get-workloads.txt");
  });

  test("-A with a selector: a namespace column, only the labelled job", async () => {
    const ours = await get("trainingjobs", "-A", "-l", `cli-test=${token}`);
    const theirs = await kubectl(["get", "trainingjobs", "-A", "-l", `cli-test=${token}`]);
    expect(normalize(ours)).toBe(normalize(theirs.stdout));
    await expect(normalize(ours)).toMatchFileSnapshot("../golden/get-all-namespaces.txt");
  });

  test("-o name, and KIND/NAME arguments", async () => {
    expect(await get("tj", "-n", ns.name, "-o", "name")).toBe(
      "trainingjob.stack.sovereign.dev/bert\ntrainingjob.stack.sovereign.dev/llama-finetune\n",
    );
    expect(await get("tj/bert", "isvc/llama-8b", "-n", ns.name, "-o", "name")).toBe(
      "trainingjob.stack.sovereign.dev/bert\ninferenceservice.stack.sovereign.dev/llama-8b\n",
    );
  });

  test("nothing to list: kubectl's message on stderr, exit 0", async () => {
    const result = await stackctl(["get", "rayc", "-n", ns.name, "-l", "nothing=here"]);
    expect(result).toEqual({ code: 0, stdout: "", stderr: `No resources found in ${ns.name} namespace.\n` });
  });

  test("a missing name among found ones: the found ones print, then one error line, exit 5", async () => {
    const result = await stackctl(["get", "tj", "bert", "nope", "-n", ns.name, "-o", "name"]);
    expect(result.stdout).toBe("trainingjob.stack.sovereign.dev/bert\n");
    expect(result.stderr).toBe(`error: trainingjob "nope" not found in namespace ${ns.name}\n`);
    expect(result.code).toBe(5);
  });
});

describe("json and yaml round trips", () => {
  test("-o json is the object the API server has, without managedFields", async () => {
    const json = JSON.parse(await get("tj", "llama-finetune", "-n", ns.name, "-o", "json"));
    const stored = await readObject(trainingJobResource, "llama-finetune", ns.name);
    const { managedFields: _m, ...metadata } = stored.metadata;
    expect(json).toEqual({ ...stored, metadata });
  });

  test("-o yaml parses to the same object, validates, and replaces itself unchanged", async () => {
    const yaml = await get("tj", "llama-finetune", "-n", ns.name, "-o", "yaml");
    const json = JSON.parse(await get("tj", "llama-finetune", "-n", ns.name, "-o", "json"));
    expect(load(yaml)).toEqual(json);
    expect((await stackctl(["validate", "-f", "-"], { input: yaml })).code).toBe(0);
    const replaced = await kubectl(["replace", "-f", "-"], { input: yaml });
    expect(replaced.code, replaced.stderr).toBe(0);
    const after = await readObject(trainingJobResource, "llama-finetune", ns.name);
    expect(after.metadata.generation).toBe(json.metadata.generation);
  });

  test("a listing is a v1 List of every object, in json and yaml alike", async () => {
    const list = JSON.parse(await get("tj,rayc,isvc", "-n", ns.name, "-o", "json"));
    expect(list.kind).toBe("List");
    expect(
      list.items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`),
    ).toEqual([
      "TrainingJob/bert",
      "TrainingJob/llama-finetune",
      "RayCluster/research",
      "InferenceService/llama-8b",
    ]);
    expect(load(await get("tj,rayc,isvc", "-n", ns.name, "-o", "yaml"))).toEqual(list);
  });
});

test("kubectl stack: the plugin through the built kubectl prints what stackctl prints", async () => {
  const bin = mkdtempSync(join(tmpdir(), "kubectl-plugin-"));
  const shim = join(bin, "kubectl-stack");
  writeFileSync(
    shim,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} "$@"\n`,
  );
  chmodSync(shim, 0o755);
  const PATH = [bin, dirname(process.execPath), process.env.PATH].join(delimiter);
  const plugins = await run(toolPath("kubectl"), ["plugin", "list"], { env: { PATH } });
  expect(plugins.stdout).toContain(shim);
  const viaKubectl = await run(toolPath("kubectl"), ["stack", "get", "tj", "-n", ns.name], { env: { PATH } });
  expect(viaKubectl.stderr).toBe("");
  expect(normalize(viaKubectl.stdout)).toBe(normalize(await get("tj", "-n", ns.name)));
  const missing = await run(toolPath("kubectl"), ["stack", "describe", "tj", "nope", "-n", ns.name], {
    env: { PATH },
  });
  expect(missing.code).toBe(5);
});
