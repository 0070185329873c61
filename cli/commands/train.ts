// stackctl train submit: a TrainingJob from flags, e.g.
//   stackctl train submit --name llama --image IMG --nodes 4 --accelerators 8 --min-memory 80 -- python train.py
import { type Command, InvalidArgumentError } from "commander";
import { trainingJobResource } from "../../crds/index.ts";
import {
  type AcceleratorFlags,
  acceleratorsFrom,
  addAcceleratorOptions,
  addImageOptions,
  addResourceOptions,
  addSubmitOptions,
  compact,
  duration,
  type ImageFlags,
  integer,
  keyValue,
  type ResourceFlags,
  resourcesFrom,
  type SubmitFlags,
} from "../kube/manifest-flags.ts";
import { manifestOf, submit } from "../kube/submit.ts";

interface TrainFlags extends AcceleratorFlags, ImageFlags, ResourceFlags, SubmitFlags {
  name: string;
  nodes?: { nodes: number } | { elastic: { minNodes: number; maxNodes: number } };
  procsPerNode?: number;
  env?: Record<string, string>;
  priority?: number;
  maxRestarts?: number;
  checkpoint?: { claimName: string; mountPath?: string };
  deadline?: number;
  ttl?: number;
}

/** 4, or 2-4 / 2:4 for an elastic gang. */
export function parseNodes(value: string): NonNullable<TrainFlags["nodes"]> {
  const range = /^(\d+)[-:](\d+)$/.exec(value);
  if (range?.[1] && range[2]) return { elastic: { minNodes: Number(range[1]), maxNodes: Number(range[2]) } };
  return { nodes: integer(1, 1024)(value) };
}

function parseCheckpoint(value: string): NonNullable<TrainFlags["checkpoint"]> {
  const [claimName = "", mountPath] = value.split(":", 2);
  if (!claimName) throw new InvalidArgumentError("expected CLAIM or CLAIM:/mount/path");
  return mountPath ? { claimName, mountPath } : { claimName };
}

const seconds = (ms: number | undefined): number | undefined =>
  ms === undefined ? undefined : Math.ceil(ms / 1000);

export function trainingJobSpec(flags: TrainFlags, command: string[]): Record<string, unknown> {
  return compact({
    image: flags.image,
    images: flags.imageFor,
    command,
    ...(flags.nodes ?? {}),
    procsPerNode: flags.procsPerNode,
    accelerators: acceleratorsFrom(flags),
    resources: resourcesFrom(flags),
    env: flags.env && Object.entries(flags.env).map(([name, value]) => ({ name, value })),
    checkpoint: flags.checkpoint,
    priority: flags.priority,
    maxRestarts: flags.maxRestarts,
    activeDeadlineSeconds: seconds(flags.deadline),
    ttlSecondsAfterFinished: seconds(flags.ttl),
  });
}

export function registerTrain(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  const train = program.command("train").description("multi-node PyTorch training jobs (TrainingJob)");
  const submitCmd = train
    .command("submit")
    .description("submit a TrainingJob; the command after -- runs under torchrun on every node")
    .argument("<command...>", "training command, after --")
    .requiredOption("--name <name>", "name of the TrainingJob")
    .option("--nodes <n>", "nodes in the gang, or MIN-MAX for an elastic gang", parseNodes)
    .option("--procs-per-node <n>", "processes per node (default: one per device)", integer(1, 256))
    .option("--env <name=value>", "environment variable, repeatable", keyValue("NAME=VALUE"))
    .option("--priority <n>", "admission priority, higher first", integer(-1000000, 1000000))
    .option("--max-restarts <n>", "whole-gang restarts on retryable failures", integer(0, 100))
    .option(
      "--checkpoint <claim[:path]>",
      "PersistentVolumeClaim for checkpoints, mounted at path",
      parseCheckpoint,
    )
    .option("--deadline <duration>", "fail the job after running this long", duration)
    .option("--ttl <duration>", "delete the job this long after it finished", duration);
  addImageOptions(submitCmd, "training", { required: true });
  addAcceleratorOptions(submitCmd, "node");
  addResourceOptions(submitCmd, "node");
  addSubmitOptions(submitCmd, "the job runs (or has succeeded)");
  submitCmd.action(async (command: string[], flags: TrainFlags, cmd: Command) => {
    await submit(
      cmd,
      trainingJobResource,
      (namespace) => manifestOf(trainingJobResource, flags.name, trainingJobSpec(flags, command), namespace),
      flags,
      out,
    );
  });
}
