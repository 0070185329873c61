import { describe, expect, it } from "vitest";
import { EventAggregator, formatMicroTime, objectReference } from "../../operator/events.ts";

const pod = { uid: "u1", kind: "Pod", name: "p", namespace: "ns" };
const waiting = { type: "Normal" as const, reason: "Queued", action: "Admit", note: "no capacity" };
let n = 0;
const name = () => `p.${n++}`;

describe("EventAggregator", () => {
  it("creates the first event and aggregates identical repeats into its series", () => {
    const a = new EventAggregator();
    const first = a.observe(pod, waiting, 0, name);
    expect(first.kind).toBe("create");
    for (let i = 1; i <= 9; i++) expect(a.observe(pod, waiting, i * 1000, name).kind).toBe("aggregate");
    if (first.kind !== "create") throw new Error("unreachable");
    expect(first.entry.count).toBe(10);
    // Nothing due before the flush interval, then one series write with the total.
    expect(a.due(20_000)).toEqual([]);
    const due = a.due(30_000);
    expect(due).toHaveLength(1);
    expect(due[0]?.count).toBe(10);
    a.markWritten(due[0] as never, 10, 30_000);
    expect(a.due(100_000)).toEqual([]); // nothing new since
  });

  it("keeps distinct reasons, notes, types and objects apart", () => {
    const a = new EventAggregator();
    expect(a.observe(pod, waiting, 0, name).kind).toBe("create");
    expect(a.observe(pod, { ...waiting, note: "other" }, 0, name).kind).toBe("create");
    expect(a.observe(pod, { ...waiting, type: "Warning" }, 0, name).kind).toBe("create");
    expect(a.observe(pod, { ...waiting, reason: "Admitted" }, 0, name).kind).toBe("create");
    expect(a.observe({ ...pod, uid: "u2" }, waiting, 0, name).kind).toBe("create");
    expect(a.size).toBe(5);
  });

  it("starts a new event once the series window has passed", () => {
    const a = new EventAggregator({ seriesWindowMs: 60_000 });
    const first = a.observe(pod, waiting, 0, name);
    const later = a.observe(pod, waiting, 61_000, name);
    expect(later.kind).toBe("create");
    if (first.kind !== "create" || later.kind !== "create") throw new Error("unreachable");
    expect(later.entry.eventName).not.toBe(first.entry.eventName);
  });

  it("limits distinct events per object with a refilling bucket", () => {
    const a = new EventAggregator({ perObjectBurst: 3, perObjectRefillMs: 1000 });
    const kinds = Array.from(
      { length: 5 },
      (_, i) => a.observe(pod, { ...waiting, note: `n${i}` }, 0, name).kind,
    );
    expect(kinds).toEqual(["create", "create", "create", "drop", "drop"]);
    expect(a.observe(pod, { ...waiting, note: "n9" }, 1000, name).kind).toBe("create");
    // Another object has its own budget.
    expect(a.observe({ ...pod, uid: "u3" }, waiting, 0, name).kind).toBe("create");
  });

  it("stays bounded", () => {
    const a = new EventAggregator({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) a.observe({ ...pod, uid: `u${i}` }, waiting, i, name);
    expect(a.size).toBe(100);
  });

  it("flushes everything pending on demand (shutdown)", () => {
    const a = new EventAggregator();
    a.observe(pod, waiting, 0, name);
    a.observe(pod, waiting, 1, name);
    expect(a.due(2)).toHaveLength(0);
    expect(a.due(2, true)).toHaveLength(1);
  });
});

describe("event helpers", () => {
  it("formats MicroTime with six fractional digits", () => {
    expect(formatMicroTime(new Date("2030-01-01T00:00:00.123Z"))).toBe("2030-01-01T00:00:00.123000Z");
  });

  it("references an object by apiVersion, kind, name, namespace, uid and resourceVersion", () => {
    expect(
      objectReference({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", namespace: "ns", uid: "u", resourceVersion: "5", labels: { a: "b" } },
      }),
    ).toEqual({ apiVersion: "v1", kind: "Pod", name: "p", namespace: "ns", uid: "u", resourceVersion: "5" });
  });
});
