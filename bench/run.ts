// The benchmark runner: `npm run bench -- NAME [args...]` runs bench/NAME.ts in a process of
// its own (so one benchmark's heap never skews another's figures) and passes its output
// through. Every benchmark prints a human summary and, as its last line, one JSON object.
// Without a NAME it lists the benchmarks.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL("./", import.meta.url));
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  if (name) process.stderr.write(`no benchmark named ${name}\n`);
  process.stderr.write(`usage: npm run bench -- NAME [args...]\nbenchmarks: ${available.join(", ")}\n`);
  process.exit(name ? 2 : 0);
}

// --expose-gc lets memory benchmarks report figures after a full collection as well.
const child = spawn(process.execPath, ["--expose-gc", `${benchDir}${name}.ts`, ...args], {
  stdio: "inherit",
});
const forward = (signal: NodeJS.Signals): void => {
  child.kill(signal);
};
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
