// The process that owns the control-plane processes. It is forked with an IPC channel and
// starts or stops components on request. Attached (tests): when the channel closes because
// its parent died, however it died, it stops every component, so a crashed test run leaves
// no etcd or kube-apiserver behind. Detached (`stackctl dev up`): it outlives its parent
// and stops everything on SIGTERM or SIGINT.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ComponentCommand, ComponentName } from "./components.ts";

export type SupervisorRequest =
  /** `command` replaces the planned one (the operator gets ports chosen just before it starts). */
  | { type: "start"; name: ComponentName; command?: ComponentCommand }
  | { type: "stop"; name: ComponentName }
  | { type: "shutdown" }
  /** Sent with the listening socket that claims the cluster's pod addresses (pod-range.ts). */
  | { type: "hold-pod-range" };
export type SupervisorReport =
  | { type: "started"; name: ComponentName; pid: number }
  | { type: "stopped"; name: ComponentName }
  | { type: "exited"; name: ComponentName; code: number | null; signal: string | null }
  | { type: "error"; message: string };

interface Args {
  dir: string;
  detached: boolean;
}

function parseArgs(argv: string[]): Args {
  const dir = argv[0];
  if (!dir) throw new Error("usage: supervisor.ts DIR [--detached]");
  return { dir, detached: argv.includes("--detached") };
}

function main(): void {
  const { dir, detached } = parseArgs(process.argv.slice(2));
  const plan = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8")) as ComponentCommand[];
  const running = new Map<ComponentName, ChildProcess>();
  const stopping = new Set<ComponentName>();
  const send = (report: SupervisorReport): void => {
    if (process.connected) process.send?.(report);
  };
  const writeState = (): void => {
    const components = Object.fromEntries([...running].map(([name, child]) => [name, child.pid]));
    try {
      writeFileSync(join(dir, "supervisor.json"), JSON.stringify({ pid: process.pid, components }, null, 2));
    } catch {
      // The directory was removed under us (a caller cleaning up early): the state file is only
      // for `stackctl dev status`, and stopping the components matters more than recording it.
    }
  };

  const start = (name: ComponentName, replacement?: ComponentCommand): void => {
    if (replacement && !running.has(name)) {
      const i = plan.findIndex((c) => c.name === name);
      if (i >= 0) plan[i] = replacement;
    }
    const cmd = plan.find((c) => c.name === name);
    if (!cmd) {
      send({ type: "error", message: `unknown component ${name}` });
      return;
    }
    const existing = running.get(name);
    if (existing) {
      send({ type: "started", name, pid: existing.pid ?? 0 });
      return;
    }
    const log = openSync(join(dir, "logs", `${name}.log`), "a");
    const child = spawn(cmd.command, cmd.args, { stdio: ["ignore", log, log] });
    running.set(name, child);
    writeState();
    child.on("spawn", () => send({ type: "started", name, pid: child.pid ?? 0 }));
    child.on("error", (error) => send({ type: "error", message: `${name}: ${error.message}` }));
    child.on("exit", (code, signal) => {
      running.delete(name);
      writeState();
      if (stopping.delete(name)) send({ type: "stopped", name });
      else send({ type: "exited", name, code, signal });
    });
  };

  const stop = (name: ComponentName): Promise<void> => {
    const child = running.get(name);
    if (!child) {
      send({ type: "stopped", name });
      return Promise.resolve();
    }
    stopping.add(name);
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });
  };

  let shuttingDown = false;
  const shutdown = async (): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    // Stop in reverse order so that clients go before the API server and etcd goes last.
    for (const cmd of [...plan].reverse()) await stop(cmd.name);
    process.exit(0);
  };

  // Held, not used: the claim on the pod address range lasts as long as this process.
  const held: unknown[] = [];
  process.on("message", (msg: SupervisorRequest, handle?: unknown) => {
    if (msg.type === "hold-pod-range") held.push(handle);
    else if (msg.type === "shutdown") void shutdown();
    else if (msg.type === "start") start(msg.name, msg.command);
    else void stop(msg.name);
  });
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  process.on("disconnect", () => {
    if (!detached) void shutdown();
  });
  writeState();
}

main();
