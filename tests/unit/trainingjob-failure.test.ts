// The failure policy: what the current attempt's pods say (starting, running, succeeded, a
// permanent or a retryable failure), and the exponential restart backoff.
import { describe, expect, it } from "vitest";
import {
  type GangState,
  gangState,
  isPermanentExitCode,
  restartBackoffMs,
  splitByAttempt,
  torchrunRootCauseSignal,
} from "../../controllers/trainingjob/failure.ts";
import type { ChildPod } from "../../controllers/trainingjob/planner.ts";
import { pod } from "./trainingjob-fixtures.ts";

const state = (
  pods: ChildPod[],
  opts: { size?: number; wasRunning?: boolean; gone?: string[] } = {},
): GangState =>
  gangState({
    pods,
    size: opts.size ?? 2,
    wasRunning: opts.wasRunning ?? false,
    nodeExists: (n) => !(opts.gone ?? []).includes(n),
  });

describe("gangState", () => {
  it.each<{
    what: string;
    pods: ChildPod[];
    opts?: Parameters<typeof state>[1];
    expected: Partial<GangState>;
  }>([
    { what: "no pods yet", pods: [], expected: { kind: "starting", missingRanks: [0, 1] } },
    {
      what: "one rank created",
      pods: [pod(0, "Pending")],
      expected: { kind: "starting", present: 1, running: 0, missingRanks: [1] },
    },
    {
      what: "every rank running",
      pods: [pod(0, "Running"), pod(1, "Running")],
      expected: { kind: "running", ready: 2 },
    },
    {
      what: "one rank done, the other still running",
      pods: [pod(0, "Succeeded"), pod(1, "Running")],
      expected: { kind: "running" },
    },
    {
      what: "every rank exited 0",
      pods: [pod(0, "Succeeded"), pod(1, "Succeeded")],
      expected: { kind: "succeeded" },
    },
    {
      what: "exit 1 is the program's own failure",
      pods: [pod(0, "Running"), pod(1, { failed: 1 })],
      expected: { kind: "failed", retryable: false, reason: "PodFailed" },
    },
    {
      what: "exit 127 is still permanent",
      pods: [pod(0, { failed: 127 }), pod(1, "Running")],
      expected: { kind: "failed", retryable: false },
    },
    {
      what: "exit 137 (SIGKILL, OOM) is retried",
      pods: [pod(0, "Running"), pod(1, { failed: 137 })],
      expected: { kind: "failed", retryable: true, reason: "RetryableExitCode" },
    },
    {
      what: "the earliest failure decides: OOM first, the collective's exit 1 after",
      pods: [
        pod(0, { failed: 1, at: "2026-01-01T11:59:40Z" }),
        pod(1, { failed: 137, at: "2026-01-01T11:59:30Z" }),
      ],
      expected: { kind: "failed", retryable: true },
    },
    {
      what: "the earliest failure decides: a user bug first, NCCL's SIGABRT after",
      pods: [
        pod(0, { failed: 1, at: "2026-01-01T11:59:30Z" }),
        pod(1, { failed: 134, at: "2026-01-01T11:59:40Z" }),
      ],
      expected: { kind: "failed", retryable: false, reason: "PodFailed" },
    },
    {
      what: "a tie counts as retryable",
      pods: [pod(0, { failed: 1 }), pod(1, { failed: 137 })],
      expected: { kind: "failed", retryable: true },
    },
    {
      what: "an evicted pod has no exit code and is retried",
      pods: [pod(0, "Running"), pod(1, { evicted: true })],
      expected: { kind: "failed", retryable: true, reason: "PodEvicted" },
    },
    {
      what: "a running rank whose node is gone is lost",
      pods: [pod(0, "Running"), pod(1, "Running")],
      opts: { gone: ["h100-1"] },
      expected: { kind: "failed", retryable: true, reason: "NodeLost", lostNodes: ["h100-1"] },
    },
    {
      what: "a lost node explains the exit 1 of the survivors",
      pods: [pod(0, { failed: 1 }), pod(1, "Running")],
      opts: { gone: ["h100-1"] },
      expected: { kind: "failed", retryable: true, reason: "NodeLost" },
    },
    {
      what: "a pod deleted by someone else while it ran is lost",
      pods: [pod(0, "Running"), pod(1, "Deleting")],
      expected: { kind: "failed", retryable: true, reason: "PodDeleted" },
    },
    {
      what: "a rank missing after the gang ran was deleted",
      pods: [pod(0, "Running")],
      opts: { wasRunning: true },
      expected: { kind: "failed", retryable: true, reason: "PodDeleted" },
    },
    {
      what: "a rank missing before the gang ran is just not created yet",
      pods: [pod(0, "Running")],
      expected: { kind: "starting", missingRanks: [1] },
    },
  ])("$what", ({ pods, opts, expected }) => {
    expect(state(pods, opts)).toMatchObject(expected);
  });

  it("names the rank, the pod and the exit code in its message", () => {
    const s = state([pod(0, "Running"), pod(1, { failed: 1 })]);
    expect(s.kind === "failed" && s.message).toMatch(/rank 1 \(pod llama-0-1\) exited with code 1/);
  });
});

describe("exit codes", () => {
  it.each([
    [1, true],
    [2, true],
    [127, true],
    [128, false],
    [137, false],
    [143, false],
    [255, false],
    [0, false],
  ])("code %i permanent: %s", (code, permanent) => {
    expect(isPermanentExitCode(code)).toBe(permanent);
  });
});

describe("restart backoff", () => {
  it.each([
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [6, 300_000],
    [50, 300_000],
  ])("restart %i waits %i ms", (restart, ms) => {
    expect(restartBackoffMs(restart, { baseMs: 10_000, maxMs: 300_000 })).toBe(ms);
  });
});

describe("splitByAttempt", () => {
  it("separates the current gang from older ones", () => {
    const { current, stale } = splitByAttempt(
      [pod(0, "Running", 1), pod(1, "Running", 0), pod(1, "Pending", 1)],
      1,
    );
    expect(current.map((p) => p.metadata.name)).toEqual(["llama-1-0", "llama-1-1"]);
    expect(stale.map((p) => p.metadata.name)).toEqual(["llama-0-1"]);
  });
});

// torchrun's error summary as it ends the log of a torchrun whose worker the OOM killer took
// (torch 2.15, seen in tests/real).
const summary = (rootCause: string) => `torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=====================================================
/work/train.py FAILED
-----------------------------------------------------
Failures:
[1]:
  time      : 2026-12-03_13:50:55
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 453)  (SIGTERM)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 453
-----------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-03_13:50:55
  host      : localhost
  rank      : 1 (local_rank: 1)
  ${rootCause}
  error_file: <N/A>
=====================================================`;

describe("a worker killed under torchrun (exit code 1 with a signal as root cause)", () => {
  it("reads the root cause's signal from torchrun's summary, and nothing else", () => {
    expect(torchrunRootCauseSignal(summary("exitcode  : -9 (pid: 454)  (SIGKILL)"))).toEqual({
      signal: 9,
      name: "SIGKILL",
    });
    // The other failures' signals (the SIGTERM torchrun sent the rest) do not count.
    expect(torchrunRootCauseSignal(summary("exitcode  : 1 (pid: 454)"))).toBeUndefined();
    expect(torchrunRootCauseSignal("Traceback ... ValueError: bad config")).toBeUndefined();
    expect(torchrunRootCauseSignal(undefined)).toBeUndefined();
  });

  it("restarts the gang for a killed worker, and still fails the job for a worker's own error", () => {
    const killed = state([
      pod(0, "Running"),
      pod(1, { failed: 1, message: summary("exitcode  : -9 (pid: 454)  (SIGKILL)") }),
    ]);
    expect(killed).toMatchObject({ kind: "failed", retryable: true, reason: "RetryableExitCode" });
    expect(killed.kind === "failed" && killed.message).toContain("ended by signal 9 (SIGKILL)");
    const raised = state([
      pod(0, "Running"),
      pod(1, { failed: 1, message: summary("exitcode  : 1 (pid: 454)") }),
    ]);
    expect(raised).toMatchObject({ kind: "failed", retryable: false, reason: "PodFailed" });
  });
});
