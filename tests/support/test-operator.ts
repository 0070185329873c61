// The operator process with only the test Widget controller, for tests that need a real
// process (kill -9, leader election between two processes). Same flags and V8 settings as
// cmd/operator.ts.
import { applyOperatorNodeFlags } from "../../operator/node-flags.ts";

applyOperatorNodeFlags();

const { CommanderError } = await import("commander");
const { runOperator } = await import("../../operator/run.ts");
const { widgetController } = await import("./test-controller.ts");

try {
  await runOperator((manager) => manager.add(widgetController()));
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
