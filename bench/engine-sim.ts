// Engine simulator benchmark: what the simulator itself holds on loopback, so that a router
// benchmark built on it measures the router. Each phase runs a fresh simulator process with a
// modelled GPU fast enough (5 ms steps, no batch slowdown, --max-num-seqs 5000) that the
// simulator's own HTTP and scheduling work is the limit:
//   streams  C concurrent streamed chat completions (1 KB prompt, 16 tokens each), closed loop,
//            for --requests requests or --seconds: requests/s, tokens/s, client-side TTFT
//            p50/p99, the simulator's CPU per 1k requests and its peak RSS. C = 1,000 and 5,000;
//            the connections are opened (one untimed request each) before the clock starts.
//   burst    --burst non-streamed completions written within one second (open loop,
//            pipelined over --sockets connections): every one answered or how many lost, the
//            time to drain, peak vllm:num_requests_waiting and the RSS per queued request.
//
//   npm run bench -- engine-sim [--requests 20000] [--seconds 30] [--burst 100000] [--sockets 5000]
//
// Prints a human summary, then as its last line one JSON object of named figures.
import { type ChildProcess, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { cpuSecondsOf, memoryMbOf, numberFlags, printResult, sleep } from "./support/workload-bench.ts";

const flags = numberFlags({ requests: 20_000, seconds: 30, burst: 100_000, sockets: 5000 });
const main = fileURLToPath(new URL("../cli/dev/engine-sim/main.ts", import.meta.url));
const host = "127.0.0.1";
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const percentile = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);

interface Sim {
  pid: number;
  port: number;
  stop(): void;
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** A simulator process; resolves once it listens (it prints where). */
function startSim(): Promise<Sim> {
  const child = spawn(
    process.execPath,
    [
      main,
      ...["--model", "bench", "--host", host, "--port", "0", "--max-model-len", "4096"],
      ...["--max-num-seqs", "5000", "--max-num-batched-tokens", "2M"],
      ...["--disable-uvicorn-access-log", "--disable-log-stats"],
    ],
    {
      env: {
        ...process.env,
        SIM_ITL_MS: "5",
        SIM_BATCH_SLOWDOWN: "0",
        SIM_TTFT_MS: "1",
        SIM_PREFILL_TOKENS_PER_S: "100000000",
        SIM_KV_TOKENS: "8000000",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.once("exit", (code) => reject(new Error(`the simulator exited (${code}) before listening`)));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /Starting vLLM API server 0 on http:\/\/[^\s]+:(\d+)/.exec(out);
      if (!m) return;
      child.stdout?.removeAllListeners("data");
      child.stdout?.resume();
      resolve({
        pid: child.pid as number,
        port: Number(m[1]),
        stop: () => {
          child.removeAllListeners("exit");
          child.kill("SIGKILL");
          children.delete(child);
        },
      });
    });
  });
}

const scrape = async (sim: Sim): Promise<string> =>
  (await fetch(`http://${host}:${sim.port}/metrics`)).text();

/** Samples the simulator's RSS while a phase runs; also polls its queue depth from /metrics. */
function watch(sim: Sim) {
  const w = { peakRssMb: memoryMbOf(sim.pid, "VmRSS"), peakWaiting: 0, stop: () => {} };
  let polling = false;
  const timer = setInterval(() => {
    w.peakRssMb = Math.max(w.peakRssMb, memoryMbOf(sim.pid, "VmRSS"));
    if (polling) return;
    polling = true;
    scrape(sim)
      .then((text) => {
        const m = /^vllm:num_requests_waiting\{[^}]*\} (\S+)$/m.exec(text);
        if (m) w.peakWaiting = Math.max(w.peakWaiting, Number(m[1]));
      })
      .catch(() => {})
      .finally(() => {
        polling = false;
      });
  }, 100);
  w.stop = () => clearInterval(timer);
  return w;
}

/** Cumulative counts of vllm:time_to_first_token_seconds by bucket bound. */
function ttftBuckets(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^vllm:time_to_first_token_seconds_bucket\{.*le="([^"]+)"\} (\S+)$/gm))
    out.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  return out;
}

/** The bucket bound below which a quantile of the TTFTs observed between two scrapes lies, ms. */
function ttftQuantileMs(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const [le, count] of after) if (count - (before.get(le) ?? 0) >= q * total) return le * 1000;
  return Number.NaN;
}

const prompt1k = "Plan the next step of the task and explain why it helps. ".repeat(18).slice(0, 1024);

async function streams(concurrency: number) {
  const sim = await startSim();
  const w = watch(sim);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const body = JSON.stringify({
    model: "bench",
    messages: [{ role: "user", content: prompt1k }],
    max_tokens: 16,
    stream: true,
  });
  const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  const ttfts: number[] = [];
  let issued = 0;
  let ok = 0;
  let errors = 0;
  let tokens = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request(
        { agent, host, port: sim.port, path: "/v1/chat/completions", method: "POST", headers },
        (res) => {
          // SSE events end in a blank line; count them across chunk boundaries.
          let events = 0;
          let lastNewline = false;
          let first = true;
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            if (lastNewline && chunk.startsWith("\n")) events++;
            for (let i = chunk.indexOf("\n\n"); i >= 0; i = chunk.indexOf("\n\n", i + 2)) events++;
            lastNewline = chunk.endsWith("\n");
            // The role chunk and the first token come together.
            if (first && events >= 2) {
              first = false;
              ttfts.push(performance.now() - t0);
            }
          });
          res.on("end", () => {
            if (res.statusCode === 200 && !first) {
              ok++;
              tokens += events - 2;
            } else errors++;
            resolve();
          });
          res.on("error", () => {
            errors++;
            resolve();
          });
        },
      );
      req.on("error", () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  // One untimed request per connection first: thousands of connects at once overflow the
  // listen backlog and wait out SYN retries, which is the kernel's doing, not the simulator's.
  await Promise.all(Array.from({ length: concurrency }, () => one()));
  ttfts.length = 0;
  ok = 0;
  tokens = 0;
  const bucketsBefore = ttftBuckets(await scrape(sim));
  const cpu0 = cpuSecondsOf(sim.pid);
  const start = performance.now();
  const deadline = start + flags.seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < flags.requests && performance.now() < deadline) {
        issued++;
        await one();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSecondsOf(sim.pid) - cpu0;
  const bucketsAfter = ttftBuckets(await scrape(sim));
  w.stop();
  agent.destroy();
  sim.stop();
  ttfts.sort((a, b) => a - b);
  return {
    concurrency,
    requests: ok,
    errors,
    seconds: round(seconds),
    requestsPerSecond: Math.round(ok / seconds),
    tokensPerSecond: Math.round(tokens / seconds),
    ttftP50Ms: round(percentile(ttfts, 0.5)),
    ttftP99Ms: round(percentile(ttfts, 0.99)),
    simTtftP50BucketMs: ttftQuantileMs(bucketsBefore, bucketsAfter, 0.5),
    simTtftP99BucketMs: ttftQuantileMs(bucketsBefore, bucketsAfter, 0.99),
    simCpuSecondsPer1kRequests: round((cpu * 1000) / Math.max(1, ok), 3),
    simPeakRssMb: Math.round(w.peakRssMb),
  };
}

/** Counts HTTP/1.1 responses on a pipelined connection (bodies have a content-length). */
function responseCounter(socket: Socket, onResponse: (status: number) => void): void {
  let buffer: Buffer = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    buffer = buffer.length === 0 ? d : Buffer.concat([buffer, d]);
    for (;;) {
      const headEnd = buffer.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const head = buffer.subarray(0, headEnd).toString("latin1");
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < headEnd + 4 + length) return;
      onResponse(Number(head.slice(9, 12)));
      buffer = buffer.subarray(headEnd + 4 + length);
    }
  });
}

async function burst(total: number, socketCount: number) {
  const sim = await startSim();
  const rssBeforeMb = memoryMbOf(sim.pid, "VmRSS");
  const perSocket = Math.ceil(total / socketCount);
  const body = JSON.stringify({ model: "bench", prompt: "Say hello to the team.", max_tokens: 4 });
  const one = `POST /v1/completions HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  let answered = 0;
  let ok = 0;
  let allAnswered: () => void = () => {};
  const done = new Promise<void>((r) => {
    allAnswered = r;
  });
  const sockets: Socket[] = [];
  // Connect first (a few hundred at a time, within the listen backlog), then burst.
  for (let i = 0; i < socketCount; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, socketCount - i) }, () => {
        const s = connect({ host, port: sim.port });
        s.setNoDelay(true);
        sockets.push(s);
        responseCounter(s, (status) => {
          answered++;
          if (status === 200) ok++;
          if (answered === total) allAnswered();
        });
        s.on("error", () => {});
        return new Promise((r) => s.once("connect", r));
      }),
    );
  }
  const w = watch(sim);
  const cpu0 = cpuSecondsOf(sim.pid);
  const start = performance.now();
  // Ten waves 100 ms apart: every request is written within the first second.
  const waves = 10;
  let written = 0;
  for (let wave = 0; wave < waves; wave++) {
    const count = Math.ceil(perSocket / waves);
    for (const s of sockets) {
      const n = Math.min(count, total - written, perSocket - wave * count);
      if (n <= 0) continue;
      s.write(one.repeat(n));
      written += n;
    }
    await sleep(start + (wave + 1) * 100 - performance.now());
  }
  const writeSeconds = (performance.now() - start) / 1000;
  const timeout = sleep(flags.seconds * 4 * 1000);
  await Promise.race([done, timeout]);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSecondsOf(sim.pid) - cpu0;
  w.stop();
  for (const s of sockets) s.destroy();
  sim.stop();
  return {
    requests: written,
    writtenWithinSeconds: round(writeSeconds, 2),
    answered,
    ok,
    lost: written - answered,
    drainSeconds: round(seconds),
    requestsPerSecond: Math.round(answered / seconds),
    peakWaiting: w.peakWaiting,
    simPeakRssMb: Math.round(w.peakRssMb),
    simRssKbPerQueuedRequest:
      w.peakWaiting > 0 ? round(((w.peakRssMb - rssBeforeMb) * 1024) / w.peakWaiting, 2) : 0,
    simCpuSecondsPer1kRequests: round((cpu * 1000) / Math.max(1, answered), 3),
  };
}

const s1k = await streams(1000);
const s5k = await streams(5000);
const b = await burst(flags.burst, flags.sockets);
printResult(
  [
    "engine simulator on loopback (a fresh simulator process per phase, 5 ms steps, 16-token streams)",
    ...[s1k, s5k].map(
      (s) =>
        `  ${s.concurrency} concurrent streams: ${s.requests} requests in ${s.seconds} s, ${s.requestsPerSecond} requests/s, ${s.tokensPerSecond} tokens/s, TTFT p50 ${s.ttftP50Ms} ms p99 ${s.ttftP99Ms} ms (simulator's own histogram: p50 <= ${s.simTtftP50BucketMs} ms, p99 <= ${s.simTtftP99BucketMs} ms), simulator ${s.simCpuSecondsPer1kRequests} CPU s per 1k requests, peak RSS ${s.simPeakRssMb} MB, ${s.errors} errors`,
    ),
    `  burst: ${b.requests} requests written in ${b.writtenWithinSeconds} s over ${flags.sockets} connections, ${b.answered} answered (${b.ok} ok, ${b.lost} lost) in ${b.drainSeconds} s, peak ${b.peakWaiting} waiting, peak RSS ${b.simPeakRssMb} MB (${b.simRssKbPerQueuedRequest} KB per queued request)`,
  ],
  { streams1000: s1k, streams5000: s5k, burst: b },
);
process.exit(0);
