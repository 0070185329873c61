// The control plane under the tests is real: the scheduler places pods by extended resources,
// the controller-manager runs workloads, the API server enforces CEL, and kwok plays nodes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { exitCodeAnnotation, runForAnnotation } from "../../cli/dev/kwok-stages.ts";
import { isAlive } from "../../cli/dev/state.ts";
import { toolPath } from "../../cli/dev/tools.ts";
import {
  eventually,
  kubectl,
  loadKubeConfig,
  podAddressPattern,
  runTool,
  testNamespace,
} from "../support/cluster.ts";

const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);

const gpuPod = (name: string, gpus: number, annotations: Record<string, string> = {}): k8s.V1Pod => ({
  metadata: { name, annotations },
  spec: {
    restartPolicy: "Never",
    containers: [
      { name: "main", image: "busybox", resources: { limits: { "nvidia.com/gpu": String(gpus) } } },
    ],
  },
});

async function podWhen(
  ns: string,
  name: string,
  ok: (p: k8s.V1Pod) => boolean,
  what: string,
): Promise<k8s.V1Pod> {
  return eventually(
    async () => {
      const pod = await core.readNamespacedPod({ name, namespace: ns });
      return ok(pod) ? pod : undefined;
    },
    30_000,
    what,
  );
}

describe("the simulated cluster", () => {
  it("schedules a pod asking for 8 NVIDIA GPUs onto an H100 node, where it runs", async () => {
    await using ns = await testNamespace("gpu-fit");
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("eight", 8) });
    const pod = await podWhen(ns.name, "eight", (p) => p.status?.phase === "Running", "the pod to run");
    expect(pod.spec?.nodeName).toMatch(/^h100-\d$/);
    expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    // A loopback address of the cluster's own pod range (127.64.0.0/16, or a later one that no
    // other local cluster holds), never 127.0.0.1 where the control plane listens.
    expect(pod.status?.podIP).toMatch(new RegExp(`^${podAddressPattern}$`));
  });

  it("leaves a pod asking for 9 GPUs Pending with the scheduler's reason", async () => {
    await using ns = await testNamespace("gpu-nofit");
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("nine", 9) });
    const pod = await podWhen(
      ns.name,
      "nine",
      (p) =>
        p.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable") ?? false,
      "the scheduler to give up",
    );
    expect(pod.status?.phase).toBe("Pending");
    expect(pod.status?.conditions?.find((c) => c.type === "PodScheduled")?.message).toContain(
      "Insufficient nvidia.com/gpu",
    );
    const events = await eventually(
      async () => {
        const list = await core.listNamespacedEvent({
          namespace: ns.name,
          fieldSelector: "involvedObject.name=nine",
        });
        return list.items.some((e) => e.reason === "FailedScheduling") ? list.items : undefined;
      },
      30_000,
      "a FailedScheduling event",
    );
    expect(events.length).toBeGreaterThan(0);
  });

  it("runs a Deployment through its ReplicaSet to ready pods (the controller-manager works)", async () => {
    await using ns = await testNamespace("deploy");
    const labels = { app: "web" };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "web", image: "nginx" }] } },
        },
      },
    });
    const deployment = await eventually(
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "web", namespace: ns.name });
        return d.status?.readyReplicas === 3 ? d : undefined;
      },
      60_000,
      "3 ready replicas",
    );
    expect(deployment.status?.replicas).toBe(3);
    const sets = await apps.listNamespacedReplicaSet({ namespace: ns.name });
    expect(sets.items).toHaveLength(1);
  });

  it("completes and fails pods on cue, with the exit code asked for", async () => {
    await using ns = await testNamespace("exits");
    const cue = (code: string) => ({ [exitCodeAnnotation]: code, [runForAnnotation]: "500ms" });
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("ok", 1, cue("0")) });
    await core.createNamespacedPod({ namespace: ns.name, body: gpuPod("killed", 1, cue("137")) });
    const ok = await podWhen(ns.name, "ok", (p) => p.status?.phase === "Succeeded", "the pod to succeed");
    expect(ok.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    const killed = await podWhen(ns.name, "killed", (p) => p.status?.phase === "Failed", "the pod to fail");
    expect(killed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(137);
  });

  it("enforces a CRD's CEL rule in the API server", async () => {
    const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ranges.celtest.sovereign.dev}
spec:
  group: celtest.sovereign.dev
  scope: Namespaced
  names: {plural: ranges, singular: range, kind: Range}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {min: {type: integer}, max: {type: integer}}
            x-kubernetes-validations:
            - {rule: "self.min <= self.max", message: "min must not exceed max"}
`;
    expect((await kubectl(["apply", "-f", "-"], { input: crd })).code).toBe(0);
    try {
      await kubectl(["wait", "--for=condition=Established", "crd/ranges.celtest.sovereign.dev"]);
      await using ns = await testNamespace("cel");
      const range = (min: number, max: number) =>
        `{"apiVersion":"celtest.sovereign.dev/v1","kind":"Range","metadata":{"name":"r${min}-${max}","namespace":"${ns.name}"},"spec":{"min":${min},"max":${max}}}`;
      expect((await kubectl(["create", "-f", "-"], { input: range(1, 2) })).code).toBe(0);
      const rejected = await kubectl(["create", "-f", "-"], { input: range(3, 2) });
      expect(rejected.code).not.toBe(0);
      expect(rejected.stderr).toContain("spec: Invalid value");
      expect(rejected.stderr).toContain("min must not exceed max");
    } finally {
      await kubectl(["delete", "crd", "ranges.celtest.sovereign.dev"]);
    }
  });

  it("is reachable with the built kubectl and helm, which report their real versions", async () => {
    const nodes = await kubectl(["get", "nodes", "-l", "sovereign.dev/pool=mi300x", "-o", "name"]);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout.trim().split("\n")).toEqual(["node/mi300x-0", "node/mi300x-1"]);
    const version = await kubectl(["version", "-o", "json"]);
    const parsed = JSON.parse(version.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(parsed.clientVersion.gitVersion).toBe("v1.36.3");
    expect(parsed.serverVersion.gitVersion).toBe("v1.36.3");
    const helm = await runTool("helm", ["list", "--all-namespaces", "-o", "json"]);
    expect(helm.code).toBe(0);
    expect(JSON.parse(helm.stdout)).toEqual([]);
    expect((await runTool("helm", ["version", "--short"])).stdout).toMatch(/^v4\.3\.1/);
    expect((await runTool("etcd", ["--version"])).stdout).toContain("etcd Version: 3.6.16");
    expect((await runTool("kwok", ["--version"])).stdout).toContain("v0.8.0");
  });
});

describe("stackctl dev", () => {
  const run = promisify(execFile);
  const stackctl = (args: string[], env: NodeJS.ProcessEnv) =>
    run(process.execPath, ["cli/stackctl.ts", "dev", ...args], { env, timeout: 120_000 });

  it("brings the stack up in the background, reports it, and takes it down leaving no process", async () => {
    const state = await mkdtemp(join(tmpdir(), "stackctl-dev-"));
    const env = { ...process.env, XDG_STATE_HOME: state };
    try {
      const up = await stackctl(["up"], env);
      const lastLine = up.stdout.trim().split("\n").at(-1) ?? "";
      expect(lastLine).toMatch(/^export KUBECONFIG=.*kubeconfig$/);
      expect(up.stdout).toMatch(/h100\s+4\s+4\s+32\s+nvidia\.com\/gpu/);
      const kubeconfig = lastLine.replace("export KUBECONFIG=", "");

      const again = await stackctl(["up"], env);
      expect(again.stdout).toContain("already running");

      const status = await stackctl(["status"], env);
      const pids = [...status.stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(8); // the supervisor, five components, the pod runner and the operator
      expect(status.stdout).toMatch(/operator\s+pid \d+\s+running/);
      expect(status.stdout).toMatch(/pod-runner\s+pid \d+\s+running/);
      expect(pids.every(isAlive)).toBe(true);
      const kubectl = (...args: string[]) =>
        run(toolPath("kubectl"), args, { env: { ...env, KUBECONFIG: kubeconfig } });
      expect((await kubectl("get", "nodes", "-o", "name")).stdout.trim().split("\n")).toHaveLength(12);
      // The pools and the demo stack were applied, and the operator runs them.
      await expect
        .poll(
          async () => (await kubectl("get", "tj", "demo-pretrain", "-o", "jsonpath={.status.phase}")).stdout,
          {
            timeout: 60_000,
            interval: 500,
          },
        )
        .toBe("Running");

      await stackctl(["down"], env);
      expect(pids.filter(isAlive)).toEqual([]);
      expect(existsSync(kubeconfig)).toBe(false);
      await expect(stackctl(["status"], env)).rejects.toMatchObject({ code: 1 });
    } finally {
      await stackctl(["down"], env).catch(() => {});
      await rm(state, { recursive: true, force: true });
    }
  });
});
