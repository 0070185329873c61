// stackctl completion bash|zsh: a completion script generated from the command tree itself, so
// it never falls behind the commands. Kinds complete from the API's names; object names are
// asked of the cluster with `stackctl get KIND -o name`.
import type { Command, Option } from "commander";
import { interconnects, resources, vendors } from "../../crds/index.ts";
import { fail } from "../output/exit-codes.ts";
import { outputFormats } from "../output/printer.ts";

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

const describeLine = (name: string, description: string): string =>
  // zsh's _describe splits on the first unescaped colon.
  `${name}:${description.replaceAll(":", "\\:").replace(/\s+/g, " ").slice(0, 80)}`;

interface Node {
  path: string;
  command: Command;
}

function walk(command: Command, path = ""): Node[] {
  const children = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  return [{ path, command }, ...children.flatMap((c) => walk(c, path ? `${path} ${c.name()}` : c.name()))];
}

const flagsOf = (options: readonly Option[]): string[] =>
  options.flatMap((o) =>
    [o.short, o.long].filter((f): f is string => Boolean(f)).map((f) => describeLine(f, o.description)),
  );

/** Shell functions, valid in bash and zsh, that answer what may follow a command path. */
function tables(program: Command, name: string): string {
  const nodes = walk(program);
  const fn = name.replace(/[^A-Za-z0-9_]/g, "_");
  const cases = (entries: [string, string[]][]) =>
    entries
      .filter(([, lines]) => lines.length > 0)
      .map(([key, lines]) => `    ${quote(key)}) printf '%s\\n' ${lines.map(quote).join(" ")} ;;`)
      .join("\n");
  const subcommands = cases(
    nodes.map(({ path, command }) => [
      path,
      command.commands.map((c) => describeLine(c.name(), c.description())),
    ]),
  );
  const flags = cases(
    nodes.filter((n) => n.path).map(({ path, command }) => [path, flagsOf(command.options)]),
  );
  const valueFlags: [string, readonly string[]][] = [
    ["-o --output", outputFormats],
    ["--vendor", vendors],
    ["--interconnect", interconnects],
  ];
  const values = valueFlags
    .map(([f, v]) => `    ${f.split(" ").map(quote).join("|")}) printf '%s\\n' ${v.map(quote).join(" ")} ;;`)
    .join("\n");
  const kinds = resources.flatMap((r) => [r.plural, ...r.shortNames]).join(" ");
  return `_${fn}_subcommands() {
  case "$1" in
${subcommands}
  esac
}
_${fn}_flags() {
  printf '%s\\n' ${flagsOf(program.options).map(quote).join(" ")}
  case "$1" in
${flags}
  esac
}
_${fn}_values() {
  case "$1" in
${values}
  esac
}
_${fn}_kinds="${kinds}"
# Flags that take a value, so that the value is not taken for a command.
_${fn}_valued=" ${nodes
    .flatMap((n) => n.command.options)
    .filter((o) => o.required || o.optional)
    .flatMap((o) => [o.short, o.long].filter(Boolean))
    .filter((f, i, all) => all.indexOf(f) === i)
    .join(" ")} "
`;
}

function bashScript(program: Command, name: string): string {
  const fn = name.replace(/[^A-Za-z0-9_]/g, "_");
  return `# bash completion for ${name}. Load it with: source <(${name} completion bash)
${tables(program, name)}
_${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local path="" i w skip="" subs args=() conn=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ -n "$skip" ]]; then skip=""; continue; fi
    [[ "$w" == "--" ]] && return 0
    case "$w" in
      -n|--namespace|--context|--kubeconfig) conn+=("$w" "\${COMP_WORDS[i+1]}"); skip=1; continue ;;
    esac
    if [[ "$_${fn}_valued" == *" $w "* ]]; then skip=1; continue; fi
    [[ "$w" == -* ]] && continue
    subs=" $(_${fn}_subcommands "$path" | sed 's/:.*//' | tr '\\n' ' ') "
    if [[ "$subs" == *" $w "* ]]; then path="\${path:+$path }$w"; else args+=("$w"); fi
  done
  local values; values="$(_${fn}_values "$prev")"
  if [[ -n "$values" ]]; then COMPREPLY=($(compgen -W "$values" -- "$cur")); return 0; fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_${fn}_flags "$path" | sed 's/:.*//')" -- "$cur")); return 0
  fi
  subs="$(_${fn}_subcommands "$path" | sed 's/:.*//')"
  if [[ -n "$subs" ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return 0; fi
  case "$path" in
    get|describe|logs)
      if [[ "$cur" == */* ]]; then
        local kind="\${cur%%/*}"
        COMPREPLY=($(compgen -P "$kind/" -W "$(${name} "\${conn[@]}" get "$kind" -o name 2>/dev/null | sed 's#.*/##')" -- "\${cur#*/}"))
      elif [[ \${#args[@]} -eq 0 ]]; then
        COMPREPLY=($(compgen -W "$_${fn}_kinds" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "$(${name} "\${conn[@]}" get "\${args[0]}" -o name 2>/dev/null | sed 's#.*/##')" -- "$cur"))
      fi ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _${fn} ${name}
`;
}

function zshScript(program: Command, name: string): string {
  const fn = name.replace(/[^A-Za-z0-9_]/g, "_");
  return `#compdef ${name}
# zsh completion for ${name}. Load it with: source <(${name} completion zsh)
${tables(program, name)}
_${fn}() {
  local path="" w i skip="" subs
  local -a args conn lines
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if [[ -n "$skip" ]]; then skip=""; continue; fi
    [[ "$w" == "--" ]] && return 0
    case "$w" in
      -n|--namespace|--context|--kubeconfig) conn+=("$w" "\${words[i+1]}"); skip=1; continue ;;
    esac
    if [[ "$_${fn}_valued" == *" $w "* ]]; then skip=1; continue; fi
    [[ "$w" == -* ]] && continue
    subs=" \${(j: :)\${(f)"$(_${fn}_subcommands "$path" | sed 's/:.*//')"}} "
    if [[ "$subs" == *" $w "* ]]; then path="\${path:+$path }$w"; else args+=("$w"); fi
  done
  lines=("\${(@f)$(_${fn}_values "\${words[CURRENT-1]}")}")
  if [[ -n "\${lines[1]}" ]]; then compadd -- "\${lines[@]}"; return; fi
  if [[ "\${words[CURRENT]}" == -* ]]; then
    lines=("\${(@f)$(_${fn}_flags "$path")}"); _describe 'flag' lines; return
  fi
  lines=("\${(@f)$(_${fn}_subcommands "$path")}")
  if [[ -n "\${lines[1]}" ]]; then _describe 'command' lines; return; fi
  case "$path" in
    get|describe|logs)
      if [[ \${#args} -eq 0 ]]; then
        compadd -- \${=_${fn}_kinds}
      else
        compadd -- \${(f)"$(${name} "\${conn[@]}" get "\${args[1]}" -o name 2>/dev/null | sed 's#.*/##')"}
      fi ;;
    *) _files ;;
  esac
}
if (( $+functions[compdef] )); then compdef _${fn} ${name}; fi
`;
}

export function completionScript(program: Command, shell: string): string {
  const name = program.name().replace(/\s+/g, "-");
  if (shell === "bash") return bashScript(program, name);
  if (shell === "zsh") return zshScript(program, name);
  throw fail("usage", `no completion for ${shell}; use bash or zsh`);
}

export function registerCompletion(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("completion")
    .description("print a shell completion script: source <(stackctl completion bash)")
    .argument("<shell>", "bash or zsh")
    .action((shell: string) => {
      out.write(completionScript(program, shell));
    });
}
