// stackctl install: the CRDs (server-side apply, then wait until served) and, when the Helm chart
// is there, the operator through helm upgrade --install. The CRDs are rendered from the same
// definitions that generate crds/*.yaml, so an installed package needs no file lookups for them.
// stackctl keeps the CRDs itself and tells the chart not to (crds.install=false): Helm refuses
// to adopt CRDs that something else created, and the CRDs may well be there already (kubectl
// apply -f crds/, stackctl dev, an earlier --crds-only).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PatchStrategy, setHeaderOptions, type V1CustomResourceDefinition } from "@kubernetes/client-node";
import type { Command } from "commander";
import { customResourceDefinition } from "../../crds/crd.ts";
import { resources } from "../../crds/index.ts";
import { toolPath } from "../dev/tools.ts";
import { explain } from "../kube/errors.ts";
import { duration } from "../kube/manifest-flags.ts";
import { FIELD_MANAGER } from "../kube/objects.ts";
import { globalOptions, openSession, type Session } from "../kube/session.ts";
import { fail } from "../output/exit-codes.ts";
import { packageFile } from "../package-paths.ts";

interface InstallFlags {
  crdsOnly?: boolean;
  chart?: string;
  helm?: string;
  release: string;
  operatorNamespace: string;
  set?: string[];
  timeout: number;
}

async function applyCrds(session: Session, out: NodeJS.WritableStream): Promise<string[]> {
  const names: string[] = [];
  for (const kind of resources) {
    const body = customResourceDefinition(kind) as unknown as V1CustomResourceDefinition;
    await explain(() =>
      session.extensions.patchCustomResourceDefinition(
        { name: kind.crdName, body, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      ),
    );
    out.write(`customresourcedefinition.apiextensions.k8s.io/${kind.crdName} serverside-applied\n`);
    names.push(kind.crdName);
  }
  return names;
}

async function waitEstablished(session: Session, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await explain(() => session.extensions.readCustomResourceDefinition({ name }));
      if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw fail("timeout", `CRD ${name} was not established within the timeout`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function helmBinary(explicit: string | undefined): string {
  if (explicit) return explicit;
  try {
    // The helm that `npm run tools` builds, when running from the repository.
    const built = toolPath("helm");
    if (existsSync(built)) return built;
  } catch {}
  return "helm";
}

// Helm's own output (its NOTES) is left out: it would tell the reader to install the CRDs, which
// stackctl has just done.
function runHelm(helm: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(helm, args, { maxBuffer: 16 << 20 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const reason = stderr.trim().split("\n").pop() || error.message;
      reject(
        (error as { code?: unknown }).code === "ENOENT"
          ? fail("usage", `helm not found (${helm}); pass --helm PATH or --crds-only`)
          : fail("failed", `helm upgrade --install failed: ${reason}`),
      );
    });
  });
}

export function registerInstall(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("install")
    .description(
      "install the CRDs and the operator (Helm chart charts/sovereign-stack) into the current cluster",
    )
    .option("--crds-only", "install only the CustomResourceDefinitions")
    .option("--chart <path>", "the operator's Helm chart (default: charts/sovereign-stack of this package)")
    .option("--helm <path>", "helm binary (default: the one `npm run tools` built, else helm on PATH)")
    .option("--release <name>", "Helm release name", "sovereign-stack")
    .option("--operator-namespace <ns>", "namespace of the operator", "sovereign-system")
    .option("--set <key=value>", "chart value, repeatable (image.tag=v1)", (v: string, p: string[] = []) => [
      ...p,
      v,
    ])
    .option("--timeout <duration>", "how long to wait for the CRDs to be served", duration, 60_000)
    .action(async (flags: InstallFlags, cmd: Command) => {
      const globals = globalOptions(cmd);
      const session = openSession(globals);
      const names = await applyCrds(session, out);
      await waitEstablished(session, names, flags.timeout);
      out.write(`${names.length} CRDs established\n`);
      if (flags.crdsOnly) return;
      const chart = flags.chart ?? packageFile("charts/sovereign-stack");
      if (!existsSync(join(chart, "Chart.yaml"))) {
        if (flags.chart) throw fail("usage", `no Helm chart at ${chart}`);
        process.stderr.write(`warning: no Helm chart at ${chart}; installed the CRDs only\n`);
        return;
      }
      const args = [
        "upgrade",
        "--install",
        flags.release,
        chart,
        "--namespace",
        flags.operatorNamespace,
        "--create-namespace",
        "--set",
        "crds.install=false",
        ...(flags.set ?? []).flatMap((v) => ["--set", v]),
      ];
      if (globals.kubeconfig) args.push("--kubeconfig", globals.kubeconfig);
      if (globals.context) args.push("--kube-context", globals.context);
      await runHelm(helmBinary(flags.helm), args);
      out.write(`operator: Helm release ${flags.release} deployed in namespace ${flags.operatorNamespace}\n`);
    });
}
