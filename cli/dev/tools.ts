// Builds the real control-plane binaries (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubectl, kwok, helm) from the pinned Go modules in hack/ into a cache
// outside the repository, keyed by the pinned versions, so a second build is a no-op.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { packageFile } from "../package-paths.ts";

export const hackDir = packageFile("hack");

export type ToolName =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubectl"
  | "kwok"
  | "helm";

interface ToolBuild {
  module: string; // folder under hack/
  pkg: string; // Go main package
  // -X flags so that `--version` prints the real release rather than a dev placeholder.
  ldflags: (version: string) => string[];
}

const kubeVersionFlags = (v: string): string[] => {
  const [major, minor] = v.replace(/^v/, "").split(".");
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((p) => [
    `-X ${p}.gitVersion=${v}`,
    `-X ${p}.gitMajor=${major}`,
    `-X ${p}.gitMinor=${minor}`,
    `-X ${p}.gitTreeState=clean`,
    `-X ${p}.buildDate=1970-01-01T00:00:00Z`,
  ]);
};

const builds: Record<ToolName, ToolBuild> = {
  etcd: {
    module: "etcd",
    pkg: "go.etcd.io/etcd/server/v3",
    ldflags: () => ["-X go.etcd.io/etcd/api/v3/version.GitSHA=release"],
  },
  "kube-apiserver": {
    module: "kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-apiserver",
    ldflags: kubeVersionFlags,
  },
  "kube-controller-manager": {
    module: "kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager",
    ldflags: kubeVersionFlags,
  },
  "kube-scheduler": {
    module: "kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-scheduler",
    ldflags: kubeVersionFlags,
  },
  kubectl: { module: "kubernetes", pkg: "k8s.io/kubernetes/cmd/kubectl", ldflags: kubeVersionFlags },
  kwok: {
    module: "kwok",
    pkg: "sigs.k8s.io/kwok/cmd/kwok",
    ldflags: (v) => [`-X sigs.k8s.io/kwok/pkg/consts.Version=${v.replace(/^v/, "")}`],
  },
  helm: {
    module: "helm",
    pkg: "helm.sh/helm/v4/cmd/helm",
    ldflags: (v) => [`-X helm.sh/helm/v4/internal/version.version=${v}`],
  },
};

export const toolNames = Object.keys(builds) as ToolName[];

/** The version of the module that provides `pkg`, read from the pinned go.mod. */
function pinnedVersion(build: ToolBuild): string {
  const goMod = readFileSync(join(hackDir, build.module, "go.mod"), "utf8");
  const owner =
    build.module === "kubernetes"
      ? "k8s.io/kubernetes"
      : build.module === "etcd"
        ? "go.etcd.io/etcd/server/v3"
        : build.pkg.replace(/\/cmd\/.*$/, "");
  const match = goMod.match(new RegExp(`^\\s*${owner.replaceAll(".", "\\.")} (v[^\\s]+)`, "m"));
  if (!match?.[1]) throw new Error(`hack/${build.module}/go.mod does not pin ${owner}`);
  return match[1];
}

/** A key that changes whenever a pinned module or the build recipe changes. */
export function versionKey(): string {
  const hash = createHash("sha256");
  for (const module of ["etcd", "kubernetes", "kwok", "helm"]) {
    hash.update(readFileSync(join(hackDir, module, "go.sum")));
    hash.update(readFileSync(join(hackDir, module, "go.mod")));
  }
  hash.update(JSON.stringify(Object.values(builds).map((b) => [b.pkg, b.ldflags("v0.0.0")])));
  const kube = pinnedVersion(builds["kube-apiserver"]);
  return `${kube}-${hash.digest("hex").slice(0, 12)}`;
}

export function toolsDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "sovereign-stack", "tools", versionKey());
}

export function toolsBinDir(): string {
  return join(toolsDir(), "bin");
}

export function toolPath(name: ToolName): string {
  return join(toolsBinDir(), name);
}

export function missingTools(): ToolName[] {
  return toolNames.filter((name) => !existsSync(toolPath(name)));
}

function run(cmd: string, args: string[], cwd: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CGO_ENABLED: "0" },
    });
    let tail = "";
    const onData = (chunk: Buffer): void => {
      tail = (tail + chunk.toString()).slice(-8000);
      for (const line of chunk.toString().split("\n")) if (line.trim()) log(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.join(" ")} failed (exit ${code}) in ${cwd}:\n${tail}`)),
    );
  });
}

/**
 * `go build` of one main package of the module in moduleDir, stripped, with the given -X
 * flags. The binary is written to a temporary name and renamed, so an interrupted build never
 * leaves a half-written one that a later run would trust.
 */
export async function goBuild(b: {
  moduleDir: string;
  pkg: string;
  ldflags: string[];
  out: string;
  log: (line: string) => void;
}): Promise<void> {
  const tmp = join(dirname(b.out), `.${basename(b.out)}.partial`);
  await rm(tmp, { force: true });
  await run(
    "go",
    ["build", "-v", "-trimpath", "-ldflags", ["-s", "-w", ...b.ldflags].join(" "), "-o", tmp, b.pkg],
    b.moduleDir,
    b.log,
  );
  await rename(tmp, b.out);
}

export type BuildProgress = (event: {
  tool: ToolName;
  index: number;
  total: number;
  state: "building" | "built" | "cached";
  seconds?: number;
  detail?: string;
}) => void;

/** Builds whatever is missing. */
export async function ensureTools(progress: BuildProgress = () => {}): Promise<string> {
  const bin = toolsBinDir();
  await mkdir(bin, { recursive: true });
  const missing = missingTools();
  for (const [index, tool] of toolNames.entries()) {
    if (!missing.includes(tool)) {
      progress({ tool, index, total: toolNames.length, state: "cached" });
      continue;
    }
    const build = builds[tool];
    const version = pinnedVersion(build);
    const started = Date.now();
    progress({ tool, index, total: toolNames.length, state: "building", detail: version });
    await goBuild({
      moduleDir: join(hackDir, build.module),
      pkg: build.pkg,
      ldflags: build.ldflags(version),
      out: join(bin, tool),
      log: (line) => progress({ tool, index, total: toolNames.length, state: "building", detail: line }),
    });
    progress({
      tool,
      index,
      total: toolNames.length,
      state: "built",
      seconds: (Date.now() - started) / 1000,
    });
  }
  await writeFile(
    join(toolsDir(), "versions.json"),
    JSON.stringify(Object.fromEntries(toolNames.map((t) => [t, pinnedVersion(builds[t])])), null, 2),
  );
  return bin;
}
