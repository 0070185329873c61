// Who the console's server answers: pure checks of Host, Origin, Sec-Fetch-Site, the session
// cookie and the method.
import { describe, expect, it } from "vitest";
import {
  checkRequest,
  cookieValue,
  hostAllowed,
  hostName,
  type RequestFacts,
  type SecurityOptions,
} from "../../console/server/security.ts";

const options: SecurityOptions = { token: "s3cret", cookieName: "stack-console-8443", allowedHosts: [] };
const ok: RequestFacts = {
  method: "GET",
  path: "/api/stream",
  host: "127.0.0.1:8443",
  origin: "http://127.0.0.1:8443",
  secFetchSite: "same-origin",
  cookie: "other=1; stack-console-8443=s3cret",
};
const verdict = (over: Partial<RequestFacts>, o: SecurityOptions = options) =>
  checkRequest({ ...ok, ...over }, o);

describe("console request checks", () => {
  it("lets a same-origin request with the session in", () => {
    expect(verdict({})).toEqual({ ok: true });
    // A typed URL: no Origin, Sec-Fetch-Site none.
    expect(verdict({ origin: undefined, secFetchSite: "none" })).toEqual({ ok: true });
  });

  it("refuses another origin and another site", () => {
    expect(verdict({ origin: "http://evil.example" })).toMatchObject({ ok: false, status: 403 });
    expect(verdict({ origin: "http://127.0.0.1:9999" })).toMatchObject({ ok: false, status: 403 });
    expect(verdict({ origin: undefined, secFetchSite: "cross-site" })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(verdict({ origin: undefined, secFetchSite: "same-site" })).toMatchObject({
      ok: false,
      status: 403,
    });
  });

  it("refuses a Host that is not loopback or allowed (DNS rebinding), pages included", () => {
    expect(verdict({ host: "evil.example:8443", origin: undefined })).toMatchObject({ status: 403 });
    expect(verdict({ host: undefined, origin: undefined })).toMatchObject({ status: 403 });
    expect(
      verdict({ path: "/", host: "evil.example:8443", origin: undefined, cookie: undefined }),
    ).toMatchObject({
      status: 403,
    });
    const allowed = { ...options, allowedHosts: ["console.example.org"] };
    expect(verdict({ host: "console.example.org", origin: "http://console.example.org" }, allowed)).toEqual({
      ok: true,
    });
  });

  it("asks the API, not the page, for the session; without a token configured nothing is asked", () => {
    expect(verdict({ cookie: undefined })).toMatchObject({ status: 401 });
    expect(verdict({ cookie: "stack-console-8443=wrong" })).toMatchObject({ status: 401 });
    expect(verdict({ cookie: "stack-console-9999=s3cret" })).toMatchObject({ status: 401 });
    expect(verdict({ path: "/app.js", cookie: undefined })).toEqual({ ok: true });
    expect(verdict({ cookie: undefined }, { ...options, token: undefined })).toEqual({ ok: true });
  });

  it("is read-only", () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"])
      expect(verdict({ method })).toMatchObject({ status: 405 });
    expect(verdict({ method: "HEAD" })).toEqual({ ok: true });
  });

  it("reads host names and cookies", () => {
    expect(hostName("127.0.0.1:8443")).toBe("127.0.0.1");
    expect(hostName("[::1]:8443")).toBe("[::1]");
    expect(hostName("LocalHost")).toBe("localhost");
    expect(hostAllowed("127.9.9.9:1", [])).toBe(true);
    expect(hostAllowed("127.0.0.1.evil.example", [])).toBe(false);
    expect(hostAllowed("localhost.evil.example:80", [])).toBe(false);
    expect(cookieValue("a=1; b = 2", "b")).toBe("2");
    expect(cookieValue("ab=1", "b")).toBeUndefined();
  });
});
