import { describe, expect, test } from "vitest";
import type { JobStatus } from "../../controllers/trainingjob/planner.ts";
import {
  onlyReadinessChanged,
  readinessBatchMs,
  readinessVerdict,
} from "../../controllers/trainingjob/readiness-batch.ts";
import type { Condition } from "../../crds/index.ts";

const at = "2026-01-01T00:00:00Z";
const running = (status: "True" | "False", reason: string, message: string): Condition => ({
  type: "Running",
  status,
  reason,
  message,
  lastTransitionTime: at,
});
const admitted: Condition = {
  type: "Admitted",
  status: "True",
  reason: "Admitted",
  message: "on pool a",
  lastTransitionTime: at,
};
const starting = (ready: number, phase: JobStatus["phase"] = "Admitted"): JobStatus => ({
  phase,
  pool: "a",
  nodes: 4,
  readyNodes: ready,
  restarts: 0,
  conditions: [admitted, running("False", "Starting", `${ready} of 4 ranks running`)],
});

describe("onlyReadinessChanged", () => {
  test.each<[string, JobStatus, JobStatus, boolean]>([
    ["another rank ready", starting(1), starting(2), true],
    ["the first rank ready", starting(0), starting(1), true],
    ["nothing changed", starting(2), starting(2), false],
    [
      "the phase turns Running",
      starting(3),
      {
        ...starting(4, "Running"),
        conditions: [admitted, running("True", "AllRanksRunning", "all 4 ranks are running")],
      },
      false,
    ],
    ["the phase alone", starting(2), starting(2, "Restarting"), false],
    ["the pool", starting(1), { ...starting(2), pool: "b" }, false],
    [
      "a condition flips",
      starting(1),
      {
        ...starting(2),
        conditions: [
          { ...admitted, status: "False", reason: "Evicted" },
          starting(2).conditions?.[1] as never,
        ],
      },
      false,
    ],
    [
      "the Running reason changes with the message",
      starting(1),
      { ...starting(1), conditions: [admitted, running("False", "Queued", "queued again")] },
      false,
    ],
    [
      "readyNodes of a running gang",
      { ...starting(3, "Running"), conditions: [admitted, running("True", "AllRanksRunning", "all 4")] },
      { ...starting(4, "Running"), conditions: [admitted, running("True", "AllRanksRunning", "all 4")] },
      true,
    ],
  ])("%s", (_name, before, after, expected) => {
    expect(onlyReadinessChanged(before, after)).toBe(expected);
  });
});

describe("readinessVerdict", () => {
  const now = 1_000_000;
  test("a count alone is held back for the window from the first one held", () => {
    const first = readinessVerdict({
      before: starting(0),
      after: starting(1),
      batchable: true,
      heldSince: undefined,
      now,
    });
    expect(first).toEqual({ write: false, heldSince: now, retryAfterMs: readinessBatchMs });
    const later = readinessVerdict({
      before: starting(0),
      after: starting(2),
      batchable: true,
      heldSince: now,
      now: now + 2000,
    });
    expect(later).toEqual({ write: false, heldSince: now, retryAfterMs: readinessBatchMs - 2000 });
  });

  test("held past the window, the counts are written", () => {
    expect(
      readinessVerdict({
        before: starting(0),
        after: starting(2),
        batchable: true,
        heldSince: now,
        now: now + readinessBatchMs,
      }),
    ).toEqual({ write: true });
  });

  test("a phase change is written at once, whatever is held", () => {
    const after: JobStatus = {
      ...starting(4, "Running"),
      conditions: [admitted, running("True", "AllRanksRunning", "all 4 ranks are running")],
    };
    expect(
      readinessVerdict({ before: starting(1), after, batchable: true, heldSince: now, now: now + 1 }),
    ).toEqual({
      write: true,
    });
  });

  test("a write that pods or events wait on is never held", () => {
    expect(
      readinessVerdict({
        before: starting(0),
        after: starting(1),
        batchable: false,
        heldSince: undefined,
        now,
      }),
    ).toEqual({ write: true });
  });
});
