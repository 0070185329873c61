import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fnv1a32 } from "../../router/hash.ts";
import {
  affinityKeyHash,
  type Candidate,
  cost,
  estimatedLoad,
  type PickerOptions,
  pickReplica,
  speedWeights,
} from "../../router/picker.ts";

const replica = (id: string, over: Partial<Candidate> = {}): Candidate => ({
  id,
  idHash: fnv1a32(id),
  outstanding: 0,
  secondsPerToken: undefined,
  ...over,
});

/** A deterministic random source, so picks are reproducible. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const options = (seed = 1, loadSlack = 0): PickerOptions => ({
  loadBound: 0.25,
  loadSlack,
  nearEqual: 0.1,
  random: seeded(seed),
});

/** Sends n requests one after another, each staying in flight, and counts where they went. */
function place(replicas: Candidate[], n: number, keyFor: (i: number) => number | undefined, seed = 1) {
  const opts = options(seed);
  const counts = new Map(replicas.map((r) => [r.id, 0]));
  for (let i = 0; i < n; i++) {
    const key = keyFor(i);
    const pick = pickReplica(replicas, key === undefined ? undefined : { keyHash: key }, opts);
    if (!pick) throw new Error("no pick");
    pick.candidate.outstanding++;
    counts.set(pick.candidate.id, (counts.get(pick.candidate.id) ?? 0) + 1);
  }
  return counts;
}

describe("estimatedLoad", () => {
  it("is the router's own count before the first scrape", () => {
    expect(estimatedLoad(replica("a", { outstanding: 3 }))).toBe(3);
  });

  it("adds what was sent since the scrape to the engine's count", () => {
    const r = replica("a", {
      outstanding: 5,
      engine: { running: 10, waiting: 2, kvCacheUsage: 0.5, outstandingAtScrape: 3 },
    });
    expect(estimatedLoad(r)).toBe(10 + 2 + 2);
  });

  it("counts waiting requests once more in the cost", () => {
    const waiting = replica("a", {
      engine: { running: 2, waiting: 2, kvCacheUsage: 0, outstandingAtScrape: 0 },
    });
    const running = replica("b", {
      engine: { running: 4, waiting: 0, kvCacheUsage: 0, outstandingAtScrape: 0 },
    });
    expect(cost(waiting, 1)).toBe(7);
    expect(cost(running, 1)).toBe(5);
  });

  it("never goes below the router's own count", () => {
    const r = replica("a", {
      outstanding: 8,
      engine: { running: 0, waiting: 0, kvCacheUsage: 0, outstandingAtScrape: 8 },
    });
    expect(estimatedLoad(r)).toBe(8);
  });
});

describe("speed and cost", () => {
  it("weighs replicas by measured speed, unknown ones at the mean of the known", () => {
    const w = speedWeights([
      replica("a", { secondsPerToken: 0.01 }),
      replica("b", { secondsPerToken: 0.02 }),
      replica("c"),
    ]);
    expect(w[0]).toBeCloseTo(100);
    expect(w[1]).toBeCloseTo(50);
    expect(w[2]).toBeCloseTo(75);
  });

  it("makes a filling KV cache more expensive", () => {
    const empty = replica("a", {
      engine: { running: 1, waiting: 0, kvCacheUsage: 0, outstandingAtScrape: 0 },
    });
    const full = replica("b", {
      engine: { running: 1, waiting: 0, kvCacheUsage: 0.95, outstandingAtScrape: 0 },
    });
    expect(cost(full, 1)).toBeGreaterThan(cost(empty, 1) * 1.5);
  });
});

describe("pickReplica without affinity", () => {
  it("has nothing to pick from no candidates", () => {
    expect(pickReplica([], undefined, options())).toBeUndefined();
  });

  it("sends traffic to every replica, evenly (within δ) when they are equal", () => {
    const replicas = ["a", "b", "c", "d"].map((id) => replica(id));
    const counts = place(replicas, 400, () => undefined);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(90);
      expect(n).toBeLessThanOrEqual(110);
    }
  });

  it("gives a replica twice as slow about half the share", () => {
    const replicas = [
      replica("fast1", { secondsPerToken: 0.01 }),
      replica("fast2", { secondsPerToken: 0.01 }),
      replica("slow", { secondsPerToken: 0.02 }),
    ];
    const counts = place(replicas, 500, () => undefined);
    const slow = counts.get("slow") ?? 0;
    expect(slow).toBeGreaterThanOrEqual(90);
    expect(slow).toBeLessThanOrEqual(110);
  });

  it("prefers the replica whose engine is less busy", () => {
    const busy = replica("busy", {
      engine: { running: 40, waiting: 10, kvCacheUsage: 0.9, outstandingAtScrape: 0 },
    });
    const idle = replica("idle", {
      engine: { running: 2, waiting: 0, kvCacheUsage: 0.1, outstandingAtScrape: 0 },
    });
    for (let seed = 1; seed < 20; seed++)
      expect(pickReplica([busy, idle], undefined, options(seed))?.candidate.id).toBe("idle");
  });

  it("spreads a burst over near-equal replicas when metrics are stale (no herding)", () => {
    // Ten replicas that all looked idle at the last scrape; the router's own counts are not
    // updated between picks, as when a burst arrives faster than requests are sent.
    const replicas = Array.from({ length: 10 }, (_, i) => replica(`r${i}`));
    const opts = options(7);
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(pickReplica(replicas, undefined, opts)?.candidate.id ?? "");
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });
});

describe("pickReplica with prefix affinity", () => {
  it("sends a prefix repeated 100 times to one replica while it is within its load bound", () => {
    const replicas = ["a", "b", "c", "d"].map((id) => replica(id));
    const key = fnv1a32("You are a helpful agent. ".repeat(20));
    const opts = options();
    const owners = new Set<string>();
    for (let i = 0; i < 100; i++) {
      // Sequential requests: each ends before the next, so load stays low.
      const pick = pickReplica(replicas, { keyHash: key }, opts);
      owners.add(pick?.candidate.id ?? "");
      expect(pick?.reason).toBe("affinity");
    }
    expect(owners.size).toBe(1);
  });

  it("spills a hot prefix to the next owners once the first is over (1+ε) of its share", () => {
    const replicas = ["a", "b", "c", "d"].map((id) => replica(id));
    const key = fnv1a32("hot prefix");
    const counts = place(replicas, 100, () => key);
    const sorted = [...counts.values()].sort((x, y) => y - x);
    // (1+0.25) × 100 / 4 rounded up: no replica above 32, and the owner took its full share.
    expect(sorted[0]).toBeLessThanOrEqual(32);
    expect(sorted[0]).toBeGreaterThanOrEqual(30);
  });

  it("keeps different prefixes on different replicas", () => {
    const replicas = ["a", "b", "c", "d"].map((id) => replica(id));
    const opts = options();
    const owners = new Set<string>();
    for (let i = 0; i < 40; i++)
      owners.add(pickReplica(replicas, { keyHash: fnv1a32(`system prompt ${i}`) }, opts)?.candidate.id ?? "");
    expect(owners.size).toBe(4);
  });

  it("moves only the removed replica's prefixes when one goes away", () => {
    const replicas = ["a", "b", "c", "d", "e"].map((id) => replica(id));
    const opts = options();
    const keys = Array.from({ length: 200 }, (_, i) => fnv1a32(`prefix ${i}`));
    const before = keys.map((k) => pickReplica(replicas, { keyHash: k }, opts)?.candidate.id);
    const after = keys.map((k) => pickReplica(replicas.slice(0, 4), { keyHash: k }, opts)?.candidate.id);
    for (let i = 0; i < keys.length; i++) if (before[i] !== "e") expect(after[i]).toBe(before[i]);
  });

  it("honours a session's previous replica while it is within its bound", () => {
    const replicas = ["a", "b", "c"].map((id) => replica(id));
    const pick = pickReplica(replicas, { keyHash: 1, previous: "c" }, options());
    expect(pick).toMatchObject({ candidate: { id: "c" }, reason: "session" });
    replicas[2] = replica("c", { outstanding: 50 });
    expect(pickReplica(replicas, { keyHash: 1, previous: "c" }, options())?.candidate.id).not.toBe("c");
  });

  it("never places a request beyond the owner's load bound (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            outstanding: fc.nat(50),
            spt: fc.option(fc.double({ min: 0.001, max: 0.1, noNaN: true })),
          }),
          {
            minLength: 2,
            maxLength: 8,
          },
        ),
        fc.integer(),
        (specs, key) => {
          const replicas = specs.map((s, i) =>
            replica(`r${i}`, { outstanding: s.outstanding, secondsPerToken: s.spt ?? undefined }),
          );
          const pick = pickReplica(replicas, { keyHash: key >>> 0 }, options());
          expect(pick).toBeDefined();
          const weights = speedWeights(replicas);
          const total = replicas.reduce((n, r) => n + r.outstanding, 1);
          const sumW = weights.reduce((a, b) => a + b, 0);
          const i = replicas.indexOf(pick?.candidate as Candidate);
          expect(replicas[i]?.outstanding).toBeLessThan(
            Math.ceil((1.25 * total * (weights[i] as number)) / sumW),
          );
        },
      ),
    );
  });
});

describe("affinityKeyHash", () => {
  it("prefers the session id, and ignores prefixes shorter than the minimum", () => {
    expect(affinityKeyHash("s1", "x".repeat(100), 64)).toBe(fnv1a32("s:s1"));
    expect(affinityKeyHash(undefined, "short", 64)).toBeUndefined();
    expect(affinityKeyHash(undefined, "x".repeat(64), 64)).toBe(fnv1a32("x".repeat(64)));
  });
});
