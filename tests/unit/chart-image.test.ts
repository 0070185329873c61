// The operator image as the Dockerfile describes it (there is no Docker here to build it):
// Node 24, production dependencies only, a non-root user, the entry point of `npm start`, and
// every file that entry point imports inside the build context and copied into the image.
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { repoRoot } from "../../crds/generate.ts";

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions with continuation lines joined; `stage` counts FROMs from 0. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = "";
  }
  let stage = -1;
  return logical.map((l) => {
    const [keyword = "", ...rest] = l.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === "FROM") stage += 1;
    return { keyword: upper, args: rest.join(" "), stage };
  });
}

const read = (path: string): string => readFileSync(join(repoRoot, path), "utf8");
const dockerfile = parseDockerfile(read("Dockerfile"));
const packageJson = JSON.parse(read("package.json")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const inFinal = dockerfile.filter((i) => i.stage === finalStage);
const argDefaults = new Map(
  dockerfile
    .filter((i) => i.keyword === "ARG" && i.args.includes("="))
    .map((i) => [i.args.slice(0, i.args.indexOf("=")), i.args.slice(i.args.indexOf("=") + 1)] as const),
);
const expand = (s: string): string =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => argDefaults.get(a ?? b) ?? "");

/** Files reachable from `entry` through relative imports, and the packages they import. */
function importClosure(entry: string): { files: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  const specifier =
    /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    for (const m of read(file).matchAll(specifier)) {
      const spec = m[1] ?? m[2] ?? "";
      // `import type` is erased by type stripping: it never loads anything at run time.
      if (/^\s*(?:import|export)\s+type\s/.test(m[0].trimStart())) continue;
      if (spec.startsWith(".")) pending.push(normalize(join(dirname(file), spec)));
      else
        packages.add(
          spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? ""),
        );
    }
  }
  return { files: [...files].sort(), packages };
}

/** A COPY source or .dockerignore pattern against a context-relative path (Docker's globs). */
function globMatches(pattern: string, path: string): boolean {
  const p = pattern.replace(/^\.\//, "").replace(/\/$/, "");
  const regex = new RegExp(
    `^${p
      .split("**")
      .map((part) =>
        part
          .split("*")
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
          .join("[^/]*"),
      )
      .join(".*")
      .replace(/\/\.\*\//g, "(?:/.*/|/)")}(?:/.*)?$`,
  );
  return regex.test(path);
}

/** Whether .dockerignore leaves `path` in the build context (last matching pattern wins). */
function inBuildContext(ignore: string[], path: string): boolean {
  let included = true;
  for (const line of ignore) {
    const negated = line.startsWith("!");
    if (globMatches(negated ? line.slice(1) : line, path)) included = negated;
  }
  return included;
}

const dockerignore = read(".dockerignore")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

describe("the operator image (Dockerfile)", () => {
  test("every stage is built on Node 24", () => {
    const bases = dockerfile
      .filter((i) => i.keyword === "FROM")
      .map((i) => expand(i.args.split(/\s+/)[0] ?? ""));
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^(docker\.io\/(library\/)?)?node:24([.-]|$)/);
  });

  test("installs production dependencies only, from the lockfile, without install scripts", () => {
    // The stage that bundles the console's front end installs its two build tools, nothing else,
    // and the final stage takes only the bundle from it.
    const webStage = dockerfile.find((i) => i.keyword === "FROM" && /\sAS\s+web$/i.test(i.args))?.stage;
    const webInstalls = dockerfile.filter(
      (i) => i.stage === webStage && i.keyword === "RUN" && /\bnpm\b/.test(i.args),
    );
    expect(webInstalls.map((i) => i.args)).toEqual([
      `npm install --no-save --ignore-scripts --no-audit --no-fund esbuild@${packageJson.devDependencies.esbuild?.replace(/^\^/, "")} preact@${packageJson.devDependencies.preact?.replace(/^\^/, "")}`,
    ]);
    expect(inFinal.filter((i) => i.args.startsWith("--from=web")).map((i) => i.args)).toEqual([
      "--from=web /app/console/web/dist/ ./console/web/dist/",
    ]);
    const runs = dockerfile.filter((i) => i.keyword === "RUN" && i.stage !== webStage).map((i) => i.args);
    const installs = runs.filter((r) => /\bnpm\s+(ci|install|i)\b/.test(r));
    expect(installs.length).toBe(1);
    expect(installs[0]).toMatch(/\bnpm ci\b/);
    expect(installs[0]).toContain("--omit=dev");
    expect(installs[0]).toContain("--ignore-scripts");
    // node_modules of the final image come from that install, never from the build context.
    expect(inBuildContext(dockerignore, "node_modules/vitest/package.json")).toBe(false);
  });

  test("--ignore-scripts loses nothing: no production package in the lockfile has an install script", () => {
    const lock = JSON.parse(read("package-lock.json")) as {
      packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
    };
    const scripted = Object.entries(lock.packages)
      .filter(([path, p]) => path !== "" && !p.dev && p.hasInstallScript)
      .map(([path]) => path);
    expect(scripted).toEqual([]);
  });

  test("the final stage runs as a numeric non-root user, set before the command", () => {
    const users = inFinal.filter((i) => i.keyword === "USER");
    const user = users.at(-1);
    expect(user, "USER in the final stage").toBeDefined();
    const [uid, gid] = (user?.args ?? "").split(":");
    // runAsNonRoot can only verify a numeric uid.
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
    expect(inFinal.indexOf(user as Instruction)).toBeLessThan(inFinal.findIndex((i) => i.keyword === "CMD"));
  });

  test("runs the entry point of `npm start`, which the chart states as its command too", () => {
    const cmd = inFinal.find((i) => i.keyword === "CMD");
    expect(inFinal.some((i) => i.keyword === "ENTRYPOINT")).toBe(false);
    const argv = JSON.parse(cmd?.args ?? "null") as string[];
    expect(argv).toEqual((packageJson.scripts.start ?? "").split(" "));
    const deployment = read("charts/sovereign-stack/templates/deployment.yaml");
    const command = /^\s*command:\s*(\[.*\])\s*$/m.exec(deployment)?.[1];
    expect(JSON.parse(command ?? "null")).toEqual(argv);
  });

  test.each(["cmd/operator.ts", "console/server/main.ts"])(
    "everything %s imports is in the build context and copied into the image",
    (entry) => {
      const { files } = importClosure(entry);
      expect(files.length).toBeGreaterThan(10);
      const sources = inFinal
        .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
        .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
      for (const file of files) {
        expect(inBuildContext(dockerignore, file), `${file} excluded by .dockerignore`).toBe(true);
        expect(
          sources.some((s) => globMatches(s, file)),
          `${file} is not copied`,
        ).toBe(true);
      }
    },
  );

  test.each(["cmd/operator.ts", "console/server/main.ts"])(
    "what %s imports at run time is a production dependency",
    (entry) => {
      const { packages } = importClosure(entry);
      const runtime = [...packages].filter((p) => !p.startsWith("node:") && !builtinModules.includes(p));
      expect(runtime.length).toBeGreaterThan(0);
      for (const p of runtime) expect(Object.keys(packageJson.dependencies), p).toContain(p);
    },
  );

  test("the build context leaves out what the image must not carry", () => {
    for (const path of [
      ".git/config",
      "tests/unit/x.test.ts",
      "cli/stackctl.ts",
      "hack/go.mod",
      "charts/x",
      "bench/run.ts",
    ]) {
      expect(inBuildContext(dockerignore, path), path).toBe(false);
    }
  });
});

describe("the helpers of this test", () => {
  test.each([
    ["crds/*.ts", "crds/index.ts", true],
    ["crds/*.ts", "crds/x/index.ts", false],
    ["operator/", "operator/run.ts", true],
    ["cmd/", "cmd/operator.ts", true],
    ["operator/", "operators/run.ts", false],
    ["controllers/**/*.md", "controllers/trainingjob/README.md", true],
    ["*", "anything/at/all", true],
  ])("glob %s against %s is %s", (pattern, path, expected) => {
    expect(globMatches(pattern, path)).toBe(expected);
  });

  test("import closure follows relative imports and skips type-only ones", () => {
    const { files } = importClosure("cmd/operator.ts");
    expect(files).toContain("controllers/trainingjob/index.ts");
    expect(files.every((f) => !relative(".", f).startsWith(".."))).toBe(true);
  });
});
