// The `ray start` command lines. The operator decides where a node finds the head and what
// devices it declares; everything else is a default the user may override through
// rayStartParams (the API rejects overriding address, block, head and num-gpus).
import type { Quantity, Vendor } from "../../crds/runtime/index.ts";
import { vendorCatalog } from "../../crds/runtime/index.ts";
import { bytes, parseQuantity } from "../admission/index.ts";
import { defaultPorts, type HeadPorts } from "./names.ts";

type Params = Record<string, string>;
type Resources = Partial<Record<string, Quantity>> | undefined;

/** `--key=value`, or `--key` alone for an empty value (flags such as --disable-usage-stats). */
const flag = (key: string, value: string): string => (value === "" ? `--${key}` : `--${key}=${value}`);

/**
 * Operator defaults first in a fixed order, then the user's other parameters sorted by name:
 * the same spec always gives the same argv, so the pod is never seen as changed.
 */
function render(defaults: Array<[string, string | undefined]>, user: Params | undefined): string[] {
  const given = user ?? {};
  const args: string[] = [];
  const seen = new Set<string>();
  for (const [key, value] of defaults) {
    seen.add(key);
    const v = key in given ? given[key] : value;
    if (v !== undefined) args.push(flag(key, v));
  }
  for (const key of Object.keys(given).sort()) {
    if (!seen.has(key)) args.push(flag(key, given[key] as string));
  }
  return args;
}

/** Whole CPUs for Ray, rounded up: Ray schedules by whole CPUs and a 500m pod still has one. */
function numCpus(resources: Resources): string | undefined {
  if (resources?.cpu === undefined) return undefined;
  const v = parseQuantity(resources.cpu);
  return Number.isFinite(v) ? String(Math.ceil(v)) : undefined;
}

function memory(resources: Resources): string | undefined {
  return resources?.memory === undefined ? undefined : String(bytes(resources.memory));
}

const port = (params: Params | undefined, key: string, fallback: number): number => {
  const raw = params?.[key];
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
};

/** The head's ports: the defaults unless the head's rayStartParams move them. */
export function headPorts(headParams: Params | undefined): HeadPorts {
  return {
    gcs: port(headParams, "port", defaultPorts.gcs),
    dashboard: port(headParams, "dashboard-port", defaultPorts.dashboard),
    client: port(headParams, "ray-client-server-port", defaultPorts.client),
    metrics: port(headParams, "metrics-export-port", defaultPorts.metrics),
  };
}

export function headStartArgs(head: {
  resources?: Resources;
  rayStartParams?: Params | undefined;
}): string[] {
  const ports = headPorts(head.rayStartParams);
  return [
    "--head",
    ...render(
      [
        ["port", String(ports.gcs)],
        ["dashboard-host", "0.0.0.0"],
        ["dashboard-port", String(ports.dashboard)],
        ["ray-client-server-port", String(ports.client)],
        ["metrics-export-port", String(ports.metrics)],
        ["num-cpus", numCpus(head.resources)],
        ["memory", memory(head.resources)],
      ],
      head.rayStartParams,
    ),
    "--block",
  ];
}

export interface WorkerStart {
  /** host:port of the head's GCS. */
  gcsAddress: string;
  resources?: Resources;
  rayStartParams?: Params | undefined;
  /** Devices per pod and the vendor of the pool the group was placed on. */
  devices: number;
  vendor: Vendor | undefined;
  metricsPort?: number;
}

/**
 * How the group's devices are declared to Ray: `--num-gpus` for GPU vendors, a custom resource
 * (TPU, neuron_cores, HPU, ...) otherwise, merged into any `resources` the user declared.
 */
export function deviceParams(
  devices: number,
  vendor: Vendor | undefined,
  userResources: string | undefined,
): Array<[string, string]> {
  if (devices <= 0 || vendor === undefined) return [];
  const ray = vendorCatalog[vendor].ray;
  if (ray.kind === "gpus") return [["num-gpus", String(devices)]];
  if (userResources === undefined) return [["resources", JSON.stringify({ [ray.name]: devices })]];
  let parsed: unknown;
  try {
    parsed = JSON.parse(userResources);
  } catch {
    // Not JSON: leave the user's value alone so Ray itself reports what is wrong with it.
    return [];
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return [];
  return [["resources", JSON.stringify({ ...(parsed as object), [ray.name]: devices })]];
}

export function workerStartArgs(w: WorkerStart): string[] {
  const devices = deviceParams(w.devices, w.vendor, w.rayStartParams?.resources);
  const user = { ...w.rayStartParams };
  // The merged value replaces the user's `resources`; it already contains it.
  if (devices.some(([k]) => k === "resources")) delete user.resources;
  return [
    flag("address", w.gcsAddress),
    ...render(
      [
        ["num-cpus", numCpus(w.resources)],
        ["memory", memory(w.resources)],
        ...devices,
        ["metrics-export-port", String(w.metricsPort ?? defaultPorts.metrics)],
      ],
      user,
    ),
    "--block",
  ];
}
