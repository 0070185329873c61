// The project's one Python virtual environment (hack/python/venv.sh): where it is, if installed.
// The dev cluster runs Ray from it, and the tests that need real Ray find it the same way.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { packageFile } from "../package-paths.ts";

/** The venv's directory, or undefined when `bash hack/python/venv.sh` has not installed it. */
export function findPythonVenv(): string | undefined {
  try {
    const out = execFileSync("bash", [packageFile("hack/python/venv.sh"), "--path"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A program of the venv (ray, python, serve), by name. */
export const venvProgram = (venv: string, name: string): string => join(venv, "bin", name);

/**
 * The environment a process of the venv needs: the venv's bin first on PATH, so a Ray job's
 * `python` entrypoint is the venv's interpreter (with ray importable), and no usage reporting.
 */
export function venvEnv(venv: string, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  return {
    ...env,
    PATH: `${join(venv, "bin")}:${base.PATH ?? "/usr/bin:/bin"}`,
    VIRTUAL_ENV: venv,
    RAY_USAGE_STATS_ENABLED: "0",
    // Ray drains a node for 30 s on SIGTERM; a stopped pod or test head should stop now.
    RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S: "0",
  };
}

// Sets PR_SET_PDEATHSIG (kept across execv) so the program gets SIGTERM when its parent dies,
// however it dies, then becomes the program. Ray's own processes already follow `ray start`.
const fateSharing =
  "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); os.execv(sys.argv[1], sys.argv[1:])";

/** argv that runs `program args` from the venv, ended by a SIGTERM when this process dies. */
export function fateSharedCommand(
  venv: string,
  program: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return { command: venvProgram(venv, "python"), args: ["-c", fateSharing, program, ...args] };
}
