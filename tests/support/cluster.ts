// What integration tests share: the kubeconfig of the one control plane that
// tests/integration/global-setup.ts starts per run, and a namespace per test.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import { type ToolName, toolPath } from "../../cli/dev/tools.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfigPath: string;
  }
}

export function kubeconfigPath(): string {
  return inject("kubeconfigPath");
}

export function loadKubeConfig(path = kubeconfigPath()): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export interface TestNamespace {
  name: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A fresh namespace; `await using ns = await testNamespace("x")` deletes it afterwards. */
export async function testNamespace(prefix: string, kc = loadKubeConfig()): Promise<TestNamespace> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString("hex")}`.toLowerCase();
  await core.createNamespace({ body: { metadata: { name, labels: { "sovereign.dev/test": "true" } } } });
  // The namespace controller creates the default ServiceAccount; pods wait for it otherwise.
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: "default", namespace: name });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    name,
    async [Symbol.asyncDispose]() {
      await core.deleteNamespace({ name }).catch(() => {});
    },
  };
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of the built tools (kubectl, helm, ...) against the test cluster. */
export function runTool(
  tool: ToolName,
  args: string[],
  opts: { input?: string; kubeconfig?: string; env?: Record<string, string> } = {},
): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(
      toolPath(tool),
      args,
      {
        env: { ...process.env, KUBECONFIG: opts.kubeconfig ?? kubeconfigPath(), ...opts.env },
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export const kubectl = (
  args: string[],
  opts?: { input?: string; kubeconfig?: string },
): Promise<ToolResult> => runTool("kubectl", args, opts);

/**
 * helm against the test cluster, with releases stored in ConfigMaps rather than Secrets:
 * cluster.test.ts expects `helm list -A` (Secret storage) to be empty, and files run in parallel.
 */
export const helm = (args: string[]): Promise<ToolResult> =>
  runTool("helm", args, { env: { HELM_DRIVER: "configmap" } });

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}

/** A pod address of a local cluster: in the /16 of 127.0.0.0/8 it claimed (cli/dev/pod-range.ts). */
export const podAddressPattern = "127\\.(?:6[4-9]|[7-9]\\d|1\\d\\d|2[0-4]\\d|25[0-4])\\.\\d+\\.\\d+";
