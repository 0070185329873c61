import { describe, expect, it } from "vitest";
import { JitteredBackoff, PerKeyExponentialBackoff } from "../../operator/backoff.ts";
import { TokenBucket } from "../../operator/token-bucket.ts";

describe("PerKeyExponentialBackoff", () => {
  it("doubles from 5 ms and caps at 1000 s", () => {
    const b = new PerKeyExponentialBackoff();
    const delays = Array.from({ length: 25 }, () => b.next("k"));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[17]).toBe(5 * 2 ** 17); // 655.36 s, still under the cap
    expect(delays[18]).toBe(1_000_000);
    expect(delays.at(-1)).toBe(1_000_000);
    // Far beyond 2^1024 the delay must stay finite.
    for (let i = 0; i < 2000; i++) b.next("k");
    expect(b.next("k")).toBe(1_000_000);
  });

  it("tracks keys independently and forgets on success", () => {
    const b = new PerKeyExponentialBackoff();
    b.next("a");
    b.next("a");
    expect(b.next("b")).toBe(5);
    expect(b.count("a")).toBe(2);
    b.forget("a");
    expect(b.count("a")).toBe(0);
    expect(b.next("a")).toBe(5);
    b.forget("a");
    b.forget("b");
    expect(b.size).toBe(0); // no memory held for forgotten keys
  });
});

describe("JitteredBackoff", () => {
  it("grows by the factor up to the cap, with jitter on top", () => {
    let t = 0;
    const b = new JitteredBackoff({ random: () => 0.5, now: () => t });
    const delays = Array.from({ length: 8 }, () => {
      t += 1;
      return b.next();
    });
    expect(delays).toEqual([1200, 2400, 4800, 9600, 19200, 38400, 45000, 45000]);
  });

  it("starts over after a quiet period", () => {
    let t = 0;
    const b = new JitteredBackoff({ random: () => 0, now: () => t });
    b.next();
    b.next();
    expect(b.next()).toBe(3200);
    t += 121_000;
    expect(b.next()).toBe(800);
    b.reset();
    expect(b.next()).toBe(800);
  });
});

describe("TokenBucket", () => {
  it("allows a burst, then spaces reservations at the rate", () => {
    let t = 0;
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3, now: () => t });
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBeCloseTo(100);
    expect(bucket.reserve()).toBeCloseTo(200);
    t = 1000; // 10 tokens refilled, 2 were owed, cap 3
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBeCloseTo(100);
  });

  it("is unlimited at rate 0", () => {
    const bucket = new TokenBucket({ ratePerSecond: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) expect(bucket.reserve()).toBe(0);
  });

  it("take() waits for the reservation", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 50, burst: 1 });
    const started = performance.now();
    await bucket.take();
    await bucket.take();
    await bucket.take();
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });
});
