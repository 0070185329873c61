// stackctl queues: per team (TeamQuota) and device class, nominal, used, borrowed and pending
// devices with a bar, and the AcceleratorQueues that submit to it.
import type { Command } from "commander";
import { acceleratorQueueResource, teamQuotaResource } from "../../crds/index.ts";
import { listObjects } from "../kube/objects.ts";
import { sessionFor } from "../kube/session.ts";
import { type OutputFormat, outputOption, render } from "../output/printer.ts";
import { queuesTable } from "../output/queues.ts";

interface QueuesOptions {
  output?: OutputFormat;
}

export function registerQueues(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("queues")
    .description("per team (TeamQuota): nominal, used, borrowed and pending devices per class, with a bar")
    .addOption(outputOption(["table", "json", "yaml", "name"], "table"))
    .action(async (opts: QueuesOptions, cmd: Command) => {
      const session = sessionFor(cmd);
      const teams = await listObjects(session, teamQuotaResource, {
        namespace: undefined,
        selector: undefined,
      });
      const queues = await listObjects(session, acceleratorQueueResource, {
        namespace: undefined,
        selector: undefined,
      });
      const format = opts.output ?? "table";
      if (format !== "table") {
        out.write(
          render([{ kind: teamQuotaResource, objects: teams }], format, {
            single: false,
            allNamespaces: false,
          }),
        );
        return;
      }
      if (teams.length === 0) {
        process.stderr.write("No TeamQuotas found; without them workloads are admitted without quotas.\n");
        return;
      }
      out.write(queuesTable(teams, queues));
    });
}
