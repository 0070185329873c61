// Credentials for the API server without @kubernetes/client-node at run time: loading that
// package pulls in its whole generated API (about 85 MB of resident memory, a third of the
// operator's budget) for what amounts to reading a YAML file. This module reads kubeconfig
// files (KUBECONFIG lists merged, first definition wins, relative paths resolved against the
// file), in-cluster service-account credentials, and exec credential plugins; tokens from
// files and plugins are refreshed as they rotate or expire, and so are a plugin's client
// certificates. It is also where the CLI learns where credentials come from (credentialSource):
// one preference order for the operator and stackctl.
//
// A client-node KubeConfig (which tests and the CLI already hold) is accepted as well,
// through a type-only adapter, so the package is only loaded by code that imports it itself.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { load } from "js-yaml";

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** Milliseconds since the epoch after which the client certificate must be asked for again. */
  expiresAt?: number;
}

/** What the HTTP client needs: where the server is, how to trust it, how to prove who we are. */
export interface ClusterConnection {
  readonly server: string;
  /** TLS material for the transport; asked again once it has expired (TlsOptions.expiresAt). */
  tlsOptions(): Promise<TlsOptions>;
  /** Authentication headers for the next request; implementations refresh them as needed. */
  authHeaders(): Promise<Record<string, string>>;
  /** The server refused the credentials (401): forget what is cached, so the next ask is fresh. */
  invalidate?(): void;
}

/** The part of @kubernetes/client-node's KubeConfig the adapter uses. */
export interface KubeConfigLike {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: object): Promise<void>;
}

export type KubeConfigSource = ClusterConnection | KubeConfigLike;

export function isClusterConnection(source: KubeConfigSource): source is ClusterConnection {
  return typeof (source as ClusterConnection).authHeaders === "function";
}

// Re-read token files and re-ask client-node this often: projected service-account tokens
// rotate (hourly by default) and the kubelet refreshes the file well before expiry.
const refreshMs = 30_000;

/** Adapts a client-node KubeConfig (type-only: nothing is imported from the package). */
export function fromKubeConfigLike(kc: KubeConfigLike): ClusterConnection {
  let headers: Record<string, string> = {};
  let at = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;
  const read = async (): Promise<Record<string, unknown>> => {
    const opts: Record<string, unknown> = {};
    await kc.applyToHTTPSOptions(opts);
    return opts;
  };
  return {
    server: kc.getCurrentCluster()?.server ?? "",
    async tlsOptions() {
      const o = await read();
      const tls: TlsOptions = {};
      if (o.ca) tls.ca = o.ca as Buffer;
      if (o.cert) tls.cert = o.cert as Buffer;
      if (o.key) tls.key = o.key as Buffer;
      if (o.rejectUnauthorized !== undefined) tls.rejectUnauthorized = o.rejectUnauthorized as boolean;
      if (o.servername) tls.servername = o.servername as string;
      return tls;
    },
    async authHeaders() {
      if (performance.now() - at < refreshMs) return headers;
      pending ??= (async () => {
        const o = await read();
        const next: Record<string, string> = {};
        for (const [k, v] of Object.entries((o.headers as Record<string, unknown>) ?? {})) {
          if (v !== undefined) next[k] = String(v);
        }
        if (o.auth) next.Authorization = `Basic ${Buffer.from(String(o.auth)).toString("base64")}`;
        headers = next;
        at = performance.now();
      })().finally(() => {
        pending = undefined;
      });
      await pending;
      return headers;
    },
    invalidate() {
      at = Number.NEGATIVE_INFINITY;
    },
  };
}

export function toClusterConnection(source: KubeConfigSource): ClusterConnection {
  return isClusterConnection(source) ? source : fromKubeConfigLike(source);
}

// ---- kubeconfig files -----------------------------------------------------------------------

interface NamedCluster {
  name: string;
  cluster: {
    server?: string;
    "certificate-authority"?: string;
    "certificate-authority-data"?: string;
    "insecure-skip-tls-verify"?: boolean;
    "tls-server-name"?: string;
  };
}

interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }>;
}

interface NamedUser {
  name: string;
  user: {
    token?: string;
    tokenFile?: string;
    username?: string;
    password?: string;
    "client-certificate"?: string;
    "client-certificate-data"?: string;
    "client-key"?: string;
    "client-key-data"?: string;
    exec?: ExecConfig;
    "auth-provider"?: { name?: string };
  };
}

interface NamedContext {
  name: string;
  context: { cluster: string; user: string; namespace?: string };
}

interface KubeconfigFile {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
  "current-context"?: string;
}

const resolve = (base: string, path: string | undefined): string | undefined =>
  path === undefined ? undefined : isAbsolute(path) ? path : join(base, path);

const fileOrData = (file: string | undefined, data: string | undefined): Buffer | undefined =>
  data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined;

/** Kubeconfig files merged, every file path in them absolute. */
export interface MergedKubeconfig {
  clusters: Map<string, ClusterEntry>;
  users: Map<string, UserEntry>;
  contexts: Map<string, ContextEntry>;
  currentContext: string | undefined;
}

export type ClusterEntry = NamedCluster["cluster"];
export type UserEntry = NamedUser["user"];
export type ContextEntry = NamedContext["context"];

/**
 * Reads kubeconfig files as kubectl does: for a list of files the first definition of each
 * cluster, user and context wins, and so does the first current-context. Files that do not
 * exist are skipped, as kubectl skips them.
 */
export function readKubeconfigFiles(paths: readonly string[]): MergedKubeconfig {
  const clusters = new Map<string, ClusterEntry>();
  const users = new Map<string, UserEntry>();
  const contexts = new Map<string, ContextEntry>();
  let current: string | undefined;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const file = (load(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
    const base = dirname(path);
    for (const c of file.clusters ?? []) {
      if (clusters.has(c.name)) continue;
      clusters.set(c.name, {
        ...c.cluster,
        "certificate-authority": resolve(base, c.cluster["certificate-authority"]),
      });
    }
    for (const u of file.users ?? []) {
      if (users.has(u.name)) continue;
      users.set(u.name, {
        ...u.user,
        tokenFile: resolve(base, u.user.tokenFile),
        "client-certificate": resolve(base, u.user["client-certificate"]),
        "client-key": resolve(base, u.user["client-key"]),
      });
    }
    for (const c of file.contexts ?? []) if (!contexts.has(c.name)) contexts.set(c.name, c.context);
    current ??= file["current-context"] || undefined;
  }
  return { clusters, users, contexts, currentContext: current };
}

/** The context to use: `contextName`, else the current one; with its cluster and user. */
function selectContext(
  config: MergedKubeconfig,
  paths: readonly string[],
  contextName?: string,
): { name: string; context: ContextEntry; cluster: ClusterEntry & { server: string }; user: UserEntry } {
  const { clusters, users, contexts } = config;
  const name = contextName ?? config.currentContext;
  if (!name) throw new Error(`no current context in ${paths.join(", ")}`);
  const context = contexts.get(name);
  if (!context) throw new Error(`context ${name} not found in ${paths.join(", ")}`);
  const cluster = clusters.get(context.cluster);
  if (!cluster?.server) throw new Error(`cluster ${context.cluster} of context ${name} has no server`);
  const user = users.get(context.user) ?? {};
  return { name, context, cluster: { ...cluster, server: cluster.server }, user };
}

/** A connection from kubeconfig files (see readKubeconfigFiles), for `contextName` or the current context. */
export function loadKubeconfigFiles(paths: readonly string[], contextName?: string): ClusterConnection {
  const { context, cluster, user } = selectContext(readKubeconfigFiles(paths), paths, contextName);
  if (user["auth-provider"]) {
    throw new Error(
      `user ${context.user}: auth-provider ${user["auth-provider"].name ?? ""} is not supported; use an exec credential plugin`,
    );
  }

  const staticTls: TlsOptions = {};
  const ca = fileOrData(cluster["certificate-authority"], cluster["certificate-authority-data"]);
  if (ca) staticTls.ca = ca;
  if (cluster["insecure-skip-tls-verify"]) staticTls.rejectUnauthorized = false;
  if (cluster["tls-server-name"]) staticTls.servername = cluster["tls-server-name"];
  const cert = fileOrData(user["client-certificate"], user["client-certificate-data"]);
  const key = fileOrData(user["client-key"], user["client-key-data"]);
  if (cert) staticTls.cert = cert;
  if (key) staticTls.key = key;

  const exec = user.exec ? execCredentials(user.exec) : undefined;
  const tokenFile = user.tokenFile ? fileToken(user.tokenFile) : undefined;
  return {
    server: cluster.server,
    async tlsOptions() {
      if (!exec) return staticTls;
      const { status: credential, until } = await exec.get();
      if (!credential.clientCertificateData && !credential.clientKeyData) return staticTls;
      // A plugin's certificate expires like its tokens: the client asks again after `until`.
      const tls: TlsOptions = { ...staticTls, expiresAt: until };
      if (credential.clientCertificateData) tls.cert = Buffer.from(credential.clientCertificateData);
      if (credential.clientKeyData) tls.key = Buffer.from(credential.clientKeyData);
      return tls;
    },
    async authHeaders(): Promise<Record<string, string>> {
      if (exec) {
        const { status: credential } = await exec.get();
        return credential.token ? { Authorization: `Bearer ${credential.token}` } : {};
      }
      if (tokenFile) return { Authorization: `Bearer ${tokenFile.read()}` };
      if (user.token) return { Authorization: `Bearer ${user.token}` };
      if (user.username !== undefined) {
        return {
          Authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`,
        };
      }
      return {};
    },
    invalidate() {
      exec?.forget();
      tokenFile?.forget();
    },
  };
}

interface Cached<T> {
  /** The value, fetched again once stale or forgotten. */
  get(): T;
  /** The server refused it: fetch it again on the next get(). */
  forget(): void;
}

/** A token file, re-read every refresh period (it rotates underneath us). */
function fileToken(path: string): { read(): string; forget(): void } {
  let token = "";
  let at = Number.NEGATIVE_INFINITY;
  return {
    read() {
      if (performance.now() - at >= refreshMs) {
        token = readFileSync(path, "utf8").trim();
        at = performance.now();
      }
      return token;
    },
    forget() {
      at = Number.NEGATIVE_INFINITY;
    },
  };
}

interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

interface ExecCredential {
  status: ExecCredentialStatus;
  /** When to run the plugin again: a minute before its expirationTimestamp, or never. */
  until: number;
}

/** Runs an exec credential plugin, caching its answer until shortly before it expires. */
function execCredentials(config: ExecConfig): Cached<Promise<ExecCredential>> {
  let cached: ExecCredential | undefined;
  let pending: Promise<ExecCredential> | undefined;
  const run = (): Promise<ExecCredentialStatus> =>
    new Promise((resolve, reject) => {
      const apiVersion = config.apiVersion ?? "client.authentication.k8s.io/v1";
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        KUBERNETES_EXEC_INFO: JSON.stringify({
          apiVersion,
          kind: "ExecCredential",
          spec: { interactive: false },
        }),
      };
      for (const e of config.env ?? []) env[e.name] = e.value;
      execFile(config.command, config.args ?? [], { env, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`exec credential plugin ${config.command} failed: ${stderr || error.message}`));
          return;
        }
        try {
          const status = (JSON.parse(stdout) as { status?: ExecCredentialStatus }).status ?? {};
          resolve(status);
        } catch (e) {
          reject(
            new Error(`exec credential plugin ${config.command} printed no ExecCredential: ${String(e)}`),
          );
        }
      });
    });
  return {
    async get() {
      if (cached && Date.now() < cached.until) return cached;
      pending ??= run()
        .then((status) => {
          const expires = status.expirationTimestamp
            ? Date.parse(status.expirationTimestamp)
            : Number.POSITIVE_INFINITY;
          // Renew a minute early so no request leaves with a credential about to expire.
          cached = { status, until: expires - 60_000 };
          return cached;
        })
        .finally(() => {
          pending = undefined;
        });
      return pending;
    },
    forget() {
      cached = undefined;
    },
  };
}

// ---- in-cluster -------------------------------------------------------------------------------

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

export function isInCluster(): boolean {
  return !!process.env.KUBERNETES_SERVICE_HOST && existsSync(join(serviceAccountDir, "token"));
}

/** The pod's service account: the token file is re-read as the kubelet rotates it. */
export function loadInCluster(dir = serviceAccountDir): ClusterConnection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new Error("not running in a cluster: KUBERNETES_SERVICE_HOST is not set");
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const token = fileToken(join(dir, "token"));
  const ca = readFileSync(join(dir, "ca.crt"));
  return {
    server: `https://${hostPart}:${port}`,
    tlsOptions: async () => ({ ca }),
    authHeaders: async () => ({ Authorization: `Bearer ${token.read()}` }),
    invalidate: () => token.forget(),
  };
}

// ---- where credentials come from --------------------------------------------------------------

export type CredentialSource = { kind: "files"; paths: string[] } | { kind: "in-cluster" };

/**
 * The one preference order, for the operator and stackctl alike (controller-runtime's):
 * --kubeconfig, else $KUBECONFIG (a list of files), else the in-cluster service account, else
 * ~/.kube/config. In a pod the service account wins over a stray config file in the image.
 */
export function credentialSource(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
  inCluster: () => boolean = isInCluster,
): CredentialSource {
  if (path) return { kind: "files", paths: [path] };
  const fromEnv = env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
  if (fromEnv.length > 0) return { kind: "files", paths: fromEnv };
  if (inCluster()) return { kind: "in-cluster" };
  return { kind: "files", paths: [join(homedir(), ".kube", "config")] };
}

/** The connection credentialSource(path) points at, for `context` or the current context. */
export function loadClusterConnection(path?: string, context?: string): ClusterConnection {
  const source = credentialSource(path);
  return source.kind === "in-cluster" ? loadInCluster() : loadKubeconfigFiles(source.paths, context);
}
