import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PerKeyExponentialBackoff } from "../../operator/backoff.ts";
import { MetricsRegistry } from "../../operator/metrics.ts";
import { TokenBucket } from "../../operator/token-bucket.ts";
import { WorkQueue } from "../../operator/work-queue.ts";

const tick = () => new Promise((r) => setImmediate(r));

describe("WorkQueue", () => {
  it("hands keys out in FIFO order and holds a waiting key once", async () => {
    const q = new WorkQueue({ name: "t" });
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("c");
    q.add("b");
    expect(q.length).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
    expect(q.length).toBe(0);
  });

  it("never gives a key in progress to a second worker, and requeues it when done", async () => {
    const q = new WorkQueue({ name: "t" });
    q.add("a");
    const first = await q.get();
    expect(first).toBe("a");
    q.add("a"); // changed while being reconciled
    q.add("a");
    expect(q.length).toBe(0); // not in the FIFO while in progress
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await tick();
    expect(second).toBeUndefined();
    q.done("a");
    await tick();
    expect(second).toBe("a"); // exactly once more, not twice
    q.done("a");
    expect(q.length).toBe(0);
  });

  it("with many concurrent workers, each key is processed by one worker at a time", async () => {
    const q = new WorkQueue({ name: "t" });
    const inProgress = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const worker = async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        if (inProgress.has(key)) overlaps++;
        inProgress.add(key);
        await new Promise((r) => setTimeout(r, Math.random() * 2));
        // Re-add during processing, as a watch event would.
        if (Math.random() < 0.3) q.add(key);
        inProgress.delete(key);
        processed++;
        q.done(key);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) q.add(`k${i}`);
      await new Promise((r) => setTimeout(r, 3));
    }
    await new Promise((r) => setTimeout(r, 50));
    await q.shutdownWithDrain();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed).toBeGreaterThanOrEqual(10);
  });

  describe("timers", () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("addAfter keeps the earliest deadline per key", async () => {
      let now = 0;
      const q = new WorkQueue({ name: "t", now: () => now });
      q.addAfter("a", 1000);
      q.addAfter("a", 5000); // later: ignored
      expect(q.delayed).toBe(1);
      now = 999;
      vi.advanceTimersByTime(999);
      expect(q.length).toBe(0);
      now = 1000;
      vi.advanceTimersByTime(1);
      expect(q.length).toBe(1);
      q.addAfter("b", 5000);
      q.addAfter("b", 100); // earlier: replaces
      vi.advanceTimersByTime(100);
      expect(q.length).toBe(2);
      vi.advanceTimersByTime(10_000);
      expect(q.length).toBe(2); // the replaced timer never fires
    });

    it("addRateLimited backs off per key and forget() resets it", async () => {
      const q = new WorkQueue({
        name: "t",
        retryLimiter: new TokenBucket({ ratePerSecond: 1e9, burst: 1e9 }),
      });
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        q.addRateLimited("a");
        const before = q.length;
        let waited = 0;
        while (q.length === before && waited < 1000) {
          vi.advanceTimersByTime(1);
          waited++;
        }
        delays.push(waited);
        // Take it out again so the next retry is observable.
        q.done((await q.get()) as string);
      }
      expect(delays).toEqual([5, 10, 20, 40, 80]);
      expect(q.numRequeues("a")).toBe(5);
      q.forget("a");
      expect(q.numRequeues("a")).toBe(0);
    });

    it("the global bucket spaces retries of different keys", () => {
      const now = 0;
      const q = new WorkQueue({
        name: "t",
        now: () => now,
        retryLimiter: new TokenBucket({ ratePerSecond: 10, burst: 2, now: () => now }),
      });
      for (const k of ["a", "b", "c", "d"]) q.addRateLimited(k);
      // a, b within the burst (5 ms backoff); c and d wait 100 ms and 200 ms for tokens.
      vi.advanceTimersByTime(5);
      expect(q.length).toBe(2);
      vi.advanceTimersByTime(95);
      expect(q.length).toBe(3);
      vi.advanceTimersByTime(100);
      expect(q.length).toBe(4);
    });

    it("shutdown clears timers and rejects new keys", async () => {
      const q = new WorkQueue({ name: "t" });
      q.addAfter("a", 100);
      q.shutdown();
      vi.advanceTimersByTime(1000);
      q.add("b");
      expect(q.length).toBe(0);
      expect(await q.get()).toBeUndefined();
    });
  });

  it("shutdownWithDrain waits for keys in progress only", async () => {
    const q = new WorkQueue({ name: "t" });
    q.add("a");
    q.add("b");
    const key = await q.get();
    let drained = false;
    const waiting = q.get(); // a blocked worker would get "b"... but here b is queued
    expect(await waiting).toBe("b");
    const drain = q.shutdownWithDrain().then(() => {
      drained = true;
    });
    q.add("c");
    await tick();
    expect(drained).toBe(false);
    q.done(key as string);
    await tick();
    expect(drained).toBe(false);
    q.done("b");
    await drain;
    expect(drained).toBe(true);
    expect(await q.get()).toBeUndefined();
  });

  it("exports controller-runtime's workqueue series", async () => {
    const metrics = new MetricsRegistry();
    const q = new WorkQueue({ name: "widget", metrics });
    q.add("a");
    q.add("a");
    q.add("b");
    const k = await q.get();
    q.done(k as string);
    q.addRateLimited("a");
    const text = metrics.render();
    expect(text).toContain('workqueue_adds_total{name="widget",controller="widget"} 2');
    expect(text).toContain('workqueue_depth{name="widget",controller="widget"} 1');
    expect(text).toContain('workqueue_retries_total{name="widget",controller="widget"} 1');
    expect(text).toMatch(/workqueue_queue_duration_seconds_count\{name="widget",controller="widget"\} 1/);
    expect(text).toMatch(/workqueue_work_duration_seconds_count\{name="widget",controller="widget"\} 1/);
    q.shutdown();
  });

  it("handles a large number of keys without quadratic cost", async () => {
    const q = new WorkQueue({ name: "t", backoff: new PerKeyExponentialBackoff() });
    const n = 200_000;
    const started = performance.now();
    for (let i = 0; i < n; i++) q.add(`ns/k${i}`);
    for (let i = 0; i < n; i++) {
      const k = await q.get();
      q.done(k as string);
    }
    expect(q.length).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
