"""`bench run`: plan a suite's runs, skip the finished ones, hand the rest to the chosen launcher, print the summary
and the next command."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import EXIT_INTERRUPTED, UsageError
from ..plan.options import RunOptions
from ..plan.spec import RunSpec
from ..plan.tune import chosen_specs
from ..store.metrics import SUMMARY, header
from ..store.paths import DEFAULT_RESULTS
from ..store.status import Status
from ..store.tuning import Role
from .output import print_frame

@dataclass
class Outcome:
    """What happened to the planned runs of one `bench run` (with --tune: the chosen runs, after the trials)."""

    specs: list[RunSpec]
    skipped: list[RunSpec] = field(default_factory=list)
    interrupted: bool = False
    detached: str | None = None  # the submission id when the runs go on without this command (--detach)
    trials: list[RunSpec] = field(default_factory=list)  # a tuning's trials
    undecided: list[str] = field(default_factory=list)  # variants whose trials did not all finish: nothing chosen


def launcher_for(options: RunOptions):
    """The launcher `--launcher` names, made with the options."""
    from ..launch.base import launchers

    return launchers()[options.launcher].make(options)


def dry_run(suite_name: str, options: RunOptions) -> list[str]:
    """One line per planned run: what `bench run` would do with it, and why."""
    from ..plan.decide import finished_runs, plan_lines
    from ..plan.prepare import planned

    suite, specs = planned(suite_name, options, launcher_for(options).threads)
    lines = plan_lines(specs, finished_runs(options.results, suite.name), options.force)
    if specs and specs[0].role == Role.TRIAL.value:
        seeds = options.seeds if options.seeds is not None else suite.seeds
        lines.append(f"then each variant at the values its trials chose (validation accuracy), seeds 0..{seeds - 1}")
    return lines


def launch(specs: list[RunSpec], options: RunOptions, launcher, outcome: Outcome) -> None:
    """Run every spec of `specs` not yet finished through `launcher`: skipped ones go to outcome.skipped; an
    interrupt or a detached submission is noted on `outcome`."""
    from ..launch.endings import settle
    from ..plan.decide import decision, finished_runs, resumed
    import os

    from ..store.lock import FORCE_VARIABLE, held_by
    from ..store.paths import lock_path

    os.environ[FORCE_VARIABLE] = "1" if options.force else "0"  # the workers' own check, under the run's lock
    finished = finished_runs(options.results, specs[0].suite) if specs else None
    todo = []
    for i, spec in enumerate(specs, 1):
        what_now = decision(spec, finished, options.force)
        holder = None if what_now.startswith("skip") else held_by(
            lock_path(Path(spec.results), spec.suite, spec.config_hash))
        if what_now.startswith("skip"):
            outcome.skipped.append(spec)
            print(f"[{i}/{len(specs)}] {spec.title}: {what_now}; --force re-runs it",
                  file=sys.stderr)
        elif holder is not None:  # another live process trains it: its resume point and row are that process's
            outcome.skipped.append(spec)
            print(f"[{i}/{len(specs)}] {spec.title}: skip (being run by {holder}); the same command runs it "
                  "again if that one does not finish it", file=sys.stderr)
        else:
            specs[i - 1] = spec = resumed(spec)  # in place: the summary finds the resumed run's row by its id
            todo.append((i, spec))
    if options.checkpoints and specs and specs[0].role != Role.TRIAL.value:
        without_checkpoint([s for s in outcome.skipped if s in specs], finished)
    eta = None
    if len(todo) > 1 and options.launcher == "local":  # the time left, from the MACs of what is to run
        from ..launch.eta import SuiteEta, variant_macs

        eta = SuiteEta(variant_macs(spec for _, spec in todo), options.jobs)

    def settled(spec: RunSpec, ended, i: int) -> bool:
        stop = settle(spec, ended, i, len(specs), options.run_timeout)
        if eta:
            eta.ended(spec)
        return stop

    try:
        launched = launcher.run(todo, len(specs), settled, eta)
    except KeyboardInterrupt:  # between two runs, with no worker to pass it on to: stop as after any Ctrl-C
        from ..launch.base import Launched

        launched = Launched(interrupted=True)
    outcome.interrupted, outcome.detached = launched.interrupted, launched.detached


def run_suite(suite_name: str, options: RunOptions) -> Outcome:
    """Run every planned spec not yet finished; stop at Ctrl-C with every finished row kept. With a tuning: its
    trials first, then each variant's runs at the values they chose."""
    from ..plan.prepare import prepared

    launcher = launcher_for(options)
    ready = prepared(suite_name, options, launcher.threads)
    specs = ready.specs
    launcher.check(specs[0].device if specs else "cpu")
    if not specs or specs[0].role != Role.TRIAL.value:
        outcome = Outcome(specs)
        launch(specs, options, launcher, outcome)
        return outcome
    outcome = Outcome([], trials=specs)
    launch(specs, options, launcher, outcome)
    if outcome.interrupted or outcome.detached:
        return outcome
    chosen = choice(specs, outcome)
    outcome.specs = chosen_specs(ready, chosen)
    launch(outcome.specs, options, launcher, outcome)
    return outcome


def choice(trials: list[RunSpec], outcome: Outcome) -> dict[str, dict]:
    """Each variant's chosen values, from its trials' rows (bench.store.tuning.choose: validation accuracy only),
    printed with every point's accuracy; a variant whose trials did not all finish gets none (outcome.undecided)."""
    from ..store.shards import load_runs
    from ..store.tuning import choose, point_text, trial_table

    keys = list(json.loads(trials[0].tuning)["space"])
    runs = load_runs(Path(trials[0].results), trials[0].suite)
    runs = runs[runs["config_hash"].isin({t.config_hash for t in trials})]
    ok = runs[runs["status"] == Status.OK.value].sort_values("finished_at", ascending=False)
    ok = ok.drop_duplicates("config_hash")
    done = set(ok["config_hash"])
    labels = list(dict.fromkeys(t.label for t in trials))
    missing = {label: [t for t in trials if t.label == label and t.config_hash not in done] for label in labels}
    table = trial_table(ok[ok["label"].isin([l for l in labels if not missing[l]])], keys)
    chosen = {label: dict(zip(keys, point)) for label, point in choose(table).items()}
    print("\ntuning: each variant's mean best validation accuracy per grid point (the test split unread); "
          "chosen: *", file=sys.stderr)
    for label in labels:
        if missing[label]:
            outcome.undecided.append(label)
            print(f"  {label}: nothing chosen: {len(missing[label])} of its trials did not finish; run the same "
                  "command again to finish them", file=sys.stderr)
            continue
        mine = table[table["label"] == label]
        cells = [f"{'*' if dict(zip(keys, p)) == chosen[label] else ''}{point_text(dict(zip(keys, p)))}: {v:.1%}"
                 for p, v in zip(mine["point"], mine["val_acc"])]
        print(f"  {label}: {'; '.join(cells)}", file=sys.stderr)
    print(file=sys.stderr)
    return chosen


def interrupted_note(specs: list[RunSpec], suite: str, results: str) -> str:
    """After Ctrl-C: how many of the planned runs finished and how many will go on from their checkpoint, and the
    commands, as they can be typed, that resume and that report what finished."""
    import shlex

    from ..store.resume import read_point
    from ..store.shards import load_runs
    from .output import command_name

    folder = Path(specs[0].results) if specs else Path(DEFAULT_RESULTS)
    runs = load_runs(folder, suite)
    ok = set(runs.loc[runs["status"] == Status.OK.value, "config_hash"]) if not runs.empty else set()
    done = sum(s.config_hash in ok for s in specs)
    points = [p for p in (read_point(folder, suite, s.config_hash) for s in specs if s.config_hash not in ok) if p]
    program = command_name()
    again = " ".join([program, *(shlex.quote(a) for a in sys.argv[1:])])
    said = f"interrupted: {done} of {len(specs)} run(s) finished, kept in {folder / suite}/"
    if points:
        said += (f"; {len(points)} stopped mid-run will go on from their last finished epoch "
                 f"({', '.join(f'{p.run_id} after epoch {p.epoch}' for p in points)})")
    said += f".\nresume: {again}"
    if done:
        said += f"\nreport what finished: {program} report --suite {suite}{results}"
    return said


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

    specs = outcome.specs or outcome.trials  # a tuning stopped before its choice: its trials
    if not specs:
        return pd.DataFrame()
    spec = specs[0]
    runs = load_runs(Path(spec.results), spec.suite).sort_values("finished_at", ascending=False)
    skipped = {s.run_id for s in outcome.skipped}
    picked = []
    for s in specs:
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
    shown = outcome.specs or outcome.trials
    name = shown[0].suite if shown else options.suite
    if outcome.detached:
        then = (f"when it is done: the same bench run command runs each variant at the values its trials chose\n"
                if outcome.trials and not outcome.specs else f"when it is done: bench report --suite {name}{results}\n")
        print(f"submitted SLURM job {outcome.detached}; it runs without this command.\n"
              f"follow it:      bench status --suite {name}{results}   (or squeue -j {outcome.detached})\n"
              f"{then}"
              f"cancel it:      scancel {outcome.detached}; the same bench run command resumes what is not done")
        return 0
    table = summary_table(outcome)
    print()
    print_frame(table, "table", as_given=True)
    if outcome.interrupted:
        print("\n" + interrupted_note(shown, name, results), file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.undecided:
        print(f"\nbench: {', '.join(outcome.undecided)}: trials did not all finish, so no value was chosen and no "
              "run made; see the lines above, then run the same command again", file=sys.stderr)
    print(f"\nnext: bench report --suite {name}{results}")
    return 0 if (table.empty or (table["status"] == Status.OK.value).all()) and not outcome.undecided else 1
