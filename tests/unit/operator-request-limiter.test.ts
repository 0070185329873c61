// The client's two request lanes: work in order of arrival; reports only with a token that no
// work request is owed and while little work is unanswered, and never later than their maximum
// delay.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RequestLimiter } from "../../operator/request-limiter.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Starts requests in the given order and records the order in which they may go. */
function recorder(limiter: RequestLimiter) {
  const order: string[] = [];
  const start = (name: string, lane: "work" | "report", signal?: AbortSignal) =>
    limiter.take(lane, signal).then(
      () => order.push(name),
      () => order.push(`${name}:aborted`),
    );
  return { order, start };
}

describe("request lanes", () => {
  it("sends a report at once when nothing waits", async () => {
    const limiter = new RequestLimiter({ ratePerSecond: 10, burst: 2, now: () => Date.now() });
    const { order, start } = recorder(limiter);
    void start("report", "report");
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(["report"]);
  });

  it("lets every work request owed a token go before a report that came earlier", async () => {
    const limiter = new RequestLimiter({ ratePerSecond: 10, burst: 1, now: () => Date.now() });
    const { order, start } = recorder(limiter);
    void start("w1", "work");
    void start("r1", "report");
    void start("w2", "work");
    void start("w3", "work");
    void start("r2", "report");
    await vi.advanceTimersByTimeAsync(1000);
    expect(order).toEqual(["w1", "w2", "w3", "r1", "r2"]);
    expect(limiter.waitingReports).toBe(0);
  });

  it("keeps the rate across lanes", async () => {
    const limiter = new RequestLimiter({ ratePerSecond: 10, burst: 1, now: () => Date.now() });
    const { order, start } = recorder(limiter);
    void start("w1", "work");
    void start("r1", "report");
    void start("r2", "report");
    await vi.advanceTimersByTimeAsync(150);
    expect(order).toEqual(["w1", "r1"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toEqual(["w1", "r1", "r2"]);
  });

  it("sends a report no later than its maximum delay while work never stops", async () => {
    const limiter = new RequestLimiter({
      ratePerSecond: 10,
      burst: 1,
      maxReportDelayMs: 2000,
      now: () => Date.now(),
    });
    const { order, start } = recorder(limiter);
    const t0 = Date.now();
    void start("w-first", "work");
    void start("r", "report");
    // Work arrives faster than the rate for 5 s: without the bound the report would wait all along.
    for (let t = 0; t < 5000; t += 50) {
      void start(`w${t}`, "work");
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(order).toContain("r");
    // Overdue at 2 s, it joins the work queue there: behind the work started before, ahead of
    // the work started after.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(order.indexOf("r")).toBeGreaterThan(order.indexOf("w1950"));
    expect(order.indexOf("r")).toBeLessThan(order.indexOf("w2050"));
  });

  it("drops an aborted report from the queue", async () => {
    const limiter = new RequestLimiter({ ratePerSecond: 10, burst: 1, now: () => Date.now() });
    const { order, start } = recorder(limiter);
    const abort = new AbortController();
    void start("w1", "work");
    void start("r1", "report", abort.signal);
    void start("r2", "report");
    abort.abort(new Error("stopped"));
    await vi.advanceTimersByTimeAsync(500);
    // The abort is seen at once; the reports left go after the work, in order.
    expect([...order].sort()).toEqual(["r1:aborted", "r2", "w1"]);
    expect(order.indexOf("r2")).toBeGreaterThan(order.indexOf("w1"));
    expect(limiter.waitingReports).toBe(0);
  });

  it("holds reports while more work is unanswered than allowed, and sends them as it is answered", async () => {
    const limiter = new RequestLimiter({
      ratePerSecond: 1000,
      burst: 100,
      reportsBelowWorkInFlight: 2,
      now: () => Date.now(),
    });
    const { order, start } = recorder(limiter);
    for (const w of ["w1", "w2", "w3", "w4"]) void start(w, "work");
    await vi.advanceTimersByTimeAsync(0);
    void start("r1", "report");
    void start("r2", "report");
    // Tokens are plenty; four work requests in flight hold the reports back.
    await vi.advanceTimersByTimeAsync(5000);
    expect(order).toEqual(["w1", "w2", "w3", "w4"]);
    expect(limiter.waitingReports).toBe(2);
    limiter.done("work");
    await vi.advanceTimersByTimeAsync(0);
    expect(limiter.waitingReports).toBe(2);
    // Down to two unanswered: both reports go.
    limiter.done("work");
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(["w1", "w2", "w3", "w4", "r1", "r2"]);
    // A report's own answer does not count as work answered.
    limiter.done("report");
    void start("r3", "report");
    await vi.advanceTimersByTimeAsync(0);
    expect(order.at(-1)).toBe("r3");
  });

  it("sends a report held by unanswered work once it is overdue", async () => {
    const limiter = new RequestLimiter({
      ratePerSecond: 1000,
      burst: 100,
      reportsBelowWorkInFlight: 0,
      maxReportDelayMs: 3000,
      now: () => Date.now(),
    });
    const { order, start } = recorder(limiter);
    void start("w1", "work");
    await vi.advanceTimersByTimeAsync(0);
    void start("r1", "report");
    await vi.advanceTimersByTimeAsync(2900);
    expect(order).toEqual(["w1"]);
    await vi.advanceTimersByTimeAsync(200);
    expect(order).toEqual(["w1", "r1"]);
  });
});
