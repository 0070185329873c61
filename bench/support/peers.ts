// The operators a user would pick instead of ours, built from their own Go modules as pinned
// in hack/peers/ (go.mod and go.sum only: no source of theirs is in this repository), the way
// cli/dev/tools.ts builds the control plane. The binary and the CRDs of the same module
// version are kept in a cache outside the repository, keyed by the pins, so a second call is
// a no-op that needs neither Go nor the module proxy.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { goBuild, hackDir } from "../../cli/dev/tools.ts";

export type PeerName = "kuberay" | "training-operator";

interface PeerBuild {
  /** Folder under hack/peers/. */
  module: string;
  /** The upstream module whose version go.mod pins. */
  upstream: string;
  /** Its main package. */
  pkg: string;
  binary: string;
  /** CRD files inside the upstream module, applied as they are. */
  crds: string[];
  ldflags: (version: string) => string[];
}

const peerBuilds: Record<PeerName, PeerBuild> = {
  kuberay: {
    module: "kuberay",
    upstream: "github.com/ray-project/kuberay/ray-operator",
    pkg: "github.com/ray-project/kuberay/ray-operator",
    binary: "ray-operator",
    // The manager starts its RayJob and RayService controllers too, which need their kinds.
    crds: ["rayclusters", "rayjobs", "rayservices"].map((k) => `config/crd/bases/ray.io_${k}.yaml`),
    ldflags: () => [],
  },
  "training-operator": {
    module: "training-operator",
    upstream: "github.com/kubeflow/training-operator",
    pkg: "github.com/kubeflow/training-operator/cmd/training-operator.v1",
    binary: "training-operator",
    // Every scheme is enabled by default, as a user installing it gets; each needs its kind.
    crds: ["jaxjobs", "mpijobs", "paddlejobs", "pytorchjobs", "tfjobs", "xgboostjobs"].map(
      (k) => `manifests/base/crds/kubeflow.org_${k}.yaml`,
    ),
    ldflags: () => [],
  },
};

export interface Peer {
  name: PeerName;
  /** The upstream module version that was built, e.g. v1.5.0. */
  version: string;
  binary: string;
  crdFiles: string[];
}

const moduleDir = (b: PeerBuild): string => join(hackDir, "peers", b.module);

function pinnedVersion(b: PeerBuild): string {
  const goMod = readFileSync(join(moduleDir(b), "go.mod"), "utf8");
  const match = goMod.match(
    new RegExp(`^\\s*(?:require\\s+)?${b.upstream.replaceAll(".", "\\.")} (v\\S+)`, "m"),
  );
  if (!match?.[1]) throw new Error(`hack/peers/${b.module}/go.mod does not pin ${b.upstream}`);
  return match[1];
}

function peerDir(b: PeerBuild): string {
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum"]) hash.update(readFileSync(join(moduleDir(b), file)));
  hash.update(JSON.stringify([b.pkg, b.crds, b.ldflags("v0.0.0")]));
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(
    cache,
    "sovereign-stack",
    "peers",
    `${b.module}-${pinnedVersion(b)}-${hash.digest("hex").slice(0, 12)}`,
  );
}

/** Where `go mod download` put the pinned upstream module (it downloads it if need be). */
function downloadedModuleDir(b: PeerBuild, version: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "go",
      ["mod", "download", "-json", `${b.upstream}@${version}`],
      { cwd: moduleDir(b) },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`go mod download ${b.upstream}@${version} failed: ${stderr || error.message}`));
          return;
        }
        const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
        if (dir) resolve(dir);
        else reject(new Error(`go mod download ${b.upstream}@${version} named no directory`));
      },
    );
  });
}

/** Builds the peer and copies its CRDs into the cache unless both are there already. */
export async function ensurePeer(name: PeerName, log: (line: string) => void = () => {}): Promise<Peer> {
  const b = peerBuilds[name];
  const version = pinnedVersion(b);
  const dir = peerDir(b);
  const binary = join(dir, "bin", b.binary);
  const crdFiles = b.crds.map((f) => join(dir, "crds", basename(f)));
  if (!existsSync(binary) || !crdFiles.every((f) => existsSync(f))) {
    await mkdir(join(dir, "bin"), { recursive: true });
    await mkdir(join(dir, "crds"), { recursive: true });
    const started = performance.now();
    log(`building ${name} ${version} (${b.pkg})`);
    await goBuild({
      moduleDir: moduleDir(b),
      pkg: b.pkg,
      ldflags: b.ldflags(version),
      out: binary,
      log: () => {},
    });
    const source = await downloadedModuleDir(b, version);
    for (const [i, file] of b.crds.entries()) await copyFile(join(source, file), crdFiles[i] as string);
    await writeFile(join(dir, "version.json"), JSON.stringify({ module: b.upstream, version }));
    log(`built ${name} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  return { name, version, binary, crdFiles };
}
