// The console as its own process, without the CLI: what the chart runs in the operator's image
// (`node console/server/main.ts --address=0.0.0.0 --no-token`), with the pod's ServiceAccount.
// `stackctl console` is the same server with the user's kubeconfig.
import { parseArgs } from "node:util";
import { loadClusterConnection } from "../../operator/kubeconfig.ts";
import { startConsole } from "./index.ts";

const usage =
  "usage: node console/server/main.ts [--address A] [--port N] [--no-token] [--allow-host H]... [--kubeconfig F]";

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n${usage}\n`);
  process.exit(2);
}

let values: ReturnType<typeof parse>["values"];
function parse() {
  return parseArgs({
    options: {
      address: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8443" },
      "no-token": { type: "boolean", default: false },
      "allow-host": { type: "string", multiple: true, default: [] },
      kubeconfig: { type: "string" },
      context: { type: "string" },
    },
  });
}
try {
  values = parse().values;
} catch (error) {
  fail((error as Error).message);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: "${values.port}" is not a port`);

const running = await startConsole({
  kubeConfig: loadClusterConnection(values.kubeconfig, values.context),
  address: values.address,
  port,
  token: !values["no-token"],
  allowedHosts: values["allow-host"],
});
process.stdout.write(`console: ${running.url} (API server ${running.state.cluster.server})\n`);
const stop = (): void => {
  void running.close().then(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
