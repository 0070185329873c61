// The router's command line, parsed into typed options with an error naming the flag for any
// bad value. Every flag is documented in router/README.md (a unit test keeps the two in step).
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import type { TenantLimits } from "./admission.ts";

export interface StaticBackend {
  model: string;
  /** http://host:port */
  origin: string;
  pool: string | undefined;
  vendor: string | undefined;
}

export interface ServiceMapping {
  service: string;
  model: string;
}

/** Kube mode by pods: the ready Pods a label selector matches serve `model`. */
export interface PodMapping {
  model: string;
  selector: string;
}

export interface RouterOptions {
  host: string;
  port: number;
  backends: StaticBackend[];
  namespace: string | undefined;
  services: ServiceMapping[];
  pods: PodMapping[];
  kubeconfig: string | undefined;
  poolFromPods: boolean;
  podSelector: string;
  apiKeysSecret: string | undefined;
  apiKeysFile: string | undefined;
  limits: TenantLimits;
  tenantLimits: Map<string, Partial<TenantLimits>>;
  coldStartWaitMs: number;
  maxInflightPerReplica: number;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  upstreamConnectTimeoutMs: number;
  upstreamFirstByteTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  upstreamConnections: number;
  retries: number;
  breakerFailures: number;
  breakerOpenMs: number;
  scrapeIntervalMs: number;
  scrapeTimeoutMs: number;
  prefixChars: number;
  prefixMinChars: number;
  loadBound: number;
  loadSlack: number;
  nearEqual: number;
  sessionHeader: string | undefined;
  affinityEntries: number;
  accessLog: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
}

/** Flag name -> [kind, default (as typed on the command line), one-line help]. */
export const flagSpecs = {
  host: ["string", "0.0.0.0", "address to listen on"],
  port: ["string", "8000", "port to listen on (vLLM's, so clients keep their URL)"],
  backend: ["multiple", undefined, "static replica <model>=<url>[,pool=<p>][,vendor=<v>]"],
  namespace: ["string", undefined, "kube mode: the namespace of the engine Services"],
  service: ["multiple", undefined, "kube mode: <engineService>=<servedModelName>"],
  pods: [
    "multiple",
    undefined,
    "kube mode: <servedModelName>=<label selector> of the engine Pods (their readiness and podIP)",
  ],
  kubeconfig: ["string", undefined, "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)"],
  "pool-from-pods": ["boolean", true, "kube mode: read each endpoint's pool and vendor from its Pod"],
  "pod-selector": ["string", "stack.sovereign.dev/kind=inferenceservice", "label selector of the Pods read"],
  "api-keys-secret": [
    "string",
    undefined,
    "Secret in --namespace: data key = tenant, value = keys, one per line",
  ],
  "api-keys-file": ["string", undefined, 'JSON file {"tenant": ["key", ...]}'],
  rate: ["string", "0", "requests per second per tenant (token bucket); 0: no limit"],
  burst: ["string", "0", "token bucket size per tenant; 0: max(1, rate)"],
  "max-concurrency": ["string", "0", "requests in flight per tenant; 0: no limit"],
  "max-queue": ["string", "10000", "requests a tenant may have waiting at the router"],
  "max-queue-wait-seconds": ["string", "30", "longest a request waits at the router before a 429"],
  "tenant-limit": [
    "multiple",
    undefined,
    "per-tenant override <tenant>:rate=R,burst=B,max-concurrency=C,max-queue=Q,max-queue-wait-seconds=W",
  ],
  "cold-start-wait-seconds": [
    "string",
    "60",
    "longest a request waits for a model with no ready replica; 0: 503 at once",
  ],
  "max-inflight-per-replica": [
    "string",
    "1024",
    "requests in flight to one replica before the router holds more (vLLM V1's max_num_seqs on large GPUs); 0: no limit",
  ],
  "max-body-bytes": ["string", String(4 << 20), "largest request body accepted (413 beyond)"],
  "max-header-bytes": ["string", "16384", "largest request head (431 beyond)"],
  "headers-timeout-seconds": ["string", "10", "time a client has to send its request head (408 beyond)"],
  "request-timeout-seconds": ["string", "60", "time a client has to send its whole request (408 beyond)"],
  "keep-alive-timeout-seconds": ["string", "5", "idle time before a client connection is closed"],
  "upstream-connect-timeout-seconds": ["string", "5", "time to connect to a replica"],
  "upstream-first-byte-timeout-seconds": ["string", "300", "time for a replica to send its response head"],
  "upstream-idle-timeout-seconds": ["string", "120", "longest silence between response chunks"],
  "upstream-connections": [
    "string",
    "0",
    "connections per replica; 0: --max-inflight-per-replica (no limit if 0)",
  ],
  retries: ["string", "2", "other replicas tried when one fails before any byte reached the client"],
  "breaker-failures": ["string", "5", "consecutive failures that open a replica's circuit breaker"],
  "breaker-open-seconds": [
    "string",
    "1",
    "first open period of a breaker (doubles per failed probe, up to 30 s)",
  ],
  "scrape-interval-ms": ["string", "200", "how often each replica's /metrics is read"],
  "scrape-timeout-ms": ["string", "2000", "a scrape slower than this counts as a failure"],
  "prefix-chars": ["string", "512", "leading prompt bytes hashed for prefix affinity; 0: no prefix affinity"],
  "prefix-min-chars": ["string", "64", "shorter prompts get no prefix affinity"],
  "load-bound": ["string", "0.25", "ε: an affinity owner may take (1+ε) times its share of the load"],
  "load-slack": [
    "string",
    "4",
    "requests an affinity owner may take beyond its (1+ε) share (a batching engine runs a few more almost free)",
  ],
  "near-equal": [
    "string",
    "0.1",
    "δ: replicas within (1+δ) of the best cost are near-equal (power of two choices)",
  ],
  "session-header": ["string", "x-session-id", 'header naming a session for session affinity; "" disables'],
  "affinity-entries": ["string", "100000", "sessions remembered (bounded LRU)"],
  "access-log": ["boolean", false, "one JSON line per request"],
  "log-level": ["string", "info", "debug, info, warn or error"],
} as const satisfies Record<
  string,
  readonly ["string" | "multiple" | "boolean", string | boolean | undefined, string]
>;

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OptionsError";
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

function parseSpecs(): ParseArgsOptionsConfig {
  const out: Record<string, { type: "string" | "boolean"; multiple?: boolean; default?: string | boolean }> =
    {};
  for (const [name, [kind, def]] of Object.entries(flagSpecs)) {
    if (kind === "multiple") out[name] = { type: "string", multiple: true };
    else if (kind === "boolean") out[name] = { type: "boolean", default: def as boolean };
    else out[name] = def === undefined ? { type: "string" } : { type: "string", default: def as string };
  }
  return out;
}

function number(
  values: Values,
  flag: string,
  { min = 0, integer = false, max = Number.POSITIVE_INFINITY } = {},
): number {
  const raw = values[flag];
  const n = Number(raw);
  if (
    typeof raw !== "string" ||
    raw.trim() === "" ||
    !Number.isFinite(n) ||
    n < min ||
    n > max ||
    (integer && !Number.isInteger(n))
  )
    throw new OptionsError(
      `--${flag}: expected ${integer ? "an integer" : "a number"} ${max < Number.POSITIVE_INFINITY ? `from ${min} to ${max}` : `of at least ${min}`}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

export function parseBackend(spec: string): StaticBackend {
  const [head = "", ...attrs] = spec.split(",");
  const eq = head.indexOf("=");
  if (eq <= 0) throw new OptionsError(`--backend ${spec}: expected <model>=<url>[,pool=<p>][,vendor=<v>]`);
  const model = head.slice(0, eq);
  let url: URL;
  try {
    url = new URL(head.slice(eq + 1));
  } catch {
    throw new OptionsError(`--backend ${spec}: ${head.slice(eq + 1)} is not a URL`);
  }
  if (url.protocol !== "http:")
    throw new OptionsError(`--backend ${spec}: only http:// replicas are supported`);
  const backend: StaticBackend = { model, origin: url.origin, pool: undefined, vendor: undefined };
  for (const attr of attrs) {
    const [k, v] = attr.split("=", 2);
    if (k === "pool" && v) backend.pool = v;
    else if (k === "vendor" && v) backend.vendor = v;
    else
      throw new OptionsError(`--backend ${spec}: unknown attribute ${JSON.stringify(attr)} (pool=, vendor=)`);
  }
  return backend;
}

export function parseServiceMapping(spec: string): ServiceMapping {
  const eq = spec.indexOf("=");
  const service = spec.slice(0, eq);
  const model = spec.slice(eq + 1);
  if (eq <= 0 || model === "" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(service))
    throw new OptionsError(
      `--service ${spec}: expected <engineService>=<servedModelName> with a DNS-label Service name`,
    );
  return { service, model };
}

export function parsePodMapping(spec: string): PodMapping {
  const eq = spec.indexOf("=");
  const model = spec.slice(0, eq);
  const selector = spec.slice(eq + 1);
  if (eq <= 0 || !selector.includes("="))
    throw new OptionsError(`--pods ${spec}: expected <servedModelName>=<label selector> (a=b,c=d)`);
  return { model, selector };
}

const tenantLimitKeys: Record<string, keyof TenantLimits> = {
  rate: "ratePerSecond",
  burst: "burst",
  "max-concurrency": "maxConcurrency",
  "max-queue": "maxQueue",
  "max-queue-wait-seconds": "maxQueueWaitMs",
};

export function parseTenantLimit(spec: string): [string, Partial<TenantLimits>] {
  const colon = spec.indexOf(":");
  if (colon <= 0) throw new OptionsError(`--tenant-limit ${spec}: expected <tenant>:key=value,...`);
  const tenant = spec.slice(0, colon);
  const out: Partial<TenantLimits> = {};
  for (const part of spec.slice(colon + 1).split(",")) {
    const [k = "", v = ""] = part.split("=", 2);
    const field = tenantLimitKeys[k];
    const n = Number(v);
    if (!field)
      throw new OptionsError(
        `--tenant-limit ${spec}: unknown limit ${JSON.stringify(k)} (${Object.keys(tenantLimitKeys).join(", ")})`,
      );
    if (v.trim() === "" || !Number.isFinite(n) || n < 0)
      throw new OptionsError(`--tenant-limit ${spec}: ${k} must be a number of at least 0`);
    out[field] = field === "maxQueueWaitMs" ? n * 1000 : n;
  }
  return [tenant, out];
}

export function parseRouterArgs(argv: readonly string[]): RouterOptions {
  let values: Values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: parseSpecs(),
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    }) as { values: Values });
  } catch (error) {
    throw new OptionsError((error as Error).message);
  }
  const str = (flag: string): string | undefined => values[flag] as string | undefined;
  const list = (flag: string): string[] => (values[flag] as string[] | undefined) ?? [];
  const seconds = (flag: string): number => number(values, flag) * 1000;

  const backends = list("backend").map(parseBackend);
  const services = list("service").map(parseServiceMapping);
  const pods = list("pods").map(parsePodMapping);
  const namespace = str("namespace");
  if (services.length > 0 && !namespace) throw new OptionsError("--service needs --namespace");
  if (pods.length > 0 && !namespace) throw new OptionsError("--pods needs --namespace");
  if (backends.length === 0 && services.length === 0 && pods.length === 0)
    throw new OptionsError(
      "nothing to route to: give --backend (static) or --namespace with --service or --pods (kube)",
    );
  const apiKeysSecret = str("api-keys-secret");
  const apiKeysFile = str("api-keys-file");
  if (apiKeysSecret && apiKeysFile)
    throw new OptionsError("--api-keys-secret and --api-keys-file are exclusive");
  if (apiKeysSecret && !namespace) throw new OptionsError("--api-keys-secret needs --namespace");
  const rate = number(values, "rate");
  const logLevel = str("log-level");
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error")
    throw new OptionsError(
      `--log-level: expected debug, info, warn or error, got ${JSON.stringify(logLevel)}`,
    );
  const maxInflightPerReplica = number(values, "max-inflight-per-replica", { integer: true });
  const upstreamConnections = number(values, "upstream-connections", { integer: true });
  const sessionHeader = (str("session-header") ?? "").trim().toLowerCase();
  return {
    host: str("host") as string,
    port: number(values, "port", { integer: true, max: 65535 }),
    backends,
    namespace,
    services,
    pods,
    kubeconfig: str("kubeconfig"),
    poolFromPods: values["pool-from-pods"] as boolean,
    podSelector: str("pod-selector") as string,
    apiKeysSecret,
    apiKeysFile,
    limits: {
      ratePerSecond: rate,
      burst: number(values, "burst") || Math.max(1, rate),
      maxConcurrency: number(values, "max-concurrency", { integer: true }),
      maxQueue: number(values, "max-queue", { integer: true }),
      maxQueueWaitMs: seconds("max-queue-wait-seconds"),
    },
    tenantLimits: new Map(list("tenant-limit").map(parseTenantLimit)),
    coldStartWaitMs: seconds("cold-start-wait-seconds"),
    maxInflightPerReplica,
    maxBodyBytes: number(values, "max-body-bytes", { integer: true, min: 1 }),
    maxHeaderBytes: number(values, "max-header-bytes", { integer: true, min: 1024 }),
    headersTimeoutMs: seconds("headers-timeout-seconds"),
    requestTimeoutMs: seconds("request-timeout-seconds"),
    keepAliveTimeoutMs: seconds("keep-alive-timeout-seconds"),
    upstreamConnectTimeoutMs: seconds("upstream-connect-timeout-seconds"),
    upstreamFirstByteTimeoutMs: seconds("upstream-first-byte-timeout-seconds"),
    upstreamIdleTimeoutMs: seconds("upstream-idle-timeout-seconds"),
    upstreamConnections: upstreamConnections || maxInflightPerReplica,
    retries: number(values, "retries", { integer: true, max: 10 }),
    breakerFailures: number(values, "breaker-failures", { integer: true, min: 1 }),
    breakerOpenMs: seconds("breaker-open-seconds"),
    scrapeIntervalMs: number(values, "scrape-interval-ms", { min: 10 }),
    scrapeTimeoutMs: number(values, "scrape-timeout-ms", { min: 10 }),
    prefixChars: number(values, "prefix-chars", { integer: true }),
    prefixMinChars: number(values, "prefix-min-chars", { integer: true }),
    loadBound: number(values, "load-bound"),
    loadSlack: number(values, "load-slack", { integer: true }),
    nearEqual: number(values, "near-equal"),
    sessionHeader: sessionHeader === "" ? undefined : sessionHeader,
    affinityEntries: number(values, "affinity-entries", { integer: true, min: 1 }),
    accessLog: values["access-log"] as boolean,
    logLevel,
  };
}

/** The flags as the Markdown table router/README.md shows (a test keeps the two in step). */
export function flagTableMarkdown(): string {
  const rows = ["| flag | default | what it does |", "|---|---|---|"];
  for (const [name, [kind, def, help]] of Object.entries(flagSpecs)) {
    const flag = kind === "boolean" ? `\`--${name}\` / \`--no-${name}\`` : `\`--${name}\``;
    const shown = def === undefined ? "—" : `\`${String(def)}\``;
    rows.push(
      `| ${flag}${kind === "multiple" ? " (repeatable)" : ""} | ${shown} | ${help.replace(/\|/g, "\\|")} |`,
    );
  }
  return rows.join("\n");
}
