// One-line summaries of API fields, shared by describe and the --wait progress lines.

type Rec = Record<string, unknown>;

export const isRecord = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);

export const rec = (v: unknown): Rec => (isRecord(v) ? v : {});

export const str = (v: unknown): string | undefined =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;

export const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** {cpu: "8", memory: "64Gi"} -> "cpu=8, memory=64Gi" */
export function mapSummary(v: unknown, separator = "="): string | undefined {
  const entries = Object.entries(rec(v));
  return entries.length > 0
    ? entries.map(([k, x]) => `${k}${separator}${str(x) ?? JSON.stringify(x)}`).join(", ")
    : undefined;
}

/** An AcceleratorRequirement as a person would say it. */
/** `devices` replaces the count's text ("4 devices") where the count is not in `v` alone. */
export function acceleratorSummary(v: unknown, devices?: string): string {
  if (!isRecord(v)) return "none (CPU only)";
  const count = num(v.count) ?? 1;
  if (count === 0) return "none (CPU only)";
  const parts = [devices ?? `${count} ${count === 1 ? "device" : "devices"}`];
  const memory = num(v.minMemoryGiB) ?? 0;
  if (memory > 0) parts[0] += ` of at least ${memory} GiB`;
  const vendors = list(v.vendors).map(String);
  parts.push(vendors.length > 0 ? `vendor ${vendors.join("|")}` : "any vendor");
  const models = list(v.models).map(String);
  if (models.length > 0) parts.push(`model ${models.join("|")}`);
  const pools = list(v.pools).map(String);
  if (pools.length > 0) parts.push(`pool ${pools.join("|")}`);
  if (typeof v.interconnect === "string") parts.push(`interconnect ${v.interconnect}`);
  return parts.join(", ");
}

/** A command line with the arguments quoted where a shell would need it. */
export function commandLine(args: unknown): string {
  return list(args)
    .map(String)
    .map((a) => (/^[-\w./:=@,+%]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(" ");
}

export interface ConditionView {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export function conditionsOf(object: { status?: Rec }): ConditionView[] {
  return list(object.status?.conditions)
    .filter(isRecord)
    .map((c) => ({
      type: str(c.type) ?? "?",
      status: str(c.status) ?? "Unknown",
      reason: str(c.reason),
      message: str(c.message),
      lastTransitionTime: str(c.lastTransitionTime),
    }));
}

/**
 * Why a workload is not (yet) where it should be: the message of the first condition that is not
 * True, preferring admission (queue reasons) over readiness.
 */
export function waitingReason(object: { status?: Rec }): string | undefined {
  const conditions = conditionsOf(object);
  for (const type of ["Failed", "Admitted", "Ready", "HeadReady"]) {
    const c = conditions.find((x) => x.type === type);
    if (!c) continue;
    const bad = type === "Failed" ? c.status === "True" : c.status !== "True";
    if (bad && (c.message || c.reason)) return c.message || c.reason;
  }
  return undefined;
}
