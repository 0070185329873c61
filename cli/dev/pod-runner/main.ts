// The dev cluster's stand-in for a kubelet, for the containers that can run here (programs.ts):
// it watches pods, starts a local process per such container of a Running pod at the pod's
// IP, restarts it when it exits, stops it when the pod goes, and probes its readinessProbe as
// a kubelet would, writing the pod's Ready condition on every change. kwok marks a pod Ready
// the moment it runs; the runner takes that back until the probe passes, so "ready" means the
// process answers (for an engine: the model is loaded).
//
//   node cli/dev/pod-runner/main.ts --kubeconfig FILE --dir DIR [--namespace NS]
//     [--run-local-pools P1,P2 [--path-prefix DIR] [--workdir DIR]]
// (--namespace: only that namespace's pods, for a test that shares its cluster with others;
// --run-local-pools: pods the operator placed on those pools' simulated nodes run as themselves,
// see local-pods.ts, with --path-prefix before PATH and --workdir as their working directory).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  builtin,
  describeError,
  Informer,
  KubeClient,
  type KubeObject,
  loadKubeconfigFiles,
  objectKey,
  stripManagedFields,
} from "../../../operator/index.ts";
import { freePorts } from "../loopback.ts";
import { fateSharedCommand, findPythonVenv, venvEnv } from "../python.ts";
import { allInterfacesPortFlags, localHeadArgs, type PortFlag } from "../ray-head.ts";
import { LocalPods } from "./local-pods.ts";
import { probeOnce } from "./probe.ts";
import { type HttpProbe, hasStandIn, type LocalProgram, localPrograms, type PodLike } from "./programs.ts";

const podType = { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true } as const;

interface Running {
  program: LocalProgram;
  child: ChildProcess | undefined;
  ready: boolean | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  restarts: number;
  stopped: boolean;
  /** A Ray head's session directory, removed when it stops. */
  tempDir?: string;
}

/** Stops a child; a Ray head with every process of its group (raylet, GCS, workers). */
function killChild(entry: Running, signal: NodeJS.Signals): void {
  const child = entry.child;
  if (!child) return;
  if (entry.program.rayHead && child.pid !== undefined) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  } else child.kill(signal);
}

const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      dir: { type: "string" },
      namespace: { type: "string" },
      "run-local-pools": { type: "string" },
      "path-prefix": { type: "string" },
      workdir: { type: "string" },
    },
  });
  if (!values.kubeconfig || !values.dir) throw new Error("usage: main.ts --kubeconfig FILE --dir DIR");
  const kubeconfig = values.kubeconfig;
  const dir = values.dir;
  mkdirSync(join(dir, "logs"), { recursive: true });
  const client = new KubeClient({ kubeConfig: loadKubeconfigFiles([kubeconfig]), qps: 100, burst: 200 });
  const pythonVenv = findPythonVenv();
  if (!pythonVenv) log("no Python venv (bash hack/python/venv.sh): Ray heads stay simulated");
  const caPem = (await client.connection.tlsOptions()).ca?.toString("utf8") ?? "";
  const pods = new Informer<KubeObject & PodLike>({
    client,
    resource: podType,
    ...(values.namespace ? { namespaces: [values.namespace] } : {}),
    // The runner needs what a kubelet reads: commands, args, env, probes.
    transform: stripManagedFields,
  });
  // Per pod key, per container name.
  const running = new Map<string, Map<string, Running>>();
  const local = values["run-local-pools"]
    ? await startLocalPods(client, values["run-local-pools"], pods, {
        namespace: values.namespace,
        dir,
        pathPrefix: values["path-prefix"],
        workdir: values.workdir ?? process.cwd(),
      })
    : undefined;

  const writeReady = async (pod: PodLike, ready: boolean): Promise<void> => {
    const now = new Date().toISOString();
    const status = ready ? "True" : "False";
    const reason = ready ? undefined : "ReadinessProbeFailed";
    const patch = {
      status: {
        conditions: [
          { type: "Ready", status, lastTransitionTime: now, ...(reason ? { reason } : {}) },
          { type: "ContainersReady", status, lastTransitionTime: now, ...(reason ? { reason } : {}) },
        ],
      },
    };
    try {
      await client.patch(podType, pod.metadata.name ?? "", pod.metadata.namespace, patch, "strategic", {
        subresource: "status",
      });
    } catch (error) {
      log("could not write readiness", { pod: pod.metadata.name, error: describeError(error) });
    }
  };

  const serviceAccountKubeconfig = async (pod: PodLike, file: string): Promise<void> => {
    const sa = pod.spec?.serviceAccountName ?? "default";
    const ns = pod.metadata.namespace ?? "default";
    const review = await client.request<{ status?: { token?: string } }>(
      "POST",
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      {
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: {
            expirationSeconds: 24 * 3600,
            boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
          },
        },
      },
    );
    const token = review.status?.token ?? "";
    const yaml = [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: dev\n  cluster:\n    server: ${client.server}\n    certificate-authority-data: ${Buffer.from(caPem).toString("base64")}`,
      "users:",
      `- name: ${sa}\n  user:\n    token: ${token}`,
      "contexts:",
      `- name: ${sa}\n  context:\n    cluster: dev\n    user: ${sa}\n    namespace: ${ns}`,
      `current-context: ${sa}`,
      "",
    ].join("\n");
    writeFileSync(file, yaml, { mode: 0o600 });
  };

  const spawnProgram = async (key: string, pod: PodLike, entry: Running): Promise<void> => {
    const { program } = entry;
    const base = `${key.replace("/", "_")}_${program.container}`;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      ...program.env,
    };
    if (program.usesApi) {
      const file = join(dir, `${base}.kubeconfig`);
      await serviceAccountKubeconfig(pod, file);
      env.KUBECONFIG = file;
    }
    let command = program.command;
    let args = program.args;
    if (program.rayHead && pythonVenv) {
      const ip = pod.status?.podIP ?? "";
      const chosen = await freePorts(allInterfacesPortFlags.length);
      const ports = {} as Record<PortFlag, number>;
      allInterfacesPortFlags.forEach((flag, i) => {
        ports[flag] = chosen[i] ?? 0;
      });
      // Short: Ray puts Unix sockets under it, and a socket path has at most 107 bytes.
      entry.tempDir ??= mkdtempSync("/tmp/rayp-");
      // A pod runner killed outright must not leave a Ray head behind.
      ({ command, args } = fateSharedCommand(pythonVenv, program.command, [
        "start",
        ...localHeadArgs(program.args.slice(1), { ip, ports, tempDir: entry.tempDir }),
      ]));
      Object.assign(env, venvEnv(pythonVenv, { PATH: env.PATH }));
      // Job drivers find the GCS through Ray itself; the pod's RAY_ADDRESS names port 6379.
      delete env.RAY_ADDRESS;
    }
    if (entry.stopped) return;
    const out = openSync(join(dir, "logs", `${base}.log`), "a");
    const child = spawn(command, args, {
      stdio: ["ignore", out, out],
      env,
      detached: program.rayHead === true,
    });
    entry.child = child;
    log("started", { pod: key, container: program.container, pid: child.pid, args: args.slice(-20) });
    child.on("exit", (code, signal) => {
      if (program.rayHead && child.pid !== undefined) {
        // ray start is gone; what it started must not outlive it.
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
      entry.child = undefined;
      if (entry.stopped) {
        if (entry.tempDir) rmSync(entry.tempDir, { recursive: true, force: true });
        return;
      }
      // As a kubelet restarts a container: with a growing delay, and not ready meanwhile.
      entry.restarts++;
      log("exited; restarting", {
        pod: key,
        container: program.container,
        code,
        signal,
        restarts: entry.restarts,
      });
      if (entry.ready !== false) {
        entry.ready = false;
        void writeReady(pod, false);
      }
      const delay = Math.min(10_000, 500 * 2 ** Math.min(entry.restarts, 5));
      setTimeout(() => {
        if (!entry.stopped)
          void spawnProgram(key, pod, entry).catch((e) => log("restart failed", { error: describeError(e) }));
      }, delay).unref();
    });
  };

  const schedule = (key: string, pod: PodLike, entry: Running, probe: HttpProbe, delayMs: number): void => {
    entry.timer = setTimeout(async () => {
      if (entry.stopped) return;
      const ok = entry.child !== undefined && (await probeOnce(pod.status?.podIP ?? "", probe));
      entry.failures = ok ? 0 : entry.failures + 1;
      const ready = ok
        ? true
        : entry.failures >= probe.failureThreshold || entry.ready !== true
          ? false
          : entry.ready;
      if (ready !== entry.ready) {
        entry.ready = ready;
        await writeReady(pod, ready);
        log(ready ? "ready" : "not ready", { pod: key, container: entry.program.container });
      }
      // Until the first success, look often: a kubelet's first probe waits a period, but a
      // dev cluster that shows a loaded model five seconds late only looks slow.
      schedule(
        key,
        pod,
        entry,
        probe,
        ready ? probe.periodSeconds * 1000 : Math.min(500, probe.periodSeconds * 1000),
      );
    }, delayMs);
    entry.timer.unref();
  };

  const stop = (entry: Running): void => {
    entry.stopped = true;
    clearTimeout(entry.timer);
    killChild(entry, "SIGTERM");
    if (entry.program.rayHead) setTimeout(() => killChild(entry, "SIGKILL"), 5_000).unref();
  };

  const sync = (pod: KubeObject & PodLike): void => {
    // A vLLM pod on a local pool still gets the engine simulator: vLLM itself cannot run here.
    if (local?.owns(pod) && !hasStandIn(pod)) {
      local.sync(pod);
      return;
    }
    const key = objectKey(pod);
    const want = localPrograms(pod, { pythonVenv });
    const have = running.get(key) ?? new Map<string, Running>();
    for (const [name, entry] of have) {
      const still = want.find((p) => p.container === name);
      if (!still || JSON.stringify(still.args) !== JSON.stringify(entry.program.args)) {
        stop(entry);
        have.delete(name);
      }
    }
    for (const program of want) {
      if (have.has(program.container)) continue;
      const entry: Running = {
        program,
        child: undefined,
        ready: undefined,
        failures: 0,
        timer: undefined,
        restarts: 0,
        stopped: false,
      };
      have.set(program.container, entry);
      if (program.readiness) {
        entry.ready = false;
        void writeReady(pod, false);
        schedule(key, pod, entry, program.readiness, 200);
      }
      void spawnProgram(key, pod, entry).catch((error) =>
        log("could not start", { pod: key, container: program.container, error: describeError(error) }),
      );
    }
    if (have.size > 0) running.set(key, have);
    else running.delete(key);
  };
  const forget = (pod: KubeObject): void => {
    local?.forget(pod);
    const key = objectKey(pod);
    for (const entry of running.get(key)?.values() ?? []) stop(entry);
    running.delete(key);
  };

  pods.addHandler({ onAdd: sync, onUpdate: (_old, pod) => sync(pod), onDelete: forget });
  pods.start();

  const shutdown = (): void => {
    for (const entries of running.values()) for (const entry of entries.values()) stop(entry);
    // A Ray head takes a moment to stop; the rest go with their SIGTERM.
    const rayHeads = [...running.values()].flatMap((m) => [...m.values()]).filter((e) => e.program.rayHead);
    setTimeout(() => {
      for (const entry of rayHeads) killChild(entry, "SIGKILL");
    }, 1_500).unref();
    void Promise.all([pods.stop(), local?.stopAll()]).finally(() =>
      setTimeout(() => process.exit(0), rayHeads.length > 0 ? 1_600 : 0),
    );
    setTimeout(() => process.exit(0), local ? 6000 : 2000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  log("watching pods", { kubeconfig });
}

/** The node and Service caches the local runs need, synced before the first pod arrives. */
async function startLocalPods(
  client: KubeClient,
  poolList: string,
  pods: Informer<KubeObject & PodLike>,
  o: { namespace: string | undefined; dir: string; pathPrefix: string | undefined; workdir: string },
): Promise<LocalPods> {
  const nodes = new Informer<KubeObject>({ client, resource: builtin.nodes, transform: stripManagedFields });
  const services = new Informer<KubeObject>({
    client,
    resource: builtin.services,
    ...(o.namespace ? { namespaces: [o.namespace] } : {}),
    transform: stripManagedFields,
  });
  nodes.start();
  services.start();
  await Promise.all([nodes.waitForSync(), services.waitForSync()]);
  const pools = new Set(poolList.split(",").filter(Boolean));
  log("running pods of these pools locally", { pools: [...pools], pathPrefix: o.pathPrefix });
  return new LocalPods({ client, pods, nodes, services, pools, ...o, log });
}

main().catch((error) => {
  process.stderr.write(`pod-runner: ${describeError(error)}\n`);
  process.exit(1);
});
