// The text of `stackctl describe`: what was asked (spec), where it runs and why it waits
// (status, queue, conditions), what the operator said (events) and what it made (children).
import { type KindDefinition, poolResourceName, type Vendor } from "../../crds/index.ts";
import type { StackObject } from "../kube/objects.ts";
import { age } from "./age.ts";
import {
  acceleratorSummary,
  commandLine,
  conditionsOf,
  isRecord,
  list,
  mapSummary,
  num,
  rec,
  str,
  waitingReason,
} from "./summary.ts";
import { formatTable } from "./table.ts";

export interface EventView {
  type: string;
  reason: string;
  /** When it last happened. */
  time?: string;
  count: number;
  from: string;
  message: string;
}

export interface ChildView {
  kind: string;
  name: string;
  status: string;
  created?: string;
}

export interface Description {
  kind: KindDefinition;
  object: StackObject;
  events: EventView[];
  children: ChildView[];
  /** For pools: the nodes the selector matches, as children. */
  childrenTitle?: string;
  now: number;
}

type Field = [label: string, value: string | undefined];

/** Aligned "Label: value" lines; an empty label continues the row above it. */
function section(title: string | undefined, fields: Field[]): string {
  const present = fields.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== "");
  if (present.length === 0) return "";
  const width = Math.max(...present.map(([l]) => l.length)) + 2;
  const indent = title === undefined ? "" : "  ";
  const lines = present.map(([l, v]) => `${indent}${(l ? `${l}:` : "").padEnd(width)}${v}`);
  return `${title === undefined ? "" : `${title}:\n`}${lines.join("\n")}\n`;
}

const indentTable = (rows: string[][]): string =>
  formatTable(rows)
    .split("\n")
    .filter(Boolean)
    .map((l) => `  ${l}\n`)
    .join("");

const images = (image: unknown, images: unknown): Field[] => [
  ["Image", str(image)],
  ["Images", mapSummary(images)],
];

function trainingJobSpec(spec: Record<string, unknown>): Field[] {
  const elastic = rec(spec.elastic);
  const nodes = isRecord(spec.elastic)
    ? `${num(elastic.minNodes)} to ${num(elastic.maxNodes)} (elastic)`
    : String(num(spec.nodes) ?? 1);
  const checkpoint = rec(spec.checkpoint);
  return [
    ...images(spec.image, spec.images),
    ["Command", commandLine(spec.command)],
    ["Nodes", nodes],
    ["Procs per node", str(spec.procsPerNode) ?? "one per device"],
    ["Accelerators", acceleratorSummary(spec.accelerators)],
    ["Resources", mapSummary(spec.resources)],
    ["Priority", str(spec.priority)],
    ["Max restarts", str(spec.maxRestarts)],
    [
      "Checkpoint",
      str(checkpoint.claimName) &&
        `claim ${str(checkpoint.claimName)} at ${str(checkpoint.mountPath) ?? "/checkpoints"}`,
    ],
    [
      "Deadline",
      spec.activeDeadlineSeconds === undefined ? undefined : `${str(spec.activeDeadlineSeconds)}s`,
    ],
    [
      "TTL after finished",
      spec.ttlSecondsAfterFinished === undefined ? undefined : `${str(spec.ttlSecondsAfterFinished)}s`,
    ],
    ["Suspend", spec.suspend === true ? "true" : undefined],
  ];
}

function rayClusterSpec(spec: Record<string, unknown>): Field[] {
  const head = rec(spec.head);
  const groups = list(spec.workerGroups)
    .filter(isRecord)
    .map((g) => {
      const bounds = `min ${num(g.minReplicas) ?? 0}${g.maxReplicas === undefined ? "" : `, max ${num(g.maxReplicas)}`}`;
      return `${str(g.name)}: ${num(g.replicas) ?? 1} x (${acceleratorSummary(g.accelerators)}) ${bounds}`;
    });
  return [
    ["Ray version", str(spec.rayVersion)],
    ...images(spec.image, spec.images),
    ["Head", [mapSummary(head.resources), str(head.serviceType)].filter(Boolean).join(", ")],
    ...groups.map((g, i): Field => [i === 0 ? "Worker groups" : "", g]),
    ["Suspend", spec.suspend === true ? "true" : undefined],
  ];
}

const devicesText = (n: number): string => `${n} ${n === 1 ? "device" : "devices"}`;

const sized = (model: Record<string, unknown>) =>
  model.sizeGiB !== undefined || model.parameters !== undefined;

/** "70B parameters (bf16), KV cache 16 GiB" or "130 GiB, KV cache from maxModelLen". */
function modelSize(model: Record<string, unknown>, engine: Record<string, unknown>): string | undefined {
  if (!sized(model)) return undefined;
  const weights =
    model.sizeGiB !== undefined
      ? `${str(model.sizeGiB)} GiB`
      : `${str(model.parameters)}B parameters (${str(model.dtype) ?? "bf16"})`;
  const heads = model.attentionHeads !== undefined ? `, ${str(model.attentionHeads)} attention heads` : "";
  const kv =
    engine.kvCacheGiB !== undefined ? `KV cache ${str(engine.kvCacheGiB)} GiB` : "KV cache from maxModelLen";
  return `${weights}${heads}, ${kv}`;
}

function inferenceServiceSpec(spec: Record<string, unknown>): Field[] {
  const model = rec(spec.model);
  const engine = rec(spec.engine);
  const cache = rec(spec.modelCache);
  const accelerators = rec(spec.accelerators);
  const perPool = sized(model) && accelerators.count === undefined && engine.tensorParallelSize === undefined;
  // Without a count an InferenceService's replicas take tensorParallelSize devices, not none.
  const devices = perPool
    ? "devices per pool, from the model's size"
    : devicesText(num(accelerators.count) ?? num(engine.tensorParallelSize) ?? 1);
  return [
    [
      "Model",
      [str(model.uri), model.name ? `served as ${str(model.name)}` : undefined].filter(Boolean).join(", "),
    ],
    ...images(engine.image, engine.images),
    ["Model size", modelSize(model, engine)],
    [
      "Tensor parallel",
      str(engine.tensorParallelSize) ?? (perPool ? "per pool, from the model's size" : undefined),
    ],
    ["Max model len", str(engine.maxModelLen)],
    ["Nodes/replica", nodesText(spec.nodesPerReplica ?? engine.pipelineParallelSize)],
    ["Accelerators", acceleratorSummary(spec.accelerators ?? {}, devices)],
    ["Resources", mapSummary(spec.resources)],
    ["Replicas", str(spec.replicas) ?? "1"],
    [
      "Model cache",
      str(cache.size) && [str(cache.size), str(cache.storageClassName)].filter(Boolean).join(" on "),
    ],
  ];
}

/** "2 (pipeline parallel: a leader and 1 Ray worker a replica)" for a replica spanning nodes. */
function nodesText(value: unknown): string | undefined {
  const n = num(value);
  if (n === undefined || n <= 1) return undefined;
  return `${n} (pipeline parallel over nodes: a leader and ${n - 1} Ray worker${n > 2 ? "s" : ""} a replica)`;
}

function selectorSummary(selector: unknown): string | undefined {
  const s = rec(selector);
  const parts = Object.entries(rec(s.matchLabels)).map(([k, v]) => `${k}=${str(v)}`);
  for (const e of list(s.matchExpressions).filter(isRecord)) {
    const values = list(e.values).map(String).join(",");
    parts.push(`${str(e.key)} ${str(e.operator)}${values ? ` (${values})` : ""}`);
  }
  return parts.length > 0 ? parts.join(", ") : undefined;
}

function poolSpec(spec: Record<string, unknown>, name: string): Field[] {
  const vendor = str(spec.vendor) as Vendor;
  const tolerations = list(spec.tolerations)
    .filter(isRecord)
    .map((t) => `${str(t.key) ?? "*"}${t.value ? `=${str(t.value)}` : ""}:${str(t.effect) ?? "*"}`);
  return [
    ["Vendor", vendor],
    ["Model", str(spec.model)],
    ["Memory per device", spec.memoryGiB === undefined ? undefined : `${str(spec.memoryGiB)} GiB`],
    ["Resource", poolResourceName({ vendor, resourceName: str(spec.resourceName) })],
    ["Interconnect", str(spec.interconnect)],
    ["Node selector", selectorSummary(spec.nodeSelector) ?? `sovereign.dev/pool=${name} (default)`],
    ["Tolerations", tolerations.join(", ")],
    ["Runtime class", str(spec.runtimeClassName)],
    ["Cost per device hour", str(spec.costPerDeviceHour)],
    ["Paused", spec.paused === true ? "true" : undefined],
  ];
}

const ratio = (ready: unknown, total: unknown): string | undefined =>
  total === undefined && ready === undefined ? undefined : `${num(ready) ?? 0}/${num(total) ?? 0} ready`;

const when = (t: unknown, now: number): string | undefined =>
  t ? `${str(t)} (${age(t, now)} ago)` : undefined;

/**
 * Where the workload is in admission: its queue position and why it waits, or, once it is
 * placed, why it is not where it should be (the message of the condition that says so).
 */
/** Phases after which a workload of each kind has nothing left to wait for. */
const settledPhases: Record<string, string[]> = {
  TrainingJob: ["Running", "Succeeded"],
  RayCluster: ["Ready"],
  InferenceService: ["Ready"],
};

/**
 * The line describe prints under Status about admission ("Queue: position 2: ..." or
 * "Waiting: ..."), for other views (the console's Queue page) to say it in the same words.
 */
export function admissionLine(
  kind: string,
  object: StackObject,
): { label: string; text: string } | undefined {
  const [field] = queueAndReason(rec(object.status), waitingReason(object), settledPhases[kind] ?? []);
  return field?.[1] ? { label: field[0], text: field[1] } : undefined;
}

function queueAndReason(
  status: Record<string, unknown>,
  reason: string | undefined,
  done: string[],
): Field[] {
  const phase = str(status.phase) ?? "";
  const queued = status.queuePosition !== undefined || phase === "Queued";
  if (queued) {
    const position = status.queuePosition === undefined ? undefined : `position ${str(status.queuePosition)}`;
    return [["Queue", [position, reason].filter(Boolean).join(": ")]];
  }
  if (done.includes(phase)) return [];
  return [[phase === "Failed" ? "Failure" : "Waiting", reason]];
}

/** The admission record: which pool each pod group was admitted onto, and on which nodes. */
function admissionFields(status: Record<string, unknown>): Field[] {
  const placements = list(rec(status.admission).placements)
    .filter(isRecord)
    .map((p) => {
      const nodes = list(p.nodes).map(String);
      const replicas = p.replicas === undefined ? "" : ` x${num(p.replicas)}`;
      return `${str(p.group)}${replicas} on ${str(p.pool)}${p.vendor ? ` (${str(p.vendor)})` : ""}${nodes.length ? `, nodes ${nodes.join(",")}` : ""}`;
    });
  return placements.map((p, i): Field => [i === 0 ? "Admission" : "", p]);
}

function statusFields(
  kind: string,
  status: Record<string, unknown>,
  object: StackObject,
  now: number,
): Field[] {
  const reason = waitingReason(object);
  const phase: Field = ["Phase", str(status.phase)];
  switch (kind) {
    case "TrainingJob":
      return [
        phase,
        ["Pool", str(status.pool) ?? "<not placed>"],
        ["Nodes", ratio(status.readyNodes, status.nodes)],
        ...queueAndReason(status, reason, settledPhases.TrainingJob ?? []),
        ...admissionFields(status),
        ["Restarts", str(status.restarts)],
        ["Started", when(status.startTime, now)],
        ["Completed", when(status.completionTime, now)],
      ];
    case "RayCluster": {
      const endpoints = rec(status.endpoints);
      const groups = list(status.workerGroups)
        .filter(isRecord)
        .map(
          (g) =>
            `${str(g.name)} on ${str(g.pool) ?? "<not placed>"}: ${num(g.readyReplicas) ?? 0}/${num(g.replicas) ?? 0} ready`,
        );
      return [
        phase,
        ["Workers", ratio(status.readyWorkers, status.desiredWorkers)],
        ...groups.map((g, i): Field => [i === 0 ? "Placement" : "", g]),
        ...queueAndReason(status, reason, settledPhases.RayCluster ?? []),
        ...admissionFields(status),
        ["Dashboard", str(endpoints.dashboard)],
        ["GCS", str(endpoints.gcs)],
        ["Client", str(endpoints.client)],
      ];
    }
    case "InferenceService": {
      const placements = list(status.placements)
        .filter(isRecord)
        .map((p) => {
          const devices = num(p.devicesPerReplica);
          const nodes = num(p.nodesPerReplica) ?? 1;
          // "16 devices per replica (2 nodes × 8)": a replica spanning nodes says how.
          const span = nodes > 1 && devices !== undefined ? ` (${nodes} nodes × ${devices / nodes})` : "";
          const shape =
            devices === undefined
              ? ""
              : `, ${devices} ${devices === 1 ? "device" : "devices"} per replica${span}`;
          return `${str(p.pool)}: ${num(p.readyReplicas) ?? 0}/${num(p.replicas) ?? 0} ready${shape}`;
        });
      const router = rec(status.router);
      const decision = rec(rec(status.autoscaling).lastDecision);
      const scaling: Field[] =
        status.desiredReplicas === undefined
          ? []
          : [
              [
                "Desired",
                `${num(status.desiredReplicas) ?? 0} (autoscaler, ${str(rec(status.autoscaling).mode) ?? "stable"})`,
              ],
              ...(decision.reason !== undefined
                ? ([
                    ["Last scaling", `${num(decision.from)} → ${num(decision.to)}: ${str(decision.reason)}`],
                  ] as Field[])
                : []),
            ];
      return [
        phase,
        ["URL", str(status.url)],
        ...(status.router !== undefined
          ? ([["Router", `${ratio(router.readyReplicas, router.replicas)} ready`]] as Field[])
          : []),
        ["Replicas", ratio(status.readyReplicas, status.replicas)],
        ...scaling,
        ...placements.map((p, i): Field => [i === 0 ? "Placement" : "", p]),
        ...queueAndReason(status, reason, settledPhases.InferenceService ?? []),
        ...admissionFields(status),
      ];
    }
    default:
      return [
        ["Nodes", ratio(status.readyNodes, status.nodes)],
        ["Capacity", str(status.capacity)],
        ["Allocated", str(status.allocated)],
        ["Free", str(status.free)],
        ["Largest free per node", str(status.largestFreePerNode)],
      ];
  }
}

function specFields(kind: string, spec: Record<string, unknown>, name: string): Field[] {
  switch (kind) {
    case "TrainingJob":
      return trainingJobSpec(spec);
    case "RayCluster":
      return rayClusterSpec(spec);
    case "InferenceService":
      return inferenceServiceSpec(spec);
    default:
      return poolSpec(spec, name);
  }
}

export function renderDescription(d: Description): string {
  const { object, kind, now } = d;
  const meta = object.metadata;
  const out: string[] = [];
  out.push(
    section(undefined, [
      ["Name", meta.name],
      ["Namespace", kind.scope === "Namespaced" ? meta.namespace : undefined],
      ["Kind", `${kind.kind} (${kind.apiVersion})`],
      [
        "Created",
        meta.creationTimestamp
          ? `${meta.creationTimestamp} (${age(meta.creationTimestamp, now)} ago)`
          : undefined,
      ],
      ["Labels", mapSummary(meta.labels) ?? "<none>"],
    ]),
  );
  out.push(section("Spec", specFields(kind.kind, rec(object.spec), meta.name)));
  const status = rec(object.status);
  const stale =
    num(status.observedGeneration) !== undefined &&
    (num(status.observedGeneration) ?? 0) < (meta.generation ?? 0);
  const statusText = section("Status", statusFields(kind.kind, status, object, now));
  out.push(
    object.status === undefined
      ? "Status:\n  <none yet: the operator has not reconciled this object>\n"
      : `${statusText}${stale ? `  (reported for generation ${num(status.observedGeneration)}; the spec is at ${meta.generation})\n` : ""}`,
  );
  const conditions = conditionsOf(object);
  out.push(
    conditions.length === 0
      ? "Conditions:\n  <none>\n"
      : `Conditions:\n${indentTable([
          ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
          ...conditions.map((c) => [
            c.type,
            c.status,
            c.reason ?? "",
            c.lastTransitionTime ? age(c.lastTransitionTime, now) : "",
            c.message ?? "",
          ]),
        ])}`,
  );
  const title = d.childrenTitle ?? "Children";
  out.push(
    d.children.length === 0
      ? `${title}:\n  <none>\n`
      : `${title}:\n${indentTable([
          ["KIND", "NAME", "STATUS", "AGE"],
          ...d.children.map((c) => [c.kind, c.name, c.status, c.created ? age(c.created, now) : ""]),
        ])}`,
  );
  out.push(
    d.events.length === 0
      ? "Events:\n  <none>\n"
      : `Events:\n${indentTable([
          ["TYPE", "REASON", "AGE", "FROM", "MESSAGE"],
          ...d.events.map((e) => [
            e.type,
            e.reason,
            `${e.time ? age(e.time, now) : ""}${e.count > 1 ? ` (x${e.count})` : ""}`,
            e.from,
            e.message,
          ]),
        ])}`,
  );
  return out.join("");
}
