// The README is the front door: what it states about the code must stay true.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { vendorTableMarkdown } from "../../crds/vendors.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  scripts: Record<string, string>;
};

describe("README", () => {
  it("shows the vendor catalog exactly as the code has it", () => {
    expect(readme).toContain(vendorTableMarkdown());
  });

  it("names only npm scripts that exist", () => {
    for (const [, script] of readme.matchAll(/npm run ([a-z:]+)/g))
      expect(pkg.scripts, script).toHaveProperty(script as string);
  });

  it("gives the test command that CI runs", () => {
    const ci = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
    expect(readme).toMatch(/^npm test\b/m);
    expect(ci).toMatch(/^npm test$/m);
  });
});
