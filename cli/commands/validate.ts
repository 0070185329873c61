// stackctl validate -f FILE...: checks manifests against the API without a cluster, printing every
// error of every document with the field path the API server would name.
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Command } from "commander";
import { loadAll } from "js-yaml";
import { type DocumentResult, validateDocuments } from "../../crds/validate.ts";
import { CliError } from "../errors.ts";
import { exitCodes } from "../output/exit-codes.ts";

export interface FileReport {
  file: string;
  /** The file could not be read or parsed as YAML. */
  error?: string;
  documents: DocumentResult[];
}

const manifestExtensions = new Set([".yaml", ".yml", ".json"]);

/** Files named directly, plus the manifests directly inside named directories (like kubectl -f). */
async function expand(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    if (path !== "-" && (await stat(path).catch(() => undefined))?.isDirectory()) {
      const entries = (await readdir(path)).filter((e) => manifestExtensions.has(extname(e))).sort();
      files.push(...entries.map((e) => join(path, e)));
    } else {
      files.push(path);
    }
  }
  return files;
}

async function readInput(file: string): Promise<string> {
  if (file !== "-") return readFile(file, "utf8");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function validateFiles(paths: readonly string[]): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  for (const file of await expand(paths)) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (error) {
      reports.push({ file, error: `cannot read: ${(error as Error).message}`, documents: [] });
      continue;
    }
    let documents: unknown[];
    try {
      documents = loadAll(text, { filename: file });
    } catch (error) {
      reports.push({ file, error: `not valid YAML: ${(error as Error).message}`, documents: [] });
      continue;
    }
    reports.push({ file, documents: validateDocuments(documents) });
  }
  return reports;
}

function describeDocument(file: string, doc: DocumentResult): string {
  return `${file} [document ${doc.index + 1}] ${doc.kind ?? "?"}/${doc.name ?? "?"}`;
}

export function formatReports(reports: readonly FileReport[]): string {
  const lines: string[] = [];
  for (const report of reports) {
    if (report.error) lines.push(`${report.file}: ${report.error}`);
    for (const doc of report.documents) {
      const where = describeDocument(report.file, doc);
      if (doc.skipped) lines.push(`${where}: skipped, ${doc.skipped}`);
      else if (doc.errors.length === 0) lines.push(`${where}: valid`);
      for (const e of doc.errors) lines.push(`${where}: ${e.path || "<root>"}: ${e.message}`);
    }
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** A one-line summary, or undefined when everything is valid. */
export function failureSummary(reports: readonly FileReport[]): string | undefined {
  const documents = reports.flatMap((r) => r.documents).filter((d) => !d.skipped);
  const invalid = documents.filter((d) => d.errors.length > 0);
  const errors = invalid.reduce((n, d) => n + d.errors.length, 0);
  const unreadable = reports.filter((r) => r.error).length;
  if (invalid.length === 0 && unreadable === 0) return undefined;
  const parts = [`${invalid.length} of ${documents.length} documents invalid (${errors} errors)`];
  if (unreadable > 0) parts.push(`${unreadable} files unreadable`);
  return parts.join(", ");
}

export function registerValidate(program: Command, out: NodeJS.WritableStream = process.stdout): void {
  program
    .command("validate")
    .description(
      "check manifests against the Sovereign Stack API offline: every error in every document, with the field paths the API server reports",
    )
    .requiredOption(
      "-f, --filename <paths...>",
      "manifest files or directories (.yaml, .yml, .json); - reads stdin",
    )
    .option("-o, --output <format>", "text or json", "text")
    .action(async (opts: { filename: string[]; output: string }) => {
      if (opts.output !== "text" && opts.output !== "json")
        throw new CliError(`unknown output format ${opts.output}`, 2);
      const reports = await validateFiles(opts.filename);
      out.write(opts.output === "json" ? `${JSON.stringify(reports, null, 2)}\n` : formatReports(reports));
      const failure = failureSummary(reports);
      if (failure) throw new CliError(failure, exitCodes.invalidManifest);
    });
}
