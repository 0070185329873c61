// Small formatting helpers shared by the pages.

/** kubectl's age: 45s, 12m, 3h, 5d. */
export function age(time: string | undefined, now = Date.now()): string {
  if (!time) return "";
  const s = Math.max(0, Math.floor((now - Date.parse(time)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export const percent = (part: number, whole: number): number =>
  whole > 0 ? Math.round((Math.min(part, whole) / whole) * 100) : 0;

/** A stable colour per device holder, so one workload's devices look alike across nodes. */
export function holderColour(holder: string): string {
  let h = 0;
  for (let i = 0; i < holder.length; i++) h = (h * 31 + holder.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 65% 48%)`;
}

/** "TrainingJob/ns/name" as people write it: trainingjob ns/name. */
export function workloadLabel(id: string): string {
  const [kind, ns, ...name] = id.split("/");
  return `${(kind ?? "").toLowerCase()} ${ns ? `${ns}/` : ""}${name.join("/")}`;
}

/** Marks the first render of a page with data (its DOM built), for the benchmark and the tests. */
export function markRendered(page: string): void {
  const name = `console:rendered:${page}`;
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
  document.body.dataset.rendered = page;
}

// One collator for every sort: localeCompare with options builds a new one per call, which made
// sorting 5,000 rows take over a second.
const collator = new Intl.Collator(undefined, { numeric: true });
/** Names as people sort them: "w-9" before "w-10". */
export const byName = (a: string, b: string): number => collator.compare(a, b);
