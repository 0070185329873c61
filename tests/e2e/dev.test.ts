// `npm run dev` end to end: a fresh simulated cluster, the operator and the demo stack, observed
// until every demo workload is ready, then interrupted like Ctrl-C: no process may remain.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { componentNames } from "../../cli/dev/components.ts";
import { isAlive } from "../../cli/dev/state.ts";

it("brings up the stack, shows it ready, and leaves nothing behind on Ctrl-C", async () => {
  const state = await mkdtemp(join(tmpdir(), "npm-run-dev-"));
  const child = spawn(process.execPath, ["cli/stackctl.ts", "dev"], {
    env: { ...process.env, XDG_STATE_HOME: state },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c) => {
    output += c;
  });
  child.stderr.on("data", (c) => {
    output += c;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const deadline = Date.now() + 240_000;
    while (!/all 3 workloads are ready/.test(output)) {
      if (Date.now() > deadline)
        throw new Error(`the demo never became ready; output:\n${output.slice(-4000)}`);
      if (child.exitCode !== null) throw new Error(`npm run dev exited early:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(output).toMatch(/^export KUBECONFIG=.*kubeconfig$/m);
    // The curl line it prints works as printed: a streamed chat completion through the router,
    // answered by the engine simulator of one of the demo's replicas.
    const curl = output.match(/^curl -N (http:\/\/\S+) -H 'content-type: application\/json' -d '(.*)'$/m);
    expect(curl, "the curl line").not.toBeNull();
    const answer = await fetch(curl?.[1] ?? "", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: curl?.[2] ?? "",
    });
    expect(answer.status).toBe(200);
    const events = (await answer.text()).split("\n\n").filter((e) => e.startsWith("data: "));
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { model: string });
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.model === "llama-70b")).toBe(true);
    // The last view shows every pool in use and each workload where it runs. Pool status is
    // recomputed at most once a second under churn, so its counts may trail the workloads' by a
    // view or two: the view is printed again whenever it changes.
    const poolsInUse = [
      /h100\s+nvidia\s+\S+\s+4\/4\s+22\/32/,
      /mi300x\s+amd\s+\S+\s+2\/2\s+16\/16/,
      /tpu-v5e\s+google\s+\S+\s+4\/4\s+8\/16/,
    ];
    const settled = Date.now() + 15_000;
    let lastView = output.slice(output.lastIndexOf("POOL"));
    while (!poolsInUse.every((r) => r.test(lastView)) && Date.now() < settled) {
      await new Promise((r) => setTimeout(r, 250));
      lastView = output.slice(output.lastIndexOf("POOL"));
    }
    for (const r of poolsInUse) expect(lastView).toMatch(r);
    expect(lastView).toMatch(/TrainingJob\s+default\/demo-pretrain\s+Running\s+h100/);
    expect(lastView).toMatch(/RayCluster\s+default\/demo-ray\s+Ready\s+h100,tpu-v5e/);
    expect(lastView).toMatch(/InferenceService\s+default\/demo-llama\s+Ready\s+mi300x,h100/);

    const supervisor = JSON.parse(
      readFileSync(join(state, "sovereign-stack", "dev", "supervisor.json"), "utf8"),
    ) as {
      pid: number;
      components: Record<string, number>;
    };
    const pids = [supervisor.pid, ...Object.values(supervisor.components)];
    expect(Object.keys(supervisor.components).sort()).toEqual([...componentNames].sort());
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(output).toContain("stopped; no process left running");
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(join(state, "sovereign-stack", "dev"))).toBe(false);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await rm(state, { recursive: true, force: true });
  }
}, 300_000);
