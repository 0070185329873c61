// The router's HTTP paths against real engine simulators on loopback addresses: routing to
// every replica, prefix affinity, per-tenant limits, streaming in order, cancellation freeing
// the engine's slot, retries past a dead replica, and bad input mixed with good traffic.
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../operator/log.ts";
import { parseRouterArgs } from "../../router/options.ts";
import { type RunningRouter, startRouter } from "../../router/router.ts";
import { eventually } from "../support/cluster.ts";
import { type EngineSim, loopbackHosts, startEngineSim } from "../support/engine-sims.ts";

/** The parts of OpenAI answers these tests read. */
interface ApiBody {
  error: { message: string; type: string; code: string; param: string | null };
  choices: Array<{ text: string }>;
}

const model = "llama";
let sims: EngineSim[] = [];
let router: RunningRouter;
let dir: string;
const hosts = loopbackHosts(5);
const agent = new Agent({ connections: 256 });

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: ApiBody;
  text: string;
}> {
  const res = await request(`${router.url}${path}`, {
    method: "POST",
    dispatcher: agent,
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json = {} as ApiBody;
  try {
    json = JSON.parse(text) as ApiBody;
  } catch {}
  return { status: res.statusCode, headers: res.headers, json, text };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model,
  max_tokens: 4,
  messages: [{ role: "user", content }],
  ...extra,
});

/** Requests each simulator finished, by address. */
async function served(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of sims) out.set(s.address, await s.metric("vllm:request_success_total"));
  return out;
}

const delta = (after: Map<string, number>, before: Map<string, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));

beforeAll(async () => {
  sims = await Promise.all(
    hosts
      .slice(0, 3)
      .map((host) => startEngineSim({ model, host, env: { SIM_TTFT_MS: "5", SIM_ITL_MS: "2" } })),
  );
  dir = await mkdtemp(join(tmpdir(), "router-it-"));
  const keys = join(dir, "keys.json");
  writeFileSync(keys, JSON.stringify({ acme: ["key-acme"], beta: ["key-beta"], limited: ["key-limited"] }));
  // A fourth backend where nothing listens: the router must route around it.
  const dead = `${hosts[3]}:9`;
  router = await startRouter(
    parseRouterArgs([
      "--host",
      hosts[4] as string,
      "--port",
      "0",
      ...sims.flatMap((s, i) => ["--backend", `${model}=${s.url},pool=${i === 0 ? "mi300x" : "h100"}`]),
      "--backend",
      `${model}=http://${dead},pool=h100`,
      "--backend",
      "other=http://127.0.0.1:9",
      "--api-keys-file",
      keys,
      "--tenant-limit",
      "limited:rate=1,burst=2,max-queue-wait-seconds=0",
      "--max-body-bytes",
      "65536",
      "--max-header-bytes",
      "8192",
      "--headers-timeout-seconds",
      "1",
      "--upstream-connect-timeout-seconds",
      "1",
      "--cold-start-wait-seconds",
      "0",
    ]),
    silentLogger,
  );
}, 60_000);

afterAll(async () => {
  await router?.close();
  await Promise.all(sims.map((s) => s.stop()));
  await agent.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const acme = { authorization: "Bearer key-acme" };

describe("router against engine simulators", () => {
  it("lists the fronted models", async () => {
    const res = await request(`${router.url}/v1/models`);
    const body = (await res.body.json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id).sort()).toEqual(["llama", "other"]);
  });

  it("sends traffic to every ready replica and routes around one that refuses connections", async () => {
    const before = await served();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => post("/v1/chat/completions", chat(`q${i}`), acme)),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const d = delta(await served(), before);
    for (const s of sims) expect(d.get(s.address), s.address).toBeGreaterThan(0);
    const stats = (await (await request(`${router.url}/router/stats`)).body.json()) as {
      services: Array<{ model: string; replicas: Array<{ address: string; breaker: string; pool: string }> }>;
    };
    const llama = stats.services.find((s) => s.model === model);
    expect(llama?.replicas.find((r) => r.address.endsWith(":9"))?.breaker).not.toBe("closed");
    expect(llama?.replicas.find((r) => r.address === sims[0]?.address)?.pool).toBe("mi300x");
  });

  it("sends a prompt prefix repeated 100 times to one replica", async () => {
    const system = "You are an agent that plans tool calls step by step. ".repeat(20);
    const before = await served();
    for (let i = 0; i < 100; i++) {
      const r = await post(
        "/v1/chat/completions",
        {
          model,
          max_tokens: 2,
          messages: [
            { role: "system", content: system },
            { role: "user", content: `step ${i}` },
          ],
        },
        acme,
      );
      expect(r.status).toBe(200);
    }
    const counts = [...delta(await served(), before).values()].sort((a, b) => b - a);
    expect(counts).toEqual([100, 0, 0]);
  });

  it("streams chunks in order: the streamed text is the non-streamed answer", async () => {
    // With a seed the simulator, like vLLM, generates the same text for the same request.
    const body = { model, prompt: "Tell me a story about routers", max_tokens: 40, seed: 7 };
    const whole = await post("/v1/completions", body, acme);
    expect(whole.status).toBe(200);
    const res = await request(`${router.url}/v1/completions`, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", ...acme },
      body: JSON.stringify({ ...body, stream: true }),
    });
    expect(res.headers["content-type"]).toContain("text/event-stream");
    let text = "";
    let chunks = 0;
    for await (const chunk of res.body) {
      chunks++;
      text += chunk.toString();
    }
    const events = text.split("\n\n").filter((e) => e.startsWith("data: "));
    expect(events.at(-1)).toBe("data: [DONE]");
    const streamed = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ text: string }> })
      .map((e) => e.choices[0]?.text ?? "")
      .join("");
    expect(chunks).toBeGreaterThan(1);
    expect(streamed).toBe(whole.json.choices[0]?.text);
  });

  it("frees the engine's slot when a streaming client goes away", async () => {
    const target = sims[1] as EngineSim;
    const slowRouterBody = JSON.stringify({
      model,
      prompt: "x",
      max_tokens: 30_000,
      stream: true,
      ignore_eos: true,
    });
    // A session pins the stream to one replica, whose running count we can watch.
    const sessionFor = async (): Promise<string> => {
      for (let i = 0; i < 200; i++) {
        const id = `session-${i}`;
        const before = await served();
        await post("/v1/completions", { model, prompt: "x", max_tokens: 1 }, { ...acme, "x-session-id": id });
        const d = delta(await served(), before);
        if (d.get(target.address) === 1) return id;
      }
      throw new Error("no session landed on the target replica");
    };
    const session = await sessionFor();
    const socket = connect({ host: new URL(router.url).hostname, port: router.port });
    await once(socket, "connect");
    socket.write(
      `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer key-acme\r\nx-session-id: ${session}\r\nContent-Length: ${Buffer.byteLength(slowRouterBody)}\r\n\r\n${slowRouterBody}`,
    );
    await once(socket, "data");
    await eventually(
      async () => ((await target.snapshot()).running >= 1 ? true : undefined),
      10_000,
      "the stream to run",
    );
    socket.destroy();
    await eventually(
      async () => ((await target.snapshot()).running === 0 ? true : undefined),
      10_000,
      "the slot to be freed",
    );
  });

  it("answers a tenant over its rate with 429 and Retry-After while another tenant succeeds", async () => {
    const limited = await Promise.all(
      Array.from({ length: 6 }, () =>
        post("/v1/chat/completions", chat("hi"), { authorization: "Bearer key-limited" }),
      ),
    );
    const others = await Promise.all(
      Array.from({ length: 6 }, () =>
        post("/v1/chat/completions", chat("hi"), { authorization: "Bearer key-beta" }),
      ),
    );
    const rejected = limited.filter((r) => r.status === 429);
    expect(rejected.length).toBeGreaterThanOrEqual(3);
    expect(limited.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const r of rejected) {
      expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(r.json.error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    }
    expect(others.map((r) => r.status)).toEqual(others.map(() => 200));
  });

  it("gives bad input a clear error, mixed with good traffic that still succeeds", async () => {
    const good = Array.from({ length: 20 }, (_, i) => post("/v1/chat/completions", chat(`good ${i}`), acme));
    const bad = await promiseAll({
      malformed: post("/v1/chat/completions", '{"model": "llama", "messages": [', acme),
      missingModel: post("/v1/chat/completions", { messages: [] }, acme),
      unknownModel: post("/v1/chat/completions", { ...chat("x"), model: "gpt-17" }, acme),
      tooLarge: post("/v1/chat/completions", chat("x".repeat(70_000)), acme),
      badKey: post("/v1/chat/completions", chat("x"), { authorization: "Bearer wrong" }),
      noKey: post("/v1/chat/completions", chat("x")),
      noReplica: post("/v1/chat/completions", { ...chat("x"), model: "other" }, acme),
      wrongMethod: request(`${router.url}/v1/chat/completions`, { dispatcher: agent }).then(async (r) => ({
        status: r.statusCode,
        json: await r.body.json(),
      })),
    });
    const headerFlood = rawExchange(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 400 }, (_, i) => `x-flood-${i}: ${"y".repeat(40)}`).join("\r\n")}\r\n\r\n`,
    );
    const slowHead = rawExchange("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", { keepOpen: true });
    const garbage = rawExchange("NOT HTTP AT ALL\r\n\r\n");

    const { malformed, missingModel, unknownModel, tooLarge, badKey, noKey, noReplica, wrongMethod } = bad;
    expect(malformed).toMatchObject({
      status: 400,
      json: { error: { type: "invalid_request_error", code: "invalid_request" } },
    });
    expect(missingModel).toMatchObject({
      status: 400,
      json: { error: { code: "missing_model", param: "model" } },
    });
    expect(unknownModel).toMatchObject({
      status: 404,
      json: { error: { code: "model_not_found", param: "model" } },
    });
    expect(unknownModel.json.error.message).toContain("llama");
    expect(tooLarge).toMatchObject({ status: 413, json: { error: { code: "request_too_large" } } });
    expect(badKey).toMatchObject({ status: 401, json: { error: { code: "invalid_api_key" } } });
    expect(noKey.status).toBe(401);
    expect(noReplica).toMatchObject({ status: 502, json: { error: { code: "upstream_error" } } });
    expect(wrongMethod).toMatchObject({ status: 405 });
    expect(await headerFlood).toMatch(/^HTTP\/1.1 431 [\s\S]*"code":"request_header_fields_too_large"/);
    expect(await slowHead).toMatch(/^HTTP\/1.1 408 [\s\S]*"code":"request_timeout"/);
    expect(await garbage).toMatch(/^HTTP\/1.1 400 /);
    const goods = await Promise.all(good);
    expect(goods.map((r) => r.status)).toEqual(goods.map(() => 200));
    // And the router keeps serving.
    expect((await post("/v1/chat/completions", chat("after"), acme)).status).toBe(200);
  });

  it("counts requests by tenant, model and code and exposes per-endpoint load", async () => {
    const text = await (await request(`${router.url}/metrics`)).body.text();
    expect(text).toMatch(/sovereign_router_requests_total\{tenant="acme",model="llama",code="200"\} \d+/);
    expect(text).toMatch(/sovereign_router_requests_total\{tenant="limited",model="llama",code="429"\} \d+/);
    expect(text).toMatch(/sovereign_router_time_to_first_token_seconds_count\{model="llama"\} [1-9]/);
    expect(text).toContain(
      `sovereign_router_endpoint_engine_running{model="llama",service="static:llama",endpoint="${sims[0]?.address}"`,
    );
  });
});

/** Writes raw bytes to the router and returns what it answers before closing. */
function rawExchange(data: string, opts: { keepOpen?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: new URL(router.url).hostname, port: router.port });
    let out = "";
    socket.on("data", (c) => {
      out += c.toString();
    });
    socket.on("error", () => resolve(out));
    socket.on("close", () => resolve(out));
    socket.on("connect", () => {
      socket.write(data);
      if (!opts.keepOpen) return;
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(data.slice(0, 40))}: ${out}`));
    }, 15_000).unref();
  });
}

/** Promise.all over an object's values, keeping the keys. */
async function promiseAll<T extends Record<string, Promise<unknown>>>(
  o: T,
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  const entries = await Promise.all(Object.entries(o).map(async ([k, p]) => [k, await p] as const));
  return Object.fromEntries(entries) as { [K in keyof T]: Awaited<T[K]> };
}

async function once(emitter: NodeJS.EventEmitter, event: string): Promise<void> {
  await new Promise<void>((resolve) => emitter.once(event, () => resolve()));
}
