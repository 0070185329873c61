// The poller of Ray's reports: it asks for a reconcile only when what the autoscaler decides
// from changes, answers the reconcile from its last reading, backs off from a head that does
// not answer, and drops a cluster whose reconcile stopped asking.
import { afterEach, describe, expect, it } from "vitest";
import type { RayClusterLoad, RayNode } from "../../controllers/ray-api/index.ts";
import { loadFingerprint, RayLoadPoller } from "../../controllers/raycluster/load-poller.ts";

const node = (ip: string, used: number, alive = true): RayNode => ({
  nodeId: `n-${ip}`,
  ip,
  isHead: false,
  alive,
  usage: { CPU: [used, 4], memory: [used, 1e9] },
});
const load = (gpus: number, nodes: RayNode[] = [node("10.0.0.2", 0)]): RayClusterLoad => ({
  demand: gpus > 0 ? [{ bundle: { GPU: 1, CPU: 1 }, count: gpus }] : [],
  nodes,
  reportedAt: 0,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Timers only ever fire late: wait for a condition, not for a time. */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await sleep(10);
  if (!done()) throw new Error(`never saw ${what}`);
}

describe("loadFingerprint", () => {
  it("is equal for reports that differ only in what the decision does not read", () => {
    const a = load(1, [node("10.0.0.2", 0), node("10.0.0.3", 2)]);
    const b: RayClusterLoad = {
      ...load(1, [node("10.0.0.3", 3), node("10.0.0.2", 0)]),
      demand: [{ bundle: { CPU: 1, GPU: 1 }, count: 1 }],
      reportedAt: 99,
    };
    expect(loadFingerprint({ load: a })).toBe(loadFingerprint({ load: b }));
  });

  it("changes with the demand, a node turning busy or idle, and a node going down", () => {
    const base = loadFingerprint({ load: load(1) });
    expect(loadFingerprint({ load: load(2) })).not.toBe(base);
    expect(loadFingerprint({ load: load(1, [node("10.0.0.2", 1)]) })).not.toBe(base);
    expect(loadFingerprint({ load: load(1, [node("10.0.0.2", 0, false)]) })).not.toBe(base);
    expect(loadFingerprint({ load: load(1, []) })).not.toBe(base);
    expect(loadFingerprint({ error: new Error("refused") })).not.toBe(base);
  });
});

describe("RayLoadPoller", () => {
  let poller: RayLoadPoller | undefined;
  afterEach(() => poller?.stop());

  it("reads the head on the first ask, then enqueues the cluster only when the report changes", async () => {
    let current = load(0);
    let fetches = 0;
    const changed: string[] = [];
    poller = new RayLoadPoller({
      fetch: async () => {
        fetches++;
        return current;
      },
      onChange: (key) => changed.push(key),
      periodMs: 10,
      maxBackoffMs: 100,
      forgetAfterMs: 10_000,
    });
    expect((await poller.read("ns/rc", "http://h:8265")).load?.demand).toEqual([]);
    await until("three reads", () => fetches >= 3);
    expect(changed).toEqual([]);
    current = load(1);
    await until("a change", () => changed.length > 0);
    const seen = fetches;
    await until("three more reads", () => fetches >= seen + 3);
    expect(changed).toEqual(["ns/rc"]);
    expect((await poller.read("ns/rc", "http://h:8265")).load?.demand).toEqual(current.demand);
  });

  it("reads a head that moved to another address at once, and reports an unreachable one", async () => {
    const asked: string[] = [];
    poller = new RayLoadPoller({
      fetch: async (url) => {
        asked.push(url);
        if (url.includes("old")) throw new Error(`connect ECONNREFUSED ${url}`);
        return load(1);
      },
      onChange: () => {},
      periodMs: 1000,
      maxBackoffMs: 1000,
      forgetAfterMs: 10_000,
    });
    const first = await poller.read("ns/rc", "http://old:8265");
    expect(String(first.error)).toContain("ECONNREFUSED http://old:8265");
    const moved = await poller.read("ns/rc", "http://new:8265");
    expect(moved.load?.demand).toHaveLength(1);
    expect(asked).toEqual(["http://old:8265", "http://new:8265"]);
  });

  it("reads an unreachable head less and less often", async () => {
    const at: number[] = [];
    poller = new RayLoadPoller({
      fetch: async () => {
        at.push(performance.now());
        throw new Error("refused");
      },
      onChange: () => {},
      periodMs: 10,
      maxBackoffMs: 10_000,
      forgetAfterMs: 10_000,
    });
    await poller.read("ns/rc", "http://h:8265");
    await until("four reads", () => at.length >= 4);
    // After the n-th failure in a row the next read waits 10 ms * 2^n (1 ms for timer rounding).
    const gaps = at.slice(1, 4).map((t, i) => t - (at[i] as number));
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(10 * 2 ** (i + 1) - 1);
    });
  });

  it("drops a cluster whose reconcile stopped asking", async () => {
    let fetches = 0;
    poller = new RayLoadPoller({
      fetch: async () => {
        fetches++;
        return load(0);
      },
      onChange: () => {},
      periodMs: 5,
      maxBackoffMs: 5,
      forgetAfterMs: 30,
    });
    await poller.read("ns/rc", "http://h:8265");
    expect(poller.size).toBe(1);
    await until("the cluster dropped", () => poller?.size === 0);
    const after = fetches;
    await sleep(40);
    expect(fetches).toBe(after);
  });
});
