import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Admission, type ModelCapacity, type TenantLimits, type Ticket } from "../../router/admission.ts";

const limits: TenantLimits = {
  ratePerSecond: 0,
  burst: 1,
  maxConcurrency: 0,
  maxQueue: 100,
  maxQueueWaitMs: 30_000,
};

/** A model with `slots` requests of room, consumed by admissions and freed by releases. */
function harness(
  opts: { slots?: number; cold?: boolean; limits?: Partial<TenantLimits>; coldStartWaitMs?: number } = {},
) {
  const state = { slots: opts.slots ?? 1, cold: opts.cold ?? false, inflight: 0 };
  const admission = new Admission({
    limits: { ...limits, ...opts.limits },
    coldStartWaitMs: opts.coldStartWaitMs ?? 10_000,
    capacity: (): ModelCapacity => ({ free: Math.max(0, state.slots - state.inflight), cold: state.cold }),
  });
  const admitted: Ticket[] = [];
  const take = (t: Ticket): void => {
    state.inflight++;
    admitted.push(t);
  };
  return {
    admission,
    state,
    admitted,
    offer(tenant: string, now = 0) {
      const o = admission.offer(tenant, "m", now);
      if (o.kind === "admitted") take(o.ticket);
      return o;
    },
    pump(now = 0) {
      const r = admission.pump(now);
      for (const t of r.admitted) take(t);
      return r;
    },
    finish(t: Ticket, now = 0) {
      admission.release(t);
      state.inflight--;
      return this.pump(now);
    },
  };
}

describe("Admission", () => {
  it("admits at once while the model has room, then queues", () => {
    const h = harness({ slots: 2 });
    expect(h.offer("a").kind).toBe("admitted");
    expect(h.offer("a").kind).toBe("admitted");
    expect(h.offer("a").kind).toBe("queued");
    expect(h.admission.queuedForModel("m")).toBe(1);
    h.finish(h.admitted[0] as Ticket);
    expect(h.admitted).toHaveLength(3);
    expect(h.admission.totalQueued).toBe(0);
  });

  it("turns a tenant over its rate away with 429 and a Retry-After, while another tenant is admitted", () => {
    const h = harness({ slots: 100, limits: { ratePerSecond: 1, burst: 2, maxQueueWaitMs: 0 } });
    expect(h.offer("a").kind).toBe("admitted");
    expect(h.offer("a").kind).toBe("admitted");
    const third = h.offer("a");
    expect(third).toMatchObject({
      kind: "rejected",
      rejection: { status: 429, code: "rate_limit_exceeded" },
    });
    if (third.kind === "rejected") expect(third.rejection.retryAfterSeconds).toBe(1);
    expect(h.offer("b").kind).toBe("admitted");
    // A second later the bucket has a token again.
    expect(h.offer("a", 1000).kind).toBe("admitted");
  });

  it("holds a rate-limited request while its token is due within the wait bound", () => {
    const h = harness({ slots: 100, limits: { ratePerSecond: 2, burst: 1, maxQueueWaitMs: 5000 } });
    expect(h.offer("a").kind).toBe("admitted");
    expect(h.offer("a").kind).toBe("queued");
    expect(h.admission.nextWakeAt(0)).toBeCloseTo(500);
    expect(h.pump(499).admitted).toHaveLength(0);
    expect(h.pump(500).admitted).toHaveLength(1);
  });

  it("caps a tenant's concurrency", () => {
    const h = harness({ slots: 100, limits: { maxConcurrency: 1 } });
    expect(h.offer("a").kind).toBe("admitted");
    expect(h.offer("a").kind).toBe("queued");
    expect(h.offer("b").kind).toBe("admitted");
    h.finish(h.admitted[0] as Ticket);
    expect(h.admitted.map((t) => t.tenant)).toEqual(["a", "b", "a"]);
  });

  it("answers a full queue with 429 and a Retry-After from the drain rate", () => {
    const h = harness({ slots: 1, limits: { maxQueue: 2 } });
    const first = h.offer("a");
    h.offer("a");
    h.offer("a");
    // The queue drained one request a second (at 1 s and 2 s); with 2 waiting, a third place
    // frees in 3 s.
    h.finish(first.kind === "admitted" ? first.ticket : (undefined as never), 1000);
    h.finish(h.admitted[1] as Ticket, 2000);
    h.offer("a", 2000);
    h.offer("a", 2000);
    const full = h.offer("a", 3000);
    expect(full).toMatchObject({ kind: "rejected", rejection: { status: 429, code: "queue_full" } });
    if (full.kind === "rejected") expect(full.rejection.retryAfterSeconds).toBe(3);
  });

  it("rejects what waited longer than the bound with 429, never silently", () => {
    const h = harness({ slots: 1, limits: { maxQueueWaitMs: 1000 } });
    h.offer("a");
    h.offer("a", 10);
    expect(h.admission.nextWakeAt(10)).toBe(1010);
    const r = h.pump(1010);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]?.rejection).toMatchObject({ status: 429, code: "queue_timeout" });
    expect(h.admission.totalQueued).toBe(0);
  });

  it("holds requests for a cold model, admits them when a replica is ready, else 503", () => {
    const h = harness({ slots: 4, cold: true, coldStartWaitMs: 2000 });
    expect(h.offer("a").kind).toBe("queued");
    expect(h.offer("a", 100).kind).toBe("queued");
    h.state.cold = false;
    expect(h.pump(500).admitted).toHaveLength(2);
    h.state.cold = true;
    h.offer("a", 600);
    const r = h.pump(2600);
    expect(r.rejected[0]?.rejection).toMatchObject({ status: 503, code: "no_ready_replica" });
  });

  it("says 503 at once for a cold model when no cold-start wait is allowed", () => {
    const h = harness({ cold: true, coldStartWaitMs: 0 });
    expect(h.offer("a")).toMatchObject({ kind: "rejected", rejection: { status: 503 } });
  });

  it("shares freed capacity round robin: a burst cannot starve a steady tenant", () => {
    const h = harness({ slots: 1, limits: { maxQueue: 10_000 } });
    const first = h.offer("burst");
    for (let i = 0; i < 1000; i++) h.offer("burst");
    for (let i = 0; i < 5; i++) h.offer("steady");
    let current = first.kind === "admitted" ? first.ticket : (undefined as never);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) {
      h.finish(current);
      current = h.admitted.at(-1) as Ticket;
      order.push(current.tenant);
    }
    expect(order).toEqual([
      "burst",
      "steady",
      "burst",
      "steady",
      "burst",
      "steady",
      "burst",
      "steady",
      "burst",
      "steady",
    ]);
  });

  it("forgets a cancelled request", () => {
    const h = harness({ slots: 1 });
    h.offer("a");
    const queued = h.offer("a");
    if (queued.kind !== "queued") throw new Error("expected queued");
    h.admission.cancel(queued.ticket);
    expect(h.admission.totalQueued).toBe(0);
    h.finish(h.admitted[0] as Ticket);
    expect(h.admitted).toHaveLength(1);
  });

  it("answers every request exactly once: admitted, rejected or cancelled (property)", () => {
    type Op =
      | { kind: "offer"; tenant: string }
      | { kind: "finish" }
      | { kind: "cancel" }
      | { kind: "tick"; ms: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("offer" as const), tenant: fc.constantFrom("a", "b", "c") }),
      fc.record({ kind: fc.constant("finish" as const) }),
      fc.record({ kind: fc.constant("cancel" as const) }),
      fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 3000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 4 }), (ops: Op[], slots) => {
        const h = harness({
          slots,
          limits: { maxQueue: 5, maxQueueWaitMs: 2000, maxConcurrency: 3, ratePerSecond: 5, burst: 3 },
        });
        let now = 0;
        const answered = new Map<number, string>();
        const queued: Ticket[] = [];
        const running: Ticket[] = [];
        const settle = (r: ReturnType<typeof h.pump>): void => {
          for (const t of r.admitted) {
            answered.set(t.id, "admitted");
            running.push(t);
          }
          for (const { ticket } of r.rejected) answered.set(ticket.id, "rejected");
        };
        let offered = 0;
        let rejectedAtOnce = 0;
        for (const o of ops) {
          if (o.kind === "offer") {
            offered++;
            const r = h.offer(o.tenant, now);
            if (r.kind === "admitted") {
              answered.set(r.ticket.id, "admitted");
              running.push(r.ticket);
            } else if (r.kind === "queued") queued.push(r.ticket);
            else rejectedAtOnce++;
          } else if (o.kind === "finish") {
            const t = running.shift();
            if (t) settle(h.finish(t, now));
          } else if (o.kind === "cancel") {
            const t = queued.find((x) => x.state === "queued");
            if (t) {
              h.admission.cancel(t);
              answered.set(t.id, "cancelled");
            }
          } else {
            now += o.ms;
            settle(h.pump(now));
          }
        }
        // Drain: finish everything and let every deadline pass.
        for (let i = 0; i < 1000 && (running.length > 0 || h.admission.totalQueued > 0); i++) {
          const t = running.shift();
          if (t) settle(h.finish(t, now));
          now += 500;
          settle(h.pump(now));
        }
        expect(h.admission.totalQueued).toBe(0);
        expect(answered.size + rejectedAtOnce).toBe(offered);
        for (const t of queued) expect(["admitted", "rejected", "cancelled"]).toContain(answered.get(t.id));
      }),
    );
  });
});
