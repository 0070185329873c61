// Runs a manager as a process: flags in, controllers registered, SIGTERM/SIGINT handled.
// cmd/operator.ts calls it with the project's controllers; tests call it with their own.

import { loadClusterConnection } from "./kubeconfig.ts";
import { createLogger, describeError } from "./log.ts";
import { Manager } from "./manager.ts";
import { parseOperatorOptions } from "./options.ts";

/** Registers the controllers (and whatever they share) on the manager built from the flags. */
export type OperatorSetup = (manager: Manager) => void;

export async function runOperator(
  setup: OperatorSetup,
  argv: readonly string[] = process.argv,
): Promise<void> {
  const options = parseOperatorOptions(argv);
  const log = createLogger({ level: options.logLevel });
  const manager = new Manager({
    kubeConfig: loadClusterConnection(options.kubeconfig),
    namespaces: options.namespaces,
    workers: options.workers,
    qps: options.kubeApiQps,
    burst: options.kubeApiBurst,
    metricsBindAddress: options.metricsBindAddress,
    healthProbeBindAddress: options.healthProbeBindAddress,
    leaderElection: options.leaderElect
      ? { namespace: options.leaderElectionNamespace, id: options.leaderElectionId }
      : undefined,
    watchLivenessDeadlineMs: options.watchLivenessDeadlineSeconds * 1000,
    relistPeriodMs: options.relistPeriodSeconds * 1000,
    gracefulShutdownTimeoutMs: options.gracefulShutdownTimeoutSeconds * 1000,
    log,
  });
  setup(manager);
  if (manager.controllers.length === 0)
    log.warn("no controllers registered; the operator only serves probes");

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    // A second signal means the operator (or kubelet) is out of patience.
    if (signals > 1) process.exit(1);
    log.info("shutting down", { signal });
    manager.stop().then(
      () => process.exit(0),
      (error) => {
        log.error("shutdown failed", { error: describeError(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  await manager.start();
}
