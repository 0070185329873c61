import { describe, expect, it } from "vitest";
import {
  findCondition,
  formatTime,
  isConditionTrue,
  removeCondition,
  setCondition,
} from "../../operator/conditions.ts";
import { statusEquals, withObservedGeneration } from "../../operator/status.ts";

const t1 = new Date("2030-01-01T10:00:00.123Z");
const t2 = new Date("2030-01-01T11:30:00.999Z");

describe("conditions", () => {
  it("formats times as metav1.Time does (whole seconds, Z)", () => {
    expect(formatTime(t1)).toBe("2030-01-01T10:00:00Z");
  });

  it("adds a new condition with the current time", () => {
    const list = setCondition(undefined, { type: "Ready", status: "False", reason: "Waiting" }, t1);
    expect(list).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Waiting",
        message: "",
        lastTransitionTime: "2030-01-01T10:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime when only reason or message change", () => {
    const a = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Waiting", message: "x" },
      t1,
    );
    const b = setCondition(a, { type: "Ready", status: "False", reason: "StillWaiting", message: "y" }, t2);
    expect(b[0]?.lastTransitionTime).toBe("2030-01-01T10:00:00Z");
    expect(b[0]?.reason).toBe("StillWaiting");
    expect(b[0]?.message).toBe("y");
  });

  it("moves lastTransitionTime when the status flips", () => {
    const a = setCondition(undefined, { type: "Ready", status: "False", reason: "Waiting" }, t1);
    const b = setCondition(a, { type: "Ready", status: "True", reason: "Running" }, t2);
    expect(b[0]?.lastTransitionTime).toBe("2030-01-01T11:30:00Z");
    const c = setCondition(
      b,
      { type: "Ready", status: "True", reason: "Running" },
      new Date("2031-01-01T00:00:00Z"),
    );
    expect(c[0]?.lastTransitionTime).toBe("2030-01-01T11:30:00Z");
  });

  it("setting the same condition again yields an equal list (no status write)", () => {
    const a = setCondition(
      setCondition(
        undefined,
        { type: "Admitted", status: "True", reason: "Fits", observedGeneration: 3 },
        t1,
      ),
      { type: "Ready", status: "False", reason: "Starting" },
      t1,
    );
    const b = setCondition(
      a,
      { type: "Admitted", status: "True", reason: "Fits", observedGeneration: 3 },
      t2,
    );
    expect(b).toEqual(a);
    expect(b.map((c) => c.type)).toEqual(["Admitted", "Ready"]); // order kept
    expect(statusEquals({ conditions: a }, { conditions: b })).toBe(true);
  });

  it("finds, tests and removes conditions", () => {
    const list = setCondition(undefined, { type: "Ready", status: "True", reason: "Ok" }, t1);
    expect(findCondition(list, "Ready")?.reason).toBe("Ok");
    expect(isConditionTrue(list, "Ready")).toBe(true);
    expect(isConditionTrue(list, "Other")).toBe(false);
    expect(removeCondition(list, "Ready")).toEqual([]);
  });
});

describe("status helpers", () => {
  it("sets observedGeneration from metadata.generation", () => {
    const obj = { metadata: { name: "a", generation: 7 } };
    expect(withObservedGeneration(obj, { phase: "Running" })).toEqual({
      phase: "Running",
      observedGeneration: 7,
    });
  });

  it("compares statuses as JSON (undefined members are absent)", () => {
    expect(statusEquals({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(statusEquals(undefined, {})).toBe(true);
    expect(statusEquals({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(statusEquals({ a: { x: 1 } }, { a: { x: 1, y: 2 } })).toBe(false);
  });
});
