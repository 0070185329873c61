// The console's front end: Preact components in console/web/src, bundled by esbuild into one
// ES module with the stylesheet and the page beside it. `npm run build` writes them to
// dist/console/web (shipped in the package); from the repository, the console's server bundles
// them in memory when it starts (about a tenth of a second), so running from sources needs no
// build step. esbuild is a dev dependency: the published package only carries the output.
//
//   node console/build-web.ts OUTDIR
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const webDir = fileURLToPath(new URL("./web/", import.meta.url));

export interface WebFile {
  path: string;
  contents: Uint8Array;
}

export async function buildWeb(): Promise<WebFile[]> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [join(webDir, "src/main.tsx")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022"],
    jsx: "automatic",
    jsxImportSource: "preact",
    write: false,
    outfile: "app.js",
    legalComments: "none",
    logLevel: "silent",
  });
  return [
    { path: "app.js", contents: result.outputFiles[0]?.contents ?? new Uint8Array() },
    { path: "index.html", contents: readFileSync(join(webDir, "index.html")) },
    { path: "app.css", contents: readFileSync(join(webDir, "app.css")) },
  ];
}

const invoked = (import.meta as { main?: boolean }).main;
if (invoked) {
  const outdir = process.argv[2];
  if (!outdir) {
    process.stderr.write("usage: node console/build-web.ts OUTDIR\n");
    process.exit(2);
  }
  mkdirSync(outdir, { recursive: true });
  for (const f of await buildWeb()) writeFileSync(join(outdir, f.path), f.contents);
  process.stdout.write(`console web assets written to ${outdir}\n`);
}
