"""Forward latency timed in separate, fresh processes (pyperf's idea): one process's calls share its allocator, its
address layout and the machine's state at that moment, so they are not independent samples of a model's latency;
the medians of several processes are. `bench run` (after training) and `bench latency` (later, on a quiet machine)
both time here; each process builds the variant afresh (random weights: latency does not depend on their values)
and times it with bench.measure.profile.measure_latency, the project's one latency method.

`python -m bench.worker.latency` reads one job as JSON on stdin and prints one JSON line per batch size.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field

LATENCY_MODULE = "bench.worker.latency"
PROCESS_TIMEOUT_S = 600


@dataclass(frozen=True)
class LatencyJob:
    """What one measuring process needs: the variant, the input, the device and the speed settings of the run."""

    variant: str
    num_classes: int
    input_size: int
    batches: tuple[int, ...]
    device: str = "cpu"
    threads: int | None = None
    precision: str = "fp32"
    channels_last: bool = False


@dataclass
class ProcessTimes:
    """The forward latency of each batch size in each measuring process (ms)."""

    medians: dict[int, list[float]] = field(default_factory=dict)  # batch → one median per process
    iqrs: dict[int, list[float]] = field(default_factory=dict)  # batch → that process's interquartile range of calls

    def median(self, batch: int) -> float:
        return statistics.median(self.medians[batch])

    def typical_iqr(self, batch: int) -> float:
        return statistics.median(self.iqrs[batch])


class LatencyFailed(RuntimeError):
    """A measuring process ended without its figures."""


def time_in_processes(job: LatencyJob, processes: int) -> ProcessTimes:
    """Start `processes` fresh processes one after the other, each timing every batch size of `job`."""
    times = ProcessTimes({b: [] for b in job.batches}, {b: [] for b in job.batches})
    for _ in range(processes):
        done = subprocess.run([sys.executable, "-m", LATENCY_MODULE], input=json.dumps(asdict(job)), text=True,
                              capture_output=True, timeout=PROCESS_TIMEOUT_S, env=os.environ.copy())
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise LatencyFailed(f"a latency process for {job.variant} exited {done.returncode}: {last}")
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                found = json.loads(line)
                times.medians[found["batch"]].append(found["median_ms"])
                times.iqrs[found["batch"]].append(found["iqr_ms"])
    return times


def machine_speed(job: LatencyJob) -> float:
    """The machine's speed now (bench.measure.utilization.machine_tflops) on `job`'s device, precision and threads,
    measured in this process: recorded beside the latency so that a comparison can tell a slower machine from a
    slower model."""
    import torch

    from ..measure.utilization import machine_tflops
    from ..train.speed import Speed

    threads = torch.get_num_threads()
    if job.threads:
        torch.set_num_threads(job.threads)
    try:
        speed = Speed(torch.device(job.device), job.precision, job.channels_last)
        speed.apply_backends()
        return machine_tflops(speed)
    finally:
        torch.set_num_threads(threads)


def measure(job: LatencyJob) -> list[dict]:
    """This process's figures for `job`: one dict per batch size."""
    import torch

    import models

    from ..measure.profile import measure_latency
    from ..train.speed import Speed

    device = torch.device(job.device)
    torch.manual_seed(0)
    model = models.get_variant(job.variant).build(num_classes=job.num_classes).to(device)
    speed = Speed(device, job.precision, job.channels_last)
    speed.apply_backends()
    out = []
    for batch in job.batches:
        latency = measure_latency(model, batch, job.input_size, device, threads=job.threads, speed=speed)
        out.append({"batch": batch, "median_ms": latency.median_ms, "iqr_ms": latency.iqr_ms, "calls": latency.calls})
    return out


def main() -> int:
    spec = json.loads(sys.stdin.read())
    job = LatencyJob(**{**spec, "batches": tuple(spec["batches"])})
    for figures in measure(job):
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
