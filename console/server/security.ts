// Who may talk to the console's server. It holds the user's cluster credentials, so a web page
// from anywhere else must not read through it:
// - Host must be a loopback name or one the operator allowed: a DNS-rebinding page (evil.example
//   resolving to 127.0.0.1) arrives with its own Host and is refused.
// - Origin, when the browser sends one, must be this server's own; Sec-Fetch-Site must be
//   same-origin (or none: the user typed the URL); the API answers no other site.
// - The API needs the session cookie, which only the URL printed by `stackctl console` carries
//   (?token=...; exchanged for an HttpOnly SameSite=Strict cookie and removed from the address).
// - Only GET and HEAD: the console is read-only.
import { timingSafeEqual } from "node:crypto";

export interface RequestFacts {
  method: string;
  path: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  cookie: string | undefined;
}

export interface SecurityOptions {
  /** The session token; undefined turns the cookie check off (the chart's in-cluster mode). */
  token: string | undefined;
  cookieName: string;
  /** Host names (or host:port) allowed besides the loopback names. */
  allowedHosts: readonly string[];
}

export type Verdict = { ok: true } | { ok: false; status: number; reason: string };

const refuse = (status: number, reason: string): Verdict => ({ ok: false, status, reason });

/** The host name of a Host header, without the port; IPv6 keeps its brackets. */
export function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1).toLowerCase();
  const colon = host.lastIndexOf(":");
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

export function isLoopbackName(name: string): boolean {
  return name === "localhost" || name === "[::1]" || /^127(\.\d{1,3}){3}$/.test(name);
}

export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (!host) return false;
  const name = hostName(host);
  return (
    isLoopbackName(name) ||
    allowed.some((a) => a.toLowerCase() === name || a.toLowerCase() === host.toLowerCase())
  );
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkRequest(r: RequestFacts, o: SecurityOptions): Verdict {
  if (r.method !== "GET" && r.method !== "HEAD")
    return refuse(405, "the console is read-only: GET and HEAD only");
  if (!hostAllowed(r.host, o.allowedHosts))
    return refuse(403, `host ${r.host ?? "(none)"} is not this console's (pass --allow-host to serve it)`);
  if (r.origin !== undefined && r.origin !== `http://${r.host}` && r.origin !== `https://${r.host}`)
    return refuse(403, `cross-origin request from ${r.origin} refused`);
  const api = r.path.startsWith("/api/");
  if (api && r.secFetchSite !== undefined && r.secFetchSite !== "same-origin" && r.secFetchSite !== "none")
    return refuse(403, `cross-site request (${r.secFetchSite}) refused`);
  if (api && o.token !== undefined && !sameToken(cookieValue(r.cookie, o.cookieName), o.token))
    return refuse(401, "no console session: open the URL stackctl console printed");
  return { ok: true };
}
