// Entry point: `npm start` (node operator/main.ts --help for the flags).
import { applyOperatorNodeFlags } from "./node-flags.ts";

// First, before the controllers and the runtime are loaded: this may re-execute the process.
applyOperatorNodeFlags();

const { CommanderError } = await import("commander");
const { controllerFactories } = await import("./controllers.ts");
const { runOperator } = await import("./run.ts");

try {
  await runOperator(controllerFactories);
} catch (error) {
  // Commander has already printed usage errors and --help; only its exit code is left.
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
