// The real operator through a kube-apiserver restart and a 10 s etcd freeze (SIGSTOP), both
// in the middle of a burst that keeps being created through them: no workload is missed (the
// end state is exact, as after a crash), and the watches resume without a relist storm: the
// LISTs the API server served the operator's identity after each fault stay within a bound
// of two per informer (one relist each, and one retry).
// (bench/faults.ts runs 3 restarts and reports the counts.)
import { describe, expect, it } from "vitest";
import { burst, createBurst, outageRig, settledVerdict, verdictFigures } from "./faults-harness.ts";
import { scenarioHooks } from "./faults-hooks.ts";
import { faultCounts } from "./faults-verdict.ts";

const namespace = "faults-outage";

const scenario = scenarioHooks({ name: namespace, nodes: 4, devicesPerNode: 8 });

describe("API server restart and etcd freeze mid-burst", () => {
  it("misses no workload and resumes its watches without a relist storm", async () => {
    const { cluster, observer } = scenario();
    const rig = await outageRig(cluster, ["--kube-api-qps=5", "--kube-api-burst=5"]);
    const creating = createBurst(cluster.client, burst(namespace, 16, 6));
    const disruptions = [
      await rig.disrupt("apiserver-restart", 2000),
      await rig.disrupt("etcd-pause", 10_000),
    ];
    await creating;
    const verdict = await settledVerdict(cluster, observer.history, 120_000);
    console.log(
      `outage: ${rig.informers} informers; ${JSON.stringify(disruptions)}; verdict ${JSON.stringify(verdictFigures(verdict))}`,
    );
    expect(verdict.problems).toEqual([]);
    expect(faultCounts(verdict)).toBe(0);
    expect(verdict.workloads).toBe(22);
    // The restart did break the watches, and what followed was no storm of LISTs.
    expect(disruptions[0]?.watchRestarts).toBeGreaterThan(0);
    for (const d of disruptions) expect(d.serverLists, d.what).toBeLessThanOrEqual(2 * rig.informers);
  }, 300_000); // its own waits (the faults, then up to 120 s to settle) pass the default
});
