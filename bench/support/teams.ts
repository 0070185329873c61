// Teams for the placement benchmark with quotas: 20 teams in 4 cohorts, each team entitled to a
// twentieth of every hardware kind's devices (a device class per kind: an 80 GiB H100 and a 24 GiB
// L4 are not interchangeable, so one class per vendor would promise what it cannot give); in each
// cohort one team stays idle, so the other four borrow its quota, and fair sharing should split
// what they borrow by weight. Also the figure that checks it: how far each busy team's share of
// its cohort's use is from its fair share.
import type { PoolInput, TeamInput, TeamUsage } from "../../controllers/placement/index.ts";

export const COHORTS = 4;
export const TEAMS_PER_COHORT = 5;
const WEIGHTS = [1, 1, 2, 4, 1] as const;

export interface BenchTeam {
  input: TeamInput;
  idle: boolean;
}

export function benchTeams(pools: readonly PoolInput[], devicesOf: (pool: PoolInput) => number): BenchTeam[] {
  const capacity = new Map<string, number>();
  for (const p of pools) capacity.set(p.model, (capacity.get(p.model) ?? 0) + devicesOf(p));
  const teams: BenchTeam[] = [];
  for (let c = 0; c < COHORTS; c++) {
    for (let k = 0; k < TEAMS_PER_COHORT; k++) {
      const devices = [...capacity].map(([model, total]) => ({
        name: model.toLowerCase().replace(/[^a-z0-9-]/g, "-"),
        models: [model],
        nominal: Math.floor(total / (COHORTS * TEAMS_PER_COHORT)),
      }));
      teams.push({
        input: {
          name: `team-${c}-${k}`,
          cohort: `cohort-${c}`,
          devices,
          withinTeam: "LowerPriority",
          reclaimBorrowed: "Any",
          weight: WEIGHTS[k] as number,
        },
        idle: k === TEAMS_PER_COHORT - 1,
      });
    }
  }
  return teams;
}

/**
 * How a fair share of a cohort's use of a device class is reckoned for the busy teams (those with
 * work waiting for it; a team that wants no more is not short of anything):
 * - "used": what the busy teams use together, split as the quota promises it: in proportion to
 *   nominal while that is not all used, else nominal plus the rest split by weight (weighted
 *   max-min with guarantees, what dominant resource fairness with nominal quotas aims at);
 * - "lendable": nominal plus the idle teams' nominal split by weight, as if the cohort always got
 *   its whole nominal (it does not when the cluster cannot hold what the quotas promise).
 */
export type FairShareBasis = "used" | "lendable";

/** A busy team's part of its cohort's use of a device class, and its fair part (fractions). */
export interface FairShareRow {
  key: string;
  used: number;
  /** What the busy teams of the cohort use of the class together. */
  total: number;
  fair: number;
}

/**
 * Per busy team and device class, its part of what its cohort's busy teams use and its fair part
 * (see FairShareBasis). Classes a cohort uses little of (under 64 devices) are left out: a single
 * gang there moves the share by more than the goal.
 */
export function fairShareRows(
  teams: readonly BenchTeam[],
  usage: readonly TeamUsage[],
  basis: FairShareBasis = "used",
): FairShareRow[] {
  const rows: FairShareRow[] = [];
  for (let c = 0; c < COHORTS; c++) {
    const members = teams.filter((t) => t.input.cohort === `cohort-${c}`);
    const classes = new Set(members.flatMap((t) => t.input.devices.map((d) => d.name)));
    for (const cls of classes) {
      const nominal = (t: BenchTeam) => t.input.devices.find((d) => d.name === cls)?.nominal ?? 0;
      const figures = (t: BenchTeam) =>
        usage.find((u) => u.team === t.input.name)?.devices.find((d) => d.name === cls);
      const used = (t: BenchTeam) => figures(t)?.used ?? 0;
      const busy = members.filter((t) => !t.idle && (figures(t)?.pending ?? 0) > 0);
      if (busy.length < 2) continue;
      const weights = busy.reduce((n, t) => n + t.input.weight, 0);
      const nominals = busy.reduce((n, t) => n + nominal(t), 0);
      const totalUsed = busy.reduce((n, t) => n + used(t), 0);
      if (totalUsed < 64 || weights <= 0) continue;
      const idleNominal = members.filter((t) => t.idle).reduce((n, t) => n + nominal(t), 0);
      const fair = (t: BenchTeam): number => {
        if (basis === "lendable") {
          const entitled = (u: BenchTeam) => nominal(u) + (idleNominal * u.input.weight) / weights;
          return entitled(t) / busy.reduce((n, u) => n + entitled(u), 0);
        }
        if (totalUsed <= nominals) return nominals > 0 ? nominal(t) / nominals : 1 / busy.length;
        return (nominal(t) + ((totalUsed - nominals) * t.input.weight) / weights) / totalUsed;
      };
      for (const t of busy)
        rows.push({ key: `${t.input.name}/${cls}`, used: used(t), total: totalUsed, fair: fair(t) });
    }
  }
  return rows;
}

const points = (x: number): number => Math.round(x * 10_000) / 100;

/**
 * The largest deviation, in percentage points, of a busy team's part of its cohort's use of a
 * device class from its fair part, in one pass's result.
 */
export function fairShareDeviation(
  teams: readonly BenchTeam[],
  usage: readonly TeamUsage[],
  basis: FairShareBasis = "used",
): number {
  let worst = 0;
  for (const r of fairShareRows(teams, usage, basis))
    worst = Math.max(worst, Math.abs(r.used / r.total - r.fair));
  return points(worst);
}

/**
 * The same deviation over a run, as the devices a team held against those it was owed: per busy
 * team and class, the devices it used summed over the passes it was busy, against its fair part
 * of what its cohort's busy teams used in those passes, as a fraction of that use. One gang of
 * 1,024 devices in a class a cohort holds 2,000 of moves a single pass's split by 50 points; what
 * a team waiting for that class is owed is its part over time, which this reckons.
 */
export class FairShareOverTime {
  private readonly sums = new Map<string, { used: number; owed: number; total: number }>();
  private passes = 0;

  add(rows: readonly FairShareRow[]): void {
    this.passes++;
    for (const r of rows) {
      const s = this.sums.get(r.key) ?? { used: 0, owed: 0, total: 0 };
      s.used += r.used;
      s.owed += r.fair * r.total;
      s.total += r.total;
      this.sums.set(r.key, s);
    }
  }

  /**
   * The largest deviation in points, and where. As for one pass, a class the cohort uses little
   * of while the team waits for it (under 64 devices on average over the run) is left out.
   */
  worst(): { points: number; key: string | undefined } {
    let worst = 0;
    let key: string | undefined;
    for (const [k, s] of this.sums) {
      if (s.total < 64 * this.passes) continue;
      const d = Math.abs(s.used - s.owed) / s.total;
      if (d > worst) {
        worst = d;
        key = k;
      }
    }
    return { points: points(worst), key };
  }
}
