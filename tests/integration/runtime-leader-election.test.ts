// Two (then three) operator processes with --leader-elect on the shared control plane:
// exactly one reconciles; kill -9 of the leader hands over after the lease expires; a
// SIGTERM hands over at once because the leader releases its lease on the way out.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../../operator/kube-client.ts";
import { builtin } from "../../operator/resource.ts";
import {
  eventually,
  kubeconfigPath,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import { installWidgetCrd, type Widget, widgets } from "../support/test-controller.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/test-controller-process.ts";

let ns: TestNamespace;
let client: KubeClient;
const processes: OperatorProcess[] = [];
const leaseId = "widget-operator";

const start = async (name: string): Promise<OperatorProcess> => {
  const p = await startOperatorProcess(name, [
    `--kubeconfig=${kubeconfigPath()}`,
    `--namespace=${ns.name}`,
    "--leader-elect",
    `--leader-election-namespace=${ns.name}`,
    `--leader-election-id=${leaseId}`,
  ]);
  processes.push(p);
  return p;
};

const isLeader = async (p: OperatorProcess): Promise<boolean> =>
  (await p.metric("leader_election_master_status", { name: leaseId }).catch(() => 0)) === 1;

const reconcileCount = (p: OperatorProcess): Promise<number> =>
  p.metric("controller_runtime_reconcile_total", { controller: "widget" });

const createReadyWidget = async (name: string): Promise<void> => {
  await client.create(widgets, {
    apiVersion: widgets.apiVersion,
    kind: widgets.kind,
    metadata: { name, namespace: ns.name },
    spec: { message: name },
  });
  await eventually(
    async () => {
      const w = await client.get<Widget>(widgets, name, ns.name);
      return w.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? true : undefined;
    },
    30_000,
    `${name} ready`,
  );
};

beforeAll(async () => {
  const kc = loadKubeConfig();
  ns = await testNamespace("rt-leader", kc);
  client = new KubeClient({ kubeConfig: kc });
  await installWidgetCrd(client);
});

afterAll(async () => {
  for (const p of processes) p.kill("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  await client?.close();
  await ns?.[Symbol.asyncDispose]();
});

describe("leader election between operator processes", () => {
  it("exactly one reconciles; after kill -9 of the leader the other takes over", async () => {
    const a = await start("a");
    const b = await start("b");
    const leader = await eventually(
      async () => {
        const [la, lb] = await Promise.all([isLeader(a), isLeader(b)]);
        if (la && lb) throw new Error("two leaders");
        return la ? a : lb ? b : undefined;
      },
      40_000,
      "a leader",
    );
    const standby = leader === a ? b : a;
    for (let i = 0; i < 5; i++) await createReadyWidget(`before-${i}`);
    expect(await reconcileCount(leader)).toBeGreaterThan(0);
    expect(await reconcileCount(standby)).toBe(0);
    expect(await isLeader(standby)).toBe(false);
    // The standby keeps a warm cache (ready) but never started its workers.
    expect((await fetch(`${standby.probeUrl}/readyz`)).status).toBe(200);
    expect(standby.lines.some((l) => l.msg === "starting workers")).toBe(false);

    const killedAt = performance.now();
    leader.kill("SIGKILL");
    await leader.exited;
    await eventually(async () => ((await isLeader(standby)) ? true : undefined), 40_000, "takeover");
    const takeoverSeconds = (performance.now() - killedAt) / 1000;
    console.log(`leader takeover after kill -9: ${takeoverSeconds.toFixed(1)} s (lease 15 s, retry 2 s)`);
    // Expiry is judged from when the standby last saw a renewal: about lease + one or two retry
    // periods at most; the bound leaves room for a loaded machine.
    expect(takeoverSeconds).toBeLessThan(25);
    await createReadyWidget("after-kill");
    expect(await reconcileCount(standby)).toBeGreaterThan(0);
  });

  it("a leader stopped with SIGTERM releases the lease and a standby takes over at once", async () => {
    const leader = processes.find((p) => p.child.exitCode === null && p.child.signalCode === null);
    if (!leader || !(await isLeader(leader))) throw new Error("no running leader from the previous test");
    const c = await start("c");
    await c.waitForLog((l) => l.msg === "caches synced");
    await c.waitForLog((l) => l.msg === "waiting for leadership");
    const stoppedAt = performance.now();
    leader.kill("SIGTERM");
    expect(await leader.exited).toBe(0);
    await eventually(async () => ((await isLeader(c)) ? true : undefined), 30_000, "takeover after SIGTERM");
    const seconds = (performance.now() - stoppedAt) / 1000;
    console.log(`leader takeover after SIGTERM (lease released): ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(6);
    expect(leader.lines.some((l) => l.msg === "released leadership")).toBe(true);
    await createReadyWidget("after-term");
  });

  it("a leader that cannot renew its lease exits the process", async () => {
    const leader = processes.find((p) => p.child.exitCode === null && p.child.signalCode === null);
    if (!leader || !(await isLeader(leader))) throw new Error("no running leader from the previous test");
    // Someone else keeps writing the lease, as a partitioned leader would see it on return.
    let stealing = true;
    const startedAt = performance.now();
    const thief = (async () => {
      while (stealing) {
        try {
          const lease = await client.get(builtin.leases, leaseId, ns.name);
          const now = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
          await client.replace(builtin.leases, {
            ...lease,
            spec: {
              ...(lease.spec as object),
              holderIdentity: "intruder",
              renewTime: now,
              leaseDurationSeconds: 15,
            },
          });
        } catch {}
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const code = await leader.exited;
    stealing = false;
    await thief;
    const seconds = (performance.now() - startedAt) / 1000;
    console.log(`leader exited ${seconds.toFixed(1)} s after its lease was taken (renew deadline 10 s)`);
    expect(code).toBe(1);
    expect(leader.lines.some((l) => String(l.msg).startsWith("leadership lost"))).toBe(true);
    expect(seconds).toBeLessThan(20);
  });
});
