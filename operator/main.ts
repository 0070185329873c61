// Entry point: `npm start` (node operator/main.ts --help for the flags).
import { CommanderError } from "commander";
import { controllerFactories } from "./controllers.ts";
import { runOperator } from "./run.ts";

try {
  await runOperator(controllerFactories);
} catch (error) {
  // Commander has already printed usage errors and --help; only its exit code is left.
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
