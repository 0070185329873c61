// What the stackctl integration tests share: the CLI run as its own process against the test
// cluster, status written the way the operator would, and normalisation for golden tables.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import type { KindDefinition } from "../../crds/index.ts";
import { kubeconfigPath, loadKubeConfig } from "../support/cluster.ts";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const cliPath = fileURLToPath(new URL("../../cli/stackctl.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

const childEnv = (opts: CliOptions): NodeJS.ProcessEnv => ({
  ...process.env,
  KUBECONFIG: kubeconfigPath(),
  ...opts.env,
});

/** Runs a command line (stackctl, kubectl, ...) and collects its output and exit code. */
export function run(file: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: childEnv(opts), cwd: opts.cwd ?? repoRoot, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? "");
  });
}

export const stackctl = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  run(process.execPath, [cliPath, ...args], opts);

/** A stackctl that keeps running (--wait, -f), with its output so far. */
export function startStackctl(args: string[], opts: CliOptions = {}) {
  const child: ChildProcess = spawn(process.execPath, [cliPath, ...args], {
    env: childEnv(opts),
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result: CliResult = { code: -1, stdout: "", stderr: "" };
  child.stdout?.on("data", (c: Buffer) => {
    result.stdout += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    result.stderr += c.toString();
  });
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code) => {
      result.code = code ?? 1;
      resolve(result);
    }),
  );
  return { child, result, done };
}

const custom = () => loadKubeConfig().makeApiClient(k8s.CustomObjectsApi);

/** Merges `status` into the object's status subresource, as a controller would write it. */
export async function writeStatus(
  kind: KindDefinition,
  name: string,
  namespace: string | undefined,
  status: Record<string, unknown>,
): Promise<void> {
  const { group, version, plural } = kind;
  const body = { status };
  const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
  if (namespace === undefined)
    await custom().patchClusterCustomObjectStatus({ group, version, plural, name, body }, merge);
  else
    await custom().patchNamespacedCustomObjectStatus(
      { group, version, plural, namespace, name, body },
      merge,
    );
}

export async function readObject(
  kind: KindDefinition,
  name: string,
  namespace?: string,
): Promise<Record<string, unknown> & { metadata: Record<string, unknown> }> {
  const { group, version, plural } = kind;
  return namespace === undefined
    ? await custom().getClusterCustomObject({ group, version, plural, name })
    : await custom().getNamespacedCustomObject({ group, version, plural, namespace, name });
}

/** Waits until the object exists (the CLI under test creates it), then returns it. */
export async function whenCreated(kind: KindDefinition, name: string, namespace: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await readObject(kind, name, namespace);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Waits until `text()` contains `needle`. */
export async function untilOutput(text: () => string, needle: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!text().includes(needle)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${JSON.stringify(needle)} in:\n${text()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Ages change from run to run; AGE is the last column of every table, which kubectl's
 * tabwriter leaves unpadded, so replacing it leaves the alignment intact.
 */
export function normalizeAges(table: string): string {
  return table
    .split("\n")
    .map((line) => (line === "" || /^(NAMESPACE|NAME)\s/.test(line) ? line : line.replace(/\S+$/, "<age>")))
    .join("\n");
}

export const condition = (type: string, status: string, reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
});
