# The driver of the RayCluster real-run test, run as `kubectl exec` into the head would run it:
# it joins the cluster at the head's address, prints (after "RESULT ") the cluster's resources
# and the node address where a {"TPU": 1} task and a GPU task ran.
import json
import sys

import ray


@ray.remote(resources={"TPU": 1}, num_cpus=0)
def on_tpu():
    return ray.util.get_node_ip_address()


@ray.remote(num_gpus=1, num_cpus=0)
def on_gpu():
    return ray.util.get_node_ip_address()


def main() -> None:
    head = sys.argv[1]
    ray.init(address=f"{head}:{sys.argv[2]}", _node_ip_address=head, log_to_driver=False)
    nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
    result = {
        "resources": ray.cluster_resources(),
        "nodes": sorted(nodes),
        "tpuTaskNode": ray.get(on_tpu.remote(), timeout=120),
        "gpuTaskNode": ray.get(on_gpu.remote(), timeout=120),
    }
    print("RESULT " + json.dumps(result), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
