// The real operator SIGKILLed 5 times in a burst of TrainingJobs and RayClusters that asks for
// more devices than the nodes have, each kill just after the API server took a child's create,
// an admission record or a status write; a new operator starts at once. After the last one,
// exactly the children every admission calls for exist: no duplicate, no orphan, nothing
// admitted twice, no device booked twice, every status matching its children.
// (bench/faults.ts runs the same at 300 jobs, 100 clusters and 20 kills, and counts.)
import { describe, expect, it } from "vitest";
import { prng } from "../../bench/support/random.ts";
import { burst, crashLoop, createBurst, settledVerdict, verdictFigures } from "./faults-harness.ts";
import { scenarioHooks } from "./faults-hooks.ts";
import { faultCounts } from "./faults-verdict.ts";

const namespace = "faults-crash";
// Slow enough that the burst is still being worked through when the kills land.
const args = ["--kube-api-qps=5", "--kube-api-burst=5", "--workers=4"];

const scenario = scenarioHooks({ name: namespace, nodes: 6, devicesPerNode: 8 });

describe("SIGKILL of the operator mid-burst", () => {
  it("ends with exactly the expected children and statuses, nothing admitted or booked twice", async () => {
    const { cluster, observer } = scenario();
    const first = await cluster.startOperator("operator-1", args);
    const creating = createBurst(cluster.client, burst(namespace, 24, 8));
    const { kills } = await crashLoop({
      cluster,
      observer,
      first,
      kills: 5,
      args,
      random: prng(17).next,
      momentTimeoutMs: 15_000,
    });
    await creating;
    const verdict = await settledVerdict(cluster, observer.history, 120_000);
    console.log(`crash: kills ${JSON.stringify(kills)}; verdict ${JSON.stringify(verdictFigures(verdict))}`);
    expect(verdict.problems).toEqual([]);
    expect(faultCounts(verdict)).toBe(0);
    expect(verdict.workloads).toBe(32);
    // Both outcomes were exercised: some admitted, some waiting for devices.
    expect(verdict.admitted).toBeGreaterThan(0);
    expect(verdict.queued).toBeGreaterThan(0);
  }, 300_000); // its own waits (the faults, then up to 120 s to settle) pass the default
});
