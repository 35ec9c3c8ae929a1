"""One side of `make latency-compare`: times the forward pass of every variant of one source tree, on demand.

Started by `tests.benchmarks.latency_compare` with the tree's root as its working directory and first import
path, so `import models` reads that version. It uses only `models.list_variants()` and `models.build()`, which
every version of the project has, so a base checked out from an older commit runs it unchanged. Protocol,
one JSON line each way: it prints the variant names once the models are built and warm; then, for each line
`round` read on stdin, it times every variant (`--calls` forward passes, eval mode, `torch.inference_mode()`)
and prints the median seconds per variant. End of input ends it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, ".")
    import models  # this tree's version

    nets = {}
    for variant in models.list_variants():
        torch.manual_seed(0)
        nets[variant.name] = models.build(variant.name, num_classes=10).eval()
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for net in nets.values():
            for _ in range(args.warmup):
                net(x)
    print(json.dumps({"variants": list(nets), "models_file": models.__file__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        medians = {}
        with torch.inference_mode():
            for name, net in nets.items():
                seconds = []
                for _ in range(args.calls):
                    start = time.perf_counter()
                    net(x)
                    seconds.append(time.perf_counter() - start)
                medians[name] = statistics.median(seconds)
        print(json.dumps(medians), flush=True)


if __name__ == "__main__":
    main()
