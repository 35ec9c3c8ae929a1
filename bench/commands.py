"""What each CLI command does. cli.py parses the arguments into these option dataclasses (by field name) and calls
the command of the same name; a command prints and returns the exit status."""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import pandas as pd

from .errors import EXIT_INTERRUPTED, UsageError

MODEL_COLUMNS = ["variant", "source", "params", "trainable_params", "macs", "flops", "other_ops", "activations", "size_mb",
                 "input_size", "num_classes", "skipped_ops"]


def models_table(pattern: str | None, tag: str | None, input_size: int, num_classes: int) -> pd.DataFrame:
    """One row per matching variant with its profile at `input_size` and `num_classes`."""
    import models

    from .profile import profile_model

    from .errors import UsageError

    rows = []
    variants = models.list_variants(pattern, tag)
    for variant in variants:
        if input_size < variant.min_input_size:
            raise UsageError(f"--input-size {input_size} is smaller than {variant.name} accepts "
                             f"({variant.min_input_size} px)")
    for variant in variants:
        profile = profile_model(variant.build(num_classes=num_classes), input_size, num_classes)
        rows.append({"variant": variant.name, "source": variant.source, **dataclasses.asdict(profile)})
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def print_frame(frame: pd.DataFrame, fmt: str, units: str = "") -> None:
    """Print `frame` as an aligned table (with a units line), CSV (header + rows only) or JSON records."""
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        from tabulate import tabulate

        print(tabulate(frame, headers="keys", tablefmt="simple", showindex=False, intfmt=",", floatfmt=".2f"))
        if units:
            print(f"\nunits: {units}")


def describe_suites(names_only: bool = False) -> str:
    """Every suite: variants (with what each promises on the defaults), data set, seeds, recipe, published figures."""
    from .suites import SUITES

    if names_only:
        return "\n".join(SUITES)
    blocks = []
    for suite in SUITES.values():
        promised = [f"{e.label} ≥ {e.min_test_acc:.0%}" for e in suite.entries if e.min_test_acc is not None]
        lines = [f"{suite.name}: {suite.description}",
                 f"  variants: {', '.join(e.label for e in suite.entries)}  (baseline: {suite.entries[0].label})",
                 f"  dataset: {suite.dataset}; seeds: {suite.seeds}",
                 "  recipe: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(suite.recipe).items())]
        if promised:
            lines.append(f"  promised test accuracy on these defaults: {', '.join(promised)}")
        for ref in suite.published:
            values = ", ".join(f"{label} {value:g}" for label, value in ref.values)
            lines.append(f"  published ({ref.source}; {ref.dataset}; {ref.metric}): {values}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def from_namespace(cls: type, namespace: object) -> object:
    """An options dataclass filled, field by field, from the parsed arguments of the same names."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)})


MODEL_UNITS = ("params: count; macs: multiply-adds of convolutions, linear layers and matrix products; flops = 2 × "
               "macs; other_ops: what fvcore counts beyond macs (batch norm, pooling); activations: output elements; "
               "size_mb: parameters + buffers in MB")


@dataclass
class ModelsOptions:
    pattern: str | None = None
    tag: str | None = None
    input_size: int = 32
    num_classes: int = 10
    format: str = "table"


def models(options: ModelsOptions) -> int:
    """Print the cost of every matching variant."""
    table = models_table(options.pattern, options.tag, options.input_size, options.num_classes)
    print_frame(table, options.format, units=MODEL_UNITS)
    return 0


@dataclass
class SuitesOptions:
    names: bool = False
    show: str | None = None


def suites(options: SuitesOptions) -> int:
    """Print every suite (or only their names), or one suite as a TOML file to start from."""
    if options.show:
        from .suitefile import dump_suite
        from .suites import get_suite

        print(dump_suite(get_suite(options.show)), end="")
        return 0
    print(describe_suites(names_only=options.names))
    return 0


@dataclass
class RunCommand:
    suite: str
    dry_run: bool = False


def run(command: RunCommand, options) -> int:
    """Train and measure every variant × seed of a suite; print the summary and the next command."""
    from .runner import dry_run, run_suite, summary_table
    from .status import Status

    if command.dry_run:
        print("\n".join(dry_run(command.suite, options)))
        return 0
    if options.slurm.detach and options.launcher != "slurm":
        raise UsageError("--detach needs --launcher slurm: a local run ends with this command")
    if options.launcher == "slurm" and (options.jobs != 1 or options.gpus is not None):
        raise UsageError("--jobs and --gpus are for --launcher local; SLURM places the tasks "
                         "(--slurm-array-parallelism, --slurm-gpus-per-task)")
    outcome = run_suite(command.suite, options)
    results = "" if options.results == "results" else f" --results {options.results}"
    name = outcome.specs[0].suite if outcome.specs else command.suite
    if outcome.detached:
        print(f"submitted SLURM job {outcome.detached}; it runs without this command.\n"
              f"follow it:      bench status --suite {name}{results}   (or squeue -j {outcome.detached})\n"
              f"when it is done: bench report --suite {name}{results}\n"
              f"cancel it:      scancel {outcome.detached}; the same bench run command resumes what is not done")
        return 0
    table = summary_table(outcome)
    print()
    print_frame(table, "table")
    if outcome.interrupted:
        print("\ninterrupted: finished runs are kept; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"\nnext: bench report --suite {name}{results}")
    return 0 if (table["status"] == Status.OK.value).all() else 1


@dataclass
class ReportOptions:
    results: str = "results"
    out: str = "reports"
    suite: str | None = None
    strict: bool = False


def report(options: ReportOptions) -> int:
    """Write the markdown report and pictures of each suite found; with --strict, exit 1 naming each shortfall."""
    from .report import write_reports

    problems = []
    for written in write_reports(options.results, options.out, options.suite):
        print(f"wrote {written.path} (pictures in {written.path.with_suffix('')}/)")
        problems += written.shortfalls
    if options.strict and problems:
        print("\n".join(f"bench: strict: {p}" for p in problems), file=sys.stderr)
        return 1
    return 0


@dataclass
class StatusOptions:
    results: str = "results"
    suite: str | None = None


NEWEST_FAILURES = 5


def status(options: StatusOptions) -> int:
    """Per suite: runs per status, the newest failures with their errors, and its SLURM jobs still queued."""
    from pathlib import Path

    from . import slurm
    from .store import load_runs, suites_in

    results = Path(options.results)
    submitted = sorted(p.parent.name for p in results.glob("*/slurm")) if results.is_dir() else []
    suites = [options.suite] if options.suite else sorted(set(suites_in(results)) | set(submitted))
    if not suites or (options.suite and not (results / options.suite).is_dir()):
        raise UsageError(f"no results in {results}/" + (f" for suite {options.suite}" if options.suite else "")
                         + ": run `bench run --suite NAME` first")
    for suite in suites:
        manifests = sorted(slurm.slurm_folder(results, suite).glob("*.json"))
        for path in manifests:  # tasks SLURM ended since: their rows say so before they are counted
            if shutil_which("scontrol") or shutil_which("sacct"):
                slurm.reconcile(path)
        runs = load_runs(results, suite)
        counts = runs["status"].value_counts().to_dict() if not runs.empty else {}
        print(f"{suite}: {len(runs)} run row(s): " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
        failed = runs[runs["status"] != "ok"].sort_values("finished_at", ascending=False, na_position="last") \
            if not runs.empty else runs
        for _, row in failed.head(NEWEST_FAILURES).iterrows():
            print(f"  {row['status']}: {row['label']} seed {row['seed']} ({row['run_id']}): {row['error'] or '-'}")
        if manifests and (shutil_which("squeue") or shutil_which("scontrol")):
            for array_id, live in slurm.pending_jobs(results, suite):
                states = pd.Series(list(live.values())).value_counts().to_dict()
                print(f"  SLURM job {array_id}: " + ", ".join(f"{n} {s.lower()}" for s, n in states.items()))
    return 0


def shutil_which(tool: str) -> str | None:
    import shutil

    return shutil.which(tool)
