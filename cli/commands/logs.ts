// stackctl logs tj/NAME [--rank N] | isvc/NAME | rayc/NAME [--head | --group G]: finds the
// workload's pods by the labels the controllers set and prints (or follows) their logs. Lines
// of several pods are prefixed with the pod's name.
import { PassThrough, Transform } from "node:stream";
import { Log, type V1Pod } from "@kubernetes/client-node";
import type { Command } from "commander";
import type { KindDefinition } from "../../crds/index.ts";
import { CliError } from "../errors.ts";
import { explain } from "../kube/errors.ts";
import { parseKindSlashName, resolveKind, shortName } from "../kube/kinds.ts";
import { duration, integer } from "../kube/manifest-flags.ts";
import { getObject } from "../kube/objects.ts";
import { type Session, sessionFor } from "../kube/session.ts";
import { kindLabelValue, labels } from "../labels.ts";
import { exitCodes, fail } from "../output/exit-codes.ts";
import { str } from "../output/summary.ts";

interface LogsFlags {
  rank?: number;
  head?: boolean;
  group?: string;
  allPods?: boolean;
  container?: string;
  follow?: boolean;
  tail?: number;
  since?: number;
  timestamps?: boolean;
  prefix?: boolean;
}

/** The label selector of the pods to read, and a description of them for messages. */
export function podSelector(
  kind: KindDefinition,
  name: string,
  flags: LogsFlags,
): { selector: string; which: string } {
  const base = [`${labels.kind}=${kindLabelValue(kind.kind)}`, `${labels.name}=${name}`];
  const only = (extra: string[], which: string) => ({ selector: [...base, ...extra].join(","), which });
  const misplaced = (what: string, kinds: string) => fail("usage", `${what} only for ${kinds}`);
  if (flags.rank !== undefined && kind.kind !== "TrainingJob") throw misplaced("--rank is", "trainingjobs");
  if ((flags.head || flags.group) && kind.kind !== "RayCluster")
    throw misplaced("--head and --group are", "rayclusters");
  if (flags.head && flags.group) throw fail("usage", "give --head or --group, not both");
  if (flags.allPods) return only([], "pods");
  switch (kind.kind) {
    case "TrainingJob":
      // Rank 0 prints what torchrun's rank 0 prints: the losses people look for.
      return only([`${labels.rank}=${flags.rank ?? 0}`], `rank ${flags.rank ?? 0} pod`);
    case "RayCluster":
      return flags.group
        ? only(
            [`${labels.rayNodeType}=worker`, `${labels.rayGroup}=${flags.group}`],
            `worker pods of group ${flags.group}`,
          )
        : only([`${labels.rayNodeType}=head`], "head pod");
    case "InferenceService":
      return only([], "pods");
    default:
      throw fail("usage", `${kind.plural} have no pods; logs takes tj/NAME, rayc/NAME or isvc/NAME`);
  }
}

function prefixed(prefix: string): Transform {
  let pending = "";
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = pending + chunk.toString("utf8");
      const lines = text.split("\n");
      pending = lines.pop() ?? "";
      done(null, lines.map((l) => `${prefix}${l}\n`).join(""));
    },
    flush(done) {
      done(null, pending ? `${prefix}${pending}\n` : "");
    },
  });
}

const defaultContainer = (pod: V1Pod): string =>
  pod.metadata?.annotations?.["kubectl.kubernetes.io/default-container"] ??
  pod.spec?.containers[0]?.name ??
  "";

async function streamPod(
  session: Session,
  pod: V1Pod,
  flags: LogsFlags,
  sink: NodeJS.WritableStream,
  prefix: boolean,
) {
  const name = pod.metadata?.name ?? "";
  const namespace = pod.metadata?.namespace ?? session.namespace;
  const container = flags.container ?? defaultContainer(pod);
  const where = `pod ${name}${flags.container ? ` container ${container}` : ""}`;
  const options = {
    follow: Boolean(flags.follow),
    tailLines: flags.tail,
    sinceSeconds: flags.since === undefined ? undefined : Math.ceil(flags.since / 1000),
    timestamps: Boolean(flags.timestamps),
  };
  // The typed call reports the server's reason (container not started, node unreachable) where
  // the streaming helper only says that the request failed, so it goes first; when following it
  // only probes (one line) and the stream below prints.
  const text = await explain(() =>
    session.core.readNamespacedPodLog({
      name,
      namespace,
      container,
      ...options,
      follow: false,
      tailLines: flags.follow ? 1 : options.tailLines,
    }),
  ).catch((error: CliError) => {
    throw new CliError(
      `cannot read the logs of ${where}: ${error.message}`,
      error.exitCode ?? exitCodes.failed,
    );
  });
  const through = prefix ? prefixed(`[${name}] `) : new PassThrough();
  through.pipe(sink, { end: false });
  const drained = new Promise<void>((resolve) => through.on("end", resolve));
  if (!flags.follow) {
    through.end(text);
    return drained;
  }
  const raw = new PassThrough();
  raw.pipe(through);
  await new Log(session.kc).log(namespace, name, container, raw, options).catch((error: Error) => {
    throw fail("failed", `cannot follow the logs of ${where}: ${error.message}`);
  });
  return drained;
}

export function registerLogs(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("logs")
    .description(
      "print the logs of a workload's pods: tj/NAME (rank 0), isvc/NAME (every replica), rayc/NAME (head)",
    )
    .argument("<target>", "KIND/NAME, or KIND followed by NAME")
    .argument("[name]", "object name when KIND is given on its own")
    .option("--rank <n>", "TrainingJob: the pod of this node rank", integer(0, 1023))
    .option("--head", "RayCluster: the head pod (the default)")
    .option("--group <name>", "RayCluster: the worker pods of this group")
    .option("--all-pods", "every pod of the workload")
    .option("-c, --container <name>", "container (default: the pod's first)")
    .option("-f, --follow", "keep streaming new lines")
    .option("--tail <lines>", "only the last lines of each pod", integer(0))
    .option("--since <duration>", "only lines newer than this (5m, 1h)", duration)
    .option("--timestamps", "prefix each line with its time")
    .option("--prefix", "prefix lines with the pod name even for one pod")
    .action(async (target: string, nameArg: string | undefined, flags: LogsFlags, cmd: Command) => {
      const slashed = parseKindSlashName(target);
      if (slashed && nameArg !== undefined) throw fail("usage", "give either KIND NAME or KIND/NAME");
      if (!slashed && nameArg === undefined)
        throw fail("usage", `logs ${target} needs a NAME (or use KIND/NAME)`);
      const kind = slashed?.kind ?? resolveKind(target);
      const name = slashed?.name ?? (nameArg as string);
      const { selector, which } = podSelector(kind, name, flags);
      const session = sessionFor(cmd);
      const workload = await getObject(session, kind, name, session.namespace);
      const pods = (
        await explain(() =>
          session.core.listNamespacedPod({ namespace: session.namespace, labelSelector: selector }),
        )
      ).items.sort((a, b) =>
        (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "", undefined, { numeric: true }),
      );
      if (pods.length === 0) {
        const phase = str((workload.status as { phase?: unknown } | undefined)?.phase);
        throw fail(
          "notFound",
          `${shortName(kind, name)} has no ${which} yet${phase ? ` (phase ${phase})` : ""}`,
        );
      }
      const prefix = Boolean(flags.prefix) || pods.length > 1;
      await Promise.all(pods.map((pod) => streamPod(session, pod, flags, out, prefix)));
    });
}
