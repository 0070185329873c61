// Flags shared by the commands that write workloads (train submit, serve, ray create) and how
// they become fields of the manifest. Only what the user gave is written: the API server
// fills in the defaults, exactly as for a hand-written manifest.
import { type Command, InvalidArgumentError, Option } from "commander";
import { interconnects, type Vendor, vendors } from "../../crds/index.ts";
import { parseDuration } from "../output/age.ts";

export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError("not a whole number");
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };

/** Repeatable flag that also takes comma lists: --vendor nvidia --vendor amd, or --vendor nvidia,amd. */
export const collect = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value.split(",").filter(Boolean),
];

const vendorList = (value: string, previous: string[] = []): string[] => {
  const all = collect(value, previous);
  const unknown = all.filter((v) => !(vendors as readonly string[]).includes(v));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown vendor ${unknown.join(", ")}; use ${vendors.join(", ")}`);
  return all;
};

/** KEY=VALUE, repeatable, into a record. */
export const keyValue =
  (what: string) =>
  (value: string, previous: Record<string, string> = {}): Record<string, string> => {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`expected ${what}`);
    return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
  };

const imageFor = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const images = keyValue("VENDOR=IMAGE")(value, previous);
  const vendor = value.slice(0, value.indexOf("="));
  if (!(vendors as readonly string[]).includes(vendor))
    throw new InvalidArgumentError(`unknown vendor ${vendor}; use ${vendors.join(", ")}`);
  return images;
};

export const duration = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("not a duration such as 90s, 10m or 1h");
  return ms;
};

export interface AcceleratorFlags {
  accelerators?: number;
  minMemory?: number;
  vendor?: string[];
  deviceModel?: string[];
  pool?: string[];
  interconnect?: string;
}

/** `count: false` where the count comes from elsewhere (ray create --workers GROUP=N:COUNT). */
export function addAcceleratorOptions(cmd: Command, per: string, opts: { count?: boolean } = {}): Command {
  if (opts.count !== false)
    cmd.option("--accelerators <count>", `devices per ${per} (0: CPU only)`, integer(0, 64));
  return cmd
    .option("--min-memory <GiB>", "minimum memory per device in GiB", integer(0, 4096))
    .option(
      "--vendor <vendor>",
      `allowed vendors, repeatable or comma-separated (${vendors.join(", ")})`,
      vendorList,
    )
    .option("--device-model <glob>", 'allowed device models, globs such as "H100*", repeatable', collect)
    .option("--pool <name>", "only these AcceleratorPools, repeatable", collect)
    .addOption(new Option("--interconnect <kind>", "required device interconnect").choices(interconnects));
}

/** The AcceleratorRequirement the flags ask for; undefined when no flag was given. */
export function acceleratorsFrom(
  flags: AcceleratorFlags,
  defaultCount?: number,
): Record<string, unknown> | undefined {
  const a: Record<string, unknown> = {};
  const count = flags.accelerators ?? defaultCount;
  if (count !== undefined) a.count = count;
  if (flags.minMemory !== undefined) a.minMemoryGiB = flags.minMemory;
  if (flags.vendor?.length) a.vendors = [...new Set(flags.vendor)] as Vendor[];
  if (flags.deviceModel?.length) a.models = flags.deviceModel;
  if (flags.pool?.length) a.pools = flags.pool;
  if (flags.interconnect) a.interconnect = flags.interconnect;
  return Object.keys(a).length > 0 ? a : undefined;
}

export interface ImageFlags {
  image?: string;
  imageFor?: Record<string, string>;
}

export function addImageOptions(
  cmd: Command,
  what: string,
  image: { required?: boolean; fallback?: string } = {},
): Command {
  const description = `${what} image${image.fallback ? ` (default ${image.fallback})` : ""}`;
  return (
    image.required
      ? cmd.requiredOption("--image <image>", description)
      : cmd.option("--image <image>", description)
  ).option(
    "--image-for <vendor=image>",
    "image for one vendor's pools (ROCm, TPU builds), repeatable; wins over --image there",
    imageFor,
  );
}

export interface ResourceFlags {
  cpu?: string;
  memory?: string;
}

export function addResourceOptions(cmd: Command, per: string): Command {
  return cmd
    .option("--cpu <quantity>", `CPU per ${per} (8, 500m)`)
    .option("--memory <quantity>", `memory per ${per} (64Gi)`);
}

export function resourcesFrom(flags: ResourceFlags): Record<string, string> | undefined {
  const r: Record<string, string> = {};
  if (flags.cpu) r.cpu = flags.cpu;
  if (flags.memory) r.memory = flags.memory;
  return Object.keys(r).length > 0 ? r : undefined;
}

export interface SubmitFlags {
  dryRun?: boolean;
  output?: "yaml" | "json" | "name";
  wait?: boolean;
  timeout: number;
  forceConflicts?: boolean;
}

export function addSubmitOptions(cmd: Command, readyWhen: string): Command {
  return cmd
    .option("--dry-run", "print the manifest (validated offline) instead of creating it; no cluster needed")
    .addOption(
      new Option(
        "-o, --output <format>",
        "print the manifest (with --dry-run) or the created object as yaml, json or name",
      ).choices(["yaml", "json", "name"]),
    )
    .option("--wait", `show progress until ${readyWhen}; exit non-zero if it fails or --timeout passes`)
    .option("--timeout <duration>", "how long --wait waits (90s, 10m, 1h)", duration, 10 * 60_000)
    .option("--force-conflicts", "take over fields another manager (kubectl, a controller) set");
}

/** Set only the fields that have a value, so the manifest shows what was asked and nothing else. */
export function compact<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
