// Column alignment as kubectl's tabwriter does it (minimum width 6, padding 3, last column
// unpadded), so a stackctl table and a kubectl table of the same objects are the same text.

const MIN_WIDTH = 6;
const PADDING = 3;

const width = (s: string): number => [...s].length;

export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return "";
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(MIN_WIDTH, ...rows.map((r) => width(r[i] ?? "") + PADDING)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - width(cell))))
        .join(""),
    )
    .map((line) => `${line}\n`)
    .join("");
}
