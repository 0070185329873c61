// Autoscaler benchmark: one simulated model service (bench/support/serving-sim.ts) under three
// traces, driven in the same run by our decide() and by anchors simulated from their documented
// rules (bench/support/autoscaler-anchors.ts): Knative's KPA, KEDA + HPA, and a fixed count
// provisioned for the peak. Every autoscaler sizes by the same signal (requests in the system:
// held at the router plus in flight) at the same target per replica.
//
//   npx node bench/autoscaler.ts [--seed S]      (or: npm run bench -- autoscaler)
//
// Traces, Poisson arrivals per second:
// - step: 2 minutes at the base rate, then ten times the rate for 8 minutes;
// - bursty: 10 minutes of agent-like on/off bursts (5-40 s at 60-200 requests/s, 15-90 s
//   apart) over 4 requests/s;
// - noise: 10 minutes of a steady rate, for flaps on noise alone.
// Figures, from the step: decision = until the count asked for reaches 90% of what the new
// load needs at target (the 10% tolerance: Poisson noise alone moves the need by 5%), first =
// until the first rise; pods exist / ready = until that many pods exist / are ready; queue
// under target = until the requests in the system are back under target x ready replicas.
// Every trace: peak replicas and overshoot over the need at the peak, flaps (a scale-down undone
// by a scale-up within 60 s), changes of the count, requests that waited over 1 s for a slot,
// replica-seconds (every second a pod exists, loading or not).
// Prints a human summary, the ratios against each anchor, and as its last line one JSON object.

import type { RouterSample } from "../controllers/inferenceservice/autoscaling/demand.ts";
import { autoscalingSpec } from "../crds/index.ts";
import { type Autoscaler, type Bounds, Fixed, KedaHpa, Kpa, Ours } from "./support/autoscaler-anchors.ts";
import { prng, type Random } from "./support/random.ts";
import { type ServingModel, ServingSim, type Tick } from "./support/serving-sim.ts";

const model: ServingModel = {
  slotsPerReplica: 16,
  serviceSeconds: 2,
  podStartSeconds: 1,
  modelLoadSeconds: 30,
  tokensPerSequenceSecond: 40,
};
const TARGET = 12; // concurrency per replica: 75% of the 16 slots, headroom as Knative's 70% default
const BASE_RATE = 16;
const STEP_AT = 120;
const DURATION = 600;
// A scale-down undone by a scale-up within this time is a flap: a model load thrown away.
const FLAP_WINDOW = 60;

// What the operator passes as replicaStartSeconds: the start time it saw its pods take. The
// row ours-no-start-time is the same autoscaler before it has seen a pod start.
const START_SECONDS = model.podStartSeconds + model.modelLoadSeconds;

const bounds: Bounds = { minReplicas: 1, maxReplicas: 64, target: TARGET };
const ourLimits = autoscalingSpec.parse({ minReplicas: 1, maxReplicas: 64, target: TARGET });

const needFor = (rate: number) => Math.ceil((rate * model.serviceSeconds) / TARGET - 1e-9);

function seedFlag(): number {
  const i = process.argv.indexOf("--seed");
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : 20_260_101;
}

/** Offered rate (requests/s) per second of the trace. */
type Trace = number[];

function stepTrace(): Trace {
  return Array.from({ length: DURATION }, (_, t) => (t < STEP_AT ? BASE_RATE : 10 * BASE_RATE));
}

function burstyTrace(random: Random): Trace {
  const rates: Trace = Array.from({ length: DURATION }, () => 4);
  let t = random.int(20, 60);
  while (t < DURATION) {
    const length = random.int(5, 40);
    const rate = random.uniform(60, 200);
    for (let i = t; i < Math.min(DURATION, t + length); i++) rates[i] = rate;
    t += length + random.int(15, 90);
  }
  return rates;
}

const noiseTrace = (): Trace => Array.from({ length: DURATION }, () => 80);

interface Run {
  ticks: Tick[];
  asked: number[];
  sim: ServingSim;
}

// Before each trace the service runs at the trace's first rate for this long, the autoscalers
// watching but not acting, so that every one starts from full windows and a steady service
// rather than from an empty one (an empty start made the KPA scale down on its first tick).
const WARM_UP = 120;

function run(trace: Trace, arrivals: number[], scaler: Autoscaler, initial: number): Run {
  const sim = new ServingSim(model, initial);
  const history: RouterSample[] = [];
  const ticks: Tick[] = [];
  const asked: number[] = [];
  for (let t = -WARM_UP; t < trace.length; t++) {
    if (t === 0) sim.resetCounters();
    const tick = sim.step(t, t < 0 ? Math.round(trace[0] ?? 0) : (arrivals[t] ?? 0));
    history.push(sim.sample(tick));
    if (history.length > 120) history.shift();
    const counts = sim.countReplicas(t);
    const want = scaler.tick(t, history, { replicas: counts.replicas, ready: counts.ready });
    if (t < 0) continue;
    if (want !== undefined && want !== counts.replicas) sim.scaleTo(t, want);
    ticks.push(tick);
    asked.push(sim.countReplicas(t).replicas);
  }
  return { ticks, asked, sim };
}

function flaps(asked: readonly number[]): number {
  let count = 0;
  let lastDown: number | undefined;
  for (let t = 1; t < asked.length; t++) {
    const before = asked[t - 1] as number;
    const now = asked[t] as number;
    if (now < before) lastDown = t;
    else if (now > before && lastDown !== undefined && t - lastDown <= FLAP_WINDOW) {
      count++;
      lastDown = undefined;
    }
  }
  return count;
}

const scaleChanges = (asked: readonly number[]) => asked.filter((n, t) => t > 0 && n !== asked[t - 1]).length;

const firstAfter = (from: number, ok: (t: number) => boolean, end: number): number | null => {
  for (let t = from; t < end; t++) if (ok(t)) return t - from;
  return null;
};

function common(r: Run) {
  const peak = Math.max(...r.ticks.map((k) => k.existing));
  return {
    waitedOverOneSecond: r.sim.waitedOverOneSecond,
    waitedOverOneSecondShare: round(r.sim.waitedOverOneSecond / Math.max(1, r.sim.started), 4),
    replicaSeconds: r.sim.replicaSeconds,
    peakReplicas: peak,
    flaps: flaps(r.asked),
    scaleChanges: scaleChanges(r.asked),
  };
}

function stepFigures(r: Run) {
  const need = needFor(10 * BASE_RATE);
  const before = r.asked[STEP_AT - 1] as number;
  const over = (t: number) => {
    const k = r.ticks[t] as Tick;
    return k.queued + k.inService > TARGET * Math.max(1, k.ready);
  };
  // From the step until the requests in the system are back under target x ready replicas,
  // after they first went over it.
  const firstOver = firstAfter(STEP_AT, over, DURATION);
  const backUnder = firstOver === null ? 0 : firstAfter(STEP_AT + firstOver, (t) => !over(t), DURATION);
  const base = common(r);
  return {
    needed: need,
    firstScaleUpSeconds: firstAfter(STEP_AT, (t) => (r.asked[t] as number) > before, DURATION),
    // Within the 10% tolerance of the count the new load needs: Poisson noise alone moves it by 5%.
    decisionSeconds: firstAfter(STEP_AT, (t) => (r.asked[t] as number) >= 0.9 * need, DURATION),
    podsExistSeconds: firstAfter(STEP_AT, (t) => (r.ticks[t] as Tick).existing >= 0.9 * need, DURATION),
    podsReadySeconds: firstAfter(STEP_AT, (t) => (r.ticks[t] as Tick).ready >= 0.9 * need, DURATION),
    queueUnderTargetSeconds: backUnder === null ? null : backUnder + (firstOver ?? 0),
    overshoot: Math.max(0, base.peakReplicas - need),
    ...base,
  };
}

function burstFigures(r: Run, trace: Trace) {
  const need = needFor(Math.max(...trace));
  const base = common(r);
  return { neededAtPeak: need, overshoot: Math.max(0, base.peakReplicas - need), ...base };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function scenario<T>(
  trace: Trace,
  random: Random,
  initial: number,
  fixed: number,
  figures: (r: Run) => T,
  ours = new Ours(ourLimits, START_SECONDS),
): Record<string, T> {
  const arrivals = trace.map((rate) => random.poisson(rate));
  const scalers: Autoscaler[] = [
    ours,
    new Ours(ourLimits, undefined, "ours-no-start-time"),
    new Kpa(bounds),
    new KedaHpa(bounds),
    new Fixed(fixed),
  ];
  return Object.fromEntries(
    scalers.map((s) => [s.name, figures(run(trace, arrivals, s, s instanceof Fixed ? fixed : initial))]),
  );
}

function ratio(ours: number | null, anchor: number | null): number | null {
  if (ours === null || anchor === null) return null;
  if (anchor === 0) return ours === 0 ? 1 : null;
  return round(ours / anchor, 3);
}

function main(): void {
  const seed = seedFlag();
  const random = prng(seed);
  const step = stepTrace();
  const bursty = burstyTrace(random);
  const noise = noiseTrace();
  const oursOnStep = new Ours(ourLimits, START_SECONDS);
  const stepResults = scenario(
    step,
    random,
    needFor(BASE_RATE),
    needFor(10 * BASE_RATE),
    stepFigures,
    oursOnStep,
  );
  const burstyResults = scenario(bursty, random, needFor(4), needFor(Math.max(...bursty)), (r) =>
    burstFigures(r, bursty),
  );
  const noiseResults = scenario(noise, random, needFor(80), needFor(80), (r) => burstFigures(r, noise));

  const anchors = ["knative-kpa", "keda-hpa", "fixed"] as const;
  const ours = { step: stepResults.ours, bursty: burstyResults.ours };
  const ratios = Object.fromEntries(
    anchors.map((a) => {
      const s = stepResults[a];
      const b = burstyResults[a];
      return [
        a,
        {
          stepDecision: ratio(ours.step?.decisionSeconds ?? null, s?.decisionSeconds ?? null),
          stepPodsExist: ratio(ours.step?.podsExistSeconds ?? null, s?.podsExistSeconds ?? null),
          stepQueueUnderTarget: ratio(
            ours.step?.queueUnderTargetSeconds ?? null,
            s?.queueUnderTargetSeconds ?? null,
          ),
          stepWaitedOverOneSecond: ratio(
            ours.step?.waitedOverOneSecond ?? null,
            s?.waitedOverOneSecond ?? null,
          ),
          stepReplicaSeconds: ratio(ours.step?.replicaSeconds ?? null, s?.replicaSeconds ?? null),
          burstyWaitedOverOneSecond: ratio(
            ours.bursty?.waitedOverOneSecond ?? null,
            b?.waitedOverOneSecond ?? null,
          ),
          burstyReplicaSeconds: ratio(ours.bursty?.replicaSeconds ?? null, b?.replicaSeconds ?? null),
          burstyOvershoot: ratio(ours.bursty?.overshoot ?? null, b?.overshoot ?? null),
          burstyFlaps: ratio(ours.bursty?.flaps ?? null, b?.flaps ?? null),
        },
      ];
    }),
  );

  const figures = {
    benchmark: "autoscaler",
    seed,
    model: { ...model, targetConcurrency: TARGET, baseRate: BASE_RATE, stepRate: 10 * BASE_RATE },
    step: stepResults,
    bursty: burstyResults,
    noise: noiseResults,
    ratios,
  };

  const show = (x: number | null) => (x === null ? "never" : `${x} s`);
  console.log(
    `autoscaler: one service, ${model.slotsPerReplica} slots/replica, ${model.serviceSeconds} s per request, pod start ${model.podStartSeconds} s, model load ${model.modelLoadSeconds} s, target ${TARGET} in flight/replica`,
  );
  console.log(
    `  step ${BASE_RATE} → ${10 * BASE_RATE} req/s at t=${STEP_AT} s (needs ${needFor(10 * BASE_RATE)} replicas):`,
  );
  for (const [name, f] of Object.entries(stepResults)) {
    console.log(
      `    ${name.padEnd(19)} decision ${show(f.decisionSeconds)} (first ${show(f.firstScaleUpSeconds)}), pods exist ${show(f.podsExistSeconds)}, ready ${show(f.podsReadySeconds)}, queue under target ${show(f.queueUnderTargetSeconds)}, peak ${f.peakReplicas} (+${f.overshoot}), waited>1s ${f.waitedOverOneSecond}, replica-s ${f.replicaSeconds}`,
    );
  }
  for (const d of oursOnStep.decisions.filter((d) => d.t >= STEP_AT).slice(0, 3)) {
    console.log(`    ours at +${d.t - STEP_AT} s → ${d.replicas}: ${d.reason}`);
  }
  for (const [label, results] of [
    ["bursty on/off", burstyResults],
    ["steady noise", noiseResults],
  ] as const) {
    console.log(`  ${label}, 10 min (peak needs ${Object.values(results)[0]?.neededAtPeak} replicas):`);
    for (const [name, f] of Object.entries(results)) {
      console.log(
        `    ${name.padEnd(19)} peak ${f.peakReplicas} (+${f.overshoot}), flaps ${f.flaps}, changes ${f.scaleChanges}, waited>1s ${f.waitedOverOneSecond} (${round(f.waitedOverOneSecondShare * 100, 2)}%), replica-s ${f.replicaSeconds}`,
      );
    }
  }
  for (const [anchor, r] of Object.entries(ratios)) {
    const parts = Object.entries(r).map(([k, v]) => `${k} ${v === null ? "n/a" : `${v}x`}`);
    console.log(`  ours / ${anchor}: ${parts.join(", ")}`);
  }
  console.log(JSON.stringify(figures));
}

main();
