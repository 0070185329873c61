// Queue: waiting workloads in order, with their position, what each needs and why it waits,
// in the words of `stackctl describe` (the server computes them with describe's own code).
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import { queueOrder } from "../../../server/queue-order.ts";
import { age, markRendered } from "../format.ts";
import { useStore } from "../store.ts";
import { Pager, pageSize, usePage } from "./paged.tsx";

export function QueuePage() {
  const s = useStore();
  const [team, setTeam] = useState("");
  const queued = useMemo(() => queueOrder(s.rows.workloads.values()), [s.version]);
  const teams = useMemo(() => [...new Set(queued.map((w) => w.namespace))].sort(), [queued]);
  const shown = team ? queued.filter((w) => w.namespace === team) : queued;
  const [page, setPage] = usePage(shown.length, team);
  useLayoutEffect(() => markRendered("queue"));
  const now = Date.now();
  return (
    <>
      <h2>Queue</h2>
      <div class="filters">
        <label>
          Team (namespace){" "}
          <select value={team} onChange={(e) => setTeam((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {teams.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <span class="muted">{shown.length} waiting</span>
      </div>
      {shown.length === 0 ? (
        <p>Nothing waits: every workload is placed.</p>
      ) : (
        <table data-testid="queue">
          <caption>Waiting workloads, first in line first</caption>
          <thead>
            <tr>
              <th scope="col" class="num">
                Position
              </th>
              <th scope="col">Workload</th>
              <th scope="col">Team</th>
              <th scope="col">Needs</th>
              <th scope="col">Why it waits</th>
              <th scope="col" class="num">
                Age
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.slice(page * pageSize, (page + 1) * pageSize).map((w) => (
              <tr key={w.id} data-workload={w.id}>
                <td class="num">{w.queuePosition ?? "-"}</td>
                <td>
                  <a href={`#/workloads/${encodeURIComponent(w.id)}`}>
                    {w.kind.toLowerCase()}/{w.name}
                  </a>
                </td>
                <td>{w.namespace}</td>
                <td>{w.needs}</td>
                <td data-field="reason">{w.admission ? `${w.admission.label}: ${w.admission.text}` : "-"}</td>
                <td class="num">{age(w.created, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager page={page} total={shown.length} setPage={setPage} label="Queue" />
    </>
  );
}
