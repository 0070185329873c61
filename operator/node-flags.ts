// V8 settings the operator needs, applied by the entry points before anything else loads.
//
// Listing 40,000 Pods allocates fast and keeps a good part of what it allocates (the lean
// cached copies), which makes V8 grow its young generation to the maximum it allows for a
// machine's memory (tens of MB per semi-space) and keep those pages afterwards. Measured with
// bench/operator-memory.ts (10,000 custom resources + 40,000 Pods): about 340 MB resident
// with V8's defaults, about 190 MB with 4 MB semi-spaces, for the same sync time.
//
// Under a burst of work the old generation grows the same way: V8 lets it reach two to three
// times what survives before it collects, and keeps the pages. A growing factor of 1.25 holds
// it near the live data. Measured with bench/trainingjob.ts (250 jobs of 4 pods, QPS 100):
// peak RSS 141 MB with V8's heuristics, 114 MB with 1.25, the same CPU seconds (5.1).
//
// Heap sizes are fixed when V8 starts, so they cannot be set from inside the process. Rather
// than rely on every launcher (npm start, the image's CMD, the chart, a developer's shell) to
// pass the flag, the entry point re-executes itself with it: process.execve replaces the
// process image, so the PID, signals and kill -9 behave exactly as without it.
export const operatorNodeFlags: readonly string[] = ["--max-semi-space-size=4", "--heap-growing-percent=25"];

const appliedMarker = "SOVEREIGN_OPERATOR_NODE_FLAGS";

function hasFlag(flag: string): boolean {
  const name = flag.split("=")[0] as string;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS?.split(/\s+/) ?? [])];
  return given.some((a) => a === name || a.startsWith(`${name}=`));
}

/** Re-executes the process with `operatorNodeFlags` unless it already runs with them. */
export function applyOperatorNodeFlags(): void {
  if (process.env[appliedMarker] === "1") return; // never loop, whatever happens
  const missing = operatorNodeFlags.filter((f) => !hasFlag(f));
  if (missing.length === 0 || typeof process.execve !== "function") return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, [appliedMarker]: "1" },
  );
}
