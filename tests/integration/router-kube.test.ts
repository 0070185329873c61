// Kube discovery against the real API server, in the mode the operator deploys (--pods): the
// router watches engine Pods by label. The Pods are bound to a simulated node of this file's
// own, kwok gives them loopback addresses, and this test plays their kubelet: it starts an
// engine simulator at each pod's IP and writes their readiness. Only loopback is ever dialled.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { builtin, KubeClient } from "../../operator/index.ts";
import { silentLogger } from "../../operator/log.ts";
import { parseRouterArgs } from "../../router/options.ts";
import { type RunningRouter, startRouter } from "../../router/router.ts";
import {
  eventually,
  kubeconfigPath,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import { type EngineSim, loopbackHosts, startEngineSim } from "../support/engine-sims.ts";

const model = "llama-8b";
const selector = "app=llama-sim";
const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const client = new KubeClient({ kubeConfig: kc });
const agent = new Agent({ connections: 64 });
const nodePool = {
  name: `router-kube-${randomBytes(3).toString("hex")}`,
  nodes: 1,
  cpu: "64",
  memory: "256Gi",
};
const [node] = simulatedNodes({
  ...nodePool,
  taints: [{ key: "sovereign.dev/dedicated", value: nodePool.name, effect: "NoSchedule" }],
});
const nodeName = node?.metadata?.name ?? "";
let ns: TestNamespace;
let sims: EngineSim[] = [];
let router: RunningRouter;

/** An engine Pod on this file's node, running (kwok) with a loopback IP, and its simulator there. */
async function enginePod(name: string): Promise<EngineSim> {
  await core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name, labels: { app: "llama-sim" } },
      spec: {
        nodeName,
        tolerations: [{ key: "sovereign.dev/dedicated", operator: "Exists", effect: "NoSchedule" }],
        containers: [
          {
            name: "server",
            image: "vllm/vllm-openai:v0.11.0",
            ports: [{ name: "http", containerPort: 8000 }],
          },
        ],
      },
    },
  });
  const ip = await eventually(
    async () => (await core.readNamespacedPod({ name, namespace: ns.name })).status?.podIP,
    30_000,
    `an IP for pod ${name}`,
  );
  return startEngineSim({
    model,
    host: ip,
    args: ["--port", "8000"],
    env: { SIM_TTFT_MS: "2", SIM_ITL_MS: "1" },
  });
}

/** What a kubelet's readiness probe would write. */
async function setReady(name: string, ready: boolean): Promise<void> {
  const status = ready ? "True" : "False";
  const now = new Date().toISOString();
  await client.patch(
    builtin.pods,
    name,
    ns.name,
    {
      status: {
        conditions: [
          { type: "Ready", status, lastTransitionTime: now },
          { type: "ContainersReady", status, lastTransitionTime: now },
        ],
      },
    },
    "strategic",
    { subresource: "status" },
  );
}

async function chat(key = "key-a"): Promise<number> {
  const res = await request(`${router.url}/v1/chat/completions`, {
    method: "POST",
    dispatcher: agent,
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.dump();
  return res.statusCode;
}

async function servedBy(n: number): Promise<number[]> {
  const before = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
  const codes = await Promise.all(Array.from({ length: n }, () => chat()));
  expect(codes).toEqual(codes.map(() => 200));
  const after = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
  return after.map((v, i) => v - (before[i] as number));
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

beforeAll(async () => {
  ns = await testNamespace("router-kube");
  if (node) await core.createNode({ body: node });
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: { metadata: { name: "router-keys" }, data: { team: b64("key-a\nkey-b\n") } },
  });
  sims = await Promise.all(["a", "b"].map(enginePod));
  router = await startRouter(
    parseRouterArgs([
      "--host",
      loopbackHosts(1)[0] as string,
      "--port",
      "0",
      "--namespace",
      ns.name,
      "--pods",
      `${model}=${selector}`,
      "--kubeconfig",
      kubeconfigPath(),
      "--api-keys-secret",
      "router-keys",
    ]),
    silentLogger,
  );
  await eventually(
    async () => ((await request(`${router.url}/readyz`)).statusCode === 200 ? true : undefined),
    30_000,
    "readyz",
  );
}, 120_000);

afterAll(async () => {
  await router?.close();
  await Promise.all(sims.map((s) => s.stop()));
  await agent.close();
  await ns?.[Symbol.asyncDispose]();
  await client.delete(builtin.nodes, nodeName).catch(() => {});
  await client.close();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("kube discovery", () => {
  it("routes to every ready engine pod", async () => {
    const counts = await servedBy(30);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0);
  });

  it("stops sending to a pod within a second of it turning unready", async () => {
    await setReady("a", false);
    await pause(1000);
    const counts = await servedBy(20);
    expect(counts).toEqual([0, 20]);
  });

  it("starts sending to a new pod within a second, without a restart", async () => {
    sims.push(await enginePod("c"));
    await pause(1000);
    const counts = await servedBy(30);
    expect(counts[0]).toBe(0);
    expect(counts[2]).toBeGreaterThan(0);
  });

  it("holds a request while no pod is ready and sends it when one comes back", async () => {
    // No ready pod: the model has no replica, and a request waits (up to the default 60 s
    // cold-start wait) instead of failing.
    await Promise.all(["b", "c"].map((name) => setReady(name, false)));
    await eventually(
      async () => {
        const stats = (await (await request(`${router.url}/router/stats`)).body.json()) as {
          services: Array<{ readyReplicas: number }>;
        };
        return stats.services[0]?.readyReplicas === 0 ? true : undefined;
      },
      5000,
      "no ready replica",
    );
    const held = chat();
    await pause(300);
    await setReady("b", true);
    // The held request goes through as soon as the replica is back.
    expect(await held).toBe(200);
  });

  it("takes API keys from the Secret and follows its changes", async () => {
    expect(await chat("key-b")).toBe(200);
    expect(await chat("key-new")).toBe(401);
    await core.replaceNamespacedSecret({
      name: "router-keys",
      namespace: ns.name,
      body: { metadata: { name: "router-keys" }, data: { team: b64("key-a"), other: b64("key-new") } },
    });
    // The Secret is read again every 5 s.
    await eventually(
      async () => ((await chat("key-new")) === 200 ? true : undefined),
      15_000,
      "the new key to work",
    );
    expect(await chat("key-b")).toBe(401);
  });
});
