// stackctl pools: capacity per AcceleratorPool from the status the operator keeps.
// stackctl pools discover: proposes AcceleratorPool manifests from the nodes' labels and capacity.
import type { Command } from "commander";
import { acceleratorPoolResource } from "../../crds/index.ts";
import { validateObject } from "../../crds/validate.ts";
import { explain } from "../kube/errors.ts";
import { applyObject, listObjects, type StackObject } from "../kube/objects.ts";
import { type PoolProposal, proposalComment, proposePools } from "../kube/pool-discovery.ts";
import { sessionFor } from "../kube/session.ts";
import { capacityTable } from "../output/capacity.ts";
import { fail } from "../output/exit-codes.ts";
import { type OutputFormat, outputOption, render, toYaml } from "../output/printer.ts";

interface PoolsOptions {
  selector?: string;
  output?: OutputFormat;
}

function discoveryText(proposals: readonly PoolProposal[], format: OutputFormat): string {
  if (format === "json") {
    const items = proposals.map((p) => p.manifest);
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items, metadata: { resourceVersion: "" } }, null, 2)}\n`;
  }
  if (format === "name")
    return proposals
      .map((p) => `acceleratorpool.${acceleratorPoolResource.group}/${p.manifest.metadata.name}\n`)
      .join("");
  return proposals.map((p) => `---\n${proposalComment(p)}\n${toYaml(p.manifest)}`).join("");
}

export function registerPools(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  const pools = program
    .command("pools")
    .description("capacity of every AcceleratorPool: vendor, model, nodes, free / allocated / capacity")
    // Declared once, here: a parent command takes its flags wherever they appear, so `pools
    // discover -o json -l x` reaches discover through the parent. No -o default for that reason:
    // `pools` prints a table, `pools discover` YAML.
    .option("-l, --selector <selector>", "label selector on the pools (on the nodes for discover)")
    .addOption(outputOption(["table", "wide", "json", "yaml", "name"], null))
    .action(async (opts: PoolsOptions, cmd: Command) => {
      const session = sessionFor(cmd);
      const items = await listObjects(session, acceleratorPoolResource, {
        namespace: undefined,
        selector: opts.selector,
      });
      const format = opts.output ?? "table";
      if (format === "table" || format === "wide") {
        if (items.length === 0) {
          process.stderr.write(
            "No AcceleratorPools found; `stackctl pools discover` proposes some from the nodes.\n",
          );
          return;
        }
        out.write(capacityTable(items, { wide: format === "wide" }));
        return;
      }
      out.write(
        render([{ kind: acceleratorPoolResource, objects: items }], format, {
          single: false,
          allNamespaces: false,
        }),
      );
    });

  pools
    .command("discover")
    .description(
      "propose AcceleratorPool manifests (YAML) from the nodes: one pool per vendor resource, device model and memory",
    )
    .option("--apply", "create or update the proposed pools (server-side apply) instead of printing them")
    .action(async (opts: { apply?: boolean }, cmd: Command) => {
      const session = sessionFor(cmd);
      const { output, selector } = cmd.optsWithGlobals<PoolsOptions>();
      const format = output ?? "yaml";
      if (format === "table" || format === "wide")
        throw fail("usage", "pools discover prints yaml, json or name");
      const nodes = await explain(() => session.core.listNode({ labelSelector: selector }));
      const proposals = proposePools(nodes.items);
      if (proposals.length === 0) {
        process.stderr.write("No node advertises accelerators of a known vendor; nothing to propose.\n");
        return;
      }
      for (const p of proposals) {
        for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`);
        const errors = validateObject(p.manifest).errors;
        if (errors.length > 0)
          process.stderr.write(
            `warning: pool ${p.manifest.metadata.name} is not valid yet: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}\n`,
          );
      }
      if (!opts.apply) {
        out.write(discoveryText(proposals, format));
        return;
      }
      for (const p of proposals) {
        if (validateObject(p.manifest).errors.length > 0)
          throw fail(
            "invalidManifest",
            `pool ${p.manifest.metadata.name} is incomplete; print it, fix it and apply it yourself`,
          );
      }
      for (const p of proposals) {
        const { outcome } = await applyObject(session, acceleratorPoolResource, p.manifest as StackObject);
        out.write(
          `acceleratorpool.${acceleratorPoolResource.group}/${p.manifest.metadata.name} ${outcome}\n`,
        );
      }
    });
}
