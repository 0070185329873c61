// The router's entry point: `node router/main.ts --backend llama=http://127.0.0.1:8001 ...`
// or, in a cluster, `--namespace NS --service <engineService>=<servedModelName>`. Every flag
// is in router/README.md. SIGTERM stops accepting, answers what waits with 503, and exits.
import { createLogger } from "../operator/log.ts";
import { OptionsError, parseRouterArgs } from "./options.ts";
import { startRouter } from "./router.ts";

let options: ReturnType<typeof parseRouterArgs>;
try {
  options = parseRouterArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof OptionsError)) throw error;
  process.stderr.write(`router: ${error.message}\nsee router/README.md for every flag\n`);
  process.exit(2);
}
const log = createLogger({ level: options.logLevel, fields: { component: "router" } });
// Start-up failures (an unreadable key file, a port in use) are the operator's to fix: one
// line saying which, not a stack trace.
const router = await startRouter(options, log).catch((error: unknown) => {
  process.stderr.write(`router: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info("stopping", { signal });
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  void router.close().then(() => process.exit(0));
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
