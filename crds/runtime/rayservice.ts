// RayService's Serve config as the operator reads it, apart from the schema (../rayservice.ts).
import { load } from "js-yaml";

/** The Serve config as Ray's REST API takes it, or the reason it is not one. */
export function parseServeConfig(text: string): { config: Record<string, unknown> } | { error: string } {
  let parsed: unknown;
  try {
    parsed = load(text);
  } catch (error) {
    return { error: `not YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return { error: "must be a YAML mapping with an applications list" };
  const apps = (parsed as { applications?: unknown }).applications;
  if (!Array.isArray(apps) || apps.length === 0)
    return { error: "must list at least one application under applications" };
  return { config: parsed as Record<string, unknown> };
}
