// stackctl describe KIND NAME | KIND/NAME: spec summary, placement, queue position and reason,
// conditions, children and recent events of one object.
import type { Command } from "commander";
import { eventsAbout, poolNodes, workloadChildren } from "../kube/children.ts";
import { type KindAndName, parseKindSlashName, resolveKind } from "../kube/kinds.ts";
import { getObject } from "../kube/objects.ts";
import { sessionFor } from "../kube/session.ts";
import { renderDescription } from "../output/describe.ts";
import { fail } from "../output/exit-codes.ts";

function target(first: string, name: string | undefined): KindAndName {
  const slashed = parseKindSlashName(first);
  if (slashed) {
    if (name !== undefined) throw fail("usage", "give either KIND NAME or KIND/NAME");
    return slashed;
  }
  if (name === undefined) throw fail("usage", `describe ${first} needs a NAME`);
  return { kind: resolveKind(first), name };
}

export function registerDescribe(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("describe")
    .description(
      "show one object in detail: spec, placement, queue position and reason, conditions, children, events",
    )
    .argument("<kind>", "kind (tj, rayc, isvc, ap, ...) or KIND/NAME")
    .argument("[name]", "object name")
    .action(async (first: string, name: string | undefined, _opts: unknown, cmd: Command) => {
      const { kind, name: objectName } = target(first, name);
      const session = sessionFor(cmd);
      const object = await getObject(session, kind, objectName, session.namespace);
      const pool = kind.kind === "AcceleratorPool";
      const [events, children] = await Promise.all([
        eventsAbout(session, object),
        pool ? poolNodes(session, object) : workloadChildren(session, kind, object),
      ]);
      out.write(
        renderDescription({
          kind,
          object,
          events,
          children,
          childrenTitle: pool ? "Nodes" : undefined,
          now: Date.now(),
        }),
      );
    });
}
