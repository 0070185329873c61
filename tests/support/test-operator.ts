// The operator process with only the test Widget controller, for tests that need a real
// process (kill -9, leader election between two processes). Same flags as operator/main.ts.
import { CommanderError } from "commander";
import { runOperator } from "../../operator/run.ts";
import { widgetController } from "./test-controller.ts";

try {
  await runOperator([widgetController()]);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
