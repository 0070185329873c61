// The failure policy: what the pods of the current gang attempt say about the job.
//   - Any pod lost (deleted or evicted by someone else, or its node gone) explains every other
//     failure of the attempt: a gang that lost a member fails everywhere, so the survivors'
//     exit codes say nothing about the cause. Retryable.
//   - Otherwise the earliest failure decides: the main container's exit code 1-127 is the
//     program's own verdict (permanent); 128 and above means a signal (OOM kill, preemption),
//     retryable. Later failures are usually the collective falling apart around the first one
//     (NCCL aborting with SIGABRT after rank 0 raised), so they must not turn a user bug into
//     endless retries, nor an OOM kill into a permanent failure. Ties count as retryable.
//   - A failed pod without an exit code (evicted, node shutdown) is retryable.
//   - torchrun exits 1 whenever a worker fails, also when the OOM killer (the usual victim is a
//     worker, the largest process) or a preemption signal ended it. The trainer container asks
//     for its log tail as termination message (FallbackToLogsOnError), where torchrun prints the
//     root cause; a root cause that is a signal makes exit code 1 retryable like 128+.
import { attemptOf, rankOf, TRAINER_CONTAINER } from "./names.ts";

export interface ContainerStatusLike {
  name?: string;
  ready?: boolean;
  state?: {
    terminated?: { exitCode?: number; reason?: string; finishedAt?: string; message?: string };
    running?: unknown;
  };
}

export interface GangPod {
  metadata: {
    name?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatusLike[];
  };
}

export type GangState =
  /** Some ranks are missing or not yet running. */
  | { kind: "starting"; present: number; running: number; ready: number; missingRanks: number[] }
  | { kind: "running"; ready: number }
  | { kind: "succeeded" }
  | { kind: "failed"; retryable: boolean; reason: FailureReason; message: string; lostNodes: string[] };

export type FailureReason = "PodFailed" | "RetryableExitCode" | "PodEvicted" | "NodeLost" | "PodDeleted";

export interface GangInput {
  /** Pods of the current attempt (other attempts must be filtered out by the caller). */
  pods: readonly GangPod[];
  /** Ranks the gang has: 0..size-1. */
  size: number;
  /**
   * Every rank of this attempt was seen running (the job reached Running): a rank missing from
   * the cache now was deleted, not "not created yet".
   */
  wasRunning: boolean;
  /** Whether a node still exists; pods bound to a node that is gone are lost. */
  nodeExists(name: string): boolean;
}

const isReady = (pod: GangPod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/**
 * The signal that ended torchrun's first failed worker, from torchrun's error summary in a log
 * tail ("Root Cause (first observed failure): ... exitcode  : -9 (pid: 454)  (SIGKILL)"), or
 * undefined when the root cause was the worker's own exit code or the summary is not there.
 */
export function torchrunRootCauseSignal(
  log: string | undefined,
): { signal: number; name?: string } | undefined {
  const at = log?.lastIndexOf("Root Cause (first observed failure):") ?? -1;
  if (!log || at < 0) return undefined;
  const m = /exitcode\s*:\s*-(\d+)(?:\s*\(pid: \d+\))?(?:\s*\((SIG[A-Z0-9]+)\))?/.exec(log.slice(at));
  if (!m?.[1]) return undefined;
  return { signal: Number(m[1]), ...(m[2] ? { name: m[2] } : {}) };
}

/** The exit code and end time that speak for a failed pod: the trainer's, else any non-zero one. */
export function exitOf(pod: GangPod): {
  code: number | undefined;
  finishedAt: number | undefined;
  /** Set when torchrun exited because a signal ended one of its workers. */
  workerSignal?: { signal: number; name?: string };
} {
  const statuses = pod.status?.containerStatuses ?? [];
  const terminated = (c: ContainerStatusLike | undefined) => c?.state?.terminated;
  const trainer = terminated(statuses.find((c) => c.name === TRAINER_CONTAINER));
  const chosen =
    trainer && trainer.exitCode !== 0
      ? trainer
      : (statuses.map(terminated).find((t) => t && t.exitCode !== undefined && t.exitCode !== 0) ?? trainer);
  const finishedAt = chosen?.finishedAt ? Date.parse(chosen.finishedAt) : Number.NaN;
  const workerSignal = chosen?.exitCode === 1 ? torchrunRootCauseSignal(chosen.message) : undefined;
  return {
    code: chosen?.exitCode,
    finishedAt: Number.isFinite(finishedAt) ? finishedAt : undefined,
    ...(workerSignal ? { workerSignal } : {}),
  };
}

/** Whether an exit code means "do not retry": the program itself gave up. */
export const isPermanentExitCode = (code: number): boolean => code >= 1 && code <= 127;

const describePod = (pod: GangPod): string => `rank ${rankOf(pod) ?? "?"} (pod ${pod.metadata.name})`;

export function gangState(input: GangInput): GangState {
  const byRank = new Map<number, GangPod>();
  for (const pod of input.pods) {
    const rank = rankOf(pod);
    if (rank !== undefined && rank < input.size) byRank.set(rank, pod);
  }

  // Lost members first: they explain whatever else failed.
  const lost: {
    pod: GangPod | undefined;
    rank: number;
    message: string;
    reason: FailureReason;
    node?: string;
  }[] = [];
  for (let rank = 0; rank < input.size; rank++) {
    const pod = byRank.get(rank);
    if (!pod) {
      if (input.wasRunning)
        lost.push({ pod, rank, reason: "PodDeleted", message: `rank ${rank}'s pod was deleted` });
      continue;
    }
    const phase = pod.status?.phase;
    const finished = phase === "Succeeded" || phase === "Failed";
    const node = pod.spec?.nodeName;
    if (node && !finished && !input.nodeExists(node)) {
      lost.push({
        pod,
        rank,
        node,
        reason: "NodeLost",
        message: `${describePod(pod)} was lost with its node ${node}`,
      });
    } else if (pod.metadata.deletionTimestamp && !finished) {
      lost.push({ pod, rank, reason: "PodDeleted", message: `${describePod(pod)} was deleted while it ran` });
    }
  }
  if (lost.length > 0) {
    const first = lost.find((l) => l.reason === "NodeLost") ?? lost[0];
    return {
      kind: "failed",
      retryable: true,
      reason: first?.reason ?? "PodDeleted",
      message: lost.map((l) => l.message).join("; "),
      lostNodes: [...new Set(lost.flatMap((l) => (l.node ? [l.node] : [])))],
    };
  }

  const failures = [...byRank.values()]
    .filter((p) => p.status?.phase === "Failed")
    .map((pod) => ({ pod, ...exitOf(pod) }));
  if (failures.length > 0) {
    const time = (f: (typeof failures)[number]): number => f.finishedAt ?? Number.POSITIVE_INFINITY;
    const earliest = Math.min(...failures.map(time));
    const first = failures.filter((f) => time(f) === earliest);
    // Among simultaneous failures a retryable one wins: a restart costs less than losing the job.
    const retryable = (f: (typeof failures)[number]): boolean =>
      f.code === undefined || !isPermanentExitCode(f.code) || f.workerSignal !== undefined;
    const decisive = first.find(retryable) ?? first[0];
    if (decisive) {
      const { pod, code, workerSignal } = decisive;
      const others = failures.length > 1 ? ` (${failures.length} of ${input.size} pods failed)` : "";
      if (code === undefined || code === 0) {
        const why = [pod.status?.reason, pod.status?.message].filter(Boolean).join(": ") || "no exit code";
        return {
          kind: "failed",
          retryable: true,
          reason: "PodEvicted",
          message: `${describePod(pod)} failed without an exit code (${why})${others}`,
          lostNodes: [],
        };
      }
      if (workerSignal) {
        const name = workerSignal.name ? ` (${workerSignal.name})` : "";
        return {
          kind: "failed",
          retryable: true,
          reason: "RetryableExitCode",
          message: `${describePod(pod)}: a worker process was ended by signal ${workerSignal.signal}${name}, so torchrun exited with code ${code}; a signal is retried${others}`,
          lostNodes: [],
        };
      }
      const permanent = isPermanentExitCode(code);
      return {
        kind: "failed",
        retryable: !permanent,
        reason: permanent ? "PodFailed" : "RetryableExitCode",
        message: permanent
          ? `${describePod(pod)} exited with code ${code}; exit codes 1-127 are the program's own failure and are not retried${others}`
          : `${describePod(pod)} exited with code ${code} (a signal: ${code - 128}); codes 128 and above are retried${others}`,
        lostNodes: [],
      };
    }
  }

  const pods = [...byRank.values()];
  if (pods.length === input.size && pods.every((p) => p.status?.phase === "Succeeded"))
    return { kind: "succeeded" };
  const ready = pods.filter(isReady).length;
  const running = pods.filter((p) => p.status?.phase === "Running" || p.status?.phase === "Succeeded").length;
  if (pods.length === input.size && running === input.size) return { kind: "running", ready };
  const missingRanks: number[] = [];
  for (let rank = 0; rank < input.size; rank++) if (!byRank.has(rank)) missingRanks.push(rank);
  return { kind: "starting", present: pods.length, running, ready, missingRanks };
}

/** Pods of `attempt`, and pods of any other attempt (which must go). */
export function splitByAttempt<P extends GangPod>(
  pods: readonly P[],
  attempt: number,
): { current: P[]; stale: P[] } {
  const current: P[] = [];
  const stale: P[] = [];
  for (const pod of pods) (attemptOf(pod) === attempt ? current : stale).push(pod);
  return { current, stale };
}

export interface BackoffPolicy {
  /** Wait before the first restart. */
  baseMs: number;
  /** Longest wait between restarts. */
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 10_000, maxMs: 5 * 60_000 };

/** Wait before restart number `restart` (1-based): base, 2×base, 4×base, ... up to max. */
export function restartBackoffMs(restart: number, policy: BackoffPolicy = defaultBackoff): number {
  const exponent = Math.max(0, restart - 1);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(exponent, 30));
}
