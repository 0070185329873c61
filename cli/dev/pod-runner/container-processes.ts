// Every process of a local container, as a container's cgroup would hold them. A process group
// is not enough: torchrun starts each worker in a session of its own, and a worker whose
// torchrun was killed is re-parented away from it. So each container's main process gets a
// marker in its environment, which every process it starts inherits; on Linux the runner finds
// them all by that marker in /proc. Elsewhere only the process group is signalled.
import { readdirSync, readFileSync } from "node:fs";

export const markerVariable = "SOVEREIGN_LOCAL_CONTAINER";

/** Pids whose environment carries `markerVariable` with a value that starts with `prefix`. */
export function markedProcesses(prefix: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const needle = `${markerVariable}=${prefix}`;
  const pids: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "latin1");
      if (env.split("\0").some((v) => v.startsWith(needle))) pids.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** Sends `signal` to every process carrying the marker prefix; returns how many there were. */
export function signalMarked(prefix: string, signal: NodeJS.Signals): number {
  const pids = markedProcesses(prefix);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited meanwhile.
    }
  }
  return pids.length;
}
