// Where the local dev cluster lives and whether it is running.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { files } from "./components.ts";

export function devClusterDir(): string {
  const state = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(state, "sovereign-stack", "dev");
}

export interface SupervisorState {
  pid: number;
  components: Record<string, number>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readSupervisorState(dir = devClusterDir()): SupervisorState | undefined {
  const path = join(dir, "supervisor.json");
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as SupervisorState;
  } catch {
    return undefined;
  }
}

/** The running dev cluster's kubeconfig, or undefined when none is running. */
export function runningDevCluster(
  dir = devClusterDir(),
): { kubeconfig: string; state: SupervisorState } | undefined {
  const state = readSupervisorState(dir);
  if (!state || !isAlive(state.pid)) return undefined;
  const kubeconfig = files(dir).kubeconfig;
  return existsSync(kubeconfig) ? { kubeconfig, state } : undefined;
}
