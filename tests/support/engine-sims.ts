// Engine simulators (cli/dev/engine-sim) and routers as child processes on local addresses,
// for router tests and the router benchmark. Each process is killed when the caller disposes
// of it, and on this process's exit whatever happened.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { type EngineSnapshot, parseEngineMetrics } from "../../router/engine-load.ts";
import { parsePrometheusText } from "../../router/prom-text.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export interface LocalProcess {
  /** http://host:port */
  url: string;
  /** host:port */
  address: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `node file args`, resolving with the URL matched in its output by `urlPattern`. */
async function startNode(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  urlPattern: RegExp,
  what: string,
  nodeArgs: readonly string[] = [],
): Promise<LocalProcess> {
  const child = spawn(process.execPath, [...nodeArgs, `${root}${file}`, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 30 s:\n${out}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = urlPattern.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${out}`));
    });
  });
  // Keep reading (a full pipe would stall the child), but only the last 64 KB.
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-65_536);
  };
  child.stdout?.removeAllListeners("data").on("data", keep);
  child.stderr?.removeAllListeners("data").on("data", keep);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    live.delete(child);
  };
  return { url, address: new URL(url).host, child, output: () => out, stop, [Symbol.asyncDispose]: stop };
}

export interface EngineSimOptions {
  /** The served model name. */
  model: string;
  host: string;
  /** SIM_* knobs, e.g. { SIM_ITL_MS: "5", SIM_SPEED: "0.5" }. */
  env?: Record<string, string>;
  args?: readonly string[];
}

export interface EngineSim extends LocalProcess {
  /** The engine's /metrics, parsed the way the router reads it. */
  snapshot(): Promise<EngineSnapshot>;
  /** Sum of one counter or gauge over its label sets. */
  metric(name: string): Promise<number>;
}

export async function startEngineSim(options: EngineSimOptions): Promise<EngineSim> {
  const proc = await startNode(
    "cli/dev/engine-sim/main.ts",
    [
      "--model",
      `sim/${options.model}`,
      "--served-model-name",
      options.model,
      "--host",
      options.host,
      "--port",
      "0",
      ...(options.args ?? []),
    ],
    options.env ?? {},
    /Starting vLLM API server 0 on (http:\/\/\S+)/,
    `engine simulator at ${options.host}`,
  );
  const metricsText = async (): Promise<string> => {
    const res = await request(`${proc.url}/metrics`);
    return res.body.text();
  };
  return {
    ...proc,
    snapshot: async () => parseEngineMetrics(await metricsText()),
    metric: async (name) =>
      parsePrometheusText(await metricsText(), (n) => n === name).reduce((s, x) => s + x.value, 0),
  };
}

/** The router as a process of its own: `node router/main.ts args`, on a free port of `host`. */
export function startRouterProcess(
  host: string,
  args: readonly string[],
  nodeArgs: readonly string[] = [],
): Promise<LocalProcess> {
  return startNode(
    "router/main.ts",
    ["--host", host, "--port", "0", ...args],
    {},
    /"msg":"router listening".*?"url":"(http:\/\/[^"]+)"/,
    "router",
    nodeArgs,
  );
}

/** Distinct loopback addresses for one test file's processes: 127.<a>.<b>.1, .2, ... */
export function loopbackHosts(count: number): string[] {
  const a = 100 + Math.floor(Math.random() * 100);
  const b = Math.floor(Math.random() * 250);
  return Array.from({ length: count }, (_, i) => `127.${a}.${b}.${i + 1}`);
}
