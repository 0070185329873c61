// The common end of train submit, serve and ray create: validate the manifest offline, then
// print it (--dry-run) or apply it, then optionally wait for it.
import type { Command } from "commander";
import type { KindDefinition } from "../../crds/index.ts";
import { validateObject } from "../../crds/validate.ts";
import { fail } from "../output/exit-codes.ts";
import { toYaml } from "../output/printer.ts";
import { qualifiedName } from "./kinds.ts";
import type { SubmitFlags } from "./manifest-flags.ts";
import { applyObject, forDisplay, type StackObject } from "./objects.ts";
import { globalOptions, openSession } from "./session.ts";
import { waitForWorkload } from "./wait.ts";

export function manifestOf(
  kind: KindDefinition,
  name: string,
  spec: Record<string, unknown>,
  namespace: string | undefined,
): StackObject {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: namespace ? { name, namespace } : { name },
    spec,
  };
}

/** Every error on one line: the CLI reports a user error as a single line. */
export function checkManifest(manifest: StackObject): void {
  const { errors } = validateObject(manifest);
  if (errors.length === 0) return;
  const detail = errors.map((e) => `${e.path || "<root>"}: ${e.message}`).join("; ");
  throw fail("invalidManifest", `invalid ${manifest.kind} ${manifest.metadata.name}: ${detail}`);
}

function print(object: StackObject, kind: KindDefinition, format: SubmitFlags["output"]): string {
  if (format === "json") return `${JSON.stringify(object, null, 2)}\n`;
  if (format === "name") return `${qualifiedName(kind, object.metadata.name)}\n`;
  return toYaml(object);
}

export async function submit(
  cmd: Command,
  kind: KindDefinition,
  build: (namespace: string | undefined) => StackObject,
  flags: SubmitFlags,
  out: NodeJS.WritableStream & { isTTY?: boolean },
  follow: { onChange?: (object: StackObject) => void } = {},
): Promise<void> {
  const globals = globalOptions(cmd);
  if (flags.dryRun) {
    if (flags.wait) throw fail("usage", "--wait and --dry-run do not go together");
    // Like kubectl create --dry-run: the namespace appears only when it was asked for.
    const manifest = build(globals.namespace);
    checkManifest(manifest);
    out.write(print(manifest, kind, flags.output ?? "yaml"));
    return;
  }
  const session = openSession(globals);
  const manifest = build(session.namespace);
  checkManifest(manifest);
  const { object, outcome } = await applyObject(session, kind, manifest, { force: flags.forceConflicts });
  if (flags.output) out.write(print(forDisplay(object), kind, flags.output));
  else out.write(`${qualifiedName(kind, object.metadata.name)} ${outcome}\n`);
  if (flags.wait) {
    await waitForWorkload(session, kind, object.metadata.name, session.namespace, {
      timeoutMs: flags.timeout,
      out: flags.output ? process.stderr : out,
      ...follow,
    });
  }
}
