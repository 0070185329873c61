// Autoscaling on the simulated cluster, with the router and the engine simulator running for
// real: a burst from a load generator grows a service from 1 replica across the NVIDIA and the
// AMD pool and it shrinks back after the delay; with minReplicas 0 it goes to zero when idle,
// and the next request waits at the router, succeeds, and the service is back at one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import type { InferenceService } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import { type ServingTestbed, startServingTestbed } from "../support/serving.ts";

type Isvc = InferenceService & KubeObject;
let bed: ServingTestbed;

beforeAll(async () => {
  bed = await startServingTestbed("autoscale");
}, 60_000);

afterAll(async () => {
  await bed?.stop();
});

async function createService(name: string, autoscaling: Record<string, unknown>): Promise<void> {
  await bed.client.create(resourceTypes.inferenceService, {
    apiVersion: resourceTypes.inferenceService.apiVersion,
    kind: "InferenceService",
    metadata: { name, namespace: bed.ns.name },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name },
      engine: {
        image: "vllm/vllm-openai:v0.11.0",
        env: [
          { name: "SIM_TTFT_MS", value: "5" },
          // 50 tokens at 20 ms: a request runs about a second, so a few streams per replica
          // keep the engines busy.
          { name: "SIM_ITL_MS", value: "20" },
        ],
      },
      accelerators: { count: 1, pools: bed.pools.map((p) => p.name) },
      replicas: 1,
      router: { enabled: true, coldStartWaitSeconds: 60 },
      autoscaling,
    },
  });
}

let idleAttempts = 0;

const status = async (name: string) =>
  (await bed.client.get<Isvc>(resourceTypes.inferenceService, name, bed.ns.name)).status;

function ask(url: string, model: string): Promise<number> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model,
      max_tokens: 50,
      messages: [{ role: "user", content: `hello ${Math.random()}` }],
    }),
  }).then(async (res) => {
    await res.arrayBuffer();
    return res.status;
  });
}

/** `streams` closed-loop clients for `seconds`: bounded in time and in count. */
async function load(url: string, model: string, streams: number, seconds: number): Promise<number[]> {
  const until = Date.now() + seconds * 1000;
  const codes: number[] = [];
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (Date.now() < until && codes.length < 20_000) codes.push(await ask(url, model));
    }),
  );
  return codes;
}

describe("autoscaling through the router", () => {
  it("grows from one replica onto both vendors' pools under a burst, and shrinks back after the delay", async () => {
    const name = "burst";
    await createService(name, {
      minReplicas: 1,
      maxReplicas: 4,
      metric: "concurrency",
      target: 2,
      stableWindowSeconds: 10,
      panicWindowSeconds: 2,
      scaleDownDelaySeconds: 5,
    });
    const url = await bed.routerUrl(name);
    await eventually(
      async () => ((await status(name))?.readyReplicas === 1 ? true : undefined),
      60_000,
      "one ready replica",
    );

    // 16 streams want 8 replicas at 2 each: the autoscaler asks for its maximum, 4, which
    // needs both pools (2 devices each).
    const burst = load(url, name, 16, 25);
    const grown = await eventually(
      async () => {
        const st = await status(name);
        return (st?.placements?.length ?? 0) === 2 && (st?.readyReplicas ?? 0) >= 3 ? st : undefined;
      },
      60_000,
      "replicas ready on both pools",
    );
    const codes = await burst;
    expect(codes.every((c) => c === 200)).toBe(true);
    expect(grown?.desiredReplicas).toBeGreaterThanOrEqual(3);
    expect(new Set(grown?.placements?.map((p) => p.pool))).toEqual(new Set(bed.pools.map((p) => p.name)));
    expect(grown?.autoscaling?.lastDecision?.reason).toMatch(/\S/);

    const shrunk = await eventually(
      async () => {
        const st = await status(name);
        return st?.desiredReplicas === 1 && st.replicas === 1 ? st : undefined;
      },
      90_000,
      "back to one replica",
    );
    expect(shrunk.autoscaling?.lastDecision?.to).toBe(1);
  }, 240_000);

  it("goes to zero when idle, and the next request waits for a replica and succeeds", async () => {
    // A service of its own per attempt, so that a retry does not find the first one's.
    const name = `idle-${++idleAttempts}`;
    await createService(name, {
      minReplicas: 0,
      maxReplicas: 2,
      target: 4,
      stableWindowSeconds: 6,
      panicWindowSeconds: 2,
      scaleDownDelaySeconds: 2,
      idleTimeoutSeconds: 4,
    });
    const url = await bed.routerUrl(name);
    expect(await ask(url, name)).toBe(200);
    const zero = await eventually(
      async () => {
        const st = await status(name);
        return st?.desiredReplicas === 0 && (st.replicas ?? 0) === 0 ? st : undefined;
      },
      90_000,
      "scaled to zero",
    );
    expect(zero.conditions?.find((c) => c.type === "Ready")?.reason).toBe("ScaledToZero");
    // The router holds this request while the first replica is admitted, started and loaded.
    expect(await ask(url, name)).toBe(200);
    const back = await status(name);
    expect(back?.desiredReplicas).toBe(1);
  }, 240_000);
});
