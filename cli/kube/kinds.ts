// Naming kinds on the command line the way kubectl accepts them: kind, plural, singular or short
// name, optionally qualified with the group, case-insensitive; "aistack" and "all" mean every kind.
import { CATEGORY, type KindDefinition, resources } from "../../crds/index.ts";
import { fail } from "../output/exit-codes.ts";

const namesOf = (kind: KindDefinition): string[] => {
  const bare = [kind.kind.toLowerCase(), kind.plural, kind.singular, ...kind.shortNames];
  return [...bare, ...bare.map((n) => `${n}.${kind.group}`)];
};

export function knownKinds(): string {
  return resources.map((r) => `${r.plural} (${r.shortNames.join(", ")})`).join(", ");
}

export function findKind(word: string): KindDefinition | undefined {
  const w = word.toLowerCase();
  return resources.find((r) => namesOf(r).includes(w));
}

export function resolveKind(word: string): KindDefinition {
  const kind = findKind(word);
  if (!kind) throw fail("unknownKind", `unknown kind "${word}"; known kinds: ${knownKinds()}`);
  return kind;
}

/** A comma-separated list of kinds, where "aistack" and "all" expand to every kind. */
export function resolveKinds(words: string): KindDefinition[] {
  const kinds: KindDefinition[] = [];
  for (const word of words.split(",").filter(Boolean)) {
    const expanded = word === CATEGORY || word === "all" ? resources : [resolveKind(word)];
    for (const k of expanded) if (!kinds.includes(k)) kinds.push(k);
  }
  if (kinds.length === 0) throw fail("usage", "no kind given");
  return kinds;
}

export interface KindAndName {
  kind: KindDefinition;
  name: string;
}

/** "tj/demo" -> TrainingJob demo; undefined when the word has no slash. */
export function parseKindSlashName(word: string): KindAndName | undefined {
  const slash = word.indexOf("/");
  if (slash < 0) return undefined;
  const name = word.slice(slash + 1);
  if (!name || name.includes("/")) throw fail("usage", `"${word}" is not KIND/NAME`);
  return { kind: resolveKind(word.slice(0, slash)), name };
}

/** kubectl's resource name for an object: trainingjob.stack.sovereign.dev/demo */
export const qualifiedName = (kind: KindDefinition, name: string): string =>
  `${kind.singular}.${kind.group}/${name}`;

/** Short form for progress lines and messages: trainingjob/demo */
export const shortName = (kind: KindDefinition, name: string): string => `${kind.singular}/${name}`;
