// Router benchmark: engine simulators on loopback addresses, called directly and through the
// router (a process of its own), with the same client. Four parts:
//
// 0. body scan: the model and prompt prefix of a 220 KB body, against JSON.parse;
// 1. overhead: closed loops of 100, 1,000 and 5,000 concurrent streams with 1 KB and 220 KB
//    prompts: throughput ratio (router / direct), added p50/p99 time to first token, router
//    CPU per 1,000 requests and RSS;
// 2. burst: 100,000 requests sent open loop within one second: every one must get an answer
//    (relayed, or 429), none lost; router RSS per request queued at its peak;
// 3. slow replica: one of four replicas at SIM_SPEED 0.5 (a slower vendor in a mixed pool):
//    p99 time to first token through the router vs round robin over the replicas;
// 4. prefix cache: eight shared system prompts (agent loops re-sending a long prefix) on
//    replicas whose prefix cache holds two each: hit rate through the router vs round robin.
//
//   npm run bench -- router [--replicas 4] [--seconds 4] [--burst 100000] [--quick 1]
//                           [--parts scan,overhead,burst,slow,prefix] [--concurrency 100,1000,5000]
//                           [--sizes 1kb,220kb]
//
// Prints a human summary, then as its last line one JSON object of named figures.

import { request } from "undici";
import { scanBody } from "../router/body-scan.ts";
import { fnv1a32 } from "../router/hash.ts";
import {
  type EngineSim,
  type LocalProcess,
  loopbackHosts,
  startEngineSim,
  startRouterProcess,
} from "../tests/support/engine-sims.ts";
import {
  closedLoop,
  closeTargets,
  type LoopResult,
  openLoopBurst,
  quantile,
  type Target,
  target,
} from "./support/http-load.ts";
import { cpuSecondsOf, memoryMbOf, printResult, stringFlag } from "./support/workload-bench.ts";

const flags = (() => {
  const get = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
    return Number.isFinite(v) ? v : fallback;
  };
  const quick = get("quick", 0) > 0;
  return {
    replicas: get("replicas", 4),
    seconds: get("seconds", quick ? 2 : 4),
    burst: get("burst", quick ? 5000 : 100_000),
    concurrencies:
      stringFlag("concurrency")?.split(",").map(Number) ?? (quick ? [20, 100] : [100, 1000, 5000]),
    sizes: stringFlag("sizes")?.split(",") ?? ["1kb", "220kb"],
    parts: stringFlag("parts")?.split(",") ?? ["scan", "overhead", "burst", "slow", "prefix"],
  };
})();

const model = "llama";
const hosts = loopbackHosts(flags.replicas + 1);
const routerHost = hosts[flags.replicas] as string;
const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);
const started = performance.now();
const summary: string[] = [];
const figures: Record<string, unknown> = {};

async function startSims(
  env: Record<string, string>,
  args: string[],
  slowIndex?: number,
): Promise<EngineSim[]> {
  return Promise.all(
    hosts.slice(0, flags.replicas).map((host, i) =>
      startEngineSim({
        model,
        host,
        env: { ...env, ...(i === slowIndex ? { SIM_SPEED: "0.5" } : {}) },
        args,
      }),
    ),
  );
}

async function startRouter(sims: readonly EngineSim[], extra: string[]): Promise<LocalProcess> {
  return startRouterProcess(routerHost, [
    ...sims.flatMap((s) => ["--backend", `${model}=${s.url}`]),
    ...extra,
  ]);
}

async function stopAll(procs: readonly LocalProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

const pid = (p: LocalProcess): number => p.child.pid as number;

function completionBody(i: number, filler: Buffer, stream: boolean, maxTokens: number): Buffer {
  return Buffer.concat([
    Buffer.from(`{"model":"${model}","max_tokens":${maxTokens},"stream":${stream},"prompt":"request ${i} `),
    filler,
    Buffer.from('"}'),
  ]);
}

function loopFigures(r: LoopResult) {
  return {
    rps: round((r.completed * 1000) / r.elapsedMs, 1),
    p50: quantile(r.ttfts, 0.5),
    p99: quantile(r.ttfts, 0.99),
  };
}

// ---- 1. overhead ------------------------------------------------------------------------

async function overhead(): Promise<void> {
  const sims = await startSims(
    {
      SIM_TTFT_MS: "10",
      SIM_ITL_MS: "5",
      SIM_PREFILL_TOKENS_PER_S: "100000000",
      SIM_KV_TOKENS: "400000000",
    },
    ["--max-model-len", "65536", "--max-num-batched-tokens", "8388608"],
  );
  const router = await startRouter(sims, ["--max-body-bytes", String(1 << 20)]);
  const out: Record<string, unknown> = {};
  try {
    for (const [label, size] of [
      ["1kb", 1000],
      ["220kb", 220_000],
    ] as const) {
      if (!flags.sizes.includes(label)) continue;
      const filler = Buffer.alloc(size, "a");
      for (const c of flags.concurrencies) {
        const body = (i: number) => completionBody(i, filler, true, 16);
        const perSim = Math.ceil(c / sims.length) + 8;
        const direct = sims.map((s) => target(s.url, perSim));
        const viaRouter = [target(router.url, c + 8)];
        const run = (targets: Target[]) =>
          closedLoop({
            targets,
            path: "/v1/completions",
            concurrency: c,
            durationMs: flags.seconds * 1000,
            body,
          });
        const d = loopFigures(await run(direct));
        const cpu0 = cpuSecondsOf(pid(router));
        const rr = await run(viaRouter);
        const cpu = cpuSecondsOf(pid(router)) - cpu0;
        const r = loopFigures(rr);
        const key = `c${c}_${label}`;
        out[key] = {
          direct_rps: d.rps,
          router_rps: r.rps,
          throughput_ratio: round(r.rps / d.rps, 3),
          direct_ttft_p50_ms: round(d.p50),
          direct_ttft_p99_ms: round(d.p99),
          router_ttft_p50_ms: round(r.p50),
          router_ttft_p99_ms: round(r.p99),
          added_ttft_p50_ms: round(r.p50 - d.p50),
          added_ttft_p99_ms: round(r.p99 - d.p99),
          router_cpu_ms_per_1k_requests: round((cpu * 1000 * 1000) / Math.max(1, rr.completed), 1),
          router_rss_mb: round(memoryMbOf(pid(router), "VmRSS"), 0),
          router_failed: rr.failed,
          direct_failed: 0,
        };
        summary.push(
          `overhead ${key}: direct ${d.rps} req/s, router ${r.rps} req/s (ratio ${round(r.rps / d.rps, 3)}); TTFT p50 ${round(d.p50)} -> ${round(r.p50)} ms, p99 ${round(d.p99)} -> ${round(r.p99)} ms`,
        );
        await closeTargets([...direct, ...viaRouter]);
      }
    }
    out.router_peak_rss_mb = round(memoryMbOf(pid(router), "VmHWM"), 0);
  } finally {
    await stopAll([router, ...sims]);
  }
  figures.overhead = out;
}

// ---- 2. burst ---------------------------------------------------------------------------

async function burst(): Promise<void> {
  const sims = await startSims({ SIM_TTFT_MS: "2", SIM_ITL_MS: "1" }, []);
  // The engines take 4 x 256 at once; up to 50,000 more wait at the router for at most 10 s,
  // and the rest are told to come back (429): the simulators serve a few hundred requests a
  // second on this machine, so holding all 100,000 would take minutes to drain.
  const router = await startRouter(sims, [
    "--max-inflight-per-replica",
    "256",
    "--max-queue",
    "50000",
    "--max-queue-wait-seconds",
    "10",
    ...(process.env.BENCH_DEBUG ? ["--log-level", "debug"] : []),
  ]);
  const stats = target(router.url, 1);
  const filler = Buffer.alloc(1000, "b");
  try {
    const idleRss = memoryMbOf(pid(router), "VmRSS");
    const cpu0 = cpuSecondsOf(pid(router));
    let peakQueued = 0;
    let peakRss = idleRss;
    let rssAtPeakQueue = idleRss;
    let polling = false;
    const client = target(router.url, 2000, 64);
    const result = await openLoopBurst({
      target: client,
      path: "/v1/completions",
      total: flags.burst,
      windowMs: 1000,
      body: (i) => completionBody(i, filler, false, 1),
      onTick: () => {
        const rss = memoryMbOf(pid(router), "VmRSS");
        peakRss = Math.max(peakRss, rss);
        if (polling) return;
        polling = true;
        void request(`${router.url}/router/stats`, { dispatcher: stats.pool })
          .then((r) => r.body.json() as Promise<{ services: Array<{ routerQueued: number }> }>)
          .then((s) => {
            const q = s.services[0]?.routerQueued ?? 0;
            if (q > peakQueued) {
              peakQueued = q;
              rssAtPeakQueue = memoryMbOf(pid(router), "VmRSS");
            }
          })
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      },
    });
    const cpu = cpuSecondsOf(pid(router)) - cpu0;
    const answered = Object.values(result.statuses).reduce((a, b) => a + b, 0);
    const ok = result.statuses[200] ?? 0;
    const limited = result.statuses[429] ?? 0;
    figures.burst = {
      requests: result.sent,
      sent_within_ms: round(result.sendMs, 0),
      answered,
      ok,
      rejected_429: limited,
      other_status: answered - ok - limited,
      lost: result.lost,
      lost_by: result.lostBy,
      drained_in_s: round(result.drainMs / 1000, 1),
      peak_router_queued: peakQueued,
      router_idle_rss_mb: round(idleRss, 0),
      router_peak_rss_mb: round(peakRss, 0),
      router_rss_kb_per_queued_request:
        peakQueued > 0 ? round(((rssAtPeakQueue - idleRss) * 1024) / peakQueued, 2) : null,
      router_cpu_ms_per_1k_requests: round((cpu * 1000 * 1000) / Math.max(1, result.sent), 1),
      statuses: result.statuses,
    };
    summary.push(
      `burst: ${result.sent} requests sent in ${round(result.sendMs, 0)} ms; ${ok} ok, ${limited} 429, ${answered - ok - limited} other, ${result.lost} lost; peak queue ${peakQueued}, RSS ${round(idleRss, 0)} -> ${round(peakRss, 0)} MB`,
    );
    if (process.env.BENCH_DEBUG) process.stderr.write(`${router.output().slice(-3000)}\n`);
    await closeTargets([client, stats]);
  } finally {
    await stopAll([router, ...sims]);
  }
}

// ---- 3. slow replica --------------------------------------------------------------------

async function slowReplica(): Promise<void> {
  // Slow steps and short answers keep the simulators' own CPU out of the figures; 16 batch
  // slots per replica and 25% more clients than slots keep every engine's queue non-empty.
  const env = { SIM_TTFT_MS: "20", SIM_ITL_MS: "20" };
  const args = ["--max-num-seqs", "16"];
  const concurrency = Math.round(flags.replicas * 16 * 1.25);
  const body = (i: number) =>
    Buffer.from(
      JSON.stringify({
        model,
        max_tokens: 16,
        stream: true,
        messages: [
          {
            role: "user",
            content: `question ${i}: ${"please plan the next tool call carefully ".repeat(3)}`,
          },
        ],
      }),
    );
  const measure = async (viaRouter: boolean) => {
    const sims = await startSims(env, args, flags.replicas - 1);
    // The router holds what the engines have no batch slot for, and binds it to a replica
    // when one frees: --max-inflight-per-replica set to the engines' --max-num-seqs.
    const router = viaRouter ? await startRouter(sims, ["--max-inflight-per-replica", "16"]) : undefined;
    const targets = router
      ? [target(router.url, concurrency + 8)]
      : sims.map((s) => target(s.url, concurrency));
    try {
      const before = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
      const r = await closedLoop({
        targets,
        path: "/v1/chat/completions",
        concurrency,
        durationMs: flags.seconds * 1500,
        body,
      });
      const after = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
      const served = after.map((v, i) => v - (before[i] as number));
      const total = served.reduce((a, b) => a + b, 0);
      return { ...loopFigures(r), slowShare: (served[flags.replicas - 1] as number) / Math.max(1, total) };
    } finally {
      await closeTargets(targets);
      await stopAll([...(router ? [router] : []), ...sims]);
    }
  };
  const rr = await measure(false);
  const routed = await measure(true);
  figures.slow_replica = {
    concurrency,
    round_robin_rps: rr.rps,
    router_rps: routed.rps,
    round_robin_ttft_p50_ms: round(rr.p50),
    round_robin_ttft_p99_ms: round(rr.p99),
    router_ttft_p50_ms: round(routed.p50),
    router_ttft_p99_ms: round(routed.p99),
    round_robin_slow_share: round(rr.slowShare, 3),
    router_slow_share: round(routed.slowShare, 3),
  };
  summary.push(
    `slow replica: TTFT p99 round robin ${round(rr.p99)} ms, router ${round(routed.p99)} ms; slow replica's share ${round(rr.slowShare, 3)} -> ${round(routed.slowShare, 3)}; ${rr.rps} -> ${routed.rps} req/s`,
  );
}

// ---- 4. prefix cache --------------------------------------------------------------------

async function prefixCache(): Promise<void> {
  // 16 system prompts of ~1,000 tokens (64 blocks of 16); each replica's cache holds 6 of
  // them, and 8 clients keep about 2 requests running per replica (running requests' blocks
  // are shared too). Round robin shows every replica all 16 prompts; affinity 4 or 5 (hashing
  // 16 keys over 4 replicas is not exactly even, hence the room for 6).
  const env = { SIM_TTFT_MS: "5", SIM_ITL_MS: "2", SIM_PREFIX_CACHE_BLOCKS: "400" };
  const systems = Array.from(
    { length: 16 },
    (_, k) =>
      `System prompt ${k}: you are agent number ${k}. ${"Follow the tool protocol exactly. ".repeat(120)}`,
  );
  const concurrency = 8;
  const body = (i: number) =>
    Buffer.from(
      JSON.stringify({
        model,
        max_tokens: 4,
        stream: true,
        messages: [
          // A hash, not i modulo something: round robin over 4 replicas must not line up with it.
          { role: "system", content: systems[fnv1a32(`agent ${i}`) % systems.length] },
          { role: "user", content: `task ${i}` },
        ],
      }),
    );
  const measure = async (viaRouter: boolean) => {
    const sims = await startSims(env, []);
    const router = viaRouter ? await startRouter(sims, []) : undefined;
    const targets = router
      ? [target(router.url, concurrency + 8)]
      : sims.map((s) => target(s.url, concurrency));
    try {
      const r = await closedLoop({
        targets,
        path: "/v1/chat/completions",
        concurrency,
        durationMs: flags.seconds * 1000,
        body,
      });
      const perReplica = async (name: string) => Promise.all(sims.map((s) => s.metric(name)));
      const hitsEach = await perReplica("vllm:prefix_cache_hits_total");
      const queriesEach = await perReplica("vllm:prefix_cache_queries_total");
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      const hits = sum(hitsEach);
      const queries = sum(queriesEach);
      if (process.env.BENCH_DEBUG)
        process.stderr.write(
          `hits ${hitsEach} queries ${queriesEach} served ${await perReplica("vllm:request_success_total")}\n`,
        );
      return { ...loopFigures(r), hitRate: queries > 0 ? hits / queries : Number.NaN };
    } finally {
      await closeTargets(targets);
      await stopAll([...(router ? [router] : []), ...sims]);
    }
  };
  const rr = await measure(false);
  const routed = await measure(true);
  figures.prefix_cache = {
    round_robin_hit_rate: round(rr.hitRate, 3),
    router_hit_rate: round(routed.hitRate, 3),
    round_robin_ttft_p50_ms: round(rr.p50),
    router_ttft_p50_ms: round(routed.p50),
    round_robin_ttft_p99_ms: round(rr.p99),
    router_ttft_p99_ms: round(routed.p99),
    round_robin_rps: rr.rps,
    router_rps: routed.rps,
  };
  summary.push(
    `prefix cache: hit rate round robin ${round(rr.hitRate, 3)}, router ${round(routed.hitRate, 3)}; TTFT p50 ${round(rr.p50)} -> ${round(routed.p50)} ms`,
  );
}

// ---- 0. body scan ---------------------------------------------------------------------

function bodyScan(): void {
  // A 220 KB agent request: a long system prompt, tool results, the model name at the end.
  const body = Buffer.from(
    JSON.stringify({
      messages: [
        { role: "system", content: "You are a careful agent. ".repeat(4000) },
        {
          role: "tool",
          content: JSON.stringify({
            rows: Array.from({ length: 1500 }, (_, i) => ({ id: i, v: "x".repeat(40) })),
          }),
        },
        { role: "user", content: "next step?" },
      ],
      stream: true,
      model,
    }),
  );
  const time = (fn: () => void): number => {
    const n = 200;
    for (let i = 0; i < 20; i++) fn();
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    return (performance.now() - t) / n;
  };
  const scanMs = time(() => scanBody(body, 512));
  const parseMs = time(() => JSON.parse(body.toString("utf8")));
  figures.body_scan = {
    body_kb: Math.round(body.length / 1024),
    scan_us: round(scanMs * 1000, 1),
    json_parse_us: round(parseMs * 1000, 1),
    scans_per_second_per_core: Math.round(1000 / scanMs),
  };
  summary.push(
    `body scan: ${Math.round(body.length / 1024)} KB body in ${round(scanMs * 1000, 1)} µs (JSON.parse ${round(parseMs * 1000, 1)} µs)`,
  );
}

if (flags.parts.includes("scan")) bodyScan();
if (flags.parts.includes("overhead")) await overhead();
if (flags.parts.includes("burst")) await burst();
if (flags.parts.includes("slow")) await slowReplica();
if (flags.parts.includes("prefix")) await prefixCache();
figures.total_seconds = round((performance.now() - started) / 1000, 1);
printResult(summary, figures);
process.exit(0);
