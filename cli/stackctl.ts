#!/usr/bin/env node
// stackctl: the Sovereign Stack CLI, also run by kubectl as the plugin `kubectl stack`.
// Each command lives in its own file under cli/commands and registers itself here.
import { Command } from "commander";
import { registerDev } from "./commands/dev.ts";
import { registerValidate } from "./commands/validate.ts";
import { CliError } from "./errors.ts";

export function buildProgram(): Command {
  const program = new Command()
    .name(process.argv[1]?.includes("kubectl-stack") ? "kubectl stack" : "stackctl")
    .description("Run training, Ray and inference on any accelerator hardware")
    .option("--kubeconfig <path>", "path to the kubeconfig file")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <ns>", "namespace")
    .option("--verbose", "print stack traces on errors")
    .showHelpAfterError();
  registerDev(program);
  registerValidate(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    const verbose = program.opts<{ verbose?: boolean }>().verbose;
    if (error instanceof CliError && !verbose) {
      process.stderr.write(`error: ${error.message}\n`);
    } else {
      process.stderr.write(
        `error: ${error instanceof Error ? (verbose ? error.stack : error.message) : String(error)}\n`,
      );
    }
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}

if (import.meta.main) await main();
