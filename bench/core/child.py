"""How a runner and the worker child it starts for each run speak: the worker's module, the variable that tells
the child its runner's pid (so it can die with it), and SIGTERM turned into an interrupt on either side."""
from __future__ import annotations

WORKER_MODULE = "bench.worker"  # `python -m bench.worker SPEC_JSON`
RUNNER_PID_VARIABLE = "BENCH_RUNNER_PID"
PROGRESS_VARIABLE = "BENCH_PROGRESS"  # "lines": plain progress lines even on a terminal (several runs share it)
SUITE_REST_VARIABLE = "BENCH_SUITE_REST_S"  # the runner's estimate of the seconds of the suite's runs after this one


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the runner: handled like Ctrl-C (finished runs kept), and passed on to the running child."""


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated
