// Each local cluster's pod addresses come from a /16 of 127.0.0.0/8 of its own. Pods' processes
// (engine simulators, routers) bind their pod IP, so two clusters on one machine handing out
// the same addresses (a dev cluster beside a test run, or test files each with a control
// plane) would answer for each other. A cluster claims 127.X.0.0/16 by listening on a marker
// address inside it, 127.X.255.254 (past any pod IP kwok hands out first); the claim lasts as
// long as the listening socket, which the cluster's supervisor holds, so it ends with it.
import { createServer, type Server } from "node:net";

const markerPort = 47_999;
/** The first range tried: 127.64.0.0/16, clear of 127.0.0.1 where control planes listen. */
const firstOctet = 64;
const lastOctet = 254;

export const podCidrOf = (octet: number): string => `127.${octet}.0.1/16`;

function listen(host: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" ? resolve(undefined) : reject(error),
    );
    server.listen(markerPort, host, () => resolve(server));
  });
}

/**
 * Claims the first free range from 127.64.0.0/16 on: the returned server holds it (hand it
 * to the process that outlives this one, then close it here; see control-plane.ts).
 */
export async function claimPodRange(): Promise<{ cidr: string; marker: Server }> {
  for (let octet = firstOctet; octet <= lastOctet; octet++) {
    const marker = await listen(`127.${octet}.255.254`);
    if (marker) {
      marker.unref();
      return { cidr: podCidrOf(octet), marker };
    }
  }
  throw new Error("every pod address range 127.64-254.0.0/16 is claimed by another local cluster");
}
