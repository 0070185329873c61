// The simulator over HTTP, started in this process on a loopback port: vLLM's endpoints,
// streaming, errors and metrics, and the engine behaviour a router sees through them.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { Sequence } from "../../cli/dev/engine-sim/engine.ts";
import { type Simulator, simulatorFromArgv } from "../../cli/dev/engine-sim/server.ts";
import { freePort } from "../../cli/dev/loopback.ts";

const running: Simulator[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(argv: string[] = [], env: Record<string, string> = {}): Promise<Simulator> {
  const sim = await simulatorFromArgv(
    ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--host", "127.0.0.1", "--port", "0", ...argv],
    { SIM_ITL_MS: "2", SIM_TTFT_MS: "1", ...env },
  );
  running.push(sim);
  return sim;
}

const post = (sim: Simulator, path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });

/** A sample's value from /metrics, e.g. metric(text, "vllm:num_requests_waiting"). */
function metric(text: string, name: string, extraLabels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(extraLabels));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

const metrics = async (sim: Simulator) => (await fetch(`${sim.url}/metrics`)).text();

/** Polls /metrics until `ok` holds (at most ~3 s); returns the last text. */
async function metricsUntil(sim: Simulator, ok: (text: string) => boolean): Promise<string> {
  let text = "";
  for (let i = 0; i < 300; i++) {
    text = await metrics(sim);
    if (ok(text)) return text;
    await new Promise((r) => setTimeout(r, 10));
  }
  return text;
}

/** Reads SSE events (the text after "data: ") as they arrive. */
async function* events(res: Response): AsyncGenerator<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      expect(event.startsWith("data: ")).toBe(true);
      yield event.slice(6);
      end = buffer.indexOf("\n\n");
    }
  }
}

/** A completion prompt of exactly `tokens` tokens at 4 characters each. */
const text = (tokens: number, lead = "") => lead + "z".repeat(tokens * 4 - lead.length);

describe("vLLM's plain endpoints", () => {
  it("list the served models in vLLM's shape", async () => {
    const sim = await start(["--served-model-name", "llama", "llama-8b", "--max-model-len", "8192"]);
    const res = await fetch(`${sim.url}/v1/models`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: Record<string, unknown>[] };
    expect(body.object).toBe("list");
    expect(body.data.map((m) => m.id)).toEqual(["llama", "llama-8b"]);
    expect(body.data[0]).toMatchObject({
      object: "model",
      owned_by: "vllm",
      root: "meta-llama/Llama-3.1-8B-Instruct",
      parent: null,
      max_model_len: 8192,
    });
  });

  it("answer /health and /ping with an empty 200, /version with the version, unknown paths as FastAPI", async () => {
    const sim = await start();
    const health = await fetch(`${sim.url}/health`);
    expect([health.status, await health.text()]).toEqual([200, ""]);
    expect((await post(sim, "/ping", {})).status).toBe(200);
    expect(await (await fetch(`${sim.url}/version`)).json()).toEqual({ version: "0.11.0" });
    const missing = await fetch(`${sim.url}/v2/nothing`);
    expect([missing.status, await missing.json()]).toEqual([404, { detail: "Not Found" }]);
    const wrongMethod = await fetch(`${sim.url}/v1/chat/completions`);
    expect([wrongMethod.status, await wrongMethod.json()]).toEqual([405, { detail: "Method Not Allowed" }]);
  });

  it("expose the engine's state under vLLM's metric names and labels", async () => {
    const sim = await start(["--served-model-name", "llama"]);
    const res = await fetch(`${sim.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    for (const name of [
      "vllm:num_requests_running",
      "vllm:num_requests_waiting",
      "vllm:kv_cache_usage_perc",
      "vllm:prefix_cache_queries_total",
      "vllm:prefix_cache_hits_total",
      "vllm:prompt_tokens_total",
      "vllm:generation_tokens_total",
    ])
      expect(body).toContain(`${name}{model_name="llama",engine="0"} 0.0\n`);
    for (const h of [
      "vllm:time_to_first_token_seconds",
      "vllm:inter_token_latency_seconds",
      "vllm:e2e_request_latency_seconds",
      "vllm:request_queue_time_seconds",
    ])
      expect(body).toContain(`# TYPE ${h} histogram\n`);
    expect(body).toContain(
      'vllm:request_success_total{model_name="llama",engine="0",finished_reason="stop"} 0.0',
    );
  });
});

describe("completions", () => {
  it("stream a chat completion chunk by chunk: role first, one token a chunk, usage, then [DONE]", async () => {
    const sim = await start(["--served-model-name", "llama"], { SIM_ITL_MS: "100" });
    const res = await post(sim, "/v1/chat/completions", {
      model: "llama",
      messages: [{ role: "user", content: "Count to five." }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const received: string[] = [];
    for await (const event of events(res)) {
      if (received.length === 1) {
        // The first token is here while the request still runs: nothing was buffered.
        expect(metric(await metrics(sim), "vllm:num_requests_running")).toBe(1);
      }
      received.push(event);
    }
    expect(received.at(-1)).toBe("[DONE]");
    const chunks = received.slice(0, -1).map((e) => JSON.parse(e));
    const id = chunks[0].id as string;
    expect(id).toMatch(/^chatcmpl-/);
    for (const c of chunks) expect(c).toMatchObject({ id, object: "chat.completion.chunk", model: "llama" });
    expect(chunks[0].choices).toEqual([
      { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null },
    ]);
    const tokens = chunks.slice(1, -1);
    expect(tokens).toHaveLength(5);
    expect(tokens.map((c) => c.choices[0].finish_reason)).toEqual([null, null, null, null, "length"]);
    for (const c of tokens) expect(c.choices[0].delta.content).toMatch(/^ \w+$/);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 5 } });
  });

  it("answer without streaming with the text and usage", async () => {
    const sim = await start();
    const res = await post(sim, "/v1/completions", { prompt: text(30), max_tokens: 7 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      object: string;
      model: string;
      choices: { text: string; finish_reason: string }[];
      usage: unknown;
    };
    expect(body.object).toBe("text_completion");
    expect(body.model).toBe("meta-llama/Llama-3.1-8B-Instruct");
    expect(body.choices[0]?.finish_reason).toBe("length");
    expect(body.choices[0]?.text.split(" ").slice(1)).toHaveLength(7);
    expect(body.usage).toEqual({
      prompt_tokens: 30,
      completion_tokens: 7,
      total_tokens: 37,
      prompt_tokens_details: null,
    });
  });

  it("stop by themselves after SIM_OUTPUT_TOKENS when max_tokens is not set", async () => {
    const sim = await start([], { SIM_OUTPUT_TOKENS: "3" });
    const body = (await (await post(sim, "/v1/completions", { prompt: "hi" })).json()) as {
      choices: { finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    expect([body.choices[0]?.finish_reason, body.usage.completion_tokens]).toEqual(["stop", 3]);
  });

  it("embed inputs as vLLM's embeddings list", async () => {
    const sim = await start([], { SIM_EMBEDDING_DIM: "8" });
    const res = await post(sim, "/v1/embeddings", { input: ["one", "two"] });
    const body = (await res.json()) as { object: string; data: { index: number; embedding: number[] }[] };
    expect(body.object).toBe("list");
    expect(body.data.map((d) => [d.index, d.embedding.length])).toEqual([
      [0, 8],
      [1, 8],
    ]);
  });
});

describe("the engine behind the API", () => {
  it("queues a request while the KV cache is full and completes it after the first", async () => {
    // 8 blocks of 16 tokens: an 80-token prompt (5 blocks) leaves no room for another.
    const sim = await start(["--max-model-len", "128"], { SIM_KV_TOKENS: "128", SIM_ITL_MS: "25" });
    const first = await post(sim, "/v1/completions", { prompt: text(80, "a"), max_tokens: 40, stream: true });
    const firstEvents = events(first);
    await firstEvents.next();
    let firstDone = false;
    const drained = (async () => {
      for await (const _ of firstEvents);
      firstDone = true;
    })();
    const second = post(sim, "/v1/completions", { prompt: text(80, "b"), max_tokens: 5 }).then((r) => {
      expect(firstDone).toBe(true);
      return r.json();
    });
    const seen = await metricsUntil(sim, (t) => metric(t, "vllm:num_requests_waiting") === 1);
    expect(metric(seen, "vllm:num_requests_waiting")).toBe(1);
    expect(metric(seen, "vllm:num_requests_running")).toBe(1);
    expect(metric(seen, "vllm:kv_cache_usage_perc")).toBeGreaterThanOrEqual(5 / 8);
    await drained;
    expect(await second).toMatchObject({ usage: { completion_tokens: 5 } });
    expect(metric(await metrics(sim), "vllm:num_requests_waiting")).toBe(0);
  });

  it("serves a repeated prefix from the prefix cache, with a shorter modelled TTFT", async () => {
    const sim = await start(["--enable-prompt-tokens-details"], { SIM_PREFILL_TOKENS_PER_S: "5000" });
    const finished: Sequence[] = [];
    sim.engine.observers.push({ finished: (s) => finished.push(s) });
    const system = "You are a careful planning agent; think step by step. ".repeat(40);
    const ask = async (question: string) =>
      (await (
        await post(sim, "/v1/chat/completions", {
          messages: [
            { role: "system", content: system },
            { role: "user", content: question },
          ],
          max_tokens: 2,
        })
      ).json()) as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
    const cold = await ask("What is first?");
    const warm = await ask("And what next?");
    expect(cold.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const cached = warm.usage.prompt_tokens_details.cached_tokens;
    expect(cached).toBeGreaterThan(500);
    expect(cached).toBeLessThan(warm.usage.prompt_tokens);
    const m = await metrics(sim);
    expect(metric(m, "vllm:prefix_cache_hits_total")).toBe(cached);
    expect(metric(m, "vllm:prefix_cache_queries_total")).toBe(
      cold.usage.prompt_tokens + warm.usage.prompt_tokens,
    );
    const [c, w] = finished as [Sequence, Sequence];
    expect(w.modelledTtftMs).toBeLessThan(c.modelledTtftMs);
  });

  it("aborts a stream whose client goes away, freeing its slot at once", async () => {
    const sim = await start([], { SIM_ITL_MS: "5" });
    const abort = new AbortController();
    const res = await post(
      sim,
      "/v1/completions",
      { prompt: "go", max_tokens: 1000, stream: true },
      {
        signal: abort.signal,
      },
    );
    await events(res).next();
    expect(metric(await metrics(sim), "vllm:num_requests_running")).toBe(1);
    abort.abort();
    const after = await metricsUntil(sim, (t) => metric(t, "vllm:num_requests_running") === 0);
    expect(metric(after, "vllm:num_requests_running")).toBe(0);
    expect(metric(after, "vllm:kv_cache_usage_perc")).toBe(0);
    expect(metric(after, "vllm:request_success_total", 'finished_reason="abort"')).toBe(1);
    expect(metric(after, "vllm:request_success_total", 'finished_reason="length"')).toBe(0);
  });
});

describe("errors as vLLM words them", () => {
  it("404 for a model it does not serve", async () => {
    const sim = await start(["--served-model-name", "llama"]);
    const res = await post(sim, "/v1/chat/completions", { model: "gpt-4", messages: [] });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: "The model `gpt-4` does not exist.",
        type: "NotFoundError",
        param: "model",
        code: 404,
      },
    });
  });

  it("400 for malformed JSON and for a missing field", async () => {
    const sim = await start();
    const bad = await post(sim, "/v1/chat/completions", '{"messages": [');
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { error: { message: string; type: string; code: number } };
    expect(badBody.error).toMatchObject({ type: "Bad Request", code: 400 });
    expect(badBody.error.message).toMatch(/^1 validation error:\n.*'json_invalid'.*'JSON decode error'/);
    const missing = await post(sim, "/v1/chat/completions", { model: "meta-llama/Llama-3.1-8B-Instruct" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { param: string } }).error.param).toBe("body.messages");
  });

  it("400 when the prompt and max_tokens exceed --max-model-len", async () => {
    const sim = await start(["--max-model-len", "100"], { SIM_KV_TOKENS: "1024" });
    const res = await post(sim, "/v1/completions", { prompt: text(60), max_tokens: 50 });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        message:
          "'max_tokens' or 'max_completion_tokens' is too large: 50. This model's maximum context length is 100 tokens and your request has 60 input tokens (50 > 100 - 60).",
        type: "BadRequestError",
        param: "max_tokens",
        code: 400,
      },
    });
    const long = await post(sim, "/v1/completions", { prompt: text(100) });
    expect(((await long.json()) as { error: { param: string } }).error.param).toBe("input_tokens");
  });

  it("415 for a body that is not declared JSON", async () => {
    const sim = await start();
    const res = await post(sim, "/v1/completions", "{}", { headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(415);
  });

  it("401 without the bearer key on /v1 paths only, when --api-key is set", async () => {
    const sim = await start(["--api-key", "sekret"]);
    const denied = await post(sim, "/v1/completions", { prompt: "hi", max_tokens: 1 });
    expect([denied.status, await denied.json()]).toEqual([401, { error: "Unauthorized" }]);
    const wrong = await fetch(`${sim.url}/v1/models`, { headers: { authorization: "Bearer other" } });
    expect(wrong.status).toBe(401);
    const allowed = await post(
      sim,
      "/v1/completions",
      { prompt: "hi", max_tokens: 1 },
      { headers: { "content-type": "application/json", authorization: "Bearer sekret" } },
    );
    expect(allowed.status).toBe(200);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    expect((await fetch(`${sim.url}/metrics`)).status).toBe(200);
  });
});

describe("the simulator process", () => {
  it("listens only once its model is loaded, then answers /health and /v1/models; exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const main = fileURLToPath(new URL("../../cli/dev/engine-sim/main.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      [main, "--model", "m", "--host", "127.0.0.1", "--port", String(port), "--disable-log-stats"],
      { env: { ...process.env, SIM_LOAD_SECONDS: "2" }, stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    try {
      let out = "";
      const seen = (text: string) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (!out.includes(text)) return;
            child.stdout.off("data", check);
            resolve();
          };
          child.stdout.on("data", check);
          child.once("exit", () => reject(new Error(`exited before printing ${text}:\n${out}`)));
          check();
        });
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const listening = seen(`Starting vLLM API server 0 on http://127.0.0.1:${port}`);
      await seen("Starting to load model m...");
      const refused = await new Promise<string>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve("connected");
        });
        s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
      expect(refused).toBe("ECONNREFUSED");
      await listening;
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/v1/models`)).status).toBe(200);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 20_000);
});
