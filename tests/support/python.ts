// The tests' way to the project's Python venv (hack/python/venv.sh, installed by .ci/run).
import { findPythonVenv } from "../../cli/dev/python.ts";

/** The venv's directory; throws with the command to run when it is not installed. */
export function pythonVenv(): string {
  const venv = findPythonVenv();
  if (!venv) throw new Error("the Python venv is not installed: run `bash hack/python/venv.sh` (CI does)");
  return venv;
}
