// The autoscaler's decision as the pure function it is: tables of situations (spikes, noise,
// slow loads, zero and back, caps) driven second by second through a small fluid model of a
// service, and properties over random inputs (always within [min, max], never down in panic,
// monotone in load).
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  type AutoscalerMemory,
  type Decision,
  decide,
  type RouterSample,
  runSeconds,
  stepCeiling,
} from "../../controllers/inferenceservice/autoscaling/index.ts";
import { type AutoscalingSpec, autoscalingSpec } from "../../crds/index.ts";

const limitsOf = (spec: Record<string, unknown>): AutoscalingSpec =>
  autoscalingSpec.parse({ maxReplicas: 64, target: 12, ...spec });

const sample = (t: number, figures: Partial<RouterSample> = {}): RouterSample => ({
  time: t * 1000,
  readyReplicas: 0,
  routerQueued: 0,
  inFlight: 0,
  engineRunning: 0,
  engineWaiting: 0,
  kvCacheUsageMean: 0,
  requestsPerSecond: 0,
  tokensPerSecond: 0,
  lastRequestTime: undefined,
  ...figures,
});

interface World {
  /** Offered requests per second at second t. */
  rate: (t: number) => number;
  /** Seconds a request runs. */
  runSeconds?: number;
  /** Sequences a replica runs at once. */
  slots?: number;
  /** Seconds from a decision to a new replica being ready. */
  loadSeconds?: number;
  /** Replicas ready at the start. */
  replicas: number;
  /** Requests in the system at the start; default: the steady state of rate(0). */
  inSystem?: number;
  /** Pass loadSeconds to decide() as replicaStartSeconds, as an operator that saw its pods start would. */
  startKnown?: boolean;
}

interface Step {
  t: number;
  decision: Decision;
  ready: number;
  inSystem: number;
}

/**
 * Runs decide() once a second for `seconds`, applying each decision to a fluid model of the
 * service: requests in the system grow by the arrivals and shrink by what the ready replicas
 * finish (running / run time, at most `slots` running per replica); new replicas are ready
 * `loadSeconds` after the decision; removed replicas go at once, loading ones first.
 */
function simulate(limits: AutoscalingSpec, world: World, seconds: number): Step[] {
  const run = world.runSeconds ?? 2;
  const slots = world.slots ?? 16;
  const load = world.loadSeconds ?? 30;
  let readyAt: number[] = Array.from({ length: world.replicas }, () => Number.NEGATIVE_INFINITY);
  let inSystem = world.inSystem ?? world.rate(0) * run;
  let memory: AutoscalerMemory | undefined;
  const samples: RouterSample[] = [];
  const steps: Step[] = [];
  for (let t = 0; t < seconds; t++) {
    const ready = readyAt.filter((at) => at <= t).length;
    const arrivals = world.rate(t);
    // Whole requests finish, so an idle service does get to zero.
    const running = Math.min(inSystem, ready * slots);
    inSystem = Math.max(0, inSystem + arrivals - Math.min(inSystem, Math.ceil(running / run)));
    const nowRunning = Math.min(inSystem, ready * slots);
    const waiting = inSystem - nowRunning;
    samples.push(
      sample(t, {
        readyReplicas: ready,
        routerQueued: ready === 0 ? inSystem : 0,
        inFlight: ready === 0 ? 0 : inSystem,
        engineRunning: nowRunning,
        engineWaiting: ready === 0 ? 0 : waiting,
        kvCacheUsageMean: ready === 0 ? 0 : nowRunning / (ready * slots),
        requestsPerSecond: arrivals,
        tokensPerSecond: nowRunning * 40,
        lastRequestTime: arrivals > 0 ? t * 1000 : samples[samples.length - 1]?.lastRequestTime,
      }),
    );
    if (samples.length > limits.stableWindowSeconds) samples.shift();
    const decision = decide({
      now: t * 1000,
      samples,
      replicas: readyAt.length,
      loadingReplicas: readyAt.length - ready,
      limits,
      replicaStartSeconds: world.startKnown ? load : undefined,
      memory,
    });
    memory = decision.memory;
    if (decision.replicas > readyAt.length) {
      readyAt = [...readyAt, ...Array.from({ length: decision.replicas - readyAt.length }, () => t + load)];
    } else if (decision.replicas < readyAt.length) {
      readyAt = [...readyAt].sort((a, b) => a - b).slice(0, decision.replicas);
    }
    steps.push({ t, decision, ready, inSystem });
  }
  return steps;
}

const counts = (steps: readonly Step[]) => steps.map((s) => s.decision.replicas);
const changes = (steps: readonly Step[]) =>
  steps.filter((s, i) => i > 0 && s.decision.replicas !== steps[i - 1]?.decision.replicas);

/** A deterministic wobble of ±amplitude around 1, irregular enough to look like noise. */
const wobble = (t: number, amplitude: number) =>
  1 + amplitude * Math.sin(t * 1.7) * Math.cos(t * 0.31 + 1) * Math.sign(Math.sin(t * 5.3));

describe("spikes", () => {
  // 16 requests/s, 2 s each: 32 in flight, 3 replicas at 12; ten times that needs 27.
  const tenfold = (t: number) => (t < 90 ? 16 : 160);

  test("a tenfold step is decided within 2 s, in panic, with the reason in words", () => {
    const steps = simulate(limitsOf({}), { rate: tenfold, replicas: 3 }, 100);
    const before = steps[89] as Step;
    expect(before.decision.replicas).toBe(3);
    const within = steps.slice(90, 92).map((s) => s.decision);
    expect(within.at(-1)?.replicas).toBeGreaterThanOrEqual(27);
    expect(within.at(-1)?.mode).toBe("panic");
    expect(within[0]?.reason).toMatch(
      /^panic: concurrency \d+ \(\d+ req\/s × 2 s, \d+ in the system\) over 3 replicas/,
    );
  });

  test("loading replicas count as coming capacity: the backlog that builds while they load orders none", () => {
    const steps = simulate(limitsOf({}), { rate: tenfold, replicas: 3, loadSeconds: 60 }, 150);
    const whileLoading = steps.slice(92, 150);
    // The queue grows by more than a hundred requests a second for a minute...
    expect((steps[149] as Step).inSystem).toBeGreaterThan(5000);
    // ...and the count stays what the arrivals need.
    expect(Math.max(...counts(whileLoading))).toBeLessThanOrEqual(28);
    expect(Math.min(...counts(whileLoading))).toBeGreaterThanOrEqual(27);
  });

  test.each([
    ["queue depth", false],
    ["queue depth, start time known", true],
  ])("%s: the queue that builds while replicas load orders no more", (_name, startKnown) => {
    // No step limit to hide behind.
    const limits = limitsOf({ metric: "queueDepth", target: 8, maxReplicas: 1000, scaleUpLimit: 1000 });
    const steps = simulate(limits, { rate: tenfold, replicas: 3, loadSeconds: 60, startKnown }, 150);
    const ordered = (steps[95] as Step).decision.replicas;
    expect(ordered).toBeGreaterThan(3);
    expect(ordered).toBeLessThan(100);
    expect((steps[149] as Step).inSystem).toBeGreaterThan(5000);
    expect(Math.max(...counts(steps.slice(96, 150)))).toBe(ordered);
  });

  test("with the replicas' start time known, it also orders what drains the backlog they will find, and lets those go once it is drained", () => {
    const limits = limitsOf({ scaleDownDelaySeconds: 300 });
    const steps = simulate(limits, { rate: tenfold, replicas: 3, loadSeconds: 30, startKnown: true }, 400);
    const blind = simulate(limits, { rate: tenfold, replicas: 3, loadSeconds: 30 }, 400);
    const first = (steps[91] as Step).decision;
    // 30 s at 160/s with 3 replicas finishing 24/s: about 4,000 waiting when the order is ready.
    expect(first.replicas).toBeGreaterThan((blind[91] as Step).decision.replicas);
    expect(first.replicas).toBeLessThanOrEqual(stepCeiling("1000%", 3));
    const drained = (run: Step[]) => run.find((s) => s.t > 100 && s.inSystem <= 27 * 12)?.t ?? 400;
    expect(drained(steps)).toBeLessThan(drained(blind));
    // Back to what the arrivals need well before the 300 s scale-down delay is over.
    expect(Math.max(...counts(steps.slice(300)))).toBeLessThanOrEqual(28);
  });

  test("with no run time learned yet, it holds while the first order loads instead of chasing the queue", () => {
    // Starts in overload: the in-flight time cannot be read from a steady state.
    const steps = simulate(limitsOf({}), { rate: () => 160, replicas: 3, inSystem: 400 }, 40);
    const first = (steps[0] as Step).decision.replicas;
    expect(first).toBeGreaterThan(3);
    expect(first).toBeLessThanOrEqual(stepCeiling("1000%", 3));
    expect(counts(steps.slice(1, 30)).every((n) => n === first)).toBe(true);
    expect((steps[5] as Step).decision.reason).toContain("still load");
  });

  test("a burst of one and a half times the replicas scales up on the short window, without panic", () => {
    const steps = simulate(limitsOf({}), { rate: (t) => (t < 90 ? 96 : 144), replicas: 16 }, 100);
    const after = steps.slice(90, 95).map((s) => s.decision);
    const up = after.find((d) => d.replicas > 16);
    // 144 requests/s x 2 s / 12: 24, within a replica of the run time as read.
    expect(up?.replicas).toBeGreaterThanOrEqual(24);
    expect(up?.replicas).toBeLessThanOrEqual(25);
    expect(up?.mode).toBe("stable");
    expect(up?.reason).toContain("(last 6 s)");
    // Kept, not taken back the next second.
    expect(counts(steps.slice(91, 100)).every((n, i, all) => i === 0 || n >= (all[i - 1] as number))).toBe(
      true,
    );
  });
});

describe("noise", () => {
  test("±8% wobble around a steady load changes nothing over ten minutes", () => {
    // 78 requests/s x 2 s = 156 in flight = 13 replicas at 12, with 8% headroom from rounding.
    const steps = simulate(limitsOf({}), { rate: (t) => 78 * wobble(t, 0.08), replicas: 14 }, 600);
    expect(changes(steps)).toEqual([]);
    expect(new Set(steps.map((s) => s.decision.mode))).toEqual(new Set(["stable"]));
  });

  test("within the tolerance the count stays, and the reason says so", () => {
    // 104 % of what 12 replicas carry at target.
    const steps = simulate(limitsOf({}), { rate: () => 75, replicas: 12 }, 90);
    expect(changes(steps)).toEqual([]);
    expect((steps[89] as Step).decision.reason).toContain("within 10%: keeps 12");
  });
});

describe("scaling down", () => {
  test("only after scaleDownDelaySeconds of lower wishes, then to what the load needs", () => {
    const limits = limitsOf({ scaleDownDelaySeconds: 120 });
    // 27 replicas' worth until t=60, then 5 replicas' worth (30 req/s x 2 s / 12).
    const steps = simulate(limits, { rate: (t) => (t < 60 ? 160 : 30), replicas: 27 }, 400);
    const firstDown = steps.find((s) => s.decision.replicas < 27);
    expect(firstDown?.t).toBeGreaterThanOrEqual(60 + 120);
    expect(firstDown?.decision.reason).toContain("for scaleDownDelaySeconds 120");
    expect((steps[399] as Step).decision.replicas).toBe(5);
    // Never back up on the way down.
    const down = counts(steps);
    expect(down.every((n, i) => i === 0 || n <= (down[i - 1] as number))).toBe(true);
  });

  test("a fresh memory (an operator restart) does not scale down at once", () => {
    const steps = simulate(limitsOf({ scaleDownDelaySeconds: 60 }), { rate: () => 10, replicas: 10 }, 120);
    expect(steps.filter((s) => s.t < 60).every((s) => s.decision.replicas === 10)).toBe(true);
    expect((steps[119] as Step).decision.replicas).toBe(2);
  });

  test("a burst stops a scale-down at once", () => {
    const limits = limitsOf({ scaleDownDelaySeconds: 30 });
    const rate = (t: number) => (t < 60 ? 160 : t < 115 ? 10 : 160);
    const steps = simulate(limits, { rate, replicas: 27 }, 130);
    const atBurst = steps.slice(115, 118).map((s) => s.decision.replicas);
    expect(atBurst.every((n, i) => i === 0 || n >= (atBurst[i - 1] as number))).toBe(true);
  });

  test("a backlog the ready replicas clear within the stable window orders nothing; one they do not, orders", () => {
    // 20 replicas, 120 requests/s of 2 s each (240 at once, 20 replicas at 12), and 1,500 more
    // in the system: left over from a moment without replicas.
    const backlog = (fall: number) =>
      [0, 1, 2, 3, 4, 5, 6].map((t) =>
        sample(t, {
          readyReplicas: 20,
          requestsPerSecond: 120,
          inFlight: 1740 + fall * (6 - t),
          engineRunning: 20 * 16,
          engineWaiting: 1420 + fall * (6 - t),
          lastRequestTime: t * 1000,
        }),
      );
    const at = (fall: number, runningPerReplica: number) =>
      decide({
        now: 6000,
        samples: backlog(fall),
        replicas: 20,
        loadingReplicas: 0,
        limits: limitsOf({}),
        memory: {
          learned: { seenUntil: 6000, serviceSeconds: 2, runningPerReplica, lastRequestTime: 6000 },
          panicUntil: undefined,
          panicReplicas: 0,
          wishes: { entries: [] },
          lastScaleUp: undefined,
        },
      });
    // Full batches of 16 finish 160/s: 40/s to spare clear 1,500 in 38 s.
    expect(at(40, 16).replicas).toBe(20);
    // Batches of 13 finish 130/s: 10/s to spare would take 150 s; drain it within 60 s instead.
    const drains = at(10, 13);
    expect(drains.replicas).toBe(Math.ceil(((120 + 1500 / 60) * 2) / 13));
  });
});

describe("slow loads and step limits", () => {
  test("the example of the issue: queue depth over 8 replicas, capped at scaleUpLimit 10", () => {
    const limits = limitsOf({ metric: "queueDepth", target: 16, scaleUpLimit: 10 });
    const samples = [0, 1, 2].map((t) =>
      sample(t, { readyReplicas: 8, engineWaiting: 412, inFlight: 412, requestsPerSecond: 50 }),
    );
    const d = decide({ now: 2000, samples, replicas: 8, loadingReplicas: 0, limits, memory: undefined });
    expect(d.replicas).toBe(18);
    expect(d.limitedBy).toBe("scaleUpLimit");
    expect(d.reason).toContain("queue depth 412");
    expect(d.reason).toContain("over 8 replicas");
    expect(d.reason).toContain("target 16 → 26, capped at scaleUpLimit 10: 18");
  });

  test("a step lasts until its replicas are ready: a capped order waits for them, then goes on", () => {
    const limits = limitsOf({ scaleUpLimit: "100%" });
    const steps = simulate(limits, { rate: (t) => (t < 90 ? 32 : 160), replicas: 6, loadSeconds: 45 }, 240);
    const at = (t: number) => (steps[t] as Step).decision.replicas;
    expect(at(91)).toBe(12); // 6 ready, 100% more
    expect(Math.max(...counts(steps.slice(91, 135)))).toBe(12); // holds while the six load
    expect(at(200)).toBeGreaterThanOrEqual(24); // the next step once they are ready
    expect(steps.slice(91, 135).some((s) => s.decision.reason.includes("while 6 replicas load"))).toBe(true);
  });

  test("stepCeiling: a count above the ready replicas, or a percentage of them, at least one", () => {
    expect(stepCeiling(10, 8)).toBe(18);
    expect(stepCeiling("100%", 8)).toBe(16);
    expect(stepCeiling("1000%", 1)).toBe(11);
    expect(stepCeiling("50%", 1)).toBe(2);
    expect(stepCeiling("1000%", 0)).toBe(10);
    expect(stepCeiling(3, 0)).toBe(3);
  });
});

describe("zero and back", () => {
  const limits = limitsOf({ minReplicas: 0, idleTimeoutSeconds: 120 });

  test("to zero after idleTimeoutSeconds without requests, not before", () => {
    const steps = simulate(limits, { rate: (t) => (t < 30 ? 10 : 0), replicas: 2 }, 200);
    const zero = steps.find((s) => s.decision.replicas === 0);
    // The last request arrived at t=29; the in-flight ones finish within seconds.
    expect(zero?.t).toBeGreaterThanOrEqual(29 + 120);
    expect(zero?.decision.reason).toMatch(/^no requests for 1[23]\d s \(idleTimeoutSeconds 120\) → 0$/);
    expect(steps.filter((s) => s.t < 149).every((s) => s.decision.replicas >= 1)).toBe(true);
  });

  test("from zero at the first held request, then with the load", () => {
    const d = decide({
      now: 5000,
      samples: [sample(4), sample(5, { routerQueued: 1, requestsPerSecond: 1 })],
      replicas: 0,
      loadingReplicas: 0,
      limits,
      memory: undefined,
    });
    expect(d.replicas).toBe(1);
    expect(d.reason).toBe("1 requests held at the router with no replica → 1");
    const steps = simulate(limits, { rate: (t) => (t < 10 ? 0 : 40), replicas: 0, loadSeconds: 20 }, 60);
    expect((steps[9] as Step).decision.replicas).toBe(0);
    expect((steps[10] as Step).decision.replicas).toBeGreaterThanOrEqual(1);
    expect((steps[59] as Step).decision.replicas).toBeGreaterThanOrEqual(7);
  });

  test("a service that never had a request goes to zero an idle timeout after the autoscaler starts", () => {
    const steps = simulate(limits, { rate: () => 0, replicas: 1 }, 200);
    expect(steps.find((s) => s.decision.replicas === 0)?.t).toBe(120);
  });

  test("stays at zero while idle; minReplicas above zero brings replicas without any request", () => {
    const idle = [sample(0), sample(1)];
    const at = (l: AutoscalingSpec) =>
      decide({ now: 1000, samples: idle, replicas: 0, loadingReplicas: 0, limits: l, memory: undefined });
    expect(at(limits).replicas).toBe(0);
    expect(at(limitsOf({ minReplicas: 2 })).replicas).toBe(2);
  });
});

describe("caps and other metrics", () => {
  test("maxReplicas caps and says so", () => {
    const steps = simulate(
      limitsOf({ maxReplicas: 10 }),
      { rate: (t) => (t < 10 ? 16 : 400), replicas: 3 },
      20,
    );
    const last = (steps[19] as Step).decision;
    expect(last.replicas).toBe(10);
    expect(last.limitedBy).toBe("maxReplicas");
    expect(last.reason).toContain("capped at maxReplicas 10");
  });

  test("minReplicas holds and says so", () => {
    const steps = simulate(
      limitsOf({ minReplicas: 4, scaleDownDelaySeconds: 0 }),
      { rate: () => 5, replicas: 6 },
      90,
    );
    const last = (steps[89] as Step).decision;
    expect(last.replicas).toBe(4);
    expect(last.limitedBy).toBe("minReplicas");
  });

  test("kvCacheUsage is proportional over the ready replicas; tokensPerSecond divides by the target", () => {
    // Four seconds of the same figures over 4 ready replicas, no memory.
    const over4 = (figures: Partial<RouterSample>, spec: Record<string, unknown>) =>
      decide({
        now: 3000,
        samples: [0, 1, 2, 3].map((t) => sample(t, { readyReplicas: 4, requestsPerSecond: 500, ...figures })),
        replicas: 4,
        loadingReplicas: 0,
        limits: limitsOf(spec),
        memory: undefined,
      });
    const kv = over4({ kvCacheUsageMean: 0.95 }, { metric: "kvCacheUsage", target: 0.8 });
    expect(kv.replicas).toBe(5);
    expect(kv.reason).toContain("KV-cache use 95%");
    const tokens = over4({ tokensPerSecond: 10_000 }, { metric: "tokensPerSecond", target: 2000 });
    expect(tokens.replicas).toBe(5);
    expect(tokens.reason).toContain("10000 tokens/s");
  });

  test("no figures yet: keeps the count", () => {
    const d = decide({
      now: 0,
      samples: [],
      replicas: 3,
      loadingReplicas: 1,
      limits: limitsOf({}),
      memory: undefined,
    });
    expect(d.replicas).toBe(3);
    expect(d.reason).toMatch(/no figures/);
  });
});

describe("the run time (Little's law on the engines)", () => {
  test("is read from a steady window, saturated or not, and not from a step", () => {
    const steady = [0, 1, 2, 3].map((t) =>
      sample(t, {
        requestsPerSecond: 50,
        inFlight: 300,
        engineRunning: 200,
        engineWaiting: 100,
        readyReplicas: 5,
      }),
    );
    // 50/s finish (nothing grows), 200 running: 4 s each.
    expect(runSeconds(steady)).toBeCloseTo(4);
    const rising = [0, 1, 2, 3].map((t) =>
      sample(t, { requestsPerSecond: 50, inFlight: 100 + 40 * t, engineRunning: 100 + 40 * t }),
    );
    expect(runSeconds(rising)).toBeUndefined();
    expect(runSeconds(steady.slice(0, 2))).toBeUndefined();
    // Replicas that turn ready mid-window: the queue rose before and falls after, which nets
    // out to a window that only looks steady.
    const turning = [0, 1, 2, 3, 4, 5, 6].map((t) =>
      sample(t, {
        requestsPerSecond: 160,
        readyReplicas: t < 3 ? 3 : 33,
        inFlight: 4000 + (t < 3 ? 136 * t : 136 * (6 - t)),
        engineRunning: t < 3 ? 48 : 528,
      }),
    );
    expect(runSeconds(turning)).toBeUndefined();
    const halves = [0, 1, 2, 3, 4, 5, 6].map((t) =>
      sample(t, {
        requestsPerSecond: 160,
        readyReplicas: 33,
        inFlight: 4000 + (t < 3 ? 136 * t : 136 * (6 - t)),
        engineRunning: 528,
      }),
    );
    expect(runSeconds(halves)).toBeUndefined();
  });
});

// Properties over random situations.
const limitsArb = fc
  .record({
    minReplicas: fc.integer({ min: 0, max: 5 }),
    spread: fc.integer({ min: 0, max: 40 }),
    metric: fc.constantFrom("concurrency", "queueDepth", "kvCacheUsage", "tokensPerSecond"),
    scaleUpLimit: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom("50%", "100%", "1000%")),
    scaleDownDelaySeconds: fc.integer({ min: 0, max: 120 }),
    panicWindowSeconds: fc.integer({ min: 1, max: 10 }),
    stableWindowSeconds: fc.integer({ min: 10, max: 60 }),
    idleTimeoutSeconds: fc.integer({ min: 1, max: 60 }),
  })
  .map(({ spread, metric, ...rest }) =>
    autoscalingSpec.parse({
      ...rest,
      maxReplicas: rest.minReplicas + spread + (rest.minReplicas + spread === 0 ? 1 : 0),
      metric,
      target: metric === "kvCacheUsage" ? 0.8 : metric === "tokensPerSecond" ? 2000 : 12,
    }),
  );

const figuresArb = fc.record({
  readyReplicas: fc.integer({ min: 0, max: 40 }),
  routerQueued: fc.integer({ min: 0, max: 2000 }),
  inFlight: fc.integer({ min: 0, max: 2000 }),
  engineRunning: fc.integer({ min: 0, max: 1000 }),
  engineWaiting: fc.integer({ min: 0, max: 1000 }),
  kvCacheUsageMean: fc.double({ min: 0, max: 0.5, noNaN: true }),
  requestsPerSecond: fc.double({ min: 0, max: 500, noNaN: true }),
  tokensPerSecond: fc.double({ min: 0, max: 50_000, noNaN: true }),
});

const situationArb = fc
  .record({
    limits: limitsArb,
    figures: fc.array(figuresArb, { minLength: 1, maxLength: 70 }),
    replicas: fc.integer({ min: 0, max: 50 }),
    loadingShare: fc.double({ min: 0, max: 1, noNaN: true }),
    learned: fc.record({
      serviceSeconds: fc.option(fc.double({ min: 0.1, max: 30, noNaN: true }), { nil: undefined }),
      runningPerReplica: fc.option(fc.double({ min: 1, max: 64, noNaN: true }), { nil: undefined }),
    }),
    panic: fc.boolean(),
    lastRequestAgo: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
    pastWish: fc.integer({ min: 0, max: 60 }),
    replicaStartSeconds: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
  })
  .map((s) => {
    const now = s.figures.length * 1000;
    const samples = s.figures.map((f, i) => sample(i + 1, f));
    const memory: AutoscalerMemory = {
      // Learned already, so that scaling the load does not change what is learned from it.
      learned: {
        seenUntil: now,
        serviceSeconds: s.learned.serviceSeconds,
        runningPerReplica: s.learned.runningPerReplica,
        lastRequestTime: s.lastRequestAgo === undefined ? undefined : now - s.lastRequestAgo * 1000,
      },
      panicUntil: s.panic ? now + 10_000 : undefined,
      panicReplicas: s.panic ? s.replicas : 0,
      wishes: { entries: [{ time: now - 5000, value: s.pastWish }] },
      lastScaleUp: s.loadingShare > 0 ? now - 3000 : undefined,
    };
    return {
      now,
      samples,
      replicas: s.replicas,
      loadingReplicas: Math.floor(s.replicas * s.loadingShare),
      limits: s.limits,
      replicaStartSeconds: s.replicaStartSeconds,
      memory,
    };
  });

const RUNS = Number(process.env.AUTOSCALING_PROPERTY_RUNS ?? 500);

const loadFields = [
  "routerQueued",
  "inFlight",
  "engineRunning",
  "engineWaiting",
  "requestsPerSecond",
  "tokensPerSecond",
  "kvCacheUsageMean",
] as const;

/** More of every load figure never asks for fewer replicas. */
const monotoneInLoad = fc.property(
  situationArb,
  fc.double({ min: 1, max: 2, noNaN: true }),
  (input, factor) => {
    const heavier = input.samples.map((s) => {
      const out = { ...s };
      for (const field of loadFields) out[field] = s[field] * factor;
      return out;
    });
    return decide({ ...input, samples: heavier }).replicas >= decide(input).replicas;
  },
);

describe("properties", () => {
  test("the count is always within [minReplicas, maxReplicas]", () => {
    fc.assert(
      fc.property(situationArb, (input) => {
        const { replicas } = decide(input);
        return (
          Number.isInteger(replicas) &&
          replicas >= input.limits.minReplicas &&
          replicas <= input.limits.maxReplicas
        );
      }),
      { numRuns: RUNS },
    );
  });

  test("never down while in panic", () => {
    fc.assert(
      fc.property(situationArb, (input) => {
        const d = decide(input);
        return d.mode !== "panic" || d.replicas >= Math.min(input.replicas, input.limits.maxReplicas);
      }),
      { numRuns: RUNS },
    );
  });

  test("monotone in load: more of every figure never asks for fewer replicas", () => {
    fc.assert(monotoneInLoad, { numRuns: RUNS });
  });

  // A counterexample a random run found: the last seconds' mean exactly 1.5 times the panic
  // window's, and a rounding of the heavier load put it just below, so 0.3% more arrivals asked
  // for 3 replicas instead of 4. Replayed as a regression test.
  test("slightly more load never asks for one replica fewer (seed -1392289831)", () => {
    fc.assert(monotoneInLoad, {
      seed: -1392289831,
      path: "465:0:3:4:5:5:5:8:8:11:8:19:19:82:85:85:85:85:85:85:85:85:85:87:87:87:87:87:87:87:87:87:89:89:89:89:89:89:89:90:90:90:90:90:90:152:91:91:91:91:7:7:7:7:7:7:79:79:79:79:80:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:79:80:80:81:80:80:81:80:81:87:69:16:86:81:7:144:140:83:78:146:149:147:68:81:82:86:77:24:7:23:23:23:24:23:2:5:78:80:76:76:145:145:67:83:81:5:138:81:81:67:40:21:19:19:21:21:19:19:22",
      endOnFailure: true,
    });
  });

  test("pure: the input, memory included, is left as it was", () => {
    fc.assert(
      fc.property(situationArb, (input) => {
        const before = structuredClone(input);
        decide(input);
        expect(input).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});
