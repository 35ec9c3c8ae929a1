"""Forward latency timed in separate, fresh processes (pyperf's idea): one process's calls share its allocator, its
address layout and the machine's state at that moment, so they are not independent samples of a model's latency;
the medians of several processes are. `bench run` (after training) and `bench latency` (later, on a quiet machine)
both time here; each process builds the variant afresh (random weights: latency does not depend on their values)
and times it with bench.measure.profile.measure_latency, the project's one latency method.

`python -m bench.worker.latency` reads a JSON list of jobs on stdin and prints one JSON line per job and batch size.
A process may time several models, one after the other (as one pytest-benchmark process times every benchmark):
each model's median of that process is still one independent value, and the start-up (seconds of imports) is paid
once per process, not once per model.
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
    return time_jobs_in_processes([job], processes)[0]


def time_jobs_in_processes(jobs: list[LatencyJob], processes: int) -> list[ProcessTimes]:
    """Start `processes` fresh processes one after the other, each timing every job (in order) at every batch size;
    one ProcessTimes per job."""
    times = [ProcessTimes({b: [] for b in job.batches}, {b: [] for b in job.batches}) for job in jobs]
    names = ", ".join(job.variant for job in jobs)
    for _ in range(processes):
        done = subprocess.run([sys.executable, "-m", LATENCY_MODULE], input=json.dumps([asdict(j) for j in jobs]),
                              text=True, capture_output=True, timeout=PROCESS_TIMEOUT_S * len(jobs),
                              env=os.environ.copy())
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise LatencyFailed(f"a latency process for {names} exited {done.returncode}: {last}")
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                found = json.loads(line)
                times[found["job"]].medians[found["batch"]].append(found["median_ms"])
                times[found["job"]].iqrs[found["batch"]].append(found["iqr_ms"])
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
    for i, spec in enumerate(json.loads(sys.stdin.read())):
        for figures in measure(LatencyJob(**{**spec, "batches": tuple(spec["batches"])})):
            print(json.dumps({"job": i, **figures}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
