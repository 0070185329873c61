// A real Ray head (`ray start --head`, from the project's venv) on a loopback address, for the
// tests of the operator's Ray clients and of RayJob, RayService and autoscaling. The argv is
// the operator's own head argv (controllers/raycluster/ray-start.ts) made local the way the dev
// cluster's pod runner makes it (cli/dev/ray-head.ts): free ports, a short temp dir, a small
// object store. The head is its own process group: stopping it, or this process exiting, kills
// every Ray process it started.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { freePorts } from "../../cli/dev/loopback.ts";
import { fateSharedCommand, venvEnv, venvProgram } from "../../cli/dev/python.ts";
import { allInterfacesPortFlags, localHeadArgs, type PortFlag } from "../../cli/dev/ray-head.ts";
import { headStartArgs } from "../../controllers/raycluster/ray-start.ts";
import { eventually } from "./cluster.ts";
import { pythonVenv } from "./python.ts";

const live = new Set<ChildProcess>();
const killGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
};
process.once("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});

export interface RayHeadOptions {
  /**
   * The address Ray's node and dashboard bind; default a random one in 127.255.0.0/16 (not
   * 127.0.0.1, which Ray replaces with the machine's outward address; past every pod range a
   * local cluster may claim, 127.64-254/16: cli/dev/pod-range.ts).
   */
  ip?: string;
  /** Ray's logical CPUs on the head (what tasks and job drivers may use); default 1. */
  numCpus?: number;
  /** Extra `ray start` flags, without dashes ({resources: '{"TPU": 1}'}). */
  rayStartParams?: Record<string, string>;
  /** Extra environment (PYTHONPATH for a Serve application's module). */
  env?: Record<string, string>;
}

export interface RayHead {
  /** http://ip:port of the dashboard: Job Submission, Serve and cluster status APIs. */
  dashboardUrl: string;
  ip: string;
  dashboardPort: number;
  /** The head's own output (ray start's; Ray's logs are under tempDir). */
  output(): string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startRayHead(options: RayHeadOptions = {}): Promise<RayHead> {
  const venv = pythonVenv();
  const ip =
    options.ip ?? `127.255.${1 + Math.floor(Math.random() * 254)}.${1 + Math.floor(Math.random() * 254)}`;
  // Distinct: a dashboard port equal to the metrics export port once had Prometheus's exporter
  // answer for the dashboard.
  const [dashboardPort = 0, ...rest] = await freePorts(1 + allInterfacesPortFlags.length);
  const ports = {} as Record<PortFlag, number>;
  allInterfacesPortFlags.forEach((flag, i) => {
    ports[flag] = rest[i] ?? 0;
  });
  const tempDir = mkdtempSync("/tmp/rayh-");
  const args = localHeadArgs(
    headStartArgs({
      rayStartParams: {
        "num-cpus": String(options.numCpus ?? 1),
        "dashboard-port": String(dashboardPort),
        ...options.rayStartParams,
      },
    }),
    { ip, ports, tempDir },
  );
  const cmd = fateSharedCommand(venv, venvProgram(venv, "ray"), ["start", ...args]);
  const child = spawn(cmd.command, cmd.args, {
    env: { ...venvEnv(venv), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  live.add(child);
  let out = "";
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const dashboardUrl = `http://${ip}:${dashboardPort}`;
  const stop = async (): Promise<void> => {
    if (!live.has(child)) return;
    live.delete(child);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    // Workers and agents the raylet started outlive ray start by a moment: take the group.
    killGroup(child, "SIGKILL");
    rmSync(tempDir, { recursive: true, force: true });
  };
  try {
    const state = await eventually(
      async () => {
        if (child.exitCode !== null) return "exited";
        const res = await fetch(`${dashboardUrl}/api/gcs_healthz`, {
          signal: AbortSignal.timeout(2_000),
        }).catch(() => undefined);
        return res?.ok ? "up" : undefined;
      },
      90_000,
      `the Ray head's dashboard at ${dashboardUrl}`,
    );
    if (state === "exited") throw new Error(`ray start exited with ${child.exitCode}`);
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${out}`);
  }
  return { dashboardUrl, ip, dashboardPort, output: () => out, stop, [Symbol.asyncDispose]: stop };
}
