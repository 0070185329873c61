// stackctl console: serves the web console (pools, queue, workloads, serving; live through
// watches) on loopback, with the user's own credentials, so it shows exactly what they may see.
import { spawn } from "node:child_process";
import type { Command } from "commander";
import { type RunningConsole, startConsole } from "../../console/server/index.ts";
import { type ClusterConnection, loadClusterConnection } from "../../operator/kubeconfig.ts";
import { integer } from "../kube/manifest-flags.ts";
import { globalOptions } from "../kube/session.ts";
import { fail } from "../output/exit-codes.ts";

interface ConsoleFlags {
  address: string;
  port?: number;
  open?: boolean;
  token: boolean;
  allowHost: string[];
}

export const defaultConsolePort = 8443;

function openBrowser(url: string): void {
  const command =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  const child = spawn(command, [url], { stdio: "ignore", detached: true });
  child.on("error", () => process.stderr.write(`could not start ${command}; open ${url} yourself\n`));
  child.unref();
}

export function registerConsole(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("console")
    .description("serve the web console (pools, queue, workloads, serving), live, on 127.0.0.1")
    .option("--address <address>", "address to listen on", "127.0.0.1")
    .option(
      "--port <port>",
      `port (default ${defaultConsolePort}, or a free one when that is taken)`,
      integer(0, 65535),
    )
    .option("--open", "open the console in the default browser")
    .option("--no-token", "serve without a session token (only behind something that authenticates)")
    .option(
      "--allow-host <host>",
      "a Host name to serve besides loopback (repeatable)",
      (v, all: string[]) => [...all, v],
      [],
    )
    .action(async (flags: ConsoleFlags, cmd: Command) => {
      const g = globalOptions(cmd);
      let connection: ClusterConnection;
      try {
        connection = loadClusterConnection(g.kubeconfig, g.context);
      } catch (error) {
        throw fail("noCluster", `cannot load the cluster's credentials: ${(error as Error).message}`);
      }
      const start = (port: number) =>
        startConsole({
          kubeConfig: connection,
          address: flags.address,
          port,
          token: flags.token,
          allowedHosts: flags.allowHost,
        });
      let running: RunningConsole;
      try {
        running = await start(flags.port ?? defaultConsolePort);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (flags.port !== undefined || code !== "EADDRINUSE")
          throw fail(
            "usage",
            `cannot listen on ${flags.address}:${flags.port ?? defaultConsolePort}: ${(error as Error).message}`,
          );
        running = await start(0);
      }
      out.write(`console: ${running.url}\n`);
      out.write(`watching ${running.state.cluster.server} with your credentials; Ctrl-C stops it\n`);
      if (!["127.0.0.1", "::1"].includes(running.address))
        process.stderr.write(
          `warning: listening on ${running.address}, not only loopback; anyone who can reach it and has the URL sees what you see\n`,
        );
      if (flags.open) openBrowser(running.url);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await running.close();
    });
}
