// The connection a command works through, from the global flags. Credentials come from where
// the operator takes them (operator/kubeconfig.ts, credentialSource): --kubeconfig, else
// $KUBECONFIG (a list of files, merged as kubectl merges them), else the in-cluster service
// account, else ~/.kube/config. --context picks a context; -n overrides the context's namespace.
import { existsSync, readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { credentialSource, type MergedKubeconfig, readKubeconfigFiles } from "../../operator/kubeconfig.ts";
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
  const source = credentialSource(opts.kubeconfig);
  const load = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      throw fail("noCluster", `cannot load ${what}: ${(error as Error).message}`);
    }
  };
  if (source.kind === "in-cluster") {
    load("the in-cluster service account", () => kc.loadFromCluster());
    return kc;
  }
  const { paths } = source;
  if (!paths.some((f) => existsSync(f))) {
    if (opts.kubeconfig) throw fail("noCluster", `kubeconfig ${opts.kubeconfig} does not exist`);
    if (process.env.KUBECONFIG)
      throw fail("noCluster", `no file of KUBECONFIG=${process.env.KUBECONFIG} exists`);
    throw fail("noCluster", "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config");
  }
  load(`kubeconfig ${paths.join(", ")}`, () =>
    kc.loadFromOptions(clientNodeOptions(readKubeconfigFiles(paths))),
  );
  return kc;
}

/** The merged files in client-node's shape (its own loader merges differently and reads `token-file`). */
function clientNodeOptions(config: MergedKubeconfig): object {
  return {
    clusters: [...config.clusters].map(([name, c]) => ({
      name,
      server: c.server ?? "",
      caFile: c["certificate-authority"],
      caData: c["certificate-authority-data"],
      skipTLSVerify: c["insecure-skip-tls-verify"] ?? false,
      tlsServerName: c["tls-server-name"],
    })),
    users: [...config.users].map(([name, u]) => ({
      name,
      token: u.token,
      // A CLI command is over long before a rotating token file changes.
      ...(u.tokenFile && !u.token && existsSync(u.tokenFile)
        ? { token: readFileSync(u.tokenFile, "utf8").trim() }
        : {}),
      username: u.username,
      password: u.password,
      certFile: u["client-certificate"],
      certData: u["client-certificate-data"],
      keyFile: u["client-key"],
      keyData: u["client-key-data"],
      exec: u.exec,
      authProvider: u["auth-provider"],
    })),
    contexts: [...config.contexts].map(([name, c]) => ({ name, ...c })),
    currentContext: config.currentContext ?? "",
  };
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
