// Exit codes of stackctl, one per class of failure, so scripts can tell "fix your command" from
// "the cluster is down" from "the job failed" without parsing messages.
import { CliError } from "../errors.ts";

export const exitCodes = {
  /** The operation failed for another reason (an unexpected API error, invalid documents in validate). */
  failed: 1,
  /** Unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** The KIND argument names no kind of the API. */
  unknownKind: 3,
  /** No kubeconfig, unknown context, or the API server did not answer. */
  noCluster: 4,
  /** The named object, or the pods of a workload, do not exist. */
  notFound: 5,
  /** A manifest fails validation, offline or by the API server. */
  invalidManifest: 6,
  /** The API server refused the credentials or the permission. */
  forbidden: 7,
  /** --wait: the workload reached a failed state. */
  workloadFailed: 8,
  /** --wait: the workload did not get ready within --timeout (install: the CRDs were not served). */
  timeout: 9,
} as const;

export type ExitClass = keyof typeof exitCodes;

export const fail = (exit: ExitClass, message: string): CliError => new CliError(message, exitCodes[exit]);

/** The table printed by --help and written to docs/cli.md. */
export function exitCodesHelp(): string {
  const rows: [number, string][] = [
    [0, "success"],
    [exitCodes.failed, "the operation failed (an API error not listed below; invalid documents in validate)"],
    [exitCodes.usage, "usage error: unknown command or flag, missing or malformed argument"],
    [exitCodes.unknownKind, "unknown kind"],
    [exitCodes.noCluster, "no cluster reachable: no kubeconfig, unknown context, API server not answering"],
    [exitCodes.notFound, "object not found (or a workload has no pods yet)"],
    [exitCodes.invalidManifest, "invalid manifest, found offline or by the API server"],
    [exitCodes.forbidden, "unauthorized or forbidden"],
    [exitCodes.workloadFailed, "--wait: the workload failed"],
    [exitCodes.timeout, "timed out: --wait, or install waiting for the CRDs"],
  ];
  return rows.map(([code, what]) => `  ${String(code).padStart(2)}  ${what}`).join("\n");
}
