// Quantities as a person reads them in a reason, in Kubernetes' own units.

export function formatCpu(millis: number): string {
  if (millis % 1000 === 0) return `${millis / 1000}`;
  if (millis > 1000) return `${Math.round(millis / 100) / 10}`;
  return `${millis}m`;
}

const binaryUnits: readonly [string, number][] = [
  ["Ti", 2 ** 40],
  ["Gi", 2 ** 30],
  ["Mi", 2 ** 20],
  ["Ki", 2 ** 10],
];

export function formatMemory(bytes: number): string {
  for (const [unit, size] of binaryUnits) {
    if (bytes >= size) {
      const value = Math.round((bytes / size) * 10) / 10;
      return `${value}${unit}`;
    }
  }
  return `${bytes}`;
}

export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/** "a", "a and b", "a, b and c". */
export function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
