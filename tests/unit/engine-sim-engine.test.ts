// The simulator's scheduling model: continuous batching, the limits that make requests queue
// (--max-num-seqs, KV capacity), preemption, aborts, and the prefix cache that shortens TTFT.
// Assertions are on the engine's own counters and modelled timings, never on wall time.
import { describe, expect, it } from "vitest";
import { Engine, type Sequence, type SequenceSink } from "../../cli/dev/engine-sim/engine.ts";
import { KvCache } from "../../cli/dev/engine-sim/prefix-cache.ts";
import { type EngineConfig, stepDurationMs } from "../../cli/dev/engine-sim/settings.ts";
import { textPrompt } from "../../cli/dev/engine-sim/tokens.ts";

const config = (over: Partial<EngineConfig> = {}): EngineConfig => ({
  maxNumSeqs: 16,
  maxNumBatchedTokens: 2048,
  maxModelLen: 4096,
  blockSize: 16,
  kvBlocks: 1024,
  prefixCaching: true,
  prefixCacheBlocks: 1024,
  ttftMs: 1,
  prefillTokensPerSecond: 100_000,
  itlMs: 1,
  batchSlowdown: 0.01,
  speed: 1,
  ...over,
});

/** A prompt of about `tokens` tokens whose text starts with `prefix`. */
const prompt = (tokens: number, prefix = "") =>
  textPrompt(prefix + "x".repeat(tokens * 4 - prefix.length), 16);

/** Submits requests and resolves with the sequences in the order they finished. */
function run(
  engine: Engine,
  requests: { tokens: number; output: number; prefix?: string }[],
): { seqs: Sequence[]; finished: Promise<Sequence[]> } {
  const order: Sequence[] = [];
  let resolve: (s: Sequence[]) => void = () => {};
  const finished = new Promise<Sequence[]>((r) => {
    resolve = r;
  });
  const sink: SequenceSink = {
    token() {},
    finish(seq) {
      order.push(seq);
      if (order.length === requests.length) resolve(order);
    },
  };
  const seqs = requests.map((r) =>
    engine.submit(
      { prompt: prompt(r.tokens, r.prefix), outputTokens: r.output, limitReason: "length", seed: 1 },
      sink,
    ),
  );
  return { seqs, finished };
}

describe("the KV cache", () => {
  it("keeps released prompt blocks for reuse until their space is needed, tail blocks first", () => {
    const kv = new KvCache(4, 4);
    const held = kv.allocate([], [11, 12], 0) as NonNullable<ReturnType<KvCache["allocate"]>>;
    expect(kv.usedBlocks).toBe(2);
    kv.release(held, 0);
    expect(kv.usedBlocks).toBe(0);
    expect(kv.match([11, 12, 13], 3).map((b) => b.hash)).toEqual([11, 12]);
    // Three private blocks leave room for one cached block: the prompt's head stays.
    expect(kv.grow(3)).toBe(true);
    expect(kv.match([11, 12], 2).map((b) => b.hash)).toEqual([11]);
    expect(kv.grow(2)).toBe(false);
  });

  it("never holds more unreferenced blocks than its bound", () => {
    const kv = new KvCache(100, 2);
    const held = kv.allocate([], [1, 2, 3], 0) as NonNullable<ReturnType<KvCache["allocate"]>>;
    expect(kv.cachedBlocks).toBe(3);
    kv.release(held, 0);
    expect(kv.cachedBlocks).toBe(2);
    expect(kv.match([1, 2, 3], 3)).toHaveLength(2);
  });

  it("shares a cached block between sequences and frees it only when both let go", () => {
    const kv = new KvCache(4, 4);
    const a = kv.allocate([], [5], 1) as NonNullable<ReturnType<KvCache["allocate"]>>;
    const b = kv.allocate(kv.match([5], 1), [], 1) as NonNullable<ReturnType<KvCache["allocate"]>>;
    expect(kv.usedBlocks).toBe(3);
    kv.release(a, 1);
    expect(kv.usedBlocks).toBe(2);
    kv.release(b, 1);
    expect(kv.usedBlocks).toBe(0);
  });
});

describe("the step model", () => {
  it("slows every token as the batch grows, and charges prefill by its tokens", () => {
    const c = config({ itlMs: 10, batchSlowdown: 0.01, ttftMs: 20, prefillTokensPerSecond: 1000 });
    expect(stepDurationMs(c, 1, 0)).toBeCloseTo(10.1);
    expect(stepDurationMs(c, 100, 0)).toBeCloseTo(20);
    expect(stepDurationMs(c, 1, 500)).toBeCloseTo(10.1 + 20 + 500);
    expect(stepDurationMs({ ...c, speed: 0.5 }, 100, 0)).toBeCloseTo(40);
  });
});

describe("the engine", () => {
  it("batches running sequences into the same steps (continuous batching)", async () => {
    const engine = new Engine(config());
    const { finished } = run(engine, [
      { tokens: 10, output: 20 },
      { tokens: 10, output: 20 },
      { tokens: 10, output: 20 },
    ]);
    const seqs = await finished;
    // One prefill step and 19 decode steps for all three, not three times that.
    expect(engine.steps).toBe(20);
    expect(seqs.map((s) => s.generated)).toEqual([20, 20, 20]);
    expect(engine.counters.generationTokens).toBe(60);
    engine.close();
  });

  it("queues beyond --max-num-seqs and serves first come first served", async () => {
    const engine = new Engine(config({ maxNumSeqs: 1 }));
    const { seqs, finished } = run(engine, [
      { tokens: 10, output: 5 },
      { tokens: 10, output: 5 },
    ]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect([engine.numRunning, engine.numWaiting]).toEqual([1, 1]);
    expect(await finished).toEqual(seqs);
    expect((seqs[1] as Sequence).modelledQueueMs).toBeGreaterThan(0);
    engine.close();
  });

  it("queues when the KV cache is full, and admits once blocks are freed", async () => {
    // Four blocks of 16: the first prompt (3 blocks) leaves too little for the second.
    const engine = new Engine(config({ kvBlocks: 4, prefixCacheBlocks: 4, maxModelLen: 64 }));
    const { seqs, finished } = run(engine, [
      { tokens: 40, output: 10, prefix: "first" },
      { tokens: 40, output: 10, prefix: "second" },
    ]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect([engine.numRunning, engine.numWaiting]).toEqual([1, 1]);
    expect(engine.kvUsage).toBe(0.75);
    expect(await finished).toEqual(seqs);
    expect(engine.kvUsage).toBe(0);
    engine.close();
  });

  it("preempts the newest sequence when a running one needs a block, and still completes both", async () => {
    // Both prompts fit (2 blocks each of 6), but their outputs cannot both grow to 3 blocks.
    const engine = new Engine(
      config({ kvBlocks: 5, prefixCacheBlocks: 5, maxModelLen: 80, prefixCaching: false }),
    );
    const { seqs, finished } = run(engine, [
      { tokens: 20, output: 30, prefix: "first" },
      { tokens: 20, output: 30, prefix: "second" },
    ]);
    const done = await finished;
    expect(engine.counters.preemptions).toBeGreaterThan(0);
    expect(done.map((s) => s.generated)).toEqual([30, 30]);
    expect(done[0]).toBe(seqs[0]);
    engine.close();
  });

  it("frees an aborted sequence's slot and blocks at once", async () => {
    const engine = new Engine(config({ maxNumSeqs: 1 }));
    const { seqs } = run(engine, [
      { tokens: 50, output: 1000 },
      { tokens: 50, output: 1000 },
    ]);
    await new Promise((r) => setTimeout(r, 10));
    expect([engine.numRunning, engine.numWaiting]).toEqual([1, 1]);
    engine.abort(seqs[1] as Sequence);
    expect(engine.numWaiting).toBe(0);
    engine.abort(seqs[0] as Sequence);
    expect([engine.numRunning, engine.kvUsage]).toEqual([0, 0]);
    expect(engine.counters.finished.abort).toBe(2);
    engine.close();
  });

  it("splits a prompt longer than the step's token budget over several steps", async () => {
    const engine = new Engine(config({ maxNumBatchedTokens: 256 }));
    const { seqs, finished } = run(engine, [{ tokens: 1000, output: 1 }]);
    await finished;
    expect(engine.steps).toBe(4);
    expect((seqs[0] as Sequence).generated).toBe(1);
    engine.close();
  });

  it("finds a repeated prompt's blocks in the prefix cache, which shortens its modelled TTFT", async () => {
    const engine = new Engine(config({ prefillTokensPerSecond: 10_000 }));
    const system = "You are a helpful agent. ".repeat(100);
    const [cold] = await run(engine, [{ tokens: 1000, output: 2, prefix: `${system}first` }]).finished;
    const [warm] = await run(engine, [{ tokens: 1000, output: 2, prefix: `${system}second` }]).finished;
    const [other] = await run(engine, [{ tokens: 1000, output: 2, prefix: "unrelated" }]).finished;
    const c = cold as Sequence;
    const w = warm as Sequence;
    expect(c.cachedTokens).toBe(0);
    // The shared system prompt is 2500 characters: 39 full blocks of 64 characters.
    expect(w.cachedTokens).toBe(39 * 16);
    expect((other as Sequence).cachedTokens).toBe(0);
    expect(engine.counters.prefixHits).toBe(39 * 16);
    expect(engine.counters.prefixQueries).toBe(3000);
    expect(w.modelledTtftMs).toBeLessThan(c.modelledTtftMs);
    expect(c.modelledTtftMs - w.modelledTtftMs).toBeCloseTo((39 * 16 * 1000) / 10_000);
    engine.close();
  });

  it("without prefix caching recomputes every prompt", async () => {
    const engine = new Engine(config({ prefixCaching: false }));
    await run(engine, [{ tokens: 500, output: 1 }]).finished;
    const [again] = await run(engine, [{ tokens: 500, output: 1 }]).finished;
    expect((again as Sequence).cachedTokens).toBe(0);
    expect(engine.counters.prefixQueries).toBe(0);
    engine.close();
  });
});
