"""The runner: plans a suite's runs, skips finished ones, and runs each in its own child process."""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import EXIT_INTERRUPTED, Terminated, UsageError, raise_terminated
from .identity import (architecture_identity, device_identity, differences, normalized, software_identity,
                       weights_identity)
from .metrics import BY_COLUMN, header
from .pool import run_all, slots
from .slurm import SlurmOptions
from .spec import RunSpec
from .status import Status
from .store import RunRow, load_runs, load_table, now, runs_dir, write_shard
from .recipe import Recipe, parse_assignment, with_overrides
from .suites import Entry, Suite, get_suite

# The paths of the project whose changes can change a result: only these make a row's git sha "+dirty".
RESULT_SOURCES = ("bench", "models", "pyproject.toml")
STOP_GRACE_S = 30.0  # after SIGTERM, how long a child may take to write its row before SIGKILL


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
    precision: str | None = None
    channels_last: bool | None = None
    compile: str | None = None
    run_timeout: float | None = None  # seconds per run, process start included; None = no limit
    settings: list[str] = field(default_factory=list)  # --set KEY=VALUE, checked against the recipe's fields
    launcher: str = "local"  # local (this machine, --jobs at once) or slurm (one job array through submitit)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    jobs: int = 1  # runs at once (the local pool)
    gpus: list[int] | None = None  # the GPUs the pool may use (default: all visible)


@dataclass
class Outcome:
    """What happened to the planned runs of one `bench run`."""

    specs: list[RunSpec]
    skipped: list[RunSpec] = field(default_factory=list)
    interrupted: bool = False
    detached: str | None = None  # the SLURM job id when --detach returned before the runs ended


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
                if ":" in name:  # an outside model: its own error names the part that failed
                    raise
                known = sorted({e.variant for e in suite.entries})
                candidates = list(dict.fromkeys(known + [v.name for v in models.list_variants()]))
                close = difflib.get_close_matches(name, candidates, n=3)
                raise UsageError(f"unknown variant '{name}' for suite {suite.name}; closest: {', '.join(close) or '-'}; "
                                 f"the suite has: {', '.join(known)}") from None
        chosen += [m for m in matches if m not in chosen]
    return chosen


def git_sha(root: Path | None = None) -> str:
    """The checked-out commit (+dirty when the package sources or pyproject have uncommitted changes), or "unknown"."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *RESULT_SOURCES],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_recipe(suite: Suite, options: RunOptions) -> Recipe:
    """The suite's recipe with the command line's overrides: the flags, then every --set KEY=VALUE."""
    flags = {"epochs": options.epochs, "batch_size": options.batch_size, "precision": options.precision,
             "channels_last": options.channels_last, "compile": options.compile}
    settings = dict(parse_assignment(text) for text in options.settings)
    for key, value in flags.items():
        if value is not None and key in settings and settings[key] != value:
            raise UsageError(f"--{key.replace('_', '-')} {value} and --set {key}={settings[key]} disagree; give one")
    return dataclasses.replace(with_overrides(suite.recipe, **flags), **settings)


def run_threads(options: RunOptions, device: object) -> int | None:
    """The thread count each CPU run will train with (None on a GPU): SLURM's cores per task (1 unless
    --slurm-cpus-per-task), the pool's share of the cores, or this process's own count."""
    import torch

    if getattr(device, "type", str(device)) != "cpu":
        return None
    if options.launcher == "slurm":
        return options.slurm.cpus_per_task or 1
    if options.jobs > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores // options.jobs)
    return torch.get_num_threads()


def plan(suite: Suite, options: RunOptions, device: object) -> list[RunSpec]:
    """Every variant × seed of the suite, as run specs under one recipe, each with its full identity."""
    from .data import data_identity

    threads = run_threads(options, device)

    recipe = run_recipe(suite, options)
    dataset = options.dataset or suite.dataset
    seeds = range(options.seeds if options.seeds is not None else suite.seeds)
    entries = select_entries(suite, options.variants)
    shared = {"data": data_identity(dataset, options.data_root), "recipe": normalized(dataclasses.asdict(recipe)),
              "device": device_identity(device, threads), "software": software_identity()}
    per_entry = {e: {"architecture": architecture_identity(e.variant), "weights": weights_identity(e.variant, e.weights)}
                 for e in entries}
    labels = tuple(dict.fromkeys([e.label for e in suite.entries] + [e.label for e in entries]))
    published = json.dumps([p.to_dict() for p in suite.published])
    on_defaults = recipe == suite.recipe and dataset == suite.dataset  # where the suite's promises hold
    sha = git_sha()
    return [
        RunSpec(suite.name, e.variant, e.weights, e.label, dataset, options.data_root, recipe, seed, str(device),
                options.results, sha, options.tensorboard, options.checkpoints,
                identity={**per_entry[e], **shared, "seed": seed}, suite_description=suite.description,
                suite_labels=labels, suite_published=published,
                min_test_acc=e.min_test_acc if on_defaults else None, threads=threads)
        for seed in seeds for e in entries
    ]


def finished_runs(results: str, suite: str) -> pd.DataFrame:
    """The suite's `ok` rows, newest first."""
    runs = load_runs(Path(results), suite)
    return runs[runs["status"] == Status.OK.value].sort_values("finished_at", ascending=False)


def decision(spec: RunSpec, finished: pd.DataFrame, force: bool) -> str:
    """What `bench run` will do with `spec`: "skip (done at …)", or "run" and why."""
    done = finished[finished["config_hash"] == spec.config_hash]
    if not done.empty:
        when = pd.to_datetime(done["finished_at"].iloc[0]).strftime("%Y-%m-%d %H:%M UTC")
        return f"run again (--force; done at {when})" if force else f"skip (done at {when})"
    return "run" + change_note(spec, finished)


def change_note(spec: RunSpec, finished: pd.DataFrame) -> str:
    """Which part of the identity differs from the closest finished row (same label and seed first)."""
    candidates = finished[finished["identity"].notna()]
    if candidates.empty:
        return " (no finished run to compare with)"
    def distance(row: pd.Series) -> tuple[int, int, int]:
        return (row["label"] != spec.label, row["seed"] != spec.seed,
                len(differences(json.loads(row["identity"]), spec.identity)))
    closest = min((row for _, row in candidates.iterrows()), key=distance)
    changed = differences(json.loads(closest["identity"]), spec.identity)
    return f" — differs from {closest['run_id']} in: {'; '.join(changed)}"


def record_missing_row(spec: RunSpec, returncode: int, interrupted: bool) -> None:
    """A child that ended without writing its row (interrupted while starting, killed, segfault): write it here."""
    from .worker import new_row

    row = new_row(spec)
    if interrupted or returncode in (EXIT_INTERRUPTED, -signal.SIGINT, -signal.SIGTERM):
        row.status, row.error = Status.INTERRUPTED.value, "interrupted (Ctrl-C or SIGTERM) before the run started"
    elif returncode < 0:
        name = signal.Signals(-returncode).name
        row.status = Status.FAILED.value
        row.error = f"worker killed by {name}" + (" (out of memory? the kernel's OOM killer sends it)"
                                                   if name == "SIGKILL" else "")
    else:
        row.status = Status.FAILED.value
        row.error = f"worker exited with status {returncode} without recording a result"
    row.finished_at = now()
    write_shard([row], runs_dir(Path(spec.results), spec.suite), spec.run_id)


@dataclass
class Ended:
    """How one child process ended."""

    code: int  # its exit status (negative: the signal that killed it)
    interrupted: bool = False  # Ctrl-C or SIGTERM reached the runner meanwhile
    timed_out: bool = False  # it ran past --run-timeout and was stopped


def launch(spec: RunSpec, timeout_s: float | None = None, grace_s: float = STOP_GRACE_S) -> Ended:
    """Run one spec in a child process of its own process group and wait for it.

    Ctrl-C and SIGTERM sent to the runner are passed on to the child (which records itself as interrupted);
    past `timeout_s` the child gets SIGTERM, then SIGKILL `grace_s` later if it is still there. The child
    also dies with the runner if the runner is killed outright (bench.worker.die_with_parent)."""
    from .worker import RUNNER_PID_VARIABLE

    env = {**os.environ, RUNNER_PID_VARIABLE: str(os.getpid())}
    # Ctrl-C must stop a run even when this process inherited SIGINT ignored (a job started in the background
    # by a non-interactive shell does): the child, in a group of its own, only gets what is passed on here.
    previous = signal.signal(signal.SIGTERM, raise_terminated), signal.signal(signal.SIGINT, signal.default_int_handler)
    child = subprocess.Popen([sys.executable, "-m", "bench.worker", spec.to_json()], env=env,
                             start_new_session=True)
    try:
        try:
            return Ended(child.wait(timeout=timeout_s))
        except subprocess.TimeoutExpired:
            return Ended(stop(child, signal.SIGTERM, grace_s), timed_out=True)
        except KeyboardInterrupt as exc:
            sent = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            return Ended(stop(child, sent, grace_s), interrupted=True)
    finally:
        if child.poll() is None:  # whatever happened above, no child outlives this call
            stop(child, signal.SIGKILL, grace_s)
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def stop(child: subprocess.Popen, first: int, grace_s: float) -> int:
    """Send `first` to the child's process group; SIGKILL it if it has not ended `grace_s` later. Its exit status."""
    for sig in (first, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C while waiting: stop waiting politely
            continue
    return child.wait()


def record_ending(spec: RunSpec, status: str, why: str) -> None:
    """Give the run `status`, with `why` and the epochs it finished as its error: its own row (written when it
    was stopped) keeps what it measured; a run that left none gets a fresh one."""
    path = runs_dir(Path(spec.results), spec.suite) / f"{spec.run_id}.parquet"
    if path.is_file():
        row = RunRow(**{k: none_if_missing(v) for k, v in load_table(path.parent, RunRow, [spec.run_id])
                        .iloc[0].to_dict().items()})
    else:
        from .worker import new_row

        row = new_row(spec)
    row.status = status
    row.error = f"{why}; stopped after {row.epochs_run or 0} epoch(s)"
    row.finished_at = row.finished_at or now()
    write_shard([row], path.parent, spec.run_id)


def record_timeout(spec: RunSpec, timeout_s: float) -> None:
    """Mark the run `timeout` after --run-timeout."""
    record_ending(spec, Status.TIMEOUT.value, f"ran past --run-timeout {timeout_s:g} s")


def none_if_missing(value: object) -> object:
    """A loaded cell as the row dataclass holds it: pandas' NA/NaN → None, numpy arrays → lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return None if value is None or (not isinstance(value, (list, str)) and pd.isna(value)) else value


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


def check_data(dataset: str, data_root: str | None, recipe) -> None:
    """Load the data set once here and refuse it, in one line, when its results would mean nothing: before any
    child starts, not once per run."""
    import torch

    from .data import load_dataset
    from .datacheck import check

    from .data import FILE_KINDS

    # Tiny images and no pixels decoded: only labels and files matter to the checks.
    data = load_dataset(dataset, data_root, 1, 0, recipe.val_fraction, torch.device("cpu"), decode=False)
    check(data.summary(), recipe.batch_size)
    if dataset.partition(":")[0] in FILE_KINDS:
        # Image files: decoded into the image cache here, once, at the runs' input size; every run then reads it.
        load_dataset(dataset, data_root, recipe.input_size, 0, recipe.val_fraction, torch.device("cpu"))


def check_input_size(entries: list[Entry], input_size: int) -> None:
    import models

    for e in entries:
        smallest = models.get_variant(e.variant).min_input_size
        if input_size < smallest:
            raise UsageError(f"input size {input_size} px is smaller than {e.variant} accepts ({smallest} px); "
                             "choose a larger input_size")


def planned(suite_name: str, options: RunOptions) -> tuple[Suite, list[RunSpec]]:
    """The suite and its run specs, after every check that needs no training (arguments, results folder, data)."""
    suite = get_suite(suite_name)
    from .data import check_spec  # before any child starts: one error, not one per run
    from .device import resolve_device

    dataset = options.dataset or suite.dataset
    check_spec(dataset)
    device = resolve_device(options.device)
    recipe = run_recipe(suite, options)
    check_input_size(select_entries(suite, options.variants), recipe.input_size)
    results_folder(options.results)
    check_data(dataset, options.data_root, recipe)
    return suite, plan(suite, options, device)


def dry_run(suite_name: str, options: RunOptions) -> list[str]:
    """One line per planned run: what `bench run` would do with it, and why."""
    suite, specs = planned(suite_name, options)
    finished = finished_runs(options.results, suite.name)
    return [f"[{i}/{len(specs)}] {s.label} seed {s.seed}: {decision(s, finished, options.force)}"
            for i, s in enumerate(specs, 1)]


def settle(spec: RunSpec, ended: Ended, number: int, total: int, timeout_s: float | None) -> bool:
    """Make sure an ended run has its row (timeout, or written here if the child left none). True: stop the suite."""
    if ended.timed_out:
        record_timeout(spec, timeout_s)
        print(f"[{number}/{total}] {spec.label} seed {spec.seed}: stopped after --run-timeout {timeout_s:g} s; "
              "going on", file=sys.stderr)
        return False
    if not (runs_dir(Path(spec.results), spec.suite) / f"{spec.run_id}.parquet").is_file():
        record_missing_row(spec, ended.code, ended.interrupted)
    return ended.interrupted or ended.code in (EXIT_INTERRUPTED, -signal.SIGINT)


def run_suite(suite_name: str, options: RunOptions) -> Outcome:
    """Run every planned spec not yet finished; stop at Ctrl-C with every finished shard kept."""
    suite, specs = planned(suite_name, options)
    pool = slots(options.jobs, specs[0].device if specs else "cpu", options.gpus)
    finished = finished_runs(options.results, suite.name)
    outcome = Outcome(specs)
    todo = []
    for i, spec in enumerate(specs, 1):
        what = decision(spec, finished, options.force)
        if what.startswith("skip"):
            outcome.skipped.append(spec)
            print(f"[{i}/{len(specs)}] {spec.label} seed {spec.seed}: {what}; --force re-runs it", file=sys.stderr)
        else:
            todo.append((i, spec))
    if options.launcher == "slurm" and todo:
        from . import slurm

        chosen = [spec for _, spec in todo]
        array_id, jobs = slurm.submit(chosen, options.slurm)
        print(f"submitted SLURM job array {array_id}: {len(chosen)} run(s); logs in "
              f"{slurm.slurm_folder(Path(options.results), suite.name)}/{array_id}*/", file=sys.stderr)
        if options.slurm.detach:
            outcome.detached = array_id
            return outcome
        outcome.interrupted = slurm.wait(array_id, jobs, chosen)
        return outcome
    if options.jobs > 1 or options.gpus is not None:  # the pool, also for one run on a chosen GPU
        if pool[0].env.get("CUDA_VISIBLE_DEVICES") is not None:  # the slot's GPU is the child's only GPU
            todo = [(i, dataclasses.replace(spec, device="cuda")) for i, spec in todo]
        outcome.interrupted = run_all(
            todo, len(specs), pool, options.run_timeout, STOP_GRACE_S,
            lambda spec, ended, i: settle(spec, ended, i, len(specs), options.run_timeout))
        return outcome
    for i, spec in todo:
        print(f"[{i}/{len(specs)}] {spec.label} seed {spec.seed} on {spec.dataset}, {spec.device}", file=sys.stderr)
        if settle(spec, launch(spec, options.run_timeout), i, len(specs), options.run_timeout):
            outcome.interrupted = True
            break
    return outcome


SUMMARY_METRICS = ["params", "macs", "epoch_time_s", "images_per_s", "peak_mem_mb", "best_val_acc", "test_acc"]


def summary_table(outcome: Outcome) -> pd.DataFrame:
    """This invocation's rows (a skipped run shows its finished row), units in the headers, scaled for reading."""
    if not outcome.specs:
        return pd.DataFrame()
    spec = outcome.specs[0]
    runs = load_runs(Path(spec.results), spec.suite).sort_values("finished_at", ascending=False)
    skipped = {s.run_id for s in outcome.skipped}
    picked = []
    for s in outcome.specs:
        if s.run_id in skipped:
            mine = runs[(runs["config_hash"] == s.config_hash) & (runs["status"] == Status.OK.value)]
        else:
            mine = runs[runs["run_id"] == s.run_id]
        picked += list(mine.index[:1])
    if not picked:
        return pd.DataFrame()
    table = runs.loc[picked]
    out = pd.DataFrame({"variant": table["label"], "seed": table["seed"], "status": table["status"]})
    for column in SUMMARY_METRICS:
        metric = BY_COLUMN[column]
        name = header(metric, size=spec.recipe.input_size, mem_kind="/".join(sorted(table["mem_kind"].dropna().unique())))
        out[name] = table[column].astype(float) * metric.scale
    return out.reset_index(drop=True)
