// stackctl ray create NAME: a RayCluster from flags, e.g.
//   stackctl ray create research --workers gpu=2:1 --workers tpu=1:4 --vendor google
import { type Command, InvalidArgumentError } from "commander";
import { rayClusterResource } from "../../crds/index.ts";
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

export function registerRay(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  const ray = program.command("ray").description("Ray clusters (RayCluster)");
  const create = ray
    .command("create")
    .description("create a RayCluster with a head and groups of workers")
    .argument("<name>", "name of the RayCluster")
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
  addImageOptions(create, "Ray", { fallback: "rayproject/ray:<ray-version>" });
  addAcceleratorOptions(create, "worker", { count: false });
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
}
