// stackctl ray create NAME: a RayCluster from flags, e.g.
//   stackctl ray create research --workers gpu=2:1 --workers tpu=1:4 --vendor google
// stackctl ray job submit NAME [--cluster-selector k=v | cluster flags] -- ENTRYPOINT...: a RayJob;
//   --wait follows it to SUCCEEDED and prints the driver's log as it grows.
// stackctl ray serve deploy NAME --config serve.yaml [cluster flags]: a RayService.
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { rayClusterResource, rayJobResource, rayServiceResource } from "../../crds/index.ts";
import {
  type AcceleratorFlags,
  acceleratorsFrom,
  addAcceleratorOptions,
  addImageOptions,
  addSubmitOptions,
  compact,
  type ImageFlags,
  type SubmitFlags,
} from "../kube/manifest-flags.ts";
import { manifestOf, submit } from "../kube/submit.ts";
import { fail } from "../output/exit-codes.ts";

export const DEFAULT_RAY_VERSION = "2.52.0";

export interface WorkerGroupFlag {
  name: string;
  replicas: number;
  devices: number;
}

interface RayFlags extends AcceleratorFlags, ImageFlags, SubmitFlags {
  workers?: WorkerGroupFlag[];
  rayVersion: string;
  headCpu?: string;
  headMemory?: string;
  workerCpu?: string;
  workerMemory?: string;
}

/** GROUP=N:COUNT (N workers with COUNT devices each) or GROUP=N (CPU workers); repeatable. */
export function parseWorkers(value: string, previous: WorkerGroupFlag[] = []): WorkerGroupFlag[] {
  const m = /^([a-z]([-a-z0-9]*[a-z0-9])?)=(\d+)(?::(\d+))?$/.exec(value);
  if (!m?.[1] || m[3] === undefined)
    throw new InvalidArgumentError(
      "expected GROUP=N:COUNT (N workers with COUNT devices each), e.g. gpu=2:1",
    );
  if (previous.some((g) => g.name === m[1]))
    throw new InvalidArgumentError(`worker group ${m[1]} given twice`);
  return [...previous, { name: m[1], replicas: Number(m[3]), devices: Number(m[4] ?? 0) }];
}

const resources = (cpu: string | undefined, memory: string | undefined) =>
  cpu || memory ? compact({ cpu, memory }) : undefined;

export function rayClusterSpec(flags: RayFlags): Record<string, unknown> {
  const head = compact({ resources: resources(flags.headCpu, flags.headMemory) });
  const workerGroups = (flags.workers ?? []).map((g) =>
    compact({
      name: g.name,
      replicas: g.replicas,
      // The device flags describe accelerator workers; CPU groups take none of them.
      accelerators: g.devices > 0 ? acceleratorsFrom({ ...flags, accelerators: g.devices }) : undefined,
      resources: resources(flags.workerCpu, flags.workerMemory),
    }),
  );
  return compact({
    rayVersion: flags.rayVersion,
    image: flags.image ?? `rayproject/ray:${flags.rayVersion}`,
    images: flags.imageFor,
    head: Object.keys(head).length > 0 ? head : undefined,
    workerGroups: workerGroups.length > 0 ? workerGroups : undefined,
  });
}

/** The cluster flags shared by ray create, ray job submit and ray serve deploy. */
function addClusterOptions(cmd: Command): Command {
  cmd
    .option(
      "--workers <group=n:count>",
      "worker group: N workers with COUNT devices each, repeatable",
      parseWorkers,
    )
    .option("--ray-version <version>", "Ray version in the images", DEFAULT_RAY_VERSION)
    .option("--head-cpu <quantity>", "CPU of the head pod")
    .option("--head-memory <quantity>", "memory of the head pod")
    .option("--worker-cpu <quantity>", "CPU per worker pod")
    .option("--worker-memory <quantity>", "memory per worker pod");
  addImageOptions(cmd, "Ray", { fallback: "rayproject/ray:<ray-version>" });
  addAcceleratorOptions(cmd, "worker", { count: false });
  return cmd;
}

/** KEY=VALUE, repeatable: a label of the RayCluster a job runs on. */
export function parseLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([^=]+)=(.*)$/.exec(value);
  if (!m?.[1]) throw new InvalidArgumentError("expected KEY=VALUE, e.g. team=search");
  return { ...previous, [m[1]]: m[2] ?? "" };
}

interface JobFlags extends RayFlags {
  clusterSelector?: Record<string, string>;
  shutdown?: boolean;
  backoffLimit?: number;
}

export function rayJobSpec(entrypoint: string, flags: JobFlags): Record<string, unknown> {
  return compact({
    entrypoint,
    clusterSelector: flags.clusterSelector,
    rayClusterSpec: flags.clusterSelector ? undefined : rayClusterSpec(flags),
    shutdownAfterJobFinishes: flags.shutdown,
    backoffLimit: flags.backoffLimit,
  });
}

/** A shell-like entrypoint from the words after --: each word quoted when it needs to be. */
export const entrypointOf = (words: readonly string[]): string =>
  words.map((w) => (/^[-\w./:=,@+]+$/.test(w) ? w : `'${w.replaceAll("'", `'"'"'`)}'`)).join(" ");

export function registerRay(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  const ray = program
    .command("ray")
    .description("Ray clusters, jobs and services (RayCluster, RayJob, RayService)");
  const create = addClusterOptions(
    ray
      .command("create")
      .description("create a RayCluster with a head and groups of workers")
      .argument("<name>", "name of the RayCluster"),
  );
  addSubmitOptions(create, "the cluster is Ready");
  create.action(async (name: string, flags: RayFlags, cmd: Command) => {
    await submit(
      cmd,
      rayClusterResource,
      (namespace) => manifestOf(rayClusterResource, name, rayClusterSpec(flags), namespace),
      flags,
      out,
    );
  });

  const job = ray.command("job").description("Ray jobs (RayJob)");
  const jobSubmit = addClusterOptions(
    job
      .command("submit")
      .description("submit an entrypoint as a RayJob, on a cluster of its own or a selected one")
      .argument("<name>", "name of the RayJob")
      .argument("<entrypoint...>", "the driver's command, after --")
      .option(
        "--cluster-selector <key=value>",
        "run on the RayCluster with this label, repeatable",
        parseLabel,
      )
      .option("--shutdown", "delete the job's own cluster once the job finished")
      .option("--backoff-limit <n>", "resubmissions of a FAILED job", (v) => Number.parseInt(v, 10)),
  );
  addSubmitOptions(jobSubmit, "the job SUCCEEDED (printing the driver's log as it grows)");
  jobSubmit.action(async (name: string, words: string[], flags: JobFlags, cmd: Command) => {
    await submit(
      cmd,
      rayJobResource,
      (namespace) => manifestOf(rayJobResource, name, rayJobSpec(entrypointOf(words), flags), namespace),
      flags,
      out,
      { onChange: logFollower(out) },
    );
  });

  const serve = ray.command("serve").description("Ray Serve applications (RayService)");
  const deploy = addClusterOptions(
    serve
      .command("deploy")
      .description("deploy a Serve config (the YAML serve deploy takes) as a RayService")
      .argument("<name>", "name of the RayService")
      .requiredOption("--config <file>", "the Serve config file (applications: ...)"),
  );
  addSubmitOptions(deploy, "every application is RUNNING");
  deploy.action(async (name: string, flags: RayFlags & { config: string }, cmd: Command) => {
    let text: string;
    try {
      text = readFileSync(flags.config, "utf8");
    } catch (error) {
      throw fail(
        "usage",
        `--config ${flags.config}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    await submit(
      cmd,
      rayServiceResource,
      (namespace) =>
        manifestOf(
          rayServiceResource,
          name,
          { serveConfigV2: text, rayClusterConfig: rayClusterSpec(flags) },
          namespace,
        ),
      flags,
      out,
    );
  });
}

/** Prints what a RayJob's driver wrote since the last change (status.logTail grows as it runs). */
function logFollower(out: NodeJS.WritableStream): (object: { status?: unknown }) => void {
  let shown = "";
  return (object) => {
    const tail = (object.status as { logTail?: string } | undefined)?.logTail ?? "";
    if (tail === "" || tail === shown) return;
    // The tail is the log's last 4 KiB: print what is new after the overlap with what was shown.
    let start = 0;
    for (let k = Math.min(shown.length, tail.length); k > 0; k--) {
      if (shown.endsWith(tail.slice(0, k))) {
        start = k;
        break;
      }
    }
    const fresh = tail.slice(start);
    if (fresh) out.write(fresh.endsWith("\n") ? fresh : `${fresh}\n`);
    shown = tail;
  };
}
