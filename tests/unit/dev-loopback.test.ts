// Free loopback ports: a set asked for at once holds no port twice, and each can be bound.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePorts } from "../../cli/dev/loopback.ts";

describe("freePorts", () => {
  it("gives as many distinct ports as asked, each free to bind on 127.0.0.1", async () => {
    const ports = await freePorts(64);
    expect(ports).toHaveLength(64);
    expect(new Set(ports).size).toBe(64);
    for (const port of ports.slice(0, 8)) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
