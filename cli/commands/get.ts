// stackctl get [KIND[,KIND...]] [NAME...] | get KIND/NAME...: lists or shows objects of the API's
// kinds with the CRDs' printer columns, like kubectl get. Without a kind: every aistack kind.
import type { Command } from "commander";
import { type KindDefinition, resources } from "../../crds/index.ts";
import { CliError } from "../errors.ts";
import { type KindAndName, parseKindSlashName, resolveKinds } from "../kube/kinds.ts";
import { getObject, listObjects, type StackObject } from "../kube/objects.ts";
import { sessionFor } from "../kube/session.ts";
import { exitCodes, fail } from "../output/exit-codes.ts";
import { type KindGroup, type OutputFormat, outputOption, render } from "../output/printer.ts";

interface GetOptions {
  allNamespaces?: boolean;
  selector?: string;
  output: OutputFormat;
}

type Request = { names: KindAndName[] } | { kinds: KindDefinition[] };

function parseRequest(kindArg: string | undefined, names: string[]): Request {
  if (kindArg === undefined) return { kinds: [...resources] };
  const slashed = parseKindSlashName(kindArg);
  if (slashed) {
    const rest = names.map((n) => parseKindSlashName(n));
    if (rest.some((r) => r === undefined))
      throw fail("usage", "with KIND/NAME arguments every argument must be KIND/NAME");
    return { names: [slashed, ...(rest as KindAndName[])] };
  }
  const kinds = resolveKinds(kindArg);
  if (names.length === 0) return { kinds };
  const [kind, ...others] = kinds;
  if (!kind || others.length > 0) throw fail("usage", "names can follow only a single kind");
  return { names: names.map((name) => ({ kind, name })) };
}

function groupByKind(found: { kind: KindDefinition; object: StackObject }[]): KindGroup[] {
  const groups: KindGroup[] = [];
  for (const { kind, object } of found) {
    let group = groups.find((g) => g.kind === kind);
    if (!group) {
      group = { kind, objects: [] };
      groups.push(group);
    }
    group.objects.push(object);
  }
  return groups;
}

export function registerGet(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("get")
    .description("list objects of the Sovereign Stack kinds (all of them without KIND), or show named ones")
    .argument(
      "[kind]",
      "kind, plural, singular or short name (tj, rayc, isvc, ap), a comma list, or KIND/NAME",
    )
    .argument("[names...]", "object names")
    .option("-A, --all-namespaces", "list across all namespaces")
    .option("-l, --selector <selector>", "label selector (app=x,tier!=y)")
    .addOption(outputOption())
    .action(async (kindArg: string | undefined, names: string[], opts: GetOptions, cmd: Command) => {
      const request = parseRequest(kindArg, names);
      const session = sessionFor(cmd);
      const namespace = opts.allNamespaces ? undefined : session.namespace;
      let groups: KindGroup[];
      const single = "names" in request && request.names.length === 1;
      if ("names" in request) {
        const found: { kind: KindDefinition; object: StackObject }[] = [];
        const missing: string[] = [];
        for (const { kind, name } of request.names) {
          try {
            found.push({ kind, object: await getObject(session, kind, name, session.namespace) });
          } catch (error) {
            if (!(error instanceof CliError && error.exitCode === exitCodes.notFound)) throw error;
            missing.push((error as Error).message);
          }
        }
        groups = groupByKind(found);
        if (found.length > 0) out.write(render(groups, opts.output, { single, allNamespaces: false }));
        if (missing.length > 0) throw fail("notFound", missing.join("; "));
        return;
      }
      groups = [];
      for (const kind of request.kinds) {
        groups.push({
          kind,
          objects: await listObjects(session, kind, { namespace, selector: opts.selector }),
        });
      }
      const total = groups.reduce((n, g) => n + g.objects.length, 0);
      if (total === 0 && (opts.output === "table" || opts.output === "wide" || opts.output === "name")) {
        const where =
          namespace === undefined || request.kinds.every((k) => k.scope === "Cluster")
            ? ""
            : ` in ${namespace} namespace`;
        process.stderr.write(`No resources found${where}.\n`);
        return;
      }
      out.write(render(groups, opts.output, { single: false, allNamespaces: namespace === undefined }));
    });
}
