"""The runner: plans a suite's runs, skips finished ones, and runs each in its own child process."""
from __future__ import annotations

import difflib
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import EXIT_INTERRUPTED, UsageError
from .spec import RunSpec
from .store import load_runs, runs_dir, write_shard
from .suites import Entry, Suite, get_suite, with_overrides



@dataclass
class RunOptions:
    """What `bench run` was asked for, beyond the suite's own definition."""

    variants: list[str] | None = None
    dataset: str | None = None
    data_root: str | None = None
    epochs: int | None = None
    seeds: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    results: str = "results"
    force: bool = False
    tensorboard: str | None = None
    checkpoints: bool = False


@dataclass
class Outcome:
    """What happened to the planned runs of one `bench run`."""

    specs: list[RunSpec]
    skipped: list[RunSpec] = field(default_factory=list)
    interrupted: bool = False


def select_entries(suite: Suite, names: list[str] | None) -> list[Entry]:
    """The suite's entries named in `names` (by variant or label); a registered variant outside the suite joins it."""
    import models

    if not names:
        return list(suite.entries)
    chosen: list[Entry] = []
    for name in names:
        matches = [e for e in suite.entries if name in (e.variant, e.label)]
        if not matches:
            try:
                matches = [Entry(models.get_variant(name).name)]
            except models.UnknownVariantError:
                known = sorted({e.variant for e in suite.entries})
                close = difflib.get_close_matches(name, known + [v.name for v in models.list_variants()], n=3)
                raise UsageError(f"unknown variant '{name}' for suite {suite.name}; closest: {', '.join(close) or '-'}; "
                                 f"the suite has: {', '.join(known)}") from None
        chosen += [m for m in matches if m not in chosen]
    return chosen


def git_sha() -> str:
    """The checked-out commit of the project (with +dirty for uncommitted changes), or "unknown"."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def plan(suite: Suite, options: RunOptions, device: str) -> list[RunSpec]:
    """Every variant × seed of the suite, as run specs under one recipe."""
    recipe = with_overrides(suite.recipe, epochs=options.epochs, batch_size=options.batch_size)
    dataset = options.dataset or suite.dataset
    seeds = range(options.seeds if options.seeds is not None else suite.seeds)
    sha = git_sha()
    return [
        RunSpec(suite.name, e.variant, e.weights, e.label, dataset, options.data_root, recipe, seed, device,
                options.results, sha, options.tensorboard, options.checkpoints)
        for seed in seeds for e in select_entries(suite, options.variants)
    ]


def finished_hashes(results: str, suite: str) -> set[str]:
    """Config hashes that already have an `ok` row."""
    runs = load_runs(Path(results), suite)
    return set(runs.loc[runs["status"] == "ok", "config_hash"])


def record_crash(spec: RunSpec, returncode: int) -> None:
    """A child that died without writing its row (killed, segfault): record it as failed."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = f"worker killed by {name}" + (" (out of memory? the kernel's OOM killer sends it)" if name == "SIGKILL" else "")
    else:
        why = f"worker exited with status {returncode} without recording a result"
    from .worker import new_row

    row = new_row(spec)
    row.status, row.error = "failed", why
    write_shard([row], runs_dir(Path(spec.results), spec.suite), spec.run_id)


def launch(spec: RunSpec) -> int:
    """Run one spec in a child process and wait; on Ctrl-C let the child record itself, then re-raise."""
    child = subprocess.Popen([sys.executable, "-m", "bench.worker", spec.to_json()])
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)  # in case the signal reached only us; the child ignores a second one
        child.wait()
        raise


def run_suite(suite_name: str, options: RunOptions) -> Outcome:
    """Run every planned spec not yet finished; stop at Ctrl-C with every finished shard kept."""
    suite = get_suite(suite_name)
    from .data import check_spec  # before any child starts: one error, not one per run
    from .device import resolve_device

    check_spec(options.dataset or suite.dataset)

    device = resolve_device(options.device).type
    specs = plan(suite, options, device)
    done = set() if options.force else finished_hashes(options.results, suite.name)
    outcome = Outcome(specs)
    for i, spec in enumerate(specs, 1):
        if spec.config_hash in done:
            outcome.skipped.append(spec)
            print(f"[{i}/{len(specs)}] {spec.label} seed {spec.seed}: done before, skipped (--force re-runs it)",
                  file=sys.stderr)
            continue
        print(f"[{i}/{len(specs)}] {spec.label} seed {spec.seed} on {spec.dataset}, {device}", file=sys.stderr)
        try:
            code = launch(spec)
        except KeyboardInterrupt:
            outcome.interrupted = True
            break
        if code == EXIT_INTERRUPTED:
            outcome.interrupted = True
            break
        if code != 0:
            record_crash(spec, code)
    return outcome


def summary_table(outcome: Outcome) -> pd.DataFrame:
    """The planned runs' rows, as a reader wants them: units in the headers, accuracies in %."""
    if not outcome.specs:
        return pd.DataFrame()
    spec = outcome.specs[0]
    runs = load_runs(Path(spec.results), spec.suite)
    order = {s.config_hash: i for i, s in enumerate(outcome.specs)}
    runs = runs[runs["config_hash"].isin(order)]
    runs = runs.iloc[runs["config_hash"].map(order).argsort()]
    return pd.DataFrame({
        "variant": runs["label"], "seed": runs["seed"], "status": runs["status"],
        "params (M)": runs["params"] / 1e6, "GMACs": runs["macs"] / 1e9,
        "epoch (s)": runs["epoch_time_s"], "images/s": runs["images_per_s"],
        "peak mem (MB)": runs["peak_mem_mb"], "best val acc (%)": runs["best_val_acc"] * 100,
        "test acc (%)": runs["test_acc"] * 100,
    })
