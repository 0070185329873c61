// Starts a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) plus kwok on free loopback ports, for tests and for `stackctl dev`.

import { type ChildProcess, fork } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Server } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { packageModule } from "../package-paths.ts";
import {
  type ClusterLayout,
  type ComponentCommand,
  type ComponentName,
  componentCommands,
  files,
  schedulerConfigYaml,
} from "./components.ts";
import { kwokStagesYaml } from "./kwok-stages.ts";
import { forEachConcurrently, freePorts } from "./loopback.ts";
import { claimPodRange } from "./pod-range.ts";
import { type SimulatedPool, simulatedNodes } from "./simulated-nodes.ts";
import type { SupervisorReport, SupervisorRequest } from "./supervisor.ts";
import { toolsBinDir } from "./tools.ts";

export interface ControlPlaneOptions {
  /** Where the cluster keeps its data, certificates, kubeconfig and logs. */
  dir: string;
  /** Simulated accelerator pools to create as kwok nodes. */
  nodes?: SimulatedPool[];
  /** Keep running after this process exits (`stackctl dev up`). */
  detached?: boolean;
  binDir?: string;
  log?: (line: string) => void;
  /** Extra arguments for the pod runner (`stackctl dev --run-local`'s pools and PATH). */
  podRunnerArgs?: string[];
}

export interface ControlPlane {
  dir: string;
  kubeconfigPath: string;
  server: string;
  /** The operator's /metrics and /healthz addresses, once it is started. */
  operatorAddresses: { metrics: string; health: string };
  stopComponent(name: ComponentName): Promise<void>;
  startComponent(name: ComponentName): Promise<void>;
  /** Stops every component and the supervisor. */
  stop(): Promise<void>;
  /** Lets this process exit while the cluster keeps running (detached mode only). */
  detach(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Probe {
  status: number;
  body: string;
}

function get(url: string, opts: { ca?: string; token?: string } = {}): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith("https:");
    const req = (isHttps ? httpsRequest : httpRequest)(
      url,
      {
        method: "GET",
        timeout: 2000,
        ...(isHttps ? { ca: opts.ca } : {}),
        headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
      },
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function logTail(dir: string, name: ComponentName, lines = 20): string {
  const path = join(files(dir).logs, `${name}.log`);
  if (!existsSync(path)) return "(no log)";
  return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * kubectl caches discovery per host and port for hours; an earlier cluster on the same loopback
 * port (without our CRDs) would make `kubectl get aistack` fail on this one. The cluster is new,
 * so whatever is cached for its address is stale.
 */
async function forgetKubectlDiscovery(server: string): Promise<void> {
  const cacheDir = process.env.KUBECACHEDIR ?? join(homedir(), ".kube", "cache");
  const host = new URL(server).host.replace(/[^A-Za-z0-9.]/g, "_");
  await rm(join(cacheDir, "discovery", host), { recursive: true, force: true });
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: sovereign-dev
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: sovereign-dev
  context: {cluster: sovereign-dev, user: admin, namespace: default}
current-context: sovereign-dev
`;
}

async function prepare(
  dir: string,
  binDir: string,
  podRunnerArgs: string[],
): Promise<{ layout: ClusterLayout; token: string; podRange: Server }> {
  const f = files(dir);
  await mkdir(f.logs, { recursive: true });
  await mkdir(f.certs, { recursive: true });
  const token = randomBytes(24).toString("hex");
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  await writeFile(f.saKey, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  await writeFile(f.saPub, publicKey.export({ type: "spki", format: "pem" }));
  await writeFile(f.tokens, `${token},admin,admin,system:masters\n`, { mode: 0o600 });
  await writeFile(f.schedulerConfig, schedulerConfigYaml(f.kubeconfig));
  await writeFile(f.kwokConfig, kwokStagesYaml());
  const [etcd, etcdPeer, apiserver, controllerManager, scheduler, kwok, operatorMetrics, operatorHealth] =
    await freePorts(8);
  const podRange = await claimPodRange();
  const layout: ClusterLayout = {
    dir,
    binDir,
    podCidr: podRange.cidr,
    podRunnerArgs,
    ports: {
      etcd: etcd ?? 0,
      etcdPeer: etcdPeer ?? 0,
      apiserver: apiserver ?? 0,
      controllerManager: controllerManager ?? 0,
      scheduler: scheduler ?? 0,
      kwok: kwok ?? 0,
      operatorMetrics: operatorMetrics ?? 0,
      operatorHealth: operatorHealth ?? 0,
    },
  };
  await writeFile(join(dir, "plan.json"), JSON.stringify(componentCommands(layout), null, 2));
  return { layout, token, podRange: podRange.marker };
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir;
  const f = files(dir);
  const { layout, token, podRange } = await prepare(
    dir,
    opts.binDir ?? toolsBinDir(),
    opts.podRunnerArgs ?? [],
  );
  const server = `https://127.0.0.1:${layout.ports.apiserver}`;

  const supervisorPath = packageModule("cli/dev/supervisor.ts");
  // Detached, the supervisor must not hold this process's stdout or stderr open: whoever
  // waits for `stackctl dev up` to finish reads them to their end.
  const supervisorLog = opts.detached ? openSync(join(f.logs, "supervisor.log"), "a") : "inherit";
  const supervisor: ChildProcess = fork(supervisorPath, [dir, ...(opts.detached ? ["--detached"] : [])], {
    stdio: ["ignore", supervisorLog, supervisorLog, "ipc"],
    detached: opts.detached ?? false,
  });
  // The supervisor outlives this process when detached: it holds the pod range's claim from now.
  supervisor.send({ type: "hold-pod-range" } satisfies SupervisorRequest, podRange, () => podRange.close());

  // Components that exit on their own are remembered so waits can fail fast with their log.
  const exited = new Map<ComponentName, string>();
  const waiters = new Set<(r: SupervisorReport) => void>();
  supervisor.on("message", (report: SupervisorReport) => {
    if (report.type === "exited") {
      exited.set(report.name, `exit code ${report.code}, signal ${report.signal}`);
      log(`${report.name} exited (${report.code ?? report.signal})`);
    }
    for (const w of waiters) w(report);
  });
  const request = (msg: SupervisorRequest): void => {
    supervisor.send(msg);
  };
  const awaitReport = (
    match: (r: SupervisorReport) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const waiter = (r: SupervisorReport): void => {
        if (!match(r)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        if (r.type === "error") reject(new Error(r.message));
        else resolve();
      };
      waiters.add(waiter);
    });

  const waitUntil = async (
    name: ComponentName,
    ready: () => Promise<boolean>,
    timeoutMs = 60_000,
  ): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const why = exited.get(name);
      if (why) throw new Error(`${name} exited during start (${why}); its log ends:\n${logTail(dir, name)}`);
      if (await ready().catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(
      `${name} was not ready after ${timeoutMs / 1000} s; its log ends:\n${logTail(dir, name)}`,
    );
  };

  let caPem = "";
  const readiness: Record<ComponentName, () => Promise<boolean>> = {
    etcd: async () => (await get(`http://127.0.0.1:${layout.ports.etcd}/health`)).body.includes('"true"'),
    "kube-apiserver": async () => {
      if (!existsSync(f.apiserverCert)) return false;
      caPem = readFileSync(f.apiserverCert, "utf8");
      return (await get(`${server}/readyz`, { ca: caPem, token })).status === 200;
    },
    // These three have no readiness the API can see at once; a process that stays up for
    // a moment has read its flags and connected.
    "kube-controller-manager": async () => true,
    "kube-scheduler": async () => true,
    kwok: async () => true,
    "pod-runner": async () => true,
    operator: async () =>
      (await get(`http://127.0.0.1:${layout.ports.operatorHealth}/readyz`)).status === 200,
  };

  const startComponent = async (name: ComponentName): Promise<void> => {
    exited.delete(name);
    const started = awaitReport(
      (r) => (r.type === "started" && r.name === name) || r.type === "error",
      10_000,
      `${name} to start`,
    );
    let command: ComponentCommand | undefined;
    if (name === "operator") {
      // The operator starts long after the ports were chosen; a port free then may have been
      // taken since (by another process's listen on port 0), so it gets two chosen now.
      [layout.ports.operatorMetrics = 0, layout.ports.operatorHealth = 0] = await freePorts(2);
      command = componentCommands(layout).find((c) => c.name === "operator");
    }
    request({ type: "start", name, ...(command ? { command } : {}) });
    await started;
    const t0 = Date.now();
    await waitUntil(name, readiness[name]);
    log(`${name} ready in ${Date.now() - t0} ms`);
  };
  const stopComponent = async (name: ComponentName): Promise<void> => {
    const stopped = awaitReport((r) => r.type === "stopped" && r.name === name, 20_000, `${name} to stop`);
    request({ type: "stop", name });
    await stopped;
  };
  const stop = async (): Promise<void> => {
    if (supervisor.exitCode !== null || supervisor.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => supervisor.once("exit", () => resolve()));
    if (supervisor.connected) request({ type: "shutdown" });
    else supervisor.kill("SIGTERM");
    await gone;
  };

  try {
    await startComponent("etcd");
    await startComponent("kube-apiserver");
    await writeFile(f.kubeconfig, kubeconfigYaml(server, caPem, token), { mode: 0o600 });
    await forgetKubectlDiscovery(server);
    await Promise.all((["kube-controller-manager", "kube-scheduler", "kwok"] as const).map(startComponent));
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(f.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const nodes = (opts.nodes ?? []).flatMap((pool) => simulatedNodes(pool));
    await forEachConcurrently(nodes, 32, async (body) => {
      await core.createNode({ body });
    });
    // Pods cannot be created in a namespace before its default ServiceAccount exists.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
        break;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`the default ServiceAccount never appeared: ${String(error)}`);
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    dir,
    kubeconfigPath: f.kubeconfig,
    server,
    operatorAddresses: {
      metrics: `127.0.0.1:${layout.ports.operatorMetrics}`,
      health: `127.0.0.1:${layout.ports.operatorHealth}`,
    },
    startComponent,
    stopComponent,
    stop,
    detach() {
      supervisor.disconnect();
      supervisor.unref();
    },
  };
}
