// A parser for the Prometheus text exposition format, for the one thing the router reads from
// it: a handful of an engine's series, five times a second. Lines of other families are
// skipped on their name alone, so a 30 KB /metrics page costs little more than a scan.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses `text`; `wanted`, when given, keeps only samples whose name it accepts. With
 * `namePrefix` (e.g. "vllm:"), lines not starting with it are skipped by indexOf alone.
 */
export function parsePrometheusText(
  text: string,
  wanted?: (name: string) => boolean,
  namePrefix?: string,
): Sample[] {
  const out: Sample[] = [];
  let start = 0;
  const hop = namePrefix === undefined ? undefined : `\n${namePrefix}`;
  if (hop !== undefined && !text.startsWith(namePrefix as string)) start = nextLineWith(text, hop, 0);
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const sample = parseLine(text, start, end, wanted);
    if (sample) out.push(sample);
    start = hop === undefined ? end + 1 : nextLineWith(text, hop, end);
  }
  return out;
}

/** The start of the next line at or after `from` that begins with hop's prefix, else text.length. */
function nextLineWith(text: string, hop: string, from: number): number {
  const i = text.indexOf(hop, from);
  return i < 0 ? text.length : i + 1;
}

function parseLine(
  text: string,
  start: number,
  end: number,
  wanted: ((name: string) => boolean) | undefined,
): Sample | undefined {
  let i = start;
  while (i < end && (text[i] === " " || text[i] === "\t")) i++;
  if (i >= end || text[i] === "#") return undefined;
  const nameStart = i;
  while (i < end && text[i] !== "{" && text[i] !== " " && text[i] !== "\t") i++;
  const name = text.slice(nameStart, i);
  if (name === "" || (wanted && !wanted(name))) return undefined;
  const labels: Record<string, string> = {};
  if (text[i] === "{") {
    i = parseLabels(text, i + 1, end, labels);
    if (i < 0) return undefined;
  }
  while (i < end && (text[i] === " " || text[i] === "\t")) i++;
  let valueEnd = i;
  while (valueEnd < end && text[valueEnd] !== " " && text[valueEnd] !== "\t" && text[valueEnd] !== "\r")
    valueEnd++;
  const value = parseValue(text.slice(i, valueEnd));
  if (value === undefined) return undefined;
  return { name, labels, value };
}

/** Reads `k="v",...}` from i; returns the index after `}`, or -1 on a malformed set. */
function parseLabels(text: string, i: number, end: number, labels: Record<string, string>): number {
  while (i < end) {
    while (i < end && (text[i] === " " || text[i] === ",")) i++;
    if (text[i] === "}") return i + 1;
    const eq = text.indexOf("=", i);
    if (eq < 0 || eq >= end || text[eq + 1] !== '"') return -1;
    const key = text.slice(i, eq).trim();
    let j = eq + 2;
    let value = "";
    while (j < end && text[j] !== '"') {
      if (text[j] === "\\" && j + 1 < end) {
        const next = text[j + 1];
        value += next === "n" ? "\n" : next;
        j += 2;
      } else {
        value += text[j];
        j++;
      }
    }
    if (j >= end) return -1;
    labels[key] = value;
    i = j + 1;
  }
  return -1;
}

function parseValue(raw: string): number | undefined {
  if (raw === "+Inf") return Number.POSITIVE_INFINITY;
  if (raw === "-Inf") return Number.NEGATIVE_INFINITY;
  if (raw === "NaN") return Number.NaN;
  if (raw === "") return undefined;
  const n = Number(raw);
  return Number.isNaN(n) ? undefined : n;
}
