"""Every path under a results folder, built here and nowhere else. Each name that goes into one (a suite, a run id,
a config hash, a job id: typed by the user or read back from a file) must be one plain component (`safe_name`), and
the path must lie inside the results folder (`inside`): nothing is written outside it.

    <results>/<suite>/runs/<run_id>.parquet           one row per run
    <results>/<suite>/epochs/<run_id>.parquet         one row per epoch
    <results>/<suite>/predictions/<run_id>.parquet    one row per test image
    <results>/<suite>/latency/<run_id>.parquet        a run's forward latency timed again (`bench latency`)
    <results>/<suite>/checkpoints/<run_id>.pt         with --checkpoints
    <results>/<suite>/resume/<config_hash>/           a run's rolling checkpoint (removed as it ends ok,
                                                      unless --checkpoints; bench.store.resume)
    <results>/<suite>/slurm/<job>.json, <job>_<task>/ SLURM manifests and logs
    <results>/<suite>/locks/<config_hash>.lock        held by the worker training that identity (bench.store.lock)
    <results>/.markers/<run_id>.json                  timing-isolation markers (bench.measure.isolation)
    <results>/.quarantine/<path inside the folder>    damaged files, set aside (bench.store.quarantine)
    <results>/peak_tflops.json                        the matmul peaks its runs used (bench.measure.utilization)

and what bench keeps outside any results folder, in the cache folder (`cache_dir`):

    <cache>/peak_tflops.json                          measured matmul peaks of this machine, read by every folder
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.errors import UsageError

DEFAULT_RESULTS = "results"  # where `bench run` writes and the other commands read, unless --results says
DEFAULT_REPORTS = "reports"  # where `bench report` writes, unless --out says

# A name that becomes one component of a results path (a suite, a run id, a config hash, a job id): letters, digits,
# '.', '_', '-', not starting with '.' or '-' (so never '.', '..' or hidden), never empty; short enough that
# `.<name>.<pid>.tmp` fits a file name (255 bytes).
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
SAFE_NAME_MAX = 160
SAFE_NAME_RULE = (f"letters, digits, '.', '_' or '-', not starting with '.' or '-', at most {SAFE_NAME_MAX} "
                  "characters")


class UnsafeName(UsageError):
    """A name that would not stay one plain component of a path inside the results folder."""


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= SAFE_NAME_MAX and SAFE_NAME.fullmatch(name) is not None


def safe_name(name: object, what: str) -> str:
    """`name` when it can be one path component inside a results folder, else UnsafeName, in one line (repr shows
    a newline or NUL as an escape)."""
    if not is_safe_name(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise UnsafeName(f"{what} {shown} cannot name a file or folder of the results: use {SAFE_NAME_RULE}")
    return name  # type: ignore[return-value]


def inside(results: Path, path: Path) -> Path:
    """`path`, checked to lie inside `results` (lexically, after `..` is folded: a folder the user linked elsewhere
    on purpose, e.g. a suite on another disk, keeps working); else UnsafeName."""
    root = os.path.normpath(os.path.abspath(results))
    full = os.path.normpath(os.path.abspath(path))
    if os.path.commonpath([root, full]) != root:
        raise UnsafeName(f"'{path}' lies outside the results folder '{results}'; bench writes only inside it")
    return path


def suite_dir(results: Path, suite: str) -> Path:
    return inside(results, Path(results) / safe_name(suite, "suite name"))


def runs_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "runs"


def epochs_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "epochs"


def predictions_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "predictions"


def latency_dir(results: Path, suite: str) -> Path:
    return suite_dir(results, suite) / "latency"


def checkpoint_path(results: Path, suite: str, run_id: str) -> Path:
    return suite_dir(results, suite) / "checkpoints" / f"{safe_name(run_id, 'run id')}.pt"


def resume_dir(results: Path, suite: str, config_hash: str) -> Path:
    """The rolling checkpoint of the run of one identity (bench.store.resume): found again by the same command."""
    return suite_dir(results, suite) / "resume" / safe_name(config_hash, "config hash")


def slurm_folder(results: Path, suite: str) -> Path:
    """SLURM manifests (`<job>.json`) and submitit's logs (`<job>_<task>/`) of a suite."""
    return suite_dir(results, suite) / "slurm"


def slurm_manifest(results: Path, suite: str, job_id: str) -> Path:
    """What one submission holds: its array id, task → spec, whether the user cancelled it."""
    return slurm_folder(results, suite) / f"{safe_name(job_id, 'SLURM job id')}.json"


def slurm_manifests(results: Path, suite: str) -> list[Path]:
    return sorted(slurm_folder(results, suite).glob("*.json"))


def slurm_logs(results: Path, suite: str) -> Path:
    """submitit's log folder pattern: one folder per job (`%j` is SLURM's job id, `<array>_<task>` for a task)."""
    return slurm_folder(results, suite) / "%j"


def submitted_suites(results: Path) -> list[str]:
    """Suites with a SLURM folder (submissions) under `results`, sorted."""
    results = Path(results)
    return sorted(p.parent.name for p in results.glob("*/slurm") if is_safe_name(p.parent.name)) \
        if results.is_dir() else []


def markers_dir(results: Path) -> Path:
    return Path(results) / ".markers"


def marker_path(results: Path, run_id: str) -> Path:
    return markers_dir(results) / f"{safe_name(run_id, 'run id')}.json"


def shard_path(directory: Path, run_id: str) -> Path:
    """A run's shard in one of its suite's table folders (`runs_dir`, `epochs_dir`, ...)."""
    return Path(directory) / f"{safe_name(run_id, 'run id')}.parquet"


def lock_path(results: Path, suite: str, config_hash: str) -> Path:
    """The lock of the run of one identity, held by the worker training it (bench.store.lock)."""
    return suite_dir(results, suite) / "locks" / f"{safe_name(config_hash, 'config hash')}.lock"


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


def quarantine_dir(results: Path) -> Path:
    """Where damaged files of a results folder (or of the cache folder) are set aside, never deleted
    (bench.store.quarantine): `<results>/.quarantine/<the file's path inside the folder>`."""
    return Path(results) / ".quarantine"


def table_results(directory: Path) -> Path:
    """The results folder of one of a suite's table folders (`runs_dir`, `epochs_dir`, ...): two levels up."""
    return Path(directory).parent.parent
