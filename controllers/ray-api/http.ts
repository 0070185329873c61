// JSON over HTTP to a Ray head's dashboard. node:http rather than fetch: Ray refuses POST, PUT
// and DELETE from anything that looks like a browser, and fetch sends the Sec-Fetch-Mode header
// that it takes for one. Every request has a deadline and a bounded answer.
import { request } from "node:http";

/** A request the dashboard did not answer as asked: unreachable, timed out, or a status >= 400. */
export class RayApiError extends Error {
  readonly status: number | undefined;
  readonly body: string;
  constructor(message: string, status: number | undefined, body = "") {
    super(message);
    this.name = "RayApiError";
    this.status = status;
    this.body = body;
  }
}

export const isRayNotFound = (error: unknown): boolean =>
  error instanceof RayApiError && error.status === 404;

export interface RayHttpOptions {
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

const maxBodyBytes = 16 * 1024 * 1024;

/** One request; resolves with the status and the raw body, rejects with a RayApiError. */
export function rayRequest(
  baseUrl: string,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  options: RayHttpOptions = {},
): Promise<{ status: number; text: string }> {
  const url = new URL(path, baseUrl);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const what = `${method} ${url.href}`;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        timeout: timeoutMs,
        headers: {
          accept: "application/json",
          ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) req.destroy(new Error(`answer larger than ${maxBodyBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 400)
            reject(new RayApiError(`${what}: ${status} ${text.slice(0, 300).trim()}`, status, text));
          else resolve({ status, text });
        });
        res.on("error", (e) => reject(new RayApiError(`${what}: ${e.message}`, undefined)));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      reject(new RayApiError(`${what}: ${code ? `${code} ` : ""}${e.message}`, undefined));
    });
    req.end(payload);
  });
}

/** A request whose answer is JSON. */
export async function rayJson<T>(
  baseUrl: string,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  options?: RayHttpOptions,
): Promise<T> {
  const { text } = await rayRequest(baseUrl, method, path, body, options);
  try {
    return (text === "" ? {} : JSON.parse(text)) as T;
  } catch {
    throw new RayApiError(
      `${method} ${new URL(path, baseUrl).href}: not JSON: ${text.slice(0, 200)}`,
      200,
      text,
    );
  }
}
