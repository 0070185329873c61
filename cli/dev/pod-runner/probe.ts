// One HTTP readiness probe, as a kubelet runs it: a GET that succeeds with a status from 200 to
// 399 within the probe's timeout.
import { request } from "node:http";
import type { HttpProbe } from "./programs.ts";

export function probeOnce(host: string, probe: HttpProbe): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host, port: probe.port, path: probe.path, method: "GET", timeout: probe.timeoutSeconds * 1000 },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      },
    );
    req.on("timeout", () => req.destroy(new Error("probe timed out")));
    req.on("error", () => resolve(false));
    req.end();
  });
}
