# Holds one CPU of the Ray node at the given IP until the job is stopped: a task pinned there
# by node affinity, so that Ray reports that node busy while the others go idle.
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=1)
def hold() -> None:
    time.sleep(3600)


def main() -> None:
    ip = sys.argv[1]
    ray.init()
    # The pod may run before its raylet has joined: wait for the node (bounded).
    node = None
    for _ in range(240):
        node = next((n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeManagerAddress"] == ip), None)
        if node:
            break
        time.sleep(0.5)
    if node is None:
        sys.exit(f"no live Ray node at {ip}")
    ref = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
    print("HOLDING", ip, flush=True)
    ray.get(ref)


if __name__ == "__main__":
    main()
