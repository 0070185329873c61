// User errors end as one line on stderr and an exit code per class, with no stack trace unless
// --verbose: usage, unknown kind, no cluster, not found, invalid manifest, forbidden, failure.
// And install: the CRDs only, or with the operator's Helm chart.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toolPath } from "../../cli/dev/tools.ts";
import { exitCodes } from "../../cli/output/exit-codes.ts";
import { resources } from "../../crds/index.ts";
import { kubeconfigPath, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { type CliResult, run, stackctl } from "./cli-harness.ts";

const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let ns: TestNamespace;
const dir = mkdtempSync(join(tmpdir(), "stackctl-errors-"));

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A kubeconfig for the test cluster's CA, with another server or user. */
function kubeconfigWith(name: string, edit: (config: Record<string, unknown>) => void): string {
  const config = JSON.parse(JSON.stringify(k8s.loadYaml(readFileSync(kubeconfigPath(), "utf8")))) as Record<
    string,
    unknown
  >;
  edit(config);
  const path = join(dir, name);
  writeFileSync(path, k8s.dumpYaml(config));
  return path;
}

let unreachable: string;
let forbidden: string;

beforeAll(async () => {
  ns = await testNamespace("cli-errors");
  const port = await closedPort();
  unreachable = kubeconfigWith("unreachable", (c) => {
    for (const cluster of c.clusters as { cluster: { server: string } }[])
      cluster.cluster.server = `https://127.0.0.1:${port}`;
  });
  // A service account that RBAC grants nothing.
  await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "nobody" } } });
  const token = await core.createNamespacedServiceAccountToken({
    name: "nobody",
    namespace: ns.name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  forbidden = kubeconfigWith("forbidden", (c) => {
    c.users = [{ name: "nobody", user: { token: token.status?.token } }];
    for (const context of c.contexts as { context: { user: string } }[]) context.context.user = "nobody";
  });
});

afterAll(async () => {
  await ns?.[Symbol.asyncDispose]();
});

/** One line, "error: ...", no stack frames. */
function expectOneLine(result: CliResult, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe("one exit code per class of error", () => {
  test.for([
    ["unknown flag", ["get", "tj", "--bogus"], exitCodes.usage, /unknown option '--bogus'/],
    [
      "bad flag value",
      ["train", "submit", "--name", "x", "--image", "i", "--nodes", "many", "--", "p"],
      exitCodes.usage,
      /--nodes/,
    ],
    ["unknown command", ["gte"], exitCodes.usage, /unknown command 'gte'/],
    ["missing argument", ["describe", "tj"], exitCodes.usage, /describe tj needs a NAME/],
    ["unknown kind", ["get", "widgets"], exitCodes.unknownKind, /unknown kind "widgets"/],
    ["unknown kind in describe", ["describe", "widget/x"], exitCodes.unknownKind, /unknown kind "widget"/],
    ["unknown context", ["--context", "nowhere", "get", "tj"], exitCodes.noCluster, /context "nowhere"/],
    [
      "missing kubeconfig",
      ["--kubeconfig", "/nonexistent/config", "get", "tj"],
      exitCodes.noCluster,
      /does not exist/,
    ],
    [
      "invalid manifest",
      ["serve", "http://example.com/m", "--name", "m", "--dry-run"],
      exitCodes.invalidManifest,
      /spec\.model\.uri/,
    ],
  ] as const)("%s", async ([, args, code, message]) => {
    expectOneLine(await stackctl([...args]), code, message);
  });

  test("no cluster reachable: the server is named", async () => {
    const result = await stackctl(["--kubeconfig", unreachable, "get", "tj"]);
    expectOneLine(
      result,
      exitCodes.noCluster,
      /^error: no cluster reachable at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/m,
    );
    const viaEnv = await stackctl(["pools"], { env: { KUBECONFIG: unreachable } });
    expectOneLine(viaEnv, exitCodes.noCluster, /no cluster reachable/);
  });

  test.for([
    ["get", ["get", "tj", "nope"]],
    ["describe", ["describe", "rayc/nope"]],
    ["logs", ["logs", "isvc/nope"]],
  ] as const)("object not found: %s", async ([, args]) => {
    expectOneLine(
      await stackctl([...args, "-n", ns.name]),
      exitCodes.notFound,
      /"nope" not found in namespace/,
    );
  });

  test("a workload without pods has no logs yet: not found", async () => {
    expect((await stackctl(["-n", ns.name, "serve", "hf://a/b", "--name", "nopods"])).code).toBe(0);
    expectOneLine(
      await stackctl(["logs", "isvc/nopods", "-n", ns.name]),
      exitCodes.notFound,
      /has no pods yet/,
    );
  });

  test("logs that the node cannot serve: the server's reason, exit 1", async () => {
    expect((await stackctl(["-n", ns.name, "ray", "create", "withpod"])).code).toBe(0);
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: {
          name: "withpod-head",
          labels: {
            "stack.sovereign.dev/kind": "raycluster",
            "stack.sovereign.dev/name": "withpod",
            "stack.sovereign.dev/ray-node-type": "head",
          },
        },
        spec: {
          nodeSelector: { "kubernetes.io/hostname": "cpu-1" },
          containers: [{ name: "ray-head", image: "rayproject/ray:2.52.0" }],
        },
      },
    });
    // kwok's simulated kubelets serve no logs, so the API server's reason must arrive as one
    // line; should the simulation ever serve them, the (empty) log is fine too.
    const result = await stackctl(["logs", "rayc/withpod", "-n", ns.name]);
    if (result.code !== 0)
      expectOneLine(result, exitCodes.failed, /cannot read the logs of pod withpod-head/);
  });

  test("forbidden: a service account without RBAC", async () => {
    const result = await stackctl(["--kubeconfig", forbidden, "get", "tj", "-n", ns.name]);
    expectOneLine(result, exitCodes.forbidden, /forbidden/);
  });

  test("--verbose adds the stack trace", async () => {
    const result = await stackctl(["--verbose", "get", "tj", "nope", "-n", ns.name]);
    expect(result.code).toBe(exitCodes.notFound);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  test("--help lists the exit codes", async () => {
    const help = await stackctl(["--help"]);
    expect(help.code).toBe(0);
    for (const code of Object.values(exitCodes))
      expect(help.stdout).toMatch(new RegExp(`^ +${code} {2}\\S`, "m"));
  });
});

describe("install", () => {
  test("--crds-only: server-side applies every CRD and waits until it is served", async () => {
    const result = await stackctl(["install", "--crds-only"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      `${resources.map((r) => `customresourcedefinition.apiextensions.k8s.io/${r.crdName} serverside-applied\n`).join("")}${resources.length} CRDs established\n`,
    );
  });

  test("with the chart: the operator as a Helm release next to the CRDs stackctl keeps", async () => {
    const release = `cli-${ns.name.slice(-6)}`;
    const result = await stackctl(["install", "--release", release, "--operator-namespace", ns.name]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`operator: Helm release ${release} deployed in namespace ${ns.name}\n`);
    const helm = await run(toolPath("helm"), ["status", release, "-n", ns.name]);
    expect(helm.stdout).toContain("STATUS: deployed");
    const deployments = await kc
      .makeApiClient(k8s.AppsV1Api)
      .listNamespacedDeployment({ namespace: ns.name });
    expect(deployments.items.map((d) => d.metadata?.name)).toContain(`${release}-sovereign-stack`);
    await run(toolPath("helm"), ["uninstall", release, "-n", ns.name, "--wait"]);
  });
});
