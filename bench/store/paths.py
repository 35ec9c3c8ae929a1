"""Every path under a results folder, built here and nowhere else.

    <results>/<suite>/runs/<run_id>.parquet           one row per run
    <results>/<suite>/epochs/<run_id>.parquet         one row per epoch
    <results>/<suite>/predictions/<run_id>.parquet    one row per test image
    <results>/<suite>/latency/<run_id>.parquet        a run's forward latency timed again (`bench latency`)
    <results>/<suite>/checkpoints/<run_id>.pt         with --checkpoints
    <results>/<suite>/resume/<config_hash>/           a run's rolling checkpoint (removed as it ends ok,
                                                      unless --checkpoints; bench.store.resume)
    <results>/<suite>/slurm/<job>.json, <job>_<task>/ SLURM manifests and logs
    <results>/.markers/<run_id>.json                  timing-isolation markers (bench.measure.isolation)
    <results>/peak_tflops.json                        the matmul peaks its runs used (bench.measure.utilization)

and what bench keeps outside any results folder, in the cache folder (`cache_dir`):

    <cache>/peak_tflops.json                          measured matmul peaks of this machine, read by every folder
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError

DEFAULT_RESULTS = "results"  # where `bench run` writes and the other commands read, unless --results says
DEFAULT_REPORTS = "reports"  # where `bench report` writes, unless --out says


def suite_dir(results: Path, suite: str) -> Path:
    return Path(results) / suite


def runs_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "runs"


def epochs_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "epochs"


def predictions_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "predictions"


def latency_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "latency"


def checkpoint_path(results: Path, suite: str, run_id: str) -> Path:
    return suite_dir(results, suite) / "checkpoints" / f"{run_id}.pt"


def resume_dir(results: Path, suite: str, config_hash: str) -> Path:
    """The rolling checkpoint of the run of one identity (bench.store.resume): found again by the same command."""
    return suite_dir(results, suite) / "resume" / config_hash


def slurm_folder(results: Path, suite: str) -> Path:
    """SLURM manifests (`<job>.json`) and submitit's logs (`<job>_<task>/`) of a suite."""
    return suite_dir(results, suite) / "slurm"


def slurm_manifest(results: Path, suite: str, job_id: str) -> Path:
    """What one submission holds: its array id, task → spec, whether the user cancelled it."""
    return slurm_folder(results, suite) / f"{job_id}.json"


def slurm_manifests(results: Path, suite: str) -> list[Path]:
    return sorted(slurm_folder(results, suite).glob("*.json"))


def slurm_logs(results: Path, suite: str) -> Path:
    """submitit's log folder pattern: one folder per job (`%j` is SLURM's job id, `<array>_<task>` for a task)."""
    return slurm_folder(results, suite) / "%j"


def submitted_suites(results: Path) -> list[str]:
    """Suites with a SLURM folder (submissions) under `results`, sorted."""
    results = Path(results)
    return sorted(p.parent.name for p in results.glob("*/slurm")) if results.is_dir() else []


def markers_dir(results: Path) -> Path:
    return Path(results) / ".markers"


def marker_path(results: Path, run_id: str) -> Path:
    return markers_dir(results) / f"{run_id}.json"


def peak_tflops_path(results: Path) -> Path:
    """The matmul peaks (per device name, precision and torch version) the folder's runs used, with how each was
    measured: a copy of the machine's entry (`machine_peak_tflops_path`), shared by every suite of the folder."""
    return Path(results) / "peak_tflops.json"


def cache_dir() -> Path:
    """Where bench keeps what it can rebuild (`$BENCH_CACHE_DIR`, default ~/.cache/bench): the content digests'
    memo, the image cache, the machine's measured peaks; deleting it loses nothing but time."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench").expanduser()


def machine_peak_tflops_path() -> Path:
    """This machine's measured matmul peaks, measured once per device name, precision and torch version and read by
    every results folder (a new folder does not measure again)."""
    return cache_dir() / "peak_tflops.json"


def speed_choices_path(results: Path) -> Path:
    """Memory formats chosen by measurement, per architecture, device, batch, precision and software (bench.train.probe),
    shared by every suite and seed."""
    return Path(results) / "speed_choices.json"


def results_folder(path: str) -> Path:
    """The results folder, created when missing; one that cannot be written is refused before anything runs."""
    import tempfile

    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--results '{folder}' is a file, not a folder; choose a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"--results '{folder}' cannot be written ({exc.strerror or exc}); choose a writable folder") \
            from None
    return folder
