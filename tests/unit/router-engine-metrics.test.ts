import { describe, expect, it } from "vitest";
import { parseEngineMetrics, tokensBetween, tpotBetween } from "../../router/engine-load.ts";
import { parsePrometheusText } from "../../router/prom-text.ts";

const page = (
  running: number,
  waiting: number,
  tokens: number,
  tpotSum: number,
  tpotCount: number,
): string => `
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama"} ${running}
vllm:num_requests_waiting{engine="0",model_name="llama"} ${waiting}
vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.25
vllm:generation_tokens_total{engine="0",model_name="llama"} ${tokens}
vllm:time_per_output_token_seconds_bucket{engine="0",model_name="llama",le="0.01"} 3
vllm:time_per_output_token_seconds_sum{engine="0",model_name="llama"} ${tpotSum}
vllm:time_per_output_token_seconds_count{engine="0",model_name="llama"} ${tpotCount}
python_gc_objects_collected_total{generation="0"} 1234.0
`;

describe("parsePrometheusText", () => {
  it("reads names, labels (with escapes) and values, skipping comments", () => {
    const samples = parsePrometheusText(
      '# HELP x y\nup 1\nm{a="x\\"y",b="line\\nbreak"} 2.5 1700000000\nbad{a="unterminated 3\nn +Inf\n',
    );
    expect(samples).toEqual([
      { name: "up", labels: {}, value: 1 },
      { name: "m", labels: { a: 'x"y', b: "line\nbreak" }, value: 2.5 },
      { name: "n", labels: {}, value: Number.POSITIVE_INFINITY },
    ]);
  });

  it("keeps only the wanted families", () => {
    expect(parsePrometheusText("a 1\nb 2\n", (n) => n === "b")).toEqual([
      { name: "b", labels: {}, value: 2 },
    ]);
  });
});

describe("parseEngineMetrics", () => {
  it("reads vLLM's queue, KV cache and counters", () => {
    expect(parseEngineMetrics(page(3, 1, 500, 2, 200))).toEqual({
      running: 3,
      waiting: 1,
      kvCacheUsage: 0.25,
      generationTokens: 500,
      tpotSum: 2,
      tpotCount: 200,
      prefixCacheHits: undefined,
      prefixCacheQueries: undefined,
    });
  });

  it("sums engines and averages their KV cache", () => {
    const s = parseEngineMetrics(
      'vllm:num_requests_running{engine="0"} 2\nvllm:num_requests_running{engine="1"} 3\nvllm:gpu_cache_usage_perc{engine="0"} 0.2\nvllm:gpu_cache_usage_perc{engine="1"} 0.4\n',
    );
    expect(s.running).toBe(5);
    expect(s.kvCacheUsage).toBeCloseTo(0.3);
  });

  it("refuses a page that is not an engine's", () => {
    expect(() => parseEngineMetrics("up 1\n")).toThrow(/num_requests_running/);
  });

  it("derives seconds per token and tokens between scrapes, not across a restart", () => {
    const a = parseEngineMetrics(page(1, 0, 100, 1, 100));
    const b = parseEngineMetrics(page(1, 0, 300, 3, 300));
    expect(tpotBetween(a, b)).toBeCloseTo(0.01);
    expect(tokensBetween(a, b)).toBe(200);
    expect(tpotBetween(a, a)).toBeUndefined();
    expect(tokensBetween(b, a)).toBeUndefined();
    expect(tpotBetween(b, a)).toBeUndefined();
  });
});

describe("parsePrometheusText with a name prefix", () => {
  it("finds the same samples as a full parse, including on the first line", () => {
    const text = 'vllm:a{x="1"} 1\n# HELP vllm:b b\npython_x 3\nvllm:b 2\nother 4\nvllm:c_bucket{le="1"} 5';
    expect(parsePrometheusText(text, undefined, "vllm:")).toEqual(
      parsePrometheusText(text).filter((s) => s.name.startsWith("vllm:")),
    );
  });
});
