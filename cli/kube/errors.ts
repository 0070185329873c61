// Turns what the Kubernetes client throws into a CliError of the right class, with the API
// server's own one-line message rather than the client's multi-line dump of the response.
import { ApiException } from "@kubernetes/client-node";
import { CliError } from "../errors.ts";
import { type ExitClass, fail } from "../output/exit-codes.ts";

interface Status {
  message?: string;
  reason?: string;
}

// The server last talked to; network errors from fetch do not say which URL failed.
let lastServer: string | undefined;

export function rememberServer(server: string): void {
  lastServer = server;
}

function statusOf(body: unknown): Status | undefined {
  if (typeof body === "string") {
    try {
      return statusOf(JSON.parse(body));
    } catch {
      return body.trim() ? { message: body.trim() } : undefined;
    }
  }
  return body && typeof body === "object" ? (body as Status) : undefined;
}

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The root cause of a failed connection (undici wraps it in a TypeError("fetch failed")); undefined for other errors. */
function networkCause(error: unknown): string | undefined {
  const chain: Error[] = [];
  for (let e: unknown = error; e instanceof Error && chain.length < 8; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  const codeOf = (e: Error) => (e as { code?: unknown }).code;
  const fetchFailed = chain.some((e) => e.message === "fetch failed");
  const coded = chain.find((e) => typeof codeOf(e) === "string" && networkCodes.has(codeOf(e) as string));
  if (coded) return String(codeOf(coded));
  if (!fetchFailed) return undefined;
  const root = chain[chain.length - 1];
  return root && root.message !== "fetch failed" ? root.message : "connection failed";
}

const classByStatus = (code: number): ExitClass => {
  if (code === 404) return "notFound";
  if (code === 401 || code === 403) return "forbidden";
  if (code === 422) return "invalidManifest";
  return "failed";
};

/** A CliError for `error`, or undefined when it is none of the known classes. */
export function toCliError(error: unknown): CliError | undefined {
  if (error instanceof CliError) return error;
  if (error instanceof ApiException) {
    const status = statusOf(error.body);
    let message = status?.message || status?.reason || `the API server answered HTTP ${error.code}`;
    if (error.code === 409 && /conflict/i.test(message) && /apply/i.test(message))
      message += " (rerun with --force-conflicts to take these fields over)";
    return fail(classByStatus(error.code), message);
  }
  const cause = networkCause(error);
  if (cause) return fail("noCluster", `no cluster reachable at ${lastServer ?? "the API server"} (${cause})`);
  return undefined;
}

/** How long a 429 asks to wait (its Retry-After, in seconds), capped; undefined for other errors. */
export function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof ApiException) || error.code !== 429) return undefined;
  const header = (error.headers as Record<string, string> | undefined)?.["retry-after"];
  const seconds = Number(header);
  return Math.min(5_000, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000);
}

/** 429s (throttling, or a new CRD's storage still initializing) are retried for this long, as kubectl does. */
const retryBudgetMs = 30_000;

/** Runs `fn`, turning client errors into CliErrors; `what` names the object for 404s. */
export async function explain<T>(fn: () => Promise<T>, notFound?: string): Promise<T> {
  const deadline = Date.now() + retryBudgetMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const wait = retryAfterMs(error);
      if (wait !== undefined && Date.now() + wait < deadline) {
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (notFound && error instanceof ApiException && error.code === 404) throw fail("notFound", notFound);
      throw toCliError(error) ?? error;
    }
  }
}
