// The front end's files: prebuilt beside this module in the package (dist/console/web) or in an
// image (console/web/dist), else bundled in memory from the sources (a repository checkout).
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Asset {
  body: Buffer;
  type: string;
}

const types: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "index.html": "text/html; charset=utf-8",
};
const names = Object.keys(types);

export async function loadAssets(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const dir of ["../web/", "../web/dist/"]) {
    const base = new URL(dir, import.meta.url);
    if (!names.every((n) => existsSync(fileURLToPath(new URL(n, base))))) continue;
    for (const n of names) assets.set(n, { body: readFileSync(new URL(n, base)), type: types[n] as string });
    return assets;
  }
  // A path in a variable: neither tsc's build nor an image's import closure follows it into
  // the bundler, which is a dev dependency (a package or an image has the files prebuilt).
  const builder = "../build-web.ts";
  const { buildWeb } = (await import(builder)) as {
    buildWeb(): Promise<Array<{ path: string; contents: Uint8Array }>>;
  };
  for (const f of await buildWeb())
    assets.set(f.path, { body: Buffer.from(f.contents), type: types[f.path] ?? "application/octet-stream" });
  return assets;
}
