# The training program of the real-run tests: a tiny DDP step over gloo, run under torchrun as a
# TrainingJob's pods would run it. Each rank prints one JSON line (prefixed "RESULT ") with what
# it saw: the environment torchrun gave it, the all-reduced sum of (rank + 1) over the world,
# and whether DDP left every rank with the same weights. The test compares these with the spec.
#   HOLD_FILE: after the step, wait while this file exists (so a test can kill a rank mid-job).
import json
import os
import sys
import time

import torch
import torch.distributed as dist


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()

    total = torch.tensor([float(rank + 1)])
    dist.all_reduce(total)

    # One DDP step on rank-dependent data: gradients are averaged, so the weights must agree.
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.full((2, 4), float(rank))).sum().backward()
    opt.step()
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    spread = weights.clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    low = weights.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)

    line = {
        "rank": rank,
        "world": world,
        "sum": total.item(),
        "weightsAgree": bool(torch.equal(spread, low)),
        "env": {k: os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")},
    }
    # One write per line: the ranks of a node share the container's log.
    sys.stdout.write("RESULT " + json.dumps(line) + "\n")
    sys.stdout.flush()

    hold = os.environ.get("HOLD_FILE")
    deadline = time.monotonic() + 120
    while hold and os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.2)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
