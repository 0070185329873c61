// Workloads: every TrainingJob, RayCluster and InferenceService with phase, pool, age and
// restarts; one selected shows its timeline, children (pods) and events.
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import type { WorkloadRow } from "../../../server/protocol.ts";
import { age, byName, markRendered } from "../format.ts";
import { store, useStore } from "../store.ts";
import { Pager, pageSize, usePage } from "./paged.tsx";

function Detail({ w }: { w: WorkloadRow }) {
  const events = [...store.rows.events.values()]
    .filter((e) => e.about === w.id)
    .sort((a, b) => ((a.time ?? "") < (b.time ?? "") ? -1 : 1))
    .slice(-20);
  const now = Date.now();
  return (
    <section class="detail" aria-labelledby="detail-title" data-testid="detail">
      <h3 id="detail-title">
        {w.kind} {w.namespace}/{w.name}
      </h3>
      <dl>
        <dt>Phase</dt>
        <dd class={`phase-${w.phase}`}>{w.phase}</dd>
        <dt>Needs</dt>
        <dd>{w.needs}</dd>
        <dt>Pools</dt>
        <dd>{w.pools.join(", ") || "not placed"}</dd>
        <dt>Ready</dt>
        <dd>{w.ready}</dd>
        {w.admission && (
          <>
            <dt>{w.admission.label}</dt>
            <dd>{w.admission.text}</dd>
          </>
        )}
      </dl>
      <h4>Timeline</h4>
      <ol class="timeline" aria-label="phases">
        {w.timeline.map((m) => (
          <li key={`${m.phase}@${m.time}`}>
            {m.phase} <time dateTime={m.time}>{age(m.time, now)} ago</time>
          </li>
        ))}
      </ol>
      <h4>Children</h4>
      {w.children.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Node</th>
            </tr>
          </thead>
          <tbody>
            {w.children.map((c) => (
              <tr key={c.name}>
                <td>{c.kind}</td>
                <td>{c.name}</td>
                <td>{c.status}</td>
                <td>{c.node ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Events</h4>
      {events.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Age</th>
              <th scope="col">From</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id}>
                <td>{e.type}</td>
                <td>{e.reason}</td>
                <td>
                  {age(e.time, now)}
                  {e.count > 1 ? ` (x${e.count})` : ""}
                </td>
                <td>{e.from}</td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p>
        <a href="#/workloads">Close</a>
      </p>
    </section>
  );
}

export function WorkloadsPage({ selected }: { selected: string }) {
  const s = useStore();
  const [filter, setFilter] = useState("");
  const [kind, setKind] = useState("");
  const rows = useMemo(() => {
    const f = filter.toLowerCase();
    return [...s.rows.workloads.values()]
      .filter((w) => (!kind || w.kind === kind) && (!f || `${w.namespace}/${w.name} ${w.phase}`.toLowerCase().includes(f)))
      .sort((a, b) => byName(a.namespace, b.namespace) || byName(a.name, b.name));
  }, [s.version, filter, kind]);
  const [page, setPage] = usePage(rows.length, `${filter}|${kind}`);
  useLayoutEffect(() => markRendered("workloads"));
  const chosen = selected ? s.rows.workloads.get(selected) : undefined;
  const now = Date.now();
  return (
    <>
      <h2>Workloads</h2>
      <div class="filters">
        <label>
          Filter{" "}
          <input
            type="search"
            value={filter}
            placeholder="namespace/name or phase"
            aria-keyshortcuts="/"
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Kind{" "}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            <option>TrainingJob</option>
            <option>RayCluster</option>
            <option>InferenceService</option>
          </select>
        </label>
        <span class="muted">{rows.length} workloads</span>
      </div>
      {chosen && <Detail w={chosen} />}
      <table data-testid="workloads">
        <caption>Workloads by namespace and name; choose one for its timeline, children and events</caption>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Namespace</th>
            <th scope="col">Name</th>
            <th scope="col">Phase</th>
            <th scope="col">Pool</th>
            <th scope="col">Ready</th>
            <th scope="col" class="num">
              Restarts
            </th>
            <th scope="col" class="num">
              Age
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(page * pageSize, (page + 1) * pageSize).map((w) => (
            <tr key={w.id} data-workload={w.id}>
              <td>{w.kind}</td>
              <td>{w.namespace}</td>
              <td>
                <a href={`#/workloads/${encodeURIComponent(w.id)}`} aria-current={w.id === selected ? "true" : undefined}>
                  {w.name}
                </a>
              </td>
              <td class={`phase-${w.phase}`} data-field="phase">
                {w.phase}
              </td>
              <td>{w.pools.join(", ")}</td>
              <td>{w.ready}</td>
              <td class="num">{w.restarts}</td>
              <td class="num">{age(w.created, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager page={page} total={rows.length} setPage={setPage} label="Workloads" />
    </>
  );
}
