"""`bench latency`: time the forward pass of a finished results folder's runs again, each in fresh processes, on a
machine chosen to be quiet; `bench report` and `bench compare` then read these figures in place of the ones the runs
timed while training (marked as such). Built-in, `timm:` and `module:function` variants alike: each run's own
variant, input size, classes, batch, device, threads and speed settings, as its row recorded them."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from ..core.argtypes import StoreOnce, at_least, option
from ..core.errors import UsageError
from ..store.paths import DEFAULT_RESULTS

DEFAULT_PROCESSES = 5  # fresh processes per run: 5 medians give the Welch test of bench compare room to decide


@dataclass
class LatencyOptions:
    results: str = option(DEFAULT_RESULTS, "the finished results folder whose runs to time (default %(default)s/)",
                          action=StoreOnce)
    suite: str | None = option(None, "only this suite (default: every suite found)")
    variants: str | None = option(None, "only these labels, comma-separated (default: every variant)")
    processes: int = option(DEFAULT_PROCESSES, "fresh processes that each time every run's model (default "
                                               "%(default)s); each process's median is one independent value",
                            type=at_least(1), metavar="N")
    again: bool = option(False, "time runs that `bench latency` already timed again too (default: skip them, so "
                                "that a stopped command resumes where it stopped)", action="store_true")


def latency(options: LatencyOptions) -> int:
    """Time every chosen ok run's model in `processes` fresh processes and write one latency shard per run."""
    from pathlib import Path

    import pandas as pd
    import torch

    from ..store.paths import latency_dir
    from ..store.schema import LatencyRow, now
    from ..store.shards import load_latency, load_runs, suites_in, write_shard
    from ..worker.latency import LatencyJob, machine_speed, time_in_processes

    results = Path(options.results)
    suites = [options.suite] if options.suite else suites_in(results)
    if not suites or (options.suite and options.suite not in suites_in(results)):
        raise UsageError(f"no results in {results}/" + (f" for suite {options.suite}" if options.suite else "")
                         + ": run `bench run --suite NAME` first, or name the folder with --results")
    wanted = {v.strip() for v in options.variants.split(",")} if options.variants else None
    todo = []
    for suite in suites:
        runs = load_runs(results, suite)
        done = set() if options.again else set(load_latency(results, suite)["run_id"])
        ok = runs[(runs["status"] == "ok") & runs["num_classes"].notna() & ~runs["run_id"].isin(done)]
        if wanted is not None:
            unknown = wanted - set(runs["label"])
            if unknown:
                raise UsageError(f"--variants: {', '.join(sorted(unknown))} not in {suite}'s runs; its variants: "
                                 f"{', '.join(dict.fromkeys(runs['label']))}")
            ok = ok[ok["label"].isin(wanted)]
        todo += [(suite, row) for _, row in ok.iterrows()]
    for _, row in todo:
        if str(row["device"]).startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"run {row['run_id']} was timed on {row['device']}, and this machine has no CUDA: run "
                             "`bench latency` where the runs ran")
    if not todo:
        print(f"bench latency: nothing to time in {results}/ (every ok run timed again already; --again times them "
              "once more)", file=sys.stderr)
        return 0
    host = __import__("socket").gethostname()
    started = time.monotonic()
    for i, (suite, row) in enumerate(todo, 1):
        batch = int(row["latency_batch"])
        given = {k: (None if pd.isna(row[k]) else row[k]) for k in ("num_threads", "precision", "channels_last")}
        job = LatencyJob(row["variant"], int(row["num_classes"]), int(row["input_size"]), (1, batch),
                         str(row["device"]), None if given["num_threads"] is None else int(given["num_threads"]),
                         given["precision"] or "fp32", bool(given["channels_last"]))
        speed_before = machine_speed(job)
        times = time_in_processes(job, options.processes)
        speed_now = max(speed_before, machine_speed(job))  # the faster probe, before or after: a moment's load aside
        new = LatencyRow(row["run_id"], times.median(1), times.median(batch), times.typical_iqr(1),
                         times.typical_iqr(batch), list(times.medians[1]), list(times.medians[batch]),
                         options.processes, batch, now(), host, job.threads, speed_now)
        write_shard([new], latency_dir(results, suite), row["run_id"])
        left = (time.monotonic() - started) / i * (len(todo) - i)
        print(f"[{i}/{len(todo)}] {suite} {row['label']} seed {row['seed']}: b1 {new.latency_ms_b1:.2f} ms (was "
              f"{float(row['latency_ms_b1']):.2f}), b{batch} {new.latency_ms_bN:.2f} ms (was "
              f"{float(row['latency_ms_bN']):.2f}); {options.processes} processes"
              + (f"; ETA {left:.0f} s" if i < len(todo) else ""), file=sys.stderr)
    print(f"bench latency: {len(todo)} run(s) timed again into {results}/<suite>/latency/; `bench report` and "
          "`bench compare` now read these figures", file=sys.stderr)
    return 0
