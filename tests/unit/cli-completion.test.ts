// The bash completion script, run by bash: commands, subcommands, flags and flag values
// complete from the command tree.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { completionScript } from "../../cli/commands/completion.ts";
import { buildProgram } from "../../cli/stackctl.ts";

const program = buildProgram();
const script = join(mkdtempSync(join(tmpdir(), "stackctl-completion-")), "stackctl.bash");
writeFileSync(script, completionScript(program, "bash"));

/** What bash offers after typing `line` (the last word is the one being completed). */
function complete(line: string): string[] {
  const words = line.split(" ");
  const program = `source ${JSON.stringify(script)}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(" ")})
COMP_CWORD=${words.length - 1}
_stackctl
printf '%s\\n' "\${COMPREPLY[@]}"`;
  // No cluster: object-name completion must stay quiet rather than fail.
  const out = execFileSync("bash", ["-c", program], { env: { ...process.env, KUBECONFIG: "/nonexistent" } });
  return out.toString().split("\n").filter(Boolean).sort();
}

describe("bash completion", () => {
  test("commands", () => {
    expect(complete("stackctl ge")).toEqual(["get"]);
    expect(complete("stackctl ")).toEqual(
      expect.arrayContaining([
        "get",
        "describe",
        "pools",
        "train",
        "serve",
        "ray",
        "logs",
        "install",
        "completion",
      ]),
    );
  });

  test("subcommands", () => {
    expect(complete("stackctl pools ")).toEqual(["discover"]);
    expect(complete("stackctl train ")).toEqual(["submit"]);
    expect(complete("stackctl -n prod ray ")).toEqual(["create", "job", "serve"]);
    expect(complete("stackctl ray job ")).toEqual(["submit"]);
  });

  test("kinds after get, describe and logs", () => {
    expect(complete("stackctl get ")).toEqual(
      [
        "acceleratorpools",
        "acceleratorqueues",
        "ap",
        "aq",
        "inferenceservices",
        "isvc",
        "rayc",
        "rayclusters",
        "rayjob",
        "rayjobs",
        "rayservices",
        "raysvc",
        "teamquotas",
        "tj",
        "tq",
        "trainingjobs",
      ].sort(),
    );
    expect(complete("stackctl describe ra")).toEqual([
      "rayc",
      "rayclusters",
      "rayjob",
      "rayjobs",
      "rayservices",
      "raysvc",
    ]);
  });

  test("flags of the command, global flags too", () => {
    expect(complete("stackctl train submit --min")).toEqual(["--min-memory"]);
    expect(complete("stackctl get --kube")).toEqual(["--kubeconfig"]);
  });

  test("values of flags that take a fixed set", () => {
    expect(complete("stackctl get tj -o ")).toEqual(["json", "name", "table", "wide", "yaml"]);
    expect(complete("stackctl serve hf://a/b --vendor a")).toEqual(["amd", "aws"]);
  });

  test("a flag's value is not taken for a command", () => {
    expect(complete("stackctl --context pools ")).toEqual(expect.arrayContaining(["get", "pools"]));
  });
});

test("the zsh script defines the completion function and registers it", () => {
  const zsh = completionScript(program, "zsh");
  expect(zsh.startsWith("#compdef stackctl\n")).toBe(true);
  expect(zsh).toContain("_stackctl() {");
  expect(zsh).toContain("compdef _stackctl stackctl");
});
