// Serving for real on the simulated cluster: an InferenceService with its router on an NVIDIA
// and an AMD pool; the pod runner (the dev cluster's kubelet stand-in) runs the engine
// simulator for each engine pod with the pod's own vLLM arguments, and the router as itself
// with its ServiceAccount's token; requests go to the router pod's loopback address.
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import { labels } from "../../crds/index.ts";
import { builtin } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import {
  engineMetric,
  isReady,
  type Pod,
  type ServingTestbed,
  startServingTestbed,
} from "../support/serving.ts";

const model = "llama-serving";
const service = "chat";
let bed: ServingTestbed;
let routerUrl: string;

const podsOf = (group: "server" | "router") => bed.podsOf(service, group);
const served = (pod: Pod) => engineMetric(pod, "vllm:request_success_total");

/**
 * A body over the router's limit, by node:http rather than fetch: the router answers 413 as soon
 * as it reads Content-Length and closes, which fetch may report as a reset of the upload; the
 * answer is what counts.
 */
function oversizedPost(): Promise<{ status: number; json(): Promise<unknown> }> {
  const body = Buffer.from(
    JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(16 << 20) }] }),
  );
  const url = new URL(`${routerUrl}/v1/chat/completions`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          authorization: "Bearer key-alpha",
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            json: async () => JSON.parse(Buffer.concat(chunks).toString()),
          }),
        );
      },
    );
    // The upload may be cut once the answer is in; only a request with no answer fails.
    req.on("error", (error) => setTimeout(() => reject(error), 1000));
    req.end(body);
  });
}

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
  await bed.client.patch(
    builtin.pods,
    pod.metadata.name ?? "",
    bed.ns.name,
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
  bed = await startServingTestbed("serving");
  await bed.core.createNamespacedSecret({
    namespace: bed.ns.name,
    body: {
      metadata: { name: "tenant-keys" },
      stringData: { alpha: "key-alpha", beta: "key-beta\nkey-beta-2" },
    },
  });
  await bed.client.create(resourceTypes.inferenceService, {
    apiVersion: resourceTypes.inferenceService.apiVersion,
    kind: "InferenceService",
    metadata: { name: service, namespace: bed.ns.name },
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
      accelerators: { count: 1, pools: bed.pools.map((p) => p.name) },
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
  await eventually(
    async () => {
      const engines = await podsOf("server");
      return engines.length === 4 && engines.every(isReady) ? true : undefined;
    },
    120_000,
    "four ready engines",
  );
  routerUrl = await bed.routerUrl(service);
}, 180_000);

afterAll(async () => {
  await bed?.stop();
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
      new Set(bed.pools.map((p) => p.name)),
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
    // Sequential requests keep every replica's load near zero, so the prefix's owner keeps them,
    // but for the few a scrape counts as still running there (the engine's figures trail by up
    // to a scrape interval): then the bound sends one elsewhere. Round robin would give 25 each.
    expect(Math.max(...deltas)).toBeGreaterThanOrEqual(80);
    expect(deltas.reduce((a, b) => a + b, 0)).toBe(100);
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
        const running = await Promise.all(engines.map((p) => engineMetric(p, "vllm:num_requests_running")));
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
      oversizedPost(),
      post(JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }), {
        authorization: "Bearer wrong",
      }),
      post(JSON.stringify({ model, messages: [] }), floodHeaders),
    ]);
    const [malformed, missing, unknown, oversized, badKey, flood] = bad as [
      Response,
      Response,
      Response,
      { status: number; json(): Promise<unknown> },
      Response,
      Response,
    ];
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
