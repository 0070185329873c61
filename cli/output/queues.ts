// The view of `stackctl queues`: per team (TeamQuota) and device class, what it is entitled to,
// uses, borrows from its cohort and waits for, with a bar of use against nominal (a borrowing
// team's bar is full, and its BORROWED column says by how much).
import type { StackObject } from "../kube/objects.ts";
import { usageBar } from "./capacity.ts";
import { num, rec, str } from "./summary.ts";
import { formatTable } from "./table.ts";

interface ClassRow {
  name: string;
  nominal: number;
  used: number;
  borrowed: number;
  pending: number;
}

function classesOf(team: StackObject): ClassRow[] {
  const spec = rec(team.spec);
  const status = rec(team.status);
  const reported = Array.isArray(status.devices) ? status.devices.map(rec) : [];
  const declared = Array.isArray(spec.devices) ? spec.devices.map(rec) : [];
  // Every class of the spec, with the operator's figures where it has reported them.
  return declared.map((d) => {
    const name = str(d.name) ?? "";
    const r = reported.find((x) => str(x.name) === name) ?? {};
    return {
      name,
      nominal: num(d.nominal) ?? 0,
      used: num(r.used) ?? 0,
      borrowed: num(r.borrowed) ?? 0,
      pending: num(r.pending) ?? 0,
    };
  });
}

export function queuesTable(teams: readonly StackObject[], queues: readonly StackObject[]): string {
  const header = ["TEAM", "COHORT", "CLASS", "NOMINAL", "USED", "BORROWED", "PENDING", "USAGE", "QUEUES"];
  const rows: string[][] = [];
  for (const team of teams) {
    const name = team.metadata.name ?? "";
    const cohort = str(rec(team.spec).cohort) ?? "-";
    const names = queues
      .filter((q) => str(rec(q.spec).teamQuota) === name)
      .map((q) => `${q.metadata.namespace}/${q.metadata.name}`)
      .join(",");
    const classes = classesOf(team);
    if (classes.length === 0) rows.push([name, cohort, "-", "-", "-", "-", "-", "", names || "-"]);
    for (const c of classes) {
      rows.push([
        name,
        cohort,
        c.name,
        String(c.nominal),
        String(c.used),
        String(c.borrowed),
        String(c.pending),
        usageBar(Math.min(c.used, c.nominal), c.nominal),
        names || "-",
      ]);
    }
  }
  return formatTable([header, ...rows]);
}
