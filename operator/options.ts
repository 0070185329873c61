// Command-line flags of the operator, named as kubebuilder operators name them so that
// manifests and habits carry over: --metrics-bind-address, --health-probe-bind-address,
// --leader-elect, --kube-api-qps, ...
import { existsSync, readFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import type { LogLevel } from "./log.ts";

export interface OperatorOptions {
  kubeconfig?: string;
  namespaces: string[];
  workers: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  watchLivenessDeadlineSeconds: number;
  relistPeriodSeconds: number;
  gracefulShutdownTimeoutSeconds: number;
  logLevel: LogLevel;
}

const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Where the operator runs: the pod's namespace in a cluster, else "default". */
function ownNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  if (existsSync(serviceAccountNamespaceFile))
    return readFileSync(serviceAccountNamespaceFile, "utf8").trim();
  return "default";
}

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

const nonNegative = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number >= 0");
  return n;
};

// Repeatable and comma-separated: --namespace a --namespace b,c
const collectNamespaces = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

export function operatorCommand(name = "sovereign-stack-operator"): Command {
  return new Command()
    .name(name)
    .description(
      "Reconciles Sovereign Stack resources: pools, training jobs, Ray clusters, inference services",
    )
    .option(
      "--kubeconfig <path>",
      "kubeconfig file (default: $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)",
    )
    .option(
      "--namespace <ns>",
      "namespace to watch (repeatable or comma-separated; default: all)",
      collectNamespaces,
      [],
    )
    .option("--workers <n>", "concurrent reconciles per controller", positiveInt, 4)
    .option("--kube-api-qps <n>", "queries per second to the API server (0: unlimited)", nonNegative, 50)
    .option("--kube-api-burst <n>", "burst of queries to the API server", positiveInt, 100)
    .option("--metrics-bind-address <addr>", "address of /metrics (0 disables)", ":8080")
    .option("--health-probe-bind-address <addr>", "address of /healthz and /readyz (0 disables)", ":8081")
    .option("--leader-elect", "elect a leader among replicas through a Lease", false)
    .option("--leader-election-namespace <ns>", "namespace of the Lease", ownNamespace())
    .option("--leader-election-id <name>", "name of the Lease", "sovereign-stack-operator")
    .option(
      "--watch-liveness-deadline <seconds>",
      "/healthz fails when a watch has been down this long (a hung one is closed after 150 s of silence)",
      nonNegative,
      180,
    )
    .option(
      "--relist-period <seconds>",
      "full relist of every watched kind this often (0: never)",
      nonNegative,
      3600,
    )
    .option(
      "--graceful-shutdown-timeout <seconds>",
      "time reconciles get to finish on SIGTERM",
      nonNegative,
      30,
    )
    .option("--log-level <level>", "debug, info, warn or error", "info");
}

export function parseOperatorOptions(
  argv: readonly string[],
  from: "node" | "user" = "node",
): OperatorOptions {
  const command = operatorCommand().exitOverride();
  command.parse([...argv], { from });
  const o = command.opts<{
    kubeconfig?: string;
    namespace: string[];
    workers: number;
    kubeApiQps: number;
    kubeApiBurst: number;
    metricsBindAddress: string;
    healthProbeBindAddress: string;
    leaderElect: boolean;
    leaderElectionNamespace: string;
    leaderElectionId: string;
    watchLivenessDeadline: number;
    relistPeriod: number;
    gracefulShutdownTimeout: number;
    logLevel: string;
  }>();
  const level = o.logLevel;
  if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
    throw new InvalidArgumentError(`--log-level ${level}: must be debug, info, warn or error`);
  }
  return {
    kubeconfig: o.kubeconfig,
    namespaces: [...new Set(o.namespace)],
    workers: o.workers,
    kubeApiQps: o.kubeApiQps,
    kubeApiBurst: o.kubeApiBurst,
    metricsBindAddress: o.metricsBindAddress,
    healthProbeBindAddress: o.healthProbeBindAddress,
    leaderElect: o.leaderElect,
    leaderElectionNamespace: o.leaderElectionNamespace,
    leaderElectionId: o.leaderElectionId,
    watchLivenessDeadlineSeconds: o.watchLivenessDeadline,
    relistPeriodSeconds: o.relistPeriod,
    gracefulShutdownTimeoutSeconds: o.gracefulShutdownTimeout,
    logLevel: level,
  };
}
