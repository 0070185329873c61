// Serving for real on the simulated cluster: an InferenceService with its router on an NVIDIA
// and an AMD pool; the pod runner (the dev cluster's kubelet stand-in) runs the engine
// simulator for each engine pod with the pod's own vLLM arguments, and the router as itself
// with its ServiceAccount's token; requests go to the router pod's loopback address.
//
// Isolation on the shared cluster: two pools of this file's own tainted nodes, a namespace of
// its own, a pod runner limited to that namespace.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedPool, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import { labels } from "../../crds/index.ts";
import { builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import {
  eventually,
  kubeconfigPath,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import { namespaceManager } from "../support/workloads.ts";

const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const client = new KubeClient({ kubeConfig: kc });
const suffix = randomBytes(3).toString("hex");
const taintKey = "sovereign.dev/dedicated";
const model = "llama-serving";
const service = "chat";

const pools: SimulatedPool[] = [
  {
    name: `srv-nv-${suffix}`,
    nodes: 1,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 2, memoryGiB: 80 },
    cpu: "64",
    memory: "512Gi",
    taints: [{ key: taintKey, value: `srv-nv-${suffix}`, effect: "NoSchedule" }],
  },
  {
    name: `srv-amd-${suffix}`,
    nodes: 1,
    accelerator: { vendor: "amd", model: "MI300X", devicesPerNode: 2, memoryGiB: 192 },
    cpu: "64",
    memory: "512Gi",
    taints: [{ key: taintKey, value: `srv-amd-${suffix}`, effect: "NoSchedule" }],
  },
];

let ns: TestNamespace;
let manager: Manager;
let runner: ChildProcess;
let runnerDir: string;
let routerUrl: string;

type Pod = KubeObject & {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
};

const isReady = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

async function podsOf(group: "server" | "router"): Promise<Pod[]> {
  const list = await client.list<Pod>(builtin.pods, {
    namespace: ns.name,
    query: { labelSelector: `${labels.name}=${service},${labels.group}=${group}` },
  });
  return list.items;
}

/** One counter summed over its series, from an engine's /metrics. */
async function engineCounter(pod: Pod, metric: string): Promise<number> {
  const text = await (await fetch(`http://${pod.status?.podIP}:8000/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

const served = (pod: Pod) => engineCounter(pod, "vllm:request_success_total");

function chat(
  content: string,
  init: { key?: string; stream?: boolean; maxTokens?: number; signal?: AbortSignal } = {},
) {
  return fetch(`${routerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${init.key ?? "key-alpha"}`,
    },
    body: JSON.stringify({
      model,
      stream: init.stream ?? false,
      max_tokens: init.maxTokens ?? 4,
      messages: [{ role: "user", content }],
    }),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

async function setReady(pod: Pod, ready: boolean): Promise<void> {
  const status = ready ? "True" : "False";
  const now = new Date().toISOString();
  await client.patch(
    builtin.pods,
    pod.metadata.name ?? "",
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

beforeAll(async () => {
  ns = await testNamespace("serving", kc);
  for (const pool of pools) {
    for (const body of simulatedNodes(pool)) await core.createNode({ body });
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: "AcceleratorPool",
      metadata: { name: pool.name },
      spec: {
        vendor: pool.accelerator?.vendor,
        model: pool.accelerator?.model,
        memoryGiB: pool.accelerator?.memoryGiB,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": pool.name } },
        tolerations: [{ key: taintKey, operator: "Equal", value: pool.name, effect: "NoSchedule" }],
      },
    });
  }
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: {
      metadata: { name: "tenant-keys" },
      stringData: { alpha: "key-alpha", beta: "key-beta\nkey-beta-2" },
    },
  });
  runnerDir = await mkdtemp(join(tmpdir(), "pod-runner-"));
  runner = spawn(
    process.execPath,
    [
      join(repoRoot, "cli/dev/pod-runner/main.ts"),
      `--kubeconfig=${kubeconfigPath()}`,
      `--dir=${runnerDir}`,
      `--namespace=${ns.name}`,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  manager = namespaceManager(kc, ns.name, { logEnv: "SERVING_TEST_LOG" });
  manager.add(inferenceServiceControllerWith(new Admitter(manager)));
  await manager.start();
  await manager.waitForCacheSync();

  await client.create(resourceTypes.inferenceService, {
    apiVersion: resourceTypes.inferenceService.apiVersion,
    kind: "InferenceService",
    metadata: { name: service, namespace: ns.name },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: model },
      engine: {
        image: "vllm/vllm-openai:v0.11.0",
        maxModelLen: 32768,
        env: [
          { name: "SIM_TTFT_MS", value: "5" },
          { name: "SIM_ITL_MS", value: "2" },
        ],
      },
      accelerators: { count: 1, pools: pools.map((p) => p.name) },
      replicas: 4,
      router: {
        enabled: true,
        apiKeysSecret: "tenant-keys",
        limits: {
          requestsPerSecond: 50,
          burst: 50,
          maxConcurrency: 32,
          maxQueue: 20,
          maxQueueWaitSeconds: 2,
        },
      },
    },
  });
  const routers = await eventually(
    async () => {
      const [engines, routerPods] = await Promise.all([podsOf("server"), podsOf("router")]);
      const ready = routerPods.filter(isReady);
      return engines.length === 4 && engines.every(isReady) && ready.length > 0 ? ready : undefined;
    },
    120_000,
    "four ready engines and a ready router",
  );
  routerUrl = `http://${routers[0]?.status?.podIP}:8000`;
}, 180_000);

afterAll(async () => {
  await manager?.stop();
  if (runner && runner.exitCode === null) {
    const gone = new Promise((r) => runner.once("exit", r));
    runner.kill("SIGTERM");
    await gone;
  }
  await ns?.[Symbol.asyncDispose]();
  for (const pool of pools) {
    await client.delete(resourceTypes.acceleratorPool, pool.name).catch(() => {});
    for (const node of simulatedNodes(pool))
      await client.delete(builtin.nodes, node.metadata?.name ?? "").catch(() => {});
  }
  await client.close();
  if (runnerDir) await rm(runnerDir, { recursive: true, force: true });
});

describe("serving through the router", () => {
  it("lists the model and reaches every ready replica on both vendors", async () => {
    const models = (await (
      await fetch(`${routerUrl}/v1/models`, { headers: { authorization: "Bearer key-alpha" } })
    ).json()) as {
      data: { id: string }[];
    };
    expect(models.data.map((m) => m.id)).toContain(model);
    const engines = await podsOf("server");
    expect(new Set(engines.map((p) => p.metadata.labels?.[labels.pool]))).toEqual(
      new Set(pools.map((p) => p.name)),
    );
    const before = await Promise.all(engines.map(served));
    // Distinct prompts, several at a time, so load spreads.
    for (let batch = 0; batch < 6; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => chat(`question ${batch}-${i} ${randomBytes(8).toString("hex")}`)),
      );
      for (const a of answers) expect(a.status).toBe(200);
    }
    const after = await Promise.all(engines.map(served));
    for (const [i, pod] of engines.entries()) {
      expect(after[i] ?? 0, `${pod.metadata.name} got no request`).toBeGreaterThan(before[i] ?? 0);
    }
  });

  it("sends a repeated prompt prefix to one replica", async () => {
    const engines = await podsOf("server");
    const before = await Promise.all(engines.map(served));
    const system = `You are an agent. ${"Follow the plan carefully and call tools when needed. ".repeat(40)}`;
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${routerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer key-alpha" },
        body: JSON.stringify({
          model,
          max_tokens: 2,
          messages: [
            { role: "system", content: system },
            { role: "user", content: `step ${i}` },
          ],
        }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await Promise.all(engines.map(served));
    const deltas = after.map((n, i) => n - (before[i] ?? 0));
    // Sequential requests never raise a replica's load past the bound, so all stay together.
    expect(Math.max(...deltas)).toBe(100);
  });

  it("stops sending to a replica within a second of it turning unready", async () => {
    const engines = await podsOf("server");
    const victim = engines[0] as Pod;
    await setReady(victim, false);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const before = await served(victim);
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => chat(`after unready ${i} ${randomBytes(8).toString("hex")}`)),
      );
      for (const a of answers) expect(a.status).toBe(200);
      expect(await served(victim)).toBe(before);
    } finally {
      await setReady(victim, true);
    }
  });

  it("answers a tenant over its limits with 429 and Retry-After while another tenant is served", async () => {
    const burst = Array.from({ length: 300 }, (_, i) => chat(`burst ${i}`, { key: "key-beta" }));
    const steady: Response[] = [];
    for (let i = 0; i < 5; i++) steady.push(await chat(`steady ${i}`, { key: "key-alpha" }));
    const answers = await Promise.all(burst);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    const retryAfter = Number(limited[0]?.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const body = (await limited[0]?.json()) as { error: { message: string; type: string; code: unknown } };
    expect(body.error.message).toMatch(/\S/);
    for (const a of steady) expect(a.status).toBe(200);
    await Promise.all(answers.map((a) => (a.bodyUsed ? undefined : a.body?.cancel())));
  });

  it("streams chunks in order and frees the engine's slot when the client goes away", async () => {
    const controller = new AbortController();
    const res = await chat("tell me a long story", {
      stream: true,
      maxTokens: 2000,
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    while ((text.match(/^data: /gm) ?? []).length < 5) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const chunks = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { id: string; choices: { delta: { role?: string } }[] });
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    controller.abort();
    const engines = await podsOf("server");
    await eventually(
      async () => {
        const running = await Promise.all(engines.map((p) => engineCounter(p, "vllm:num_requests_running")));
        return running.every((n) => n === 0) ? true : undefined;
      },
      10_000,
      "no request running at the engines after the client left",
    );
  });

  it("answers bad input with OpenAI-style errors and keeps serving good requests", async () => {
    const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
      fetch(`${routerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer key-alpha", ...headers },
        body,
      });
    const good = Array.from({ length: 10 }, (_, i) => chat(`good ${i}`));
    const floodHeaders = Object.fromEntries(
      Array.from({ length: 2000 }, (_, i) => [`x-flood-${i}`, "y".repeat(40)]),
    );
    const bad = await Promise.all([
      post("{not json"),
      post(JSON.stringify({ messages: [{ role: "user", content: "hi" }] })),
      post(JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] })),
      post(
        JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(64 * 1024 * 1024) }] }),
      ).catch(() => undefined),
      post(JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }), {
        authorization: "Bearer wrong",
      }),
      post(JSON.stringify({ model, messages: [] }), floodHeaders),
    ]);
    const [malformed, missing, unknown, oversized, badKey, flood] = bad;
    expect(malformed?.status).toBe(400);
    expect(missing?.status).toBe(400);
    expect(unknown?.status).toBe(404);
    expect(oversized?.status).toBe(413);
    expect(badKey?.status).toBe(401);
    expect(flood?.status).toBe(431);
    for (const res of [malformed, missing, unknown, oversized, badKey]) {
      const body = (await res?.json()) as { error?: { message?: string; type?: string } };
      expect(body.error?.message).toMatch(/\S/);
      expect(body.error?.type).toMatch(/\S/);
    }
    for (const res of await Promise.all(good)) expect(res.status).toBe(200);
  });
});
