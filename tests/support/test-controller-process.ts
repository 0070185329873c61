// Runs tests/support/test-operator.ts as a child process and reads what it reports: its
// JSON log lines on stdout (the bound metrics/probe addresses come from there) and its
// /metrics text.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("./test-operator.ts", import.meta.url));

export interface OperatorProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  lines: Array<Record<string, unknown>>;
  metricsUrl: string;
  probeUrl: string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  metrics(): Promise<string>;
  /** The sum of every series of `name` whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): void;
}

export async function startOperatorProcess(
  name: string,
  args: string[],
  // OPERATOR_ECHO=1 copies the children's logs to stderr, for debugging a test. `entry` is
  // another operator entry point than the Widget one (cmd/operator.ts for the real operator).
  options: { echo?: boolean; entry?: string } = {},
): Promise<OperatorProcess> {
  const echo = options.echo ?? process.env.OPERATOR_ECHO === "1";
  const child = spawn(
    process.execPath,
    [
      options.entry ?? entry,
      "--metrics-bind-address=127.0.0.1:0",
      "--health-probe-bind-address=127.0.0.1:0",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const lines: Array<Record<string, unknown>> = [];
  const listeners = new Set<(line: Record<string, unknown>) => void>();
  let pending = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    pending += chunk;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
      if (echo) process.stderr.write(`[${name}] ${text}\n`);
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const l of listeners) l(line);
      } catch {}
    }
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? code ?? 0)),
  );

  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find(match);
      if (found) {
        resolve(found);
        return;
      }
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const listener = (line: Record<string, unknown>): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      void exited.then((code) => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`${name} exited (${code}) before the expected log line; stderr: ${stderr}`));
      });
    });

  const starting = await waitForLog((l) => l.msg === "manager starting", 30_000);
  const metricsUrl = `http://${String(starting.metrics)}/metrics`;
  const probeUrl = `http://${String(starting.probes)}`;
  const metrics = async (): Promise<string> => (await fetch(metricsUrl)).text();
  return {
    name,
    child,
    pid: child.pid as number,
    lines,
    metricsUrl,
    probeUrl,
    exited,
    metrics,
    metric: async (metricName, labels = {}) => sumSeries(await metrics(), metricName, labels),
    waitForLog,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/** Sums the samples of `name` whose label set includes every pair in `labels`. */
export function sumSeries(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/);
    if (!match || match[1] !== name) continue;
    const present = match[3] ?? "";
    if (Object.entries(labels).every(([k, v]) => present.includes(`${k}="${v}"`))) sum += Number(match[4]);
  }
  return sum;
}
