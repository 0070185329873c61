// The router's small stateful pieces: the circuit breaker, the bounded LRU and the rate window.
import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../router/breaker.ts";
import { BoundedLru } from "../../router/lru.ts";
import { RateWindow } from "../../router/rate-window.ts";

describe("CircuitBreaker", () => {
  it("opens after consecutive failures, lets one probe through when half-open, closes on its success", () => {
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, maxOpenMs: 8000 });
    b.onFailure(0);
    b.onFailure(0);
    b.onSuccess(); // the count is of consecutive failures
    for (let i = 0; i < 3; i++) b.onFailure(10);
    expect(b.state(10)).toBe("open");
    expect(b.allows(500)).toBe(false);
    expect(b.state(1010)).toBe("half-open");
    expect(b.allows(1010)).toBe(true);
    b.onSend(1010);
    expect(b.allows(1010)).toBe(false); // one probe at a time
    b.onSuccess();
    expect(b.state(1011)).toBe("closed");
  });

  it("doubles the open period after a failed probe, up to the maximum", () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, maxOpenMs: 3000 });
    b.onFailure(0);
    let t = 1000;
    const periods: number[] = [];
    for (let i = 0; i < 4; i++) {
      b.onSend(t);
      b.onFailure(t);
      const opened = t;
      while (b.state(t) === "open") t += 100;
      periods.push(t - opened);
    }
    expect(periods).toEqual([2000, 3000, 3000, 3000]);
  });
});

describe("BoundedLru", () => {
  it("never holds more than its capacity and forgets the least recently used", () => {
    const lru = new BoundedLru<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    lru.get("a");
    lru.set("d", 4);
    expect(lru.size).toBe(3);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    for (let i = 0; i < 10_000; i++) lru.set(`k${i}`, i);
    expect(lru.size).toBe(3);
    lru.deleteValues((v) => v === 9999);
    expect(lru.get("k9999")).toBeUndefined();
  });
});

describe("RateWindow", () => {
  it("counts per second over the last 1 and 10 seconds, forgetting older events", () => {
    const w = new RateWindow();
    expect(w.perSecond(0, 10)).toBe(0);
    for (let s = 0; s < 20; s++) w.add(s * 1000, 10);
    expect(w.perSecond(20_000, 10)).toBeCloseTo(10);
    expect(w.perSecond(20_000, 1)).toBeCloseTo(10);
    expect(w.perSecond(40_000, 10)).toBe(0);
  });

  it("does not dilute a young rate by the whole window", () => {
    const w = new RateWindow();
    w.add(0, 5);
    w.add(2000, 5);
    expect(w.perSecond(2000, 10)).toBeCloseTo(5);
  });
});
