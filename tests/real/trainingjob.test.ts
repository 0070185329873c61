// TrainingJobs whose pods run for real: the controller writes the pods on the real control plane,
// the pod runner executes each one's own command (torchrun from the project's venv) on this
// machine at the pod's loopback address, and the ranks rendezvous with only what the pods were
// given. A tiny DDP step over gloo (ddp_allreduce.py) prints what every rank saw.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { markedProcesses } from "../../cli/dev/pod-runner/container-processes.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { trainingJobController } from "../../controllers/trainingjob/index.ts";
import type { TrainingJob } from "../../crds/index.ts";
import { builtin, type KubeObject } from "../../operator/index.ts";
import { perAttempt } from "../support/attempts.ts";
import { eventually, podAddressPattern } from "../support/cluster.ts";
import { podsOf, pool, type RealTestbed, startRealTestbed } from "./harness.ts";

type Job = TrainingJob & KubeObject;
const rt = resourceTypes.trainingJob;
const script = join(import.meta.dirname, "ddp_allreduce.py");

interface RankResult {
  rank: number;
  world: number;
  sum: number;
  weightsAgree: boolean;
  env: Record<string, string | null>;
}

let t: RealTestbed;
// Jobs of their own per attempt, so that a retry does not find the first attempt's.
const attempt = perAttempt();
const fresh = (base: string): string => {
  attempt.next();
  return attempt.name(base);
};

beforeAll(async () => {
  t = await startRealTestbed("real-tj", [pool("real-cpu", 2)], (m) =>
    m.add(trainingJobController(new Admitter(m), { backoff: { baseMs: 500, maxMs: 2000 } })),
  );
});

afterAll(async () => {
  await t?.stop();
});

const create = (name: string, spec: Partial<Job["spec"]>) =>
  t.client.create<Job>(rt, {
    apiVersion: rt.apiVersion,
    kind: rt.kind,
    metadata: { name, namespace: t.ns },
    spec: {
      image: "ghcr.io/acme/train:1.0",
      command: ["python", script],
      procsPerNode: 2,
      accelerators: { count: 0, pools: [t.pools[0] as string] },
      resources: { cpu: "2", memory: "2Gi" },
      template: { spec: { tolerations: t.tolerations } },
      ...spec,
    } as Job["spec"],
  });

const job = (name: string) => t.client.getOrUndefined<Job>(rt, name, t.ns);

const phase = (name: string, want: string, timeoutMs = 150_000) =>
  eventually(
    async () => {
      const j = await job(name);
      if (j?.status?.phase === "Failed") throw new Error(`${name} failed: ${JSON.stringify(j.status)}`);
      return j?.status?.phase === want ? j : undefined;
    },
    timeoutMs,
    `${name} ${want}`,
  );

/** The RESULT lines of one attempt's pods, once every rank of the world printed its own. */
function results(name: string, attempt: number, nodes: number): RankResult[] | undefined {
  const lines: RankResult[] = [];
  for (let rank = 0; rank < nodes; rank++) {
    for (const line of t.log(`${name}-${attempt}-${rank}`, "trainer").split("\n"))
      if (line.startsWith("RESULT ")) lines.push(JSON.parse(line.slice(7)) as RankResult);
  }
  return lines.length === nodes * 2 ? lines.sort((a, b) => a.rank - b.rank) : undefined;
}

const waitResults = (name: string, attempt: number, nodes: number) =>
  eventually(
    async () => results(name, attempt, nodes),
    150_000,
    `${name} attempt ${attempt}: every rank's result`,
  );

/** The first Restarting event of a job: the controller's reading of why the gang failed. */
const restartingEvent = (name: string) =>
  eventually(
    async () => {
      type Event = KubeObject & { reason?: string; note?: string; regarding?: { name?: string } };
      const events = await t.client.list<Event>(builtin.events, { namespace: t.ns });
      return events.items.find((e) => e.regarding?.name === name && e.reason === "Restarting");
    },
    60_000,
    `${name}: a Restarting event`,
  );

/** What every rank of a world of `nodes` × 2 processes must have seen. */
function expectWorld(lines: RankResult[], nodes: number): void {
  const world = nodes * 2;
  expect(lines.map((l) => l.rank)).toEqual([...Array(world).keys()]);
  for (const l of lines) {
    expect(l.world).toBe(world);
    expect(l.sum).toBe((world * (world + 1)) / 2);
    expect(l.weightsAgree).toBe(true);
    expect(l.env).toMatchObject({
      RANK: String(l.rank),
      LOCAL_RANK: String(l.rank % 2),
      WORLD_SIZE: String(world),
      GROUP_RANK: String(Math.floor(l.rank / 2)),
    });
  }
}

describe("a TrainingJob run by real torchrun", () => {
  it("forms a 2-node × 2-process gloo group from the pods' own rendezvous and succeeds", async () => {
    const name = fresh("ddp");
    await create(name, { nodes: 2 });
    const done = await phase(name, "Succeeded");
    expect(done.status).toMatchObject({ nodes: 2, restarts: 0 });
    const lines = results(name, 0, 2);
    expect(lines, t.log(`${name}-0-0`, "trainer").slice(-3000)).toBeDefined();
    expectWorld(lines ?? [], 2);
    // Each rank reached rank 0 through the name the pod was given, not an address of ours.
    for (const l of lines ?? []) expect(l.env.MASTER_ADDR).toMatch(new RegExp(`^${podAddressPattern}$`));
  });

  it("forms the group in the elastic form (minNodes 1, maxNodes 2) with the size it was admitted with", async () => {
    const name = fresh("elastic");
    await create(name, { elastic: { minNodes: 1, maxNodes: 2 } });
    const done = await phase(name, "Succeeded");
    const nodes = done.status?.nodes ?? 0;
    expect(nodes).toBeGreaterThanOrEqual(1);
    expectWorld(results(name, 0, nodes) ?? [], nodes);
  });

  it("restarts the gang when one rank is killed (exit 137) and the new ranks rendezvous again", async () => {
    const name = fresh("restart");
    const hold = join(t.runnerDir, "hold-restart");
    writeFileSync(hold, "");
    await create(name, { nodes: 2, env: [{ name: "HOLD_FILE", value: hold }] });
    expectWorld(await waitResults(name, 0, 2), 2);
    // As the OOM killer ends a container: SIGKILL to rank 1's main process, torchrun itself.
    process.kill(await t.pid(`${name}-0-1`, "trainer"), "SIGKILL");
    // The kill is seen as a kubelet reports it: exit code 137, a signal, so the gang restarts.
    const restart = await restartingEvent(name);
    expect(restart.note).toContain(`rank 1 (pod ${name}-0-1) exited with code 137`);
    expectWorld(await waitResults(name, 1, 2), 2);
    rmSync(hold);
    const done = await phase(name, "Succeeded");
    expect(done.status?.restarts).toBe(1);
    expect((await t.pods(podsOf("trainingjob", name))).map((p) => p.metadata.name)).toEqual([
      `${name}-1-0`,
      `${name}-1-1`,
    ]);
    // Nothing of the first gang outlived it: not torchrun, not a worker it started in a session of its own.
    expect(markedProcesses(`${t.runnerDir}|${t.ns}/${name}-0-`)).toEqual([]);
  });

  it("restarts the gang when the OOM killer takes one worker process: torchrun exits 1, its root cause SIGKILL", async () => {
    const name = fresh("oom");
    const hold = join(t.runnerDir, "hold-oom");
    writeFileSync(hold, "");
    await create(name, { nodes: 2, env: [{ name: "HOLD_FILE", value: hold }] });
    expectWorld(await waitResults(name, 0, 2), 2);
    const torchrun = await t.pid(`${name}-0-1`, "trainer");
    const worker = markedProcesses(`${t.runnerDir}|${t.ns}/${name}-0-1|trainer|`).find(
      (pid) => pid !== torchrun && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("ddp_allreduce.py"),
    );
    expect(worker).toBeDefined();
    process.kill(worker as number, "SIGKILL");
    const restart = await restartingEvent(name);
    expect(restart.note).toContain(
      "a worker process was ended by signal 9 (SIGKILL), so torchrun exited with code 1",
    );
    expectWorld(await waitResults(name, 1, 2), 2);
    rmSync(hold);
    expect((await phase(name, "Succeeded")).status?.restarts).toBe(1);
  });
});
