// The scheduling model: vLLM V1's continuous batching in one step loop. Each step takes, in
// order, the running sequences (a token each, or the next chunk of an unfinished prefill) and
// then admits waiting ones first come first served while --max-num-seqs, the step's token
// budget (--max-num-batched-tokens) and the KV cache allow. A step lasts what
// settings.stepDurationMs says for that batch; when it ends every sequence in it that finished
// its prefill emits one token. A sequence that needs a block the cache cannot give preempts
// the newest running one (which goes back to the head of the queue and is recomputed later).
//
// One timer drives everything, however many sequences there are: per step the work is
// proportional to the running batch, never to the waiting queue, so a burst of a hundred
// thousand requests costs one queue entry each.
//
// Besides wall-clock timings (which the metrics report, as vLLM's do) each sequence carries
// modelled ones: the sum of the modelled step durations it waited and ran through. They do not
// depend on how busy the host is, so tests can compare them.
import { performance } from "node:perf_hooks";
import { type CachedBlock, KvCache } from "./prefix-cache.ts";
import { type EngineConfig, stepDurationMs } from "./settings.ts";
import type { Prompt } from "./tokens.ts";

export type FinishReason = "stop" | "length" | "abort";

export interface SequenceSink {
  /** One more token was generated (seq.generated counts it). */
  token(seq: Sequence): void;
  /** The sequence ended by itself (an abort is the caller's doing and is not reported here). */
  finish(seq: Sequence, reason: FinishReason): void;
}

export interface SequenceRequest {
  prompt: Prompt;
  /** Tokens to generate; 0 for an embedding, which ends with its prefill. */
  outputTokens: number;
  /** finish_reason when the output ends: "length" when max_tokens cut it, else "stop". */
  limitReason: "stop" | "length";
  /** Varies the generated text. */
  seed: number;
}

let nextId = 0;

export class Sequence {
  readonly id = ++nextId;
  readonly promptTokens: number;
  readonly blockHashes: readonly number[];
  readonly outputTokens: number;
  readonly limitReason: "stop" | "length";
  readonly seed: number;
  readonly sink: SequenceSink;
  state: "waiting" | "running" | "finished" = "waiting";
  finishReason: FinishReason | undefined;
  generated = 0;
  /** Tokens whose KV is computed. */
  computed = 0;
  /** Tokens to prefill before decoding: the prompt, and after a preemption the output so far. */
  target: number;
  /** Prompt tokens found in the prefix cache at the first admission. */
  cachedTokens = 0;
  held: CachedBlock[] = [];
  privateBlocks = 0;
  admitted = false;
  // Wall clock (performance.now(), ms).
  arrivedAt = 0;
  admittedAt = 0;
  firstTokenAt = 0;
  lastTokenAt = 0;
  finishedAt = 0;
  // Modelled clock (sum of step durations, ms).
  arrivedModelled = 0;
  admittedModelled = 0;
  firstTokenModelled = 0;
  finishedModelled = 0;

  constructor(request: SequenceRequest, sink: SequenceSink) {
    this.promptTokens = request.prompt.tokens;
    this.blockHashes = request.prompt.blockHashes;
    this.outputTokens = request.outputTokens;
    this.limitReason = request.limitReason;
    this.seed = request.seed;
    this.sink = sink;
    this.target = request.prompt.tokens;
  }

  /** Modelled time to first token (or to the end of prefill, for an embedding), ms. */
  get modelledTtftMs(): number {
    return (this.outputTokens === 0 ? this.finishedModelled : this.firstTokenModelled) - this.arrivedModelled;
  }

  get modelledQueueMs(): number {
    return this.admittedModelled - this.arrivedModelled;
  }
}

/** Hooks for what the metrics record per token and per request. */
export interface EngineObserver {
  firstToken?(seq: Sequence, seconds: number): void;
  interToken?(seconds: number): void;
  finished?(seq: Sequence): void;
}

export interface EngineCounters {
  promptTokens: number;
  generationTokens: number;
  prefixQueries: number;
  prefixHits: number;
  preemptions: number;
  finished: Record<FinishReason, number>;
}

interface Work {
  seq: Sequence;
  tokens: number;
}

/** A FIFO with cheap removal at the head and re-insertion at the head (for preemptions). */
class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  unshift(x: T): void {
    if (this.head > 0) this.items[--this.head] = x;
    else this.items.unshift(x);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
}

/** Behind by more than this, the loop stops catching up (an overloaded host drops the debt). */
const maxCatchUpMs = 100;

export class Engine {
  readonly config: EngineConfig;
  readonly kv: KvCache;
  readonly counters: EngineCounters = {
    promptTokens: 0,
    generationTokens: 0,
    prefixQueries: 0,
    prefixHits: 0,
    preemptions: 0,
    finished: { stop: 0, length: 0, abort: 0 },
  };
  readonly observers: EngineObserver[] = [];
  /** Steps run so far. */
  steps = 0;
  private readonly clock: () => number;
  private running: Sequence[] = [];
  private runningCount = 0;
  private readonly waiting = new Queue<Sequence>();
  private waitingCount = 0;
  private modelledMs = 0;
  private inFlight: { work: Work[]; duration: number } | undefined;
  private wakePending = false;
  private dueAt: number | undefined;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;

  constructor(config: EngineConfig, clock: () => number = () => performance.now()) {
    this.config = config;
    this.clock = clock;
    this.kv = new KvCache(config.kvBlocks, config.prefixCaching ? config.prefixCacheBlocks : 0);
  }

  get numRunning(): number {
    return this.runningCount;
  }

  get numWaiting(): number {
    return this.waitingCount;
  }

  /** Share of KV blocks that running sequences hold, 0..1 (vllm:kv_cache_usage_perc). */
  get kvUsage(): number {
    return this.kv.usedBlocks / this.kv.totalBlocks;
  }

  submit(request: SequenceRequest, sink: SequenceSink): Sequence {
    const seq = new Sequence(request, sink);
    seq.arrivedAt = this.clock();
    seq.arrivedModelled = this.modelledMs;
    this.waiting.push(seq);
    this.waitingCount++;
    this.wake();
    return seq;
  }

  /** Ends a sequence whose client went away: its slot and KV blocks are free at once. */
  abort(seq: Sequence): void {
    if (seq.state === "finished") return;
    if (seq.state === "running") this.leaveRunning(seq);
    else this.waitingCount--;
    this.end(seq, "abort");
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.cancelTimer();
  }

  /** Plans a step soon when none is in flight; arrivals in the same turn of the loop join it. */
  private wake(): void {
    if (this.inFlight || this.wakePending || this.closed) return;
    this.wakePending = true;
    this.timer = setImmediate(() => {
      this.wakePending = false;
      this.plan(false);
    });
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private plan(continuing: boolean): void {
    if (this.closed) return;
    const c = this.config;
    this.running = this.running.filter((s) => s.state === "running");
    let budget = c.maxNumBatchedTokens;
    let prefillTokens = 0;
    let preempted = false;
    const work: Work[] = [];
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i] as Sequence;
      if (seq.state !== "running") continue;
      const remaining = seq.target - seq.computed;
      const tokens = remaining > 0 ? this.chunk(remaining, seq.computed, budget) : 1;
      if (tokens === 0) continue;
      const room = this.makeRoom(seq, seq.computed + tokens);
      preempted ||= room !== "fits";
      if (room === "self-preempted") continue;
      work.push({ seq, tokens });
      budget -= tokens;
      if (remaining > 0) prefillTokens += tokens;
    }
    // As vLLM V1: no admissions in a step that had to preempt.
    while (!preempted && budget > 0 && this.runningCount < c.maxNumSeqs) {
      const seq = this.waiting.peek();
      if (!seq) break;
      if (seq.state === "finished") {
        this.waiting.shift();
        continue;
      }
      const tokens = this.admit(seq, budget);
      if (tokens === 0) break;
      work.push({ seq, tokens });
      budget -= tokens;
      prefillTokens += tokens;
    }
    if (work.length === 0) {
      this.inFlight = undefined;
      this.dueAt = undefined;
      return;
    }
    const duration = stepDurationMs(c, work.length, prefillTokens);
    this.inFlight = { work, duration };
    const now = this.clock();
    const start =
      continuing && this.dueAt !== undefined && now - this.dueAt < maxCatchUpMs ? this.dueAt : now;
    this.dueAt = start + duration;
    const delay = this.dueAt - now;
    this.timer = delay >= 1 ? setTimeout(this.onStepEnd, delay) : setImmediate(this.onStepEnd);
  }

  private readonly onStepEnd = (): void => {
    this.timer = undefined;
    const step = this.inFlight;
    if (!step || this.closed) return;
    const now = this.clock();
    this.modelledMs += step.duration;
    this.steps++;
    for (const { seq, tokens } of step.work) {
      if (seq.state !== "running") continue;
      seq.computed += tokens;
      if (seq.computed < seq.target) continue;
      if (seq.outputTokens === 0) {
        this.counters.promptTokens += seq.promptTokens;
        this.leaveRunning(seq);
        this.end(seq, "stop", now);
        seq.sink.finish(seq, "stop");
      } else this.emit(seq, now);
    }
    this.plan(true);
  };

  /**
   * Prefill tokens for a sequence in this step: all that remain if the budget allows, else as
   * many whole blocks as fit (so that every full prompt block is computed within one step and
   * can be cached); 0 when not even a block fits.
   */
  private chunk(remaining: number, computed: number, budget: number): number {
    if (remaining <= budget) return remaining;
    const b = this.config.blockSize;
    return Math.max(0, Math.floor((computed + budget) / b) * b - computed);
  }

  /** New blocks to reach `end` tokens: which are full prompt blocks to cache, how many private. */
  private blocksFor(
    seq: Sequence,
    cachedHeld: number,
    privateHeld: number,
    end: number,
  ): { hashes: number[]; privateCount: number } {
    const b = this.config.blockSize;
    const hashes: number[] = [];
    let privateCount = 0;
    for (let j = cachedHeld + privateHeld; j < Math.ceil(end / b); j++) {
      const cacheable =
        this.config.prefixCaching &&
        privateHeld + privateCount === 0 &&
        j < seq.blockHashes.length &&
        (j + 1) * b <= end;
      if (cacheable) hashes.push(seq.blockHashes[j] as number);
      else privateCount++;
    }
    return { hashes, privateCount };
  }

  /** Takes a waiting sequence in if its first chunk fits; returns the chunk's tokens or 0. */
  private admit(seq: Sequence, budget: number): number {
    const b = this.config.blockSize;
    // At least one token is always computed, so a fully cached prompt recomputes its last block.
    const hits = this.config.prefixCaching
      ? this.kv.match(seq.blockHashes, Math.floor((seq.target - 1) / b))
      : [];
    const cached = hits.length * b;
    const tokens = this.chunk(seq.target - cached, cached, budget);
    if (tokens === 0) return 0;
    const { hashes, privateCount } = this.blocksFor(seq, hits.length, 0, cached + tokens);
    const held = this.kv.allocate(hits, hashes, privateCount);
    if (!held) return 0;
    this.waiting.shift();
    this.waitingCount--;
    seq.state = "running";
    seq.held = held;
    seq.privateBlocks = privateCount;
    seq.computed = cached;
    this.running.push(seq);
    this.runningCount++;
    if (this.config.prefixCaching) {
      this.counters.prefixQueries += seq.target;
      this.counters.prefixHits += cached;
    }
    if (!seq.admitted) {
      seq.admitted = true;
      seq.cachedTokens = cached;
      seq.admittedAt = this.clock();
      seq.admittedModelled = this.modelledMs;
    }
    return tokens;
  }

  /**
   * Makes room in the KV cache for a running sequence to reach `end` tokens, preempting the
   * newest running sequences while there is none (vLLM's recompute preemption).
   */
  private makeRoom(seq: Sequence, end: number): "fits" | "preempted-others" | "self-preempted" {
    let outcome: "fits" | "preempted-others" = "fits";
    for (;;) {
      const { hashes, privateCount } = this.blocksFor(seq, seq.held.length, seq.privateBlocks, end);
      const added = this.kv.allocate([], hashes, privateCount);
      if (added) {
        seq.held.push(...added);
        seq.privateBlocks += privateCount;
        return outcome;
      }
      const victim = this.newestRunning();
      if (!victim) return outcome;
      this.preempt(victim);
      if (victim === seq) return "self-preempted";
      outcome = "preempted-others";
    }
  }

  private newestRunning(): Sequence | undefined {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i] as Sequence;
      if (s.state === "running") return s;
    }
    return undefined;
  }

  private preempt(seq: Sequence): void {
    this.leaveRunning(seq);
    seq.state = "waiting";
    seq.computed = 0;
    seq.target = seq.promptTokens + seq.generated;
    this.waiting.unshift(seq);
    this.waitingCount++;
    this.counters.preemptions++;
  }

  private emit(seq: Sequence, now: number): void {
    seq.generated++;
    this.counters.generationTokens++;
    if (seq.generated === 1) {
      seq.firstTokenAt = now;
      seq.firstTokenModelled = this.modelledMs;
      this.counters.promptTokens += seq.promptTokens;
      for (const o of this.observers) o.firstToken?.(seq, (now - seq.arrivedAt) / 1000);
    } else for (const o of this.observers) o.interToken?.((now - seq.lastTokenAt) / 1000);
    seq.lastTokenAt = now;
    seq.sink.token(seq);
    if (seq.generated >= seq.outputTokens && seq.state === "running") {
      this.leaveRunning(seq);
      this.end(seq, seq.limitReason, now);
      seq.sink.finish(seq, seq.limitReason);
    }
  }

  /** Frees a running sequence's slot and KV blocks (it stays in `running` until the next plan). */
  private leaveRunning(seq: Sequence): void {
    this.kv.release(seq.held, seq.privateBlocks);
    seq.held = [];
    seq.privateBlocks = 0;
    this.runningCount--;
  }

  private end(seq: Sequence, reason: FinishReason, now = this.clock()): void {
    seq.state = "finished";
    seq.finishReason = reason;
    seq.finishedAt = now;
    seq.finishedModelled = this.modelledMs;
    this.counters.finished[reason]++;
    for (const o of this.observers) o.finished?.(seq);
  }
}
