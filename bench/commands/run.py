"""`bench run`: plan a suite's runs, skip the finished ones, hand the rest to the chosen launcher, print the summary
and the next command."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import EXIT_INTERRUPTED, UsageError
from ..plan.options import RunOptions
from ..plan.spec import RunSpec
from ..store.metrics import SUMMARY, header
from ..store.paths import DEFAULT_RESULTS
from ..store.status import Status
from .output import print_frame

@dataclass
class Outcome:
    """What happened to the planned runs of one `bench run`."""

    specs: list[RunSpec]
    skipped: list[RunSpec] = field(default_factory=list)
    interrupted: bool = False
    detached: str | None = None  # the submission id when the runs go on without this command (--detach)


def launcher_for(options: RunOptions):
    """The launcher `--launcher` names, made with the options."""
    from ..launch.base import launchers

    return launchers()[options.launcher].make(options)


def dry_run(suite_name: str, options: RunOptions) -> list[str]:
    """One line per planned run: what `bench run` would do with it, and why."""
    from ..plan.decide import finished_runs, plan_lines
    from ..plan.prepare import planned

    suite, specs = planned(suite_name, options, launcher_for(options).threads)
    return plan_lines(specs, finished_runs(options.results, suite.name), options.force)


def run_suite(suite_name: str, options: RunOptions) -> Outcome:
    """Run every planned spec not yet finished; stop at Ctrl-C with every finished row kept."""
    from ..launch.endings import settle
    from ..plan.decide import decision, finished_runs
    from ..plan.prepare import planned

    launcher = launcher_for(options)
    suite, specs = planned(suite_name, options, launcher.threads)
    launcher.check(specs[0].device if specs else "cpu")
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
    if options.checkpoints:
        without_checkpoint(outcome.skipped, finished)
    eta = None
    if len(todo) > 1 and options.launcher == "local":  # the suite's time left, from the MACs of what is to run
        from ..launch.eta import SuiteEta, variant_macs

        eta = SuiteEta(variant_macs(spec for _, spec in todo), options.jobs)

    def settled(spec: RunSpec, ended, i: int) -> bool:
        stop = settle(spec, ended, i, len(specs), options.run_timeout)
        if eta:
            eta.ended(spec)
        return stop

    launched = launcher.run(todo, len(specs), settled, eta)
    outcome.interrupted, outcome.detached = launched.interrupted, launched.detached
    return outcome


def without_checkpoint(skipped: list[RunSpec], finished: pd.DataFrame) -> None:
    """--checkpoints asked for, but finished runs being skipped have none: one line saying so, and how to get them."""
    from ..store.paths import checkpoint_path

    missing = []
    for spec in skipped:
        done = finished[finished["config_hash"] == spec.config_hash]
        if not done.empty and not checkpoint_path(Path(spec.results), spec.suite, done["run_id"].iloc[0]).is_file():
            missing.append(f"{spec.label} seed {spec.seed}")
    if missing:
        print(f"bench: {len(missing)} finished run(s) have no checkpoint (they ran without --checkpoints): "
              f"{', '.join(missing)}; add --force to train them again with checkpoints", file=sys.stderr)


def summary_table(outcome: Outcome) -> pd.DataFrame:
    """This invocation's rows (a skipped run shows its finished row), units in the headers, scaled for reading and
    shown to 3 significant digits (a small model's 0.00123 GMACs is not 0.00)."""
    from ..store.shards import load_runs

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
    for metric in SUMMARY:  # the catalogue's summary columns (bench.store.metrics)
        column = metric.column
        name = header(metric, size=spec.recipe.input_size, mem_kind="/".join(sorted(table["mem_kind"].dropna().unique())))
        out[name] = [metric.significant(v) if pd.notna(v) else "–" for v in table[column].astype(float)]
    return out.reset_index(drop=True)


def run(options: RunOptions) -> int:
    """Train and measure every variant × seed of a suite; print the summary and the next command."""
    if options.dry_run:
        print("\n".join(dry_run(options.suite, options)))
        return 0
    if options.launcher == "slurm" and (options.jobs != 1 or options.gpus is not None):
        raise UsageError("--jobs and --gpus are for --launcher local; SLURM places the tasks "
                         "(--slurm-array-parallelism, --slurm-gpus-per-task)")
    outcome = run_suite(options.suite, options)
    results = "" if options.results == DEFAULT_RESULTS else f" --results {options.results}"
    name = outcome.specs[0].suite if outcome.specs else options.suite
    if outcome.detached:
        print(f"submitted SLURM job {outcome.detached}; it runs without this command.\n"
              f"follow it:      bench status --suite {name}{results}   (or squeue -j {outcome.detached})\n"
              f"when it is done: bench report --suite {name}{results}\n"
              f"cancel it:      scancel {outcome.detached}; the same bench run command resumes what is not done")
        return 0
    table = summary_table(outcome)
    print()
    print_frame(table, "table", as_given=True)
    if outcome.interrupted:
        print(f"\ninterrupted: finished runs are kept in {Path(options.results) / name}/; run the same command to "
              f"resume, or `bench report --suite {name}{results}` to report what finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"\nnext: bench report --suite {name}{results}")
    return 0 if (table["status"] == Status.OK.value).all() else 1
