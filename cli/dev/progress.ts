// Progress output for the tool build: one updating line on a terminal, and a line every
// 30 seconds elsewhere (CI logs), so a cold build of several minutes never looks hung.
import type { BuildProgress } from "./tools.ts";

export function buildProgressPrinter(out: NodeJS.WriteStream = process.stderr): BuildProgress {
  let packages = 0;
  let lastPrint = 0;
  let started = Date.now();
  return (e) => {
    const prefix = `[${e.index + 1}/${e.total}] ${e.tool}`;
    if (e.state === "cached") return;
    if (e.state === "built") {
      if (out.isTTY) out.write("\r\x1b[K");
      out.write(`${prefix}: built in ${e.seconds?.toFixed(0)} s (${packages} packages)\n`);
      packages = 0;
      return;
    }
    if (e.detail?.startsWith("v")) {
      started = Date.now();
      out.write(`${prefix}: building ${e.detail} from source (a cold build takes minutes)\n`);
      return;
    }
    packages++;
    const now = Date.now();
    if (out.isTTY) {
      out.write(
        `\r\x1b[K${prefix}: ${packages} packages, ${((now - started) / 1000).toFixed(0)} s: ${(e.detail ?? "").slice(0, 60)}`,
      );
    } else if (now - lastPrint > 30_000) {
      lastPrint = now;
      out.write(`${prefix}: ${packages} packages compiled, ${((now - started) / 1000).toFixed(0)} s\n`);
    }
  };
}
