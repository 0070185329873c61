// The connection a command works through, from the global flags the way kubectl reads them:
// --kubeconfig, else $KUBECONFIG (a list of files), else ~/.kube/config, else the in-cluster
// service account; --context picks a context; -n overrides the context's namespace.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { fail } from "../output/exit-codes.ts";
import { rememberServer } from "./errors.ts";

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  verbose?: boolean;
}

export interface Session {
  kc: k8s.KubeConfig;
  server: string;
  /** -n, else the context's namespace, else "default". */
  namespace: string;
  custom: k8s.CustomObjectsApi;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  extensions: k8s.ApiextensionsV1Api;
}

export const globalOptions = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();

function loadConfig(opts: GlobalOptions): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const load = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      throw fail("noCluster", `cannot load kubeconfig ${what}: ${(error as Error).message}`);
    }
  };
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig)) throw fail("noCluster", `kubeconfig ${opts.kubeconfig} does not exist`);
    load(opts.kubeconfig, () => kc.loadFromFile(opts.kubeconfig as string));
    return kc;
  }
  const fromEnv = (process.env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  const home = join(homedir(), ".kube", "config");
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST);
  if (fromEnv.length > 0 && !fromEnv.some((f) => existsSync(f)))
    throw fail("noCluster", `no file of KUBECONFIG=${process.env.KUBECONFIG} exists`);
  if (fromEnv.length === 0 && !existsSync(home) && !inCluster)
    throw fail("noCluster", "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config");
  load(fromEnv.length > 0 ? (process.env.KUBECONFIG ?? "") : home, () => kc.loadFromDefault());
  return kc;
}

export function openSession(opts: GlobalOptions): Session {
  const kc = loadConfig(opts);
  if (opts.context) {
    if (!kc.getContextObject(opts.context))
      throw fail("noCluster", `context "${opts.context}" is not in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw fail("noCluster", "the kubeconfig has no current context; pass --context");
  rememberServer(cluster.server);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return {
    kc,
    server: cluster.server,
    namespace: opts.namespace || contextNamespace || "default",
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    extensions: kc.makeApiClient(k8s.ApiextensionsV1Api),
  };
}

/** Session for a command's action: the global flags come from the command's ancestors. */
export const sessionFor = (cmd: Command): Session => openSession(globalOptions(cmd));
