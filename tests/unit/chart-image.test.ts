// The operator image as the Dockerfile describes it (there is no Docker here to build it):
// Node 24, production dependencies only, a non-root user, the compiled entry point of
// `npm start`, and every file that entry point imports inside the build context and compiled.
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
    const installs = dockerfile.filter((i) => i.keyword === "RUN" && /\bnpm\s+(ci|install|i)\b/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) {
      expect(install.args).toMatch(/\bnpm ci\b/);
      expect(install.args).toContain("--ignore-scripts");
    }
    // The final stage's packages come from the stage that installed without dev dependencies.
    const copied = inFinal.filter((i) => i.keyword === "COPY" && /node_modules/.test(i.args));
    expect(copied.length).toBe(1);
    const from = /--from=(\S+)/.exec(copied[0]?.args ?? "")?.[1];
    const fromStage = dockerfile.find(
      (i) => i.keyword === "FROM" && i.args.split(/\s+/).at(-1) === from,
    )?.stage;
    const prodInstall = installs.find((i) => i.stage === fromStage);
    expect(prodInstall?.args).toContain("--omit=dev");
    // The build stage also bundles the console's front end, and the final stage takes it with
    // the compiled tree: no bundler or front-end package reaches the image's node_modules.
    expect(
      dockerfile.some((i) => i.keyword === "RUN" && i.args.includes("console/build-web.ts dist/console/web")),
    ).toBe(true);
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

  test("runs the compiled entry point of `npm start`, which the chart states as its command too", () => {
    const cmd = inFinal.find((i) => i.keyword === "CMD");
    expect(inFinal.some((i) => i.keyword === "ENTRYPOINT")).toBe(false);
    const argv = JSON.parse(cmd?.args ?? "null") as string[];
    const [node, entry] = (packageJson.scripts.start ?? "").split(" ");
    expect(argv).toEqual([node, `dist/${entry?.replace(/\.ts$/, ".js")}`]);
    const deployment = read("charts/sovereign-stack/templates/deployment.yaml");
    const command = /^\s*command:\s*(\[.*\])\s*$/m.exec(deployment)?.[1];
    expect(JSON.parse(command ?? "null")).toEqual(argv);
  });

  test("everything the entry points import is in the build context and compiled into the image", () => {
    const image = JSON.parse(read("tsconfig.image.json").replace(/^\s*\/\/.*$/gm, "")) as {
      files: string[];
      compilerOptions: { outDir: string };
    };
    expect(image.files).toEqual(
      expect.arrayContaining(["cmd/operator.ts", "router/main.ts", "console/server/main.ts"]),
    );
    const compile = dockerfile.find((i) => i.keyword === "RUN" && i.args.includes("tsconfig.image.json"));
    expect(compile, "a stage compiles tsconfig.image.json").toBeDefined();
    const buildStage = compile?.stage;
    const buildName = dockerfile
      .find((i) => i.keyword === "FROM" && i.stage === buildStage)
      ?.args.split(/\s+/)
      .at(-1);
    // The final stage takes the compiled tree from there.
    expect(
      inFinal.some(
        (i) =>
          i.keyword === "COPY" &&
          i.args.includes(`--from=${buildName}`) &&
          i.args.includes(`/${image.compilerOptions.outDir}/`),
      ),
    ).toBe(true);
    const files = [...new Set(image.files.flatMap((entry) => importClosure(entry).files))];
    expect(files.length).toBeGreaterThan(20);
    const sources = dockerfile
      .filter((i) => i.stage === buildStage && i.keyword === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const config of ["tsconfig.json", "tsconfig.image.json"]) {
      expect(inBuildContext(dockerignore, config), config).toBe(true);
      expect(sources.some((s) => globMatches(s, config))).toBe(true);
    }
    for (const file of files) {
      expect(inBuildContext(dockerignore, file), `${file} excluded by .dockerignore`).toBe(true);
      expect(
        sources.some((s) => globMatches(s, file)),
        `${file} is not copied`,
      ).toBe(true);
    }
  });

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
