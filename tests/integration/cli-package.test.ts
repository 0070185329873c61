// What npm publishes runs without the repository: `npm run build` compiles cli/, crds/,
// operator/ and controllers/ to dist/, and the files `npm pack` would ship, copied into a
// node_modules directory elsewhere (where Node strips no types), run as `stackctl` through the
// bin link: help, offline validation, a listing from the cluster, and `stackctl dev`.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { expect, test } from "vitest";
import { toolPath } from "../../cli/dev/tools.ts";
import { repoRoot, run } from "./cli-harness.ts";

test("npm run build, then the packed files run as an installed package", async () => {
  const build = await run("npm", ["run", "build"]);
  expect(build.code, build.stdout + build.stderr).toBe(0);

  const pack = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"]);
  expect(pack.code, pack.stderr).toBe(0);
  const files =
    (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
  expect(files).toContain("dist/cli/stackctl.js");
  // The console's front end, bundled: the installed package serves it without a bundler.
  for (const asset of ["app.js", "app.css", "index.html"])
    expect(files).toContain(`dist/console/web/${asset}`);
  expect(files).toContain("crds/stack.sovereign.dev_trainingjobs.yaml");
  expect(files.filter((f) => f.endsWith(".ts"))).toEqual([]);
  expect(files.filter((f) => f.startsWith("tests/"))).toEqual([]);

  const root = mkdtempSync(join(tmpdir(), "stackctl-installed-"));
  const pkg = join(root, "node_modules", "sovereign-stack");
  for (const file of files) {
    mkdirSync(dirname(join(pkg, file)), { recursive: true });
    copyFileSync(join(repoRoot, file), join(pkg, file));
  }
  // The dependencies, as npm would install them next to the package.
  symlinkSync(join(repoRoot, "node_modules"), join(pkg, "node_modules"), "dir");
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const bin = join(root, "node_modules", ".bin");
  mkdirSync(bin);
  for (const [name, target] of Object.entries(manifest.bin)) {
    expect(files).toContain(target);
    chmodSync(join(pkg, target), 0o755);
    symlinkSync(join("..", "sovereign-stack", target), join(bin, name));
  }
  const env = { PATH: [bin, dirname(process.execPath), process.env.PATH].join(delimiter) };
  const stackctl = (...args: string[]) => run(join(bin, "stackctl"), args, { env, cwd: root });

  const help = await stackctl("--help");
  expect(help.stderr).toBe("");
  expect(help.stdout).toMatch(/^Usage: stackctl /);
  expect(help.stdout).toContain("Exit codes:");

  mkdirSync(join(root, "samples"));
  for (const sample of ["trainingjob", "raycluster", "inferenceservice", "acceleratorpool-h100"])
    copyFileSync(join(repoRoot, "samples", `${sample}.yaml`), join(root, "samples", `${sample}.yaml`));
  const valid = await stackctl("validate", "-f", "samples");
  expect(valid.code, valid.stdout + valid.stderr).toBe(0);
  expect(valid.stdout.match(/: valid$/gm)).toHaveLength(4);

  const dry = await stackctl("train", "submit", "--name", "x", "--image", "i:1", "--dry-run", "--", "python");
  expect(dry.stdout).toContain("kind: TrainingJob");

  // The kubectl plugin is the same program. Other test files create and delete their own
  // (cluster-scoped) pools meanwhile, so the two listings are taken again until none did so
  // between them.
  const listings = async () =>
    [
      await stackctl("get", "ap", "-o", "name"),
      await run(join(bin, "kubectl-stack"), ["get", "ap", "-o", "name"], { env, cwd: root }),
    ] as const;
  let [listed, plugin] = await listings();
  for (let i = 1; i < 5 && plugin.stdout !== listed.stdout; i++) [listed, plugin] = await listings();
  expect(listed.code, listed.stderr).toBe(0);
  expect(plugin.stdout).toBe(listed.stdout);

  // The local stack from the installed package: the Go modules of hack/, the samples and the
  // compiled supervisor and operator are found inside it (the binaries are already cached).
  const devEnv = { ...env, XDG_STATE_HOME: join(root, "state") };
  const dev = (...args: string[]) => run(join(bin, "stackctl"), ["dev", ...args], { env: devEnv, cwd: root });
  try {
    const tools = await dev("tools");
    expect(tools.code, tools.stderr).toBe(0);
    const up = await dev("up", "--no-demo");
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const kubeconfig = up.stdout.trim().split("\n").at(-1)?.replace("export KUBECONFIG=", "") ?? "";
    expect((await dev("status")).stdout).toMatch(/operator\s+pid \d+\s+running/);
    const pools = await run(join(bin, "stackctl"), ["get", "ap", "-o", "name"], {
      env: { ...devEnv, KUBECONFIG: kubeconfig },
      cwd: root,
    });
    const workloads = await run(join(bin, "stackctl"), ["get", "tj,rayc,isvc", "-A", "-o", "name"], {
      env: { ...devEnv, KUBECONFIG: kubeconfig },
      cwd: root,
    });
    expect(workloads.stdout.trim(), "--no-demo applies no workload").toBe("");
    expect(pools.stdout.trim().split("\n").sort()).toEqual([
      "acceleratorpool.stack.sovereign.dev/h100",
      "acceleratorpool.stack.sovereign.dev/mi300x",
      "acceleratorpool.stack.sovereign.dev/tpu-v5e",
    ]);
    // The samples the package ships, as the README applies them: the simulated storage binds
    // their claims, and each reaches its ready state.
    const kubectl = (...args: string[]) =>
      run(toolPath("kubectl"), args, { env: { ...devEnv, KUBECONFIG: kubeconfig }, cwd: root });
    const applied = await kubectl("apply", "-f", join(pkg, "samples"));
    expect(applied.code, applied.stderr).toBe(0);
    const phase = async (kind: string, name: string) =>
      (await kubectl("get", kind, name, "-o", "jsonpath={.status.phase}")).stdout;
    await expect
      .poll(
        async () => [
          await phase("tj", "llama-finetune"),
          await phase("rayc", "research"),
          await phase("isvc", "llama-8b"),
        ],
        { timeout: 90_000, interval: 1000 },
      )
      .toEqual(["Running", "Ready", "Ready"]);
  } finally {
    const down = await dev("down");
    expect(down.stdout).toContain("stopped");
  }
});
