#!/usr/bin/env node
// stackctl: the Sovereign Stack CLI, also run by kubectl as the plugin `kubectl stack`.
// Each command lives in its own file under cli/commands and registers itself here.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { registerCompletion } from "./commands/completion.ts";
import { registerConsole } from "./commands/console.ts";
import { registerDescribe } from "./commands/describe.ts";
import { registerDev } from "./commands/dev.ts";
import { registerGet } from "./commands/get.ts";
import { registerInstall } from "./commands/install.ts";
import { registerLogs } from "./commands/logs.ts";
import { registerPools } from "./commands/pools.ts";
import { registerQueues } from "./commands/queues.ts";
import { registerRay } from "./commands/ray.ts";
import { registerServe } from "./commands/serve.ts";
import { registerTrain } from "./commands/train.ts";
import { registerValidate } from "./commands/validate.ts";
import { CliError } from "./errors.ts";
import { toCliError } from "./kube/errors.ts";
import { exitCodes, exitCodesHelp } from "./output/exit-codes.ts";

/** `out` receives what the commands print, for tests that run them in-process. */
export function buildProgram(out: NodeJS.WritableStream = process.stdout): Command {
  const program = new Command()
    .name(process.argv[1]?.includes("kubectl-stack") ? "kubectl stack" : "stackctl")
    .description("Run training, Ray and inference on any accelerator hardware")
    .option("--kubeconfig <path>", "path to the kubeconfig file")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <ns>", "namespace")
    .option("--verbose", "print stack traces on errors")
    // Settings made before the commands are added are inherited by every command: usage errors
    // throw (so main() picks the exit code) and print as one line.
    .exitOverride()
    .configureOutput({
      outputError: (message, write) => write(`${message.trim().replace(/\s*\n\s*/g, " ")}\n`),
    })
    .configureHelp({ showGlobalOptions: true })
    .addHelpText("after", `\nExit codes:\n${exitCodesHelp()}\n`);
  registerGet(program, out);
  registerDescribe(program, out);
  registerPools(program, out);
  registerQueues(program, out);
  registerTrain(program, out);
  registerServe(program, out);
  registerRay(program, out);
  registerLogs(program, out);
  registerInstall(program, out);
  registerDev(program);
  registerConsole(program, out);
  registerValidate(program, out);
  registerCompletion(program, out);
  return program;
}

async function main(): Promise<void> {
  // `stackctl get | head` closes the pipe early; that is the reader's choice, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message already; --help and --version end here too.
      process.exitCode = error.exitCode === 0 ? 0 : exitCodes.usage;
      return;
    }
    const verbose = program.opts<{ verbose?: boolean }>().verbose;
    const known = toCliError(error);
    if (known && !verbose) {
      process.stderr.write(`error: ${known.message}\n`);
    } else {
      process.stderr.write(
        `error: ${error instanceof Error ? (verbose ? error.stack : error.message) : String(error)}\n`,
      );
    }
    process.exitCode = known?.exitCode ?? (error instanceof CliError ? error.exitCode : 1);
  }
}

// import.meta.main arrived in Node 24.2; the published package also runs on Node 22, started
// through npm's bin symlink, hence the comparison of real paths.
const invokedDirectly =
  (import.meta as { main?: boolean }).main ??
  (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url));
if (invokedDirectly) await main();
