"""`bench report`: one markdown file per suite with honest statistics, and its pictures beside it.

The report reads the parquet tables only, never the runner's objects.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .stats import Difference, mean_sd, paired_difference
from .store import load_epochs, load_runs, suites_in

FAILED_STATUSES = ("failed", "oom", "diverged", "interrupted")


@dataclass(frozen=True)
class Metric:
    """A column of the main table: run column, display scale and decimals, and whether it varies by seed."""

    header: str
    column: str
    scale: float
    digits: int
    spread: bool = True


METRICS = [
    Metric("params (M)", "params", 1e-6, 2, spread=False),
    Metric("GMACs @{size}px", "macs", 1e-9, 3, spread=False),
    Metric("peak mem (MB, {mem_kind})", "peak_mem_mb", 1, 0),
    Metric("epoch time (s)", "epoch_time_s", 1, 2),
    Metric("images/s", "images_per_s", 1, 0),
    Metric("latency b1 (ms)", "latency_ms_b1", 1, 2),
    Metric("latency b{batch} (ms)", "latency_ms_bN", 1, 2),
    Metric("best val acc (%)", "best_val_acc", 100, 2),
    Metric("test acc (%)", "test_acc", 100, 2),
]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def format_cell(values: pd.Series, metric: Metric) -> str:
    """`mean ± sd` over seeds (just the mean for one seed or a seed-independent column)."""
    mean, sd, n = mean_sd(values * metric.scale)
    if n == 0:
        return "–"
    if metric.spread and sd is not None:
        return f"{mean:.{metric.digits}f} ± {sd:.{metric.digits}f}"
    return f"{mean:.{metric.digits}f}"


def format_difference(diff: Difference | None) -> str:
    """A paired test-accuracy difference in percentage points, with its 95% CI when there are two seeds or more."""
    if diff is None:
        return "–"
    if diff.low is None:
        return f"{diff.mean:+.2f} (1 seed, no CI)"
    return f"{diff.mean:+.2f} [{diff.low:+.2f}, {diff.high:+.2f}]"


def label_order(suite: str, runs: pd.DataFrame) -> list[str]:
    """The suite's own entry order (its first entry is the baseline), then any other labels as they appear."""
    from .suites import SUITES

    known = [e.label for e in SUITES[suite].entries] if suite in SUITES else []
    present = list(dict.fromkeys(runs["label"]))
    return [label for label in known if label in present] + [label for label in present if label not in known]


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table; numeric-looking columns right-aligned."""
    align = ["---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summarize(ok: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per variant: the mean (and sd) of each metric over its ok runs, for the plots."""
    rows = []
    for label in labels:
        mine = ok[ok["label"] == label]
        row = {"label": label, "n": len(mine), "gmacs": mine["macs"].mean() / 1e9}
        for col, scale in (("test_acc", 100), ("epoch_time_s", 1)):
            mean, sd, _ = mean_sd(mine[col] * scale)
            row[col], row[f"{col}_sd"] = mean, sd
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(ok: pd.DataFrame, labels: list[str]) -> str:
    """The main table: one row per variant, mean ± sd over seeds, paired difference to the baseline."""
    size = int(ok["input_size"].iloc[0])
    batch = int(ok["latency_batch"].iloc[0])
    mem_kind = "/".join(sorted(ok["mem_kind"].dropna().unique())) or "n/a"
    baseline = labels[0]
    headers = ["variant", "n"] + [m.header.format(size=size, batch=batch, mem_kind=mem_kind) for m in METRICS]
    headers.append(f"Δ test vs {baseline} (pp, 95% CI)")
    base_acc = ok[ok["label"] == baseline].set_index("seed")["test_acc"] * 100
    rows = []
    for label in labels:
        mine = ok[ok["label"] == label]
        cells = [label, str(len(mine))] + [format_cell(mine[m.column], m) for m in METRICS]
        diff = "baseline" if label == baseline else format_difference(
            paired_difference(mine.set_index("seed")["test_acc"] * 100, base_acc))
        rows.append(cells + [diff])
    return markdown_table(headers, rows)


def runs_table(runs: pd.DataFrame, labels: list[str]) -> str:
    """Every finished run, one row each: what the means above are made of."""
    rows = []
    for label in labels:
        for _, r in runs[runs["label"] == label].sort_values("seed").iterrows():
            rows.append([label, str(r["seed"]), f"{100 * r['test_acc']:.2f}", f"{100 * r['best_val_acc']:.2f}",
                         f"{r['best_epoch']}/{r['epochs_run']}", f"{r['epoch_time_s']:.2f}", f"{r['train_time_s']:.1f}",
                         r["run_id"]])
    return markdown_table(["variant", "seed", "test acc (%)", "best val acc (%)", "best epoch", "epoch time (s)",
                           "train time (s)", "run_id"], rows)


def failures_section(runs: pd.DataFrame) -> str:
    """Runs that did not finish, listed with their error; never averaged in, never dropped."""
    bad = runs[runs["status"].isin(FAILED_STATUSES)]
    if bad.empty:
        return f"All {len(runs)} runs finished with status `ok`."
    rows = [[r["label"], str(r["seed"]), r["status"], str(r["error"] or "")] for _, r in bad.iterrows()]
    return ("These runs are excluded from every table and picture above.\n\n"
            + markdown_table(["variant", "seed", "status", "error"], rows))


def header_section(suite: str, runs: pd.DataFrame) -> str:
    """What was run, how, on what and when."""
    from .suites import SUITES

    first = runs.iloc[0]
    seeds = sorted(runs["seed"].unique())
    recipe = ", ".join(f"{k}={v}" for k, v in json.loads(first["recipe"]).items()) if first["recipe"] else "–"
    devices = "; ".join(sorted({f"{r['device']}: {r['device_name']}" for _, r in runs.iterrows() if r["device_name"]}))
    dataset = first["dataset"] + (" (synthetic random data: accuracies mean nothing)" if first["synthetic_data"] else "")
    started = pd.to_datetime(runs["started_at"]).min().strftime("%Y-%m-%d %H:%M")
    finished = pd.to_datetime(runs["finished_at"]).max().strftime("%Y-%m-%d %H:%M")
    facts = [
        ("data set", f"{dataset}; {int(first['num_classes'])} classes, {int(first['input_size'])} px"
         if pd.notna(first["num_classes"]) else dataset),
        ("recipe", recipe),
        ("seeds", ", ".join(str(s) for s in seeds)),
        ("device", devices or "–"),
        ("libraries", ", ".join(sorted({f"torch {r['torch_version']}, torchvision {r['torchvision_version']}"
                                        for _, r in runs.iterrows() if r["torch_version"]}))),
        ("git sha", ", ".join(sorted(set(runs["git_sha"].dropna())))),
        ("runs made", f"{started} – {finished} UTC"),
    ]
    description = SUITES[suite].description if suite in SUITES else ""
    return f"# {suite}\n\n{description}\n\n" + markdown_table(["", ""], [[k, v] for k, v in facts]).replace(
        "| --- | ---: |", "|---|---|")


UNITS = """## Units and statistics

- 1 multiply-add = 1 MAC = 2 FLOPs; GMACs are per image at the input size shown, counted by fvcore.
- Peak memory: `cuda_allocated` is the peak of `torch.cuda.max_memory_allocated` during training; `cpu_rss`
  is the peak resident set of the run's own process (it includes the Python and PyTorch libraries).
- Epoch time is training only (evaluation excluded), the median over epochs; images/s likewise.
- Latency: median eval-mode forward pass under `torch.inference_mode()`, at batch 1 and the larger batch shown.
- Accuracies in %. Best val acc: the highest validation accuracy; test acc: the test split read once, with the
  weights of that best-validation epoch.
- With two or more seeds a cell is mean ± sample standard deviation over the n seeds. Δ is the paired
  difference in test accuracy to the baseline over the seeds both ran, in percentage points, with a 95%
  Student-t confidence interval: an interval that contains 0 is a difference within seed-to-seed noise."""


def build_report(suite: str, runs: pd.DataFrame, epochs: pd.DataFrame, out: Path) -> str:
    """The markdown of one suite's report; its pictures are written to `out/<suite>/`."""
    from . import plots

    ok = runs[runs["status"] == "ok"]
    parts = [header_section(suite, runs)]
    if ok.empty:
        parts.append("## Comparison\n\nNo run finished with status `ok`: nothing to compare.")
    else:
        labels = label_order(suite, ok)
        pictures = out / suite
        ok_epochs = epochs.merge(ok[["run_id", "label"]], on="run_id")
        plots.learning_curves(ok_epochs, labels, pictures / "curves.png")
        plots.accuracy_vs_cost(summarize(ok, labels), pictures / "accuracy-vs-cost.png")
        confusion_links = []
        for label in labels:
            best = ok[ok["label"] == label].sort_values(["best_val_acc", "seed"], ascending=[False, True]).iloc[0]
            k = len(best["classes"])
            name = f"confusion-{slug(label)}.png"
            plots.confusion_matrix(np.asarray(best["confusion"]).reshape(k, k), list(best["classes"]),
                                   f"{label}, seed {best['seed']}: test acc {100 * best['test_acc']:.2f}%",
                                   pictures / name)
            confusion_links.append(f"![Row-normalised test confusion matrix of {label}]({suite}/{name})")
        parts += [
            f"## Comparison\n\nBaseline: **{labels[0]}** (the suite's first variant).\n\n{comparison_table(ok, labels)}",
            f"## Runs\n\n{runs_table(ok, labels)}",
            "## Learning curves\n\nAccuracy and loss per epoch, mean over seeds: solid validation, dashed train.\n\n"
            f"![Accuracy and loss per epoch]({suite}/curves.png)",
            "## Accuracy against cost\n\nTest accuracy (mean ± sd over seeds) against GMACs per image and against "
            "epoch time; the black step line and circles mark the Pareto front (nothing is both cheaper and "
            f"more accurate).\n\n![Test accuracy against GMACs and epoch time]({suite}/accuracy-vs-cost.png)",
            "## Confusion matrices\n\nEach variant's best run (highest validation accuracy), on the test split, "
            "rows normalised to 100%.\n\n" + "\n".join(confusion_links),
        ]
    parts += [f"## Runs that did not finish\n\n{failures_section(runs)}", UNITS]
    return "\n\n".join(parts) + "\n"


def read_tables(results: Path, suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A suite's run and epoch tables, or a one-sentence error when they cannot be read."""
    try:
        return load_runs(results, suite), load_epochs(results, suite)
    except Exception as exc:  # pyarrow raises several types for a broken file; all mean the same to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"cannot read the results of suite '{suite}' under {results}/{suite}: {first}; "
                         "delete the broken file or re-run the suite") from None


def write_reports(results: Path, out: Path, suite: str | None = None) -> list[Path]:
    """Write `<out>/<suite>.md` and `<out>/<suite>/*.png` for the given suite, or for every suite found."""
    results, out = Path(results), Path(out)
    found = suites_in(results)
    if not found:
        raise UsageError(f"no results under '{results}': run `bench run --suite NAME` first")
    if suite is not None and suite not in found:
        raise UsageError(f"no results for suite '{suite}' under '{results}'; found: {', '.join(found)}")
    written = []
    for name in [suite] if suite else found:
        runs, epochs = read_tables(results, name)
        if runs.empty:
            raise UsageError(f"no runs recorded for suite '{name}' under '{results}'")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.md"
        path.write_text(build_report(name, runs, epochs, out))
        written.append(path)
    return written
