// The kubelet part of the pod runner for pods that run as themselves (run-local.ts decides
// which): init containers one after another, then every container, each a local process in a
// process group of its own (a container: everything it started goes with it), restarted or not
// as the pod's restartPolicy says, and the pod's status written as a kubelet writes it, so the
// controllers see real exit codes: a rank killed by SIGKILL is a container that exited 137.
// Each process gets the pod's own temporary directory (a container's /tmp is its own), and a
// pid file under DIR/pids/ names its main process, for a test that kills one as an OOM kill
// would. A container's processes are found by a marker they inherit (container-processes.ts):
// all of them end with the container, and a runner starting on DIR first ends any left behind
// by one that died there without cleaning up.
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  describeError,
  type Informer,
  type KubeClient,
  type KubeObject,
  objectKey,
} from "../../../operator/index.ts";
import { markerVariable, signalMarked } from "./container-processes.ts";
import { clusterAddresses, type NetworkPod, type NetworkService } from "./pod-network.ts";
import { probeOnce } from "./probe.ts";
import { type ContainerLike, type HttpProbe, type PodLike, readinessOf } from "./programs.ts";
import { type LocalContainer, localContainer, type NodeLike, runLocalVerdict } from "./run-local.ts";

const podType = { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true } as const;

export type LocalPod = KubeObject &
  PodLike &
  NetworkPod & {
    spec?: PodLike["spec"] & {
      initContainers?: ContainerLike[];
      restartPolicy?: string;
      terminationGracePeriodSeconds?: number;
    };
  };

export interface LocalPodsOptions {
  client: KubeClient;
  pods: Informer<LocalPod>;
  nodes: Informer<KubeObject & NodeLike>;
  services: Informer<KubeObject & NetworkService>;
  /** Pools whose pods run locally. */
  pools: ReadonlySet<string>;
  dir: string;
  /** Put before PATH: where the programs the pods name live (the project's Python venv). */
  pathPrefix: string | undefined;
  workdir: string;
  log(msg: string, fields?: Record<string, unknown>): void;
}

interface Terminated {
  exitCode: number;
  reason: string;
  startedAt: string;
  finishedAt: string;
  message?: string;
}

/**
 * A kubelet's FallbackToLogsOnError: a container that failed without writing a termination
 * message gets the tail of its log instead, at most 80 lines and 2048 bytes.
 */
export function logTailMessage(log: string): string {
  const lines = log.replace(/\n$/, "").split("\n").slice(-80).join("\n");
  const bytes = Buffer.from(lines);
  return bytes.length <= 2048 ? lines : bytes.subarray(bytes.length - 2048).toString("utf8");
}

interface ContainerRun {
  name: string;
  child: ChildProcess | undefined;
  startedAt: string;
  restarts: number;
  terminated: Terminated | undefined;
  /** Ended, and to be started again when its back-off is over. */
  restarting: boolean;
  logFile: string;
  /** What its readinessProbe says; undefined without one (ready while it runs). */
  ready: boolean | undefined;
  probe: NodeJS.Timeout | undefined;
}

interface PodRun {
  key: string;
  pod: LocalPod;
  stage: "init" | "main" | "done";
  init: number;
  containers: Map<string, ContainerRun>;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  tmp: string;
  waitingLogged: string;
}

/** The exit code a kubelet reports for a process that ended by a signal: 128 + its number. */
const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6 };
export const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal ? (signalNumbers[signal] ?? 0) : 0);

const restarts = (policy: string | undefined, exitCode: number): boolean =>
  (policy ?? "Always") === "Always" || (policy === "OnFailure" && exitCode !== 0);

export class LocalPods {
  private readonly runs = new Map<string, PodRun>();
  private readonly o: LocalPodsOptions;

  constructor(options: LocalPodsOptions) {
    this.o = options;
    mkdirSync(join(options.dir, "pids"), { recursive: true });
    mkdirSync(join(options.dir, "logs"), { recursive: true });
    const stale = signalMarked(`${options.dir}|`, "SIGKILL");
    if (stale > 0) options.log("ended processes a previous runner left behind", { count: stale });
  }

  /** Whether this pod is one to run locally (then the caller leaves it to this class). */
  owns(pod: LocalPod): boolean {
    const node = this.o.nodes.store.get(pod.spec?.nodeName ?? "");
    return runLocalVerdict(pod, node, this.o.pools).run;
  }

  sync(pod: LocalPod): void {
    const key = objectKey(pod);
    const existing = this.runs.get(key);
    if (pod.metadata.deletionTimestamp || pod.status?.phase !== "Running") {
      // A pod this runner finished stays finished; one deleted or failed elsewhere stops.
      if (existing && existing.stage !== "done") this.forget(pod);
      return;
    }
    if (existing) {
      existing.pod = pod;
      return;
    }
    const run: PodRun = {
      key,
      pod,
      stage: "init",
      init: 0,
      containers: new Map(),
      timer: undefined,
      stopped: false,
      tmp: join(this.o.dir, "tmp", (pod.metadata.uid ?? key).slice(0, 8)),
      waitingLogged: "",
    };
    mkdirSync(run.tmp, { recursive: true });
    this.runs.set(key, run);
    this.advance(run);
  }

  forget(pod: KubeObject): void {
    const run = this.runs.get(objectKey(pod));
    if (!run) return;
    this.runs.delete(run.key);
    void this.stopRun(run).then(() => rmSync(run.tmp, { recursive: true, force: true }));
  }

  /** Stops every process (SIGTERM, then SIGKILL after the grace period); resolves once all are gone. */
  async stopAll(graceMs = 3000): Promise<void> {
    const all = [...this.runs.values()];
    this.runs.clear();
    await Promise.all(all.map((run) => this.stopRun(run, graceMs)));
  }

  private stopRun(run: PodRun, graceMs?: number): Promise<void> {
    run.stopped = true;
    clearTimeout(run.timer);
    for (const c of run.containers.values()) clearTimeout(c.probe);
    const grace = graceMs ?? Math.min(10, run.pod.spec?.terminationGracePeriodSeconds ?? 5) * 1000;
    return Promise.all(
      [...run.containers.values()].map((c) =>
        c.child ? stopContainer(c.child, this.marker(run, c.name), grace) : Promise.resolve(),
      ),
    ).then(() => {});
  }

  private marker(run: PodRun, container: string): string {
    return `${this.o.dir}|${run.key}|${container}|`;
  }

  private addresses(): Map<string, string> {
    return clusterAddresses([...this.o.pods.store.values()], [...this.o.services.store.values()]);
  }

  /** Starts what the pod needs next: the next init container, or every container. */
  private advance(run: PodRun): void {
    if (run.stopped) return;
    const spec = run.pod.spec;
    const inits = spec?.initContainers ?? [];
    if (run.stage === "init" && run.init >= inits.length) run.stage = "main";
    const wanted = run.stage === "init" ? [inits[run.init] as ContainerLike] : (spec?.containers ?? []);
    const addresses = this.addresses();
    const ready: LocalContainer[] = [];
    const waiting: string[] = [];
    for (const c of wanted) {
      const entry = run.containers.get(c.name);
      if (entry && !entry.restarting) continue;
      const made = localContainer(run.pod, c, addresses);
      if ("error" in made) {
        this.o.log("cannot run", { pod: run.key, container: c.name, error: made.error });
        void this.finish(run, c.name, { exitCode: 128, reason: "ContainerCannotRun" });
        return;
      }
      if ("waitingFor" in made) waiting.push(...made.waitingFor);
      else ready.push(made.container);
    }
    if (waiting.length > 0) {
      // As a program would retry its lookup: nothing starts until every name resolves.
      const what = waiting.join(", ");
      if (run.waitingLogged !== what) this.o.log("waiting for names", { pod: run.key, names: waiting });
      run.waitingLogged = what;
      run.timer = setTimeout(() => this.advance(run), 300);
      run.timer.unref();
      return;
    }
    for (const c of ready) this.start(run, c);
  }

  private start(run: PodRun, c: LocalContainer): void {
    const base = `${run.key.replace("/", "_")}_${c.name}`;
    const logFile = join(this.o.dir, "logs", `${base}.log`);
    const out = openSync(logFile, "a");
    const path = [this.o.pathPrefix, process.env.PATH ?? "/usr/bin:/bin"].filter(Boolean).join(":");
    const env: Record<string, string> = {
      PATH: path,
      HOME: process.env.HOME ?? "/tmp",
      TMPDIR: run.tmp,
      // The dev machine reaches only loopback: no program may phone home.
      RAY_USAGE_STATS_ENABLED: "0",
      ...c.env,
      [markerVariable]: this.marker(run, c.name),
    };
    const prior = run.containers.get(c.name);
    const entry: ContainerRun = prior ?? {
      name: c.name,
      child: undefined,
      startedAt: "",
      restarts: 0,
      terminated: undefined,
      restarting: false,
      logFile,
      ready: undefined,
      probe: undefined,
    };
    entry.startedAt = new Date().toISOString();
    entry.restarting = false;
    run.containers.set(c.name, entry);
    let child: ChildProcess;
    try {
      child = spawn(c.command, c.args, {
        stdio: ["ignore", out, out],
        env,
        cwd: this.o.workdir,
        detached: true,
      });
    } catch (error) {
      this.o.log("could not start", { pod: run.key, container: c.name, error: describeError(error) });
      void this.finish(run, c.name, { exitCode: 128, reason: "StartError" });
      return;
    }
    // The child has its own copy of the log's descriptor.
    closeSync(out);
    entry.child = child;
    const pidFile = join(this.o.dir, "pids", `${base}.pid`);
    child.once("spawn", () => writeFileSync(pidFile, String(child.pid)));
    child.once("error", (error) =>
      this.o.log("could not start", { pod: run.key, container: c.name, error: describeError(error) }),
    );
    this.o.log("started", {
      pod: run.key,
      container: c.name,
      pid: child.pid,
      command: c.command,
      args: c.args,
    });
    const spec = run.pod.spec?.containers?.find((x) => x.name === c.name);
    const probe = spec && run.stage === "main" ? readinessOf(spec) : undefined;
    if (probe) {
      // Not ready until the probe passes, as a kubelet sees it (kwok marked the pod Ready).
      entry.ready = false;
      this.probe(run, entry, probe, 500);
    }
    if (entry.restarts > 0 || probe) void this.writeStatus(run);
    child.once("close", (code, signal) => {
      // What is left of the container goes with its main process, as in a PID namespace.
      killGroup(child, "SIGKILL");
      signalMarked(this.marker(run, c.name), "SIGKILL");
      entry.child = undefined;
      rmSync(pidFile, { force: true });
      if (run.stopped) return;
      clearTimeout(entry.probe);
      // A negative code is Node's for a program that could not be started (not on PATH).
      const startError = code !== null && code < 0;
      const exitCode = startError ? 128 : exitCodeOf(code, signal);
      this.o.log("exited", { pod: run.key, container: c.name, exitCode, signal });
      const reason = startError ? "StartError" : exitCode === 0 ? "Completed" : "Error";
      void this.finish(run, c.name, { exitCode, reason });
    });
  }

  /** Probes `entry` every period (every half second until it first passes); writes each change. */
  private probe(run: PodRun, entry: ContainerRun, probe: HttpProbe, delayMs: number): void {
    entry.probe = setTimeout(async () => {
      if (run.stopped || !entry.child) return;
      const ok = await probeOnce(run.pod.status?.podIP ?? "", probe);
      if (run.stopped || !entry.child) return;
      if (ok !== entry.ready) {
        entry.ready = ok;
        this.o.log(ok ? "ready" : "not ready", { pod: run.key, container: entry.name });
        await this.writeStatus(run);
      }
      this.probe(run, entry, probe, ok ? probe.periodSeconds * 1000 : 500);
    }, delayMs);
    entry.probe.unref();
  }

  /** A container ended: restart it, move on to the next stage, or end the pod. */
  private async finish(run: PodRun, name: string, end: { exitCode: number; reason: string }): Promise<void> {
    const entry = run.containers.get(name) ?? {
      name,
      child: undefined,
      startedAt: new Date().toISOString(),
      restarts: 0,
      terminated: undefined,
      restarting: false,
      logFile: "",
      ready: undefined,
      probe: undefined,
    };
    run.containers.set(name, entry);
    clearTimeout(entry.probe);
    entry.terminated = { ...end, startedAt: entry.startedAt, finishedAt: new Date().toISOString() };
    const spec = [...(run.pod.spec?.initContainers ?? []), ...(run.pod.spec?.containers ?? [])].find(
      (c) => c.name === name,
    ) as { terminationMessagePolicy?: string } | undefined;
    if (end.exitCode !== 0 && spec?.terminationMessagePolicy === "FallbackToLogsOnError" && entry.logFile) {
      const log = logTail(entry.logFile);
      if (log) entry.terminated.message = logTailMessage(log);
    }
    // An init container that succeeded is done whatever the policy; one that failed is retried
    // unless the policy is Never, as a kubelet does.
    const policy = run.pod.spec?.restartPolicy;
    const again =
      run.stage === "init" ? end.exitCode !== 0 && policy !== "Never" : restarts(policy, end.exitCode);
    if (again) {
      // As a kubelet restarts a container: with a growing delay, not ready meanwhile.
      entry.restarts++;
      entry.restarting = true;
      await this.writeStatus(run);
      const delay = Math.min(10_000, 500 * 2 ** Math.min(entry.restarts, 5));
      run.timer = setTimeout(() => this.advance(run), delay);
      run.timer.unref();
      return;
    }
    if (run.stage === "init") {
      if (end.exitCode === 0) {
        run.init++;
        run.containers.delete(name);
        this.advance(run);
        return;
      }
      run.stage = "done";
      await this.writeStatus(run, "Failed");
      return;
    }
    const containers = run.pod.spec?.containers ?? [];
    const ended = containers.every((c) => run.containers.get(c.name)?.terminated);
    if (!ended) {
      await this.writeStatus(run);
      return;
    }
    run.stage = "done";
    const failed = containers.some((c) => (run.containers.get(c.name)?.terminated?.exitCode ?? 1) !== 0);
    await this.writeStatus(run, failed ? "Failed" : "Succeeded");
  }

  private async writeStatus(run: PodRun, phase?: "Succeeded" | "Failed"): Promise<void> {
    const now = new Date().toISOString();
    const statuses = (run.pod.spec?.containers ?? []).map((c) => {
      const entry = run.containers.get(c.name);
      const t = entry?.terminated;
      const running = entry?.child !== undefined && !entry.restarting;
      const ready = running && entry?.ready !== false;
      const state = running
        ? { running: { startedAt: entry?.startedAt } }
        : entry?.restarting
          ? { waiting: { reason: "CrashLoopBackOff" } }
          : t
            ? { terminated: t }
            : { waiting: { reason: "ContainerCreating" } };
      const last = t && (running || entry?.restarting) ? { lastState: { terminated: t } } : {};
      return {
        name: c.name,
        image: c.image ?? "",
        ready,
        started: running,
        restartCount: entry?.restarts ?? 0,
        state,
        ...last,
      };
    });
    const notReady = statuses.some((s) => !s.ready);
    const cond = (type: string) => ({
      type,
      status: notReady ? "False" : "True",
      lastTransitionTime: now,
      ...(notReady ? { reason: phase ? "PodCompleted" : "ContainersNotReady" } : {}),
    });
    const status: Record<string, unknown> = {
      containerStatuses: statuses,
      conditions: [cond("Ready"), cond("ContainersReady")],
    };
    if (phase) status.phase = phase;
    try {
      await this.o.client.patch(
        podType,
        run.pod.metadata.name ?? "",
        run.pod.metadata.namespace,
        { status },
        "strategic",
        { subresource: "status" },
      );
    } catch (error) {
      this.o.log("could not write status", { pod: run.key, error: describeError(error) });
    }
  }
}

/** The last 16 KiB of a log file ("" when there is none): more than the message keeps. */
function logTail(path: string): string {
  if (!existsSync(path)) return "";
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/**
 * As a container runtime stops a container: SIGTERM to its main process (and its group), SIGKILL
 * to every process of the container once the main process exited or `graceMs` passed.
 */
function stopContainer(child: ChildProcess, marker: string, graceMs: number): Promise<void> {
  const killAll = (): void => {
    killGroup(child, "SIGKILL");
    signalMarked(marker, "SIGKILL");
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    killAll();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const kill = setTimeout(killAll, graceMs);
    child.once("close", () => {
      clearTimeout(kill);
      killAll();
      resolve();
    });
    killGroup(child, "SIGTERM");
  });
}
