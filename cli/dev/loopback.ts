// Small helpers for running many local processes and requests: a free loopback port, and a
// bounded number of calls in flight (a thousand creates at once over one connection make the
// API server drop it).
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago. Bind it soon: another process may take it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs fn over items with at most `limit` calls in flight. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}
