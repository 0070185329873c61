// --wait: follows a workload's status until it is ready or has failed, printing each change.
// Readiness per kind: a TrainingJob is done waiting once Running (or Succeeded), a RayCluster
// or InferenceService once Ready. Only a TrainingJob can fail for good (phase Failed); any kind
// with a Failed condition that is True counts as failed too.
import { Watch } from "@kubernetes/client-node";
import type { KindDefinition } from "../../crds/index.ts";
import { humanDuration } from "../output/age.ts";
import { fail } from "../output/exit-codes.ts";
import { conditionsOf, isRecord, list, num, rec, str, waitingReason } from "../output/summary.ts";
import { shortName } from "./kinds.ts";
import { getObject, type StackObject } from "./objects.ts";
import type { Session } from "./session.ts";

export interface Assessment {
  phase: string;
  /** What to show after the phase: counts, pool, the reason it waits. */
  detail: string;
  outcome?: "ready" | "failed";
}

const readyPhases: Record<string, string[]> = {
  TrainingJob: ["Running", "Succeeded"],
  RayCluster: ["Ready"],
  RayJob: ["Complete"],
  InferenceService: ["Ready"],
};

function details(kind: string, status: Record<string, unknown>): string[] {
  const parts: string[] = [];
  if (status.queuePosition !== undefined) parts.push(`queue position ${str(status.queuePosition)}`);
  if (kind === "TrainingJob") {
    if (status.pool) parts.push(`pool ${str(status.pool)}`);
    if (status.nodes !== undefined)
      parts.push(`${num(status.readyNodes) ?? 0}/${num(status.nodes)} nodes ready`);
    if (num(status.restarts)) parts.push(`${num(status.restarts)} restarts`);
  } else if (kind === "RayCluster") {
    if (status.desiredWorkers !== undefined)
      parts.push(`${num(status.readyWorkers) ?? 0}/${num(status.desiredWorkers)} workers ready`);
    const pools = list(status.workerGroups)
      .filter(isRecord)
      .filter((g) => g.pool)
      .map((g) => `${str(g.name)} on ${str(g.pool)}`);
    if (pools.length > 0) parts.push(pools.join(", "));
  } else if (kind === "RayJob") {
    if (status.jobStatus) parts.push(`Ray job ${str(status.jobStatus)}`);
    if (status.rayClusterName) parts.push(`on ${str(status.rayClusterName)}`);
  } else if (kind === "InferenceService") {
    if (status.replicas !== undefined)
      parts.push(`${num(status.readyReplicas) ?? 0}/${num(status.replicas)} replicas ready`);
    const pools = list(status.placements)
      .filter(isRecord)
      .map((p) => str(p.pool))
      .filter(Boolean);
    if (pools.length > 0) parts.push(`on ${pools.join(", ")}`);
    if (status.url) parts.push(str(status.url) ?? "");
  }
  return parts;
}

export function assess(kind: KindDefinition, object: StackObject): Assessment {
  if (!isRecord(object.status) || Object.keys(object.status).length === 0)
    return { phase: "Submitted", detail: "waiting for the operator to pick it up" };
  const status = rec(object.status);
  const observed = num(status.observedGeneration);
  // A status written for an older spec says nothing about the one just applied.
  if (observed !== undefined && observed < (object.metadata.generation ?? 0))
    return {
      phase: str(status.phase) ?? "Submitted",
      detail: "waiting for the operator to see the new spec",
    };
  // A RayService has no phase: its Ready condition is the whole story.
  const readyCondition = conditionsOf(object).find((c) => c.type === "Ready");
  const phase =
    str(status.phase) ??
    (kind.kind === "RayService" ? (readyCondition?.status === "True" ? "Ready" : "Pending") : "Pending");
  const parts = details(kind.kind, status);
  if (kind.kind === "RayService" && readyCondition && readyCondition.status !== "True")
    parts.push(readyCondition.message ?? "");
  const reason = waitingReason(object);
  const failedCondition = conditionsOf(object).find((c) => c.type === "Failed" && c.status === "True");
  let outcome: Assessment["outcome"];
  if (phase === "Failed" || failedCondition) outcome = "failed";
  else if (readyPhases[kind.kind]?.includes(phase) || (kind.kind === "RayService" && phase === "Ready"))
    outcome = "ready";
  if (reason && outcome !== "ready") parts.push(reason);
  return { phase, detail: parts.join("; "), outcome };
}

export const progressLine = (name: string, a: Assessment): string =>
  `${name} ${a.phase}${a.detail ? `: ${a.detail}` : ""}`;

const collectionPath = (kind: KindDefinition, namespace: string): string =>
  kind.scope === "Namespaced"
    ? `/apis/${kind.group}/${kind.version}/namespaces/${namespace}/${kind.plural}`
    : `/apis/${kind.group}/${kind.version}/${kind.plural}`;

export interface WaitOptions {
  timeoutMs: number;
  out: NodeJS.WritableStream & { isTTY?: boolean };
  /** Sees every version of the object (a RayJob's growing log). */
  onChange?: (object: StackObject) => void;
}

/**
 * Watches the object (re-reading and re-watching whenever a watch ends) and prints a line per
 * change; on a terminal the current line also shows the time waited so far.
 */
export async function waitForWorkload(
  session: Session,
  kind: KindDefinition,
  name: string,
  namespace: string,
  opts: WaitOptions,
): Promise<StackObject> {
  const label = shortName(kind, name);
  const started = Date.now();
  const tty = Boolean(opts.out.isTTY);
  let lastLine = "";
  let last: Assessment | undefined;
  const elapsed = () => humanDuration(Date.now() - started);
  const show = (line: string, final = false) => {
    if (tty) opts.out.write(`\r\x1b[2K${line} (${elapsed()})${final ? "\n" : ""}`);
    else if (line !== lastLine) opts.out.write(`${line}\n`);
  };

  return new Promise<StackObject>((resolve, reject) => {
    let finished = false;
    let watch: AbortController | undefined;
    const ticker = tty ? setInterval(() => show(lastLine), 1000) : undefined;
    const finish = (error: Error | undefined, object?: StackObject) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      watch?.abort();
      if (tty) show(lastLine, true);
      if (error) reject(error);
      else resolve(object as StackObject);
    };
    const observe = (object: StackObject) => {
      opts.onChange?.(object);
      const a = assess(kind, object);
      const line = progressLine(label, a);
      // On a terminal a new phase keeps the old line on screen; other changes rewrite it.
      if (tty && last && a.phase !== last.phase) opts.out.write("\n");
      if (line !== lastLine) show(line);
      lastLine = line;
      last = a;
      if (a.outcome === "failed") finish(fail("workloadFailed", `${label} failed: ${a.detail || a.phase}`));
      else if (a.outcome === "ready") finish(undefined, object);
    };
    const timer = setTimeout(() => {
      const where = last ? `; last seen ${progressLine(label, last).slice(label.length + 1)}` : "";
      finish(
        fail("timeout", `timed out after ${humanDuration(opts.timeoutMs)} waiting for ${label}${where}`),
      );
    }, opts.timeoutMs);

    const loop = async (): Promise<void> => {
      while (!finished) {
        const object = await getObject(session, kind, name, namespace);
        observe(object);
        if (finished) return;
        await new Promise<void>((done) => {
          new Watch(session.kc)
            .watch(
              collectionPath(kind, namespace),
              {
                fieldSelector: `metadata.name=${name}`,
                resourceVersion: object.metadata.resourceVersion,
                allowWatchBookmarks: true,
              },
              (type, obj: StackObject) => {
                if (type === "DELETED") finish(fail("notFound", `${label} was deleted while waiting`));
                else if (type === "ADDED" || type === "MODIFIED") observe(obj);
              },
              () => done(),
            )
            .then(
              (controller) => {
                watch = controller;
                if (finished) controller.abort();
              },
              () => done(),
            );
        });
        // A watch ends on server timeouts and network hiccups; pause, then read again.
        if (!finished) await new Promise((r) => setTimeout(r, 500));
      }
    };
    loop().catch((error: unknown) => finish(error as Error));
  });
}
