"""`bench report`: one markdown file per suite, one section per experiment, honest statistics, pictures beside it.

Reads the results folder only: the rows carry their suite's order, baseline and description.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .convergence import PLATEAU_GAIN
from .experiments import Experiment, experiments, titles
from .markdown import facts_table, markdown_table
from .published import published_section
from .metrics import (METRICS, NOISY_SPREAD, OVERHEAD_FLAT_THROUGHPUT, OVERHEAD_GPU_UTIL_PCT, OVERHEAD_MACS_RATIO,
                      Metric, header)
from .stats import Difference, PerImage, mean_sd, paired_difference, per_image
from .speed import describe as describe_speed
from .status import NOT_OK
from .store import load_epochs, load_predictions, load_runs, slug, suites_in

NOISE_MARK = "⚠"
UNCONVERGED_MARK = "†"  # a variant that did not plateau or stayed near chance
CONTENDED_MARK = "‡"  # a timing with runs that shared their device or cores with another run (bench.isolation)


def near_chance(chance: float) -> float:
    """The best validation accuracy under which a variant counts as not having learned: twice chance, but never
    more than halfway from chance to perfect (with two classes, twice chance would be 100%)."""
    return min(2 * chance, (1 + chance) / 2)


def format_cell(values: pd.Series, metric: Metric, n: int) -> str:
    """`mean ± sd` over seeds (the mean alone for one value or a seed-independent column); `(n=k)` when fewer
    values than the row's n went in; a noise mark on a timing whose sd exceeds NOISY_SPREAD of its mean."""
    mean, sd, count = mean_sd(values.astype(float) * metric.scale)
    if count == 0:
        return "–"
    cell = f"{mean:.{metric.digits}f}"
    if metric.spread and sd is not None:
        cell += f" ± {sd:.{metric.digits}f}"
        if metric.timing and mean > 0 and sd > NOISY_SPREAD * mean:
            cell += f" {NOISE_MARK}"
    return cell + (f" (n={count})" if count != n else "")


def format_difference(diff: Difference | None) -> str:
    """A paired test-accuracy difference in percentage points, its 95% CI from two pairs on, and the pair count."""
    if diff is None:
        return "– (no paired seed)"
    if diff.low is None:
        return f"{diff.mean:+.2f}, 1 pair (no CI)"
    return f"{diff.mean:+.2f} [{diff.low:+.2f}, {diff.high:+.2f}], {diff.n} pairs"


def seeds_of(rows: pd.DataFrame, label: str) -> list[int]:
    return sorted(int(s) for s in rows.loc[(rows["label"] == label) & rows["test_acc"].notna(), "seed"])


def comparison(exp: Experiment) -> str:
    """The main table (mean ± sd over seeds, paired Δ to the baseline) and the notes that qualify it."""
    ok, base = exp.ok, exp.baseline
    first = ok.iloc[0]
    mem_kind = "/".join(sorted(ok["mem_kind"].dropna().unique())) or "n/a"
    metrics = [m for m in METRICS if not (m.optional and ok[m.column].isna().all())]
    headers = ["variant", "n", "converged"] + [header(m, int(first["input_size"]), int(first["latency_batch"]), mem_kind)
                                  for m in metrics] + [f"Δ test vs {base} (pp, 95% CI)"]
    base_acc = ok[ok["label"] == base].set_index("seed")["test_acc"].astype(float) * 100
    rows, notes = [], []
    unconverged = convergence_problems(exp)
    shared = contended(ok)
    every_run_shared = bool(shared.all())
    for label in exp.labels:
        mine = ok[ok["label"] == label]
        alone = mine if every_run_shared else mine[~shared[mine.index]]
        n = int(mine["test_acc"].notna().sum())
        if label == base:
            diff = "baseline" if n else "baseline (no ok run)"
        elif base_acc.empty:
            diff = "–"
        else:
            diff = format_difference(paired_difference(mine.set_index("seed")["test_acc"].astype(float) * 100, base_acc))
        rows.append([label, str(n), converged_cell(mine, unconverged.get(label))]
                    + [format_cell((alone if m.timing else mine)[m.column], m, n)
                       + (f" {CONTENDED_MARK}" if m.timing and shared[mine.index].any() else "") for m in metrics]
                    + [diff])
    if any(NOISE_MARK in c for r in rows for c in r):
        notes.append(f"{NOISE_MARK} a time whose spread over seeds exceeds {NOISY_SPREAD:.0%} of its mean: "
                     "differences in it are noise, not architecture.")
    if shared.any() and not every_run_shared:
        notes.append(f"{CONTENDED_MARK} {int(shared.sum())} run(s) trained while another run of this harness used the "
                     "same device or cores (`contended`; the runs table names them): their times and throughput are "
                     "left out of these means, so a marked cell averages fewer runs.")
    if base_acc.empty:
        notes.append(f"The baseline **{base}** has no `ok` run in this experiment, so Δ is left empty "
                     "rather than measured against another variant.")
    notes += [f"{UNCONVERGED_MARK} {label}: {why}" for label, why in unconverged.items()]
    if not unconverged and ok["plateaued"].notna().any():
        notes.append("converged: every variant's best validation accuracy rose by at most "
                     f"{PLATEAU_GAIN * 100:g} percentage point over the last third of its epochs, and none stayed near chance.")
    base_seeds = seeds_of(ok, base)
    for label in exp.labels[1:]:
        mine = seeds_of(ok, label)
        if base_seeds and mine and mine != base_seeds:
            paired = sorted(set(mine) & set(base_seeds))
            notes.append(f"Unequal seeds: {label} has seeds {', '.join(map(str, mine)) or '–'}, the baseline "
                         f"{', '.join(map(str, base_seeds))}; Δ pairs only {', '.join(map(str, paired)) or 'none'}, "
                         "while each mean covers its own seeds.")
    warning = overhead_warning(ok, exp.labels)
    if every_run_shared:
        warning = (f"**{CONTENDED_MARK} Every run of this experiment shared its device or cores with another run "
                   "of this harness while it trained (`contended`, e.g. `--jobs 2` on one CPU): the times and "
                   "throughput below are of shared hardware, not of each variant alone.**"
                   + (f"\n\n{warning}" if warning else ""))
    return (f"{warning}\n\n" if warning else "") + markdown_table(headers, rows) + "".join(f"\n\n{n}" for n in notes)


def contended(rows: pd.DataFrame) -> pd.Series:
    """True for each row whose run shared its device or cores with another run (older rows: False)."""
    if "contended" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["contended"].astype("boolean").fillna(False).astype(bool)


def converged_cell(mine: pd.DataFrame, problem: str | None) -> str:
    """`yes`, `no †` (the note under the table says why), or `–` where no run says (one epoch, older rows)."""
    if problem:
        return f"no {UNCONVERGED_MARK}"
    return "yes" if mine["plateaued"].notna().any() else "–"


def convergence_problems(exp: Experiment) -> dict[str, str]:
    """Per variant that stayed near chance or did not plateau, one sentence on why its ranking means nothing yet."""
    problems = {}
    for label in exp.labels:
        mine = exp.ok[exp.ok["label"] == label]
        if mine.empty or mine["num_classes"].isna().all():
            continue
        chance = 1 / float(mine["num_classes"].iloc[0])
        threshold = near_chance(chance)
        best = float(mine["best_val_acc"].astype(float).mean())
        rising = sorted(int(s) for s, p in zip(mine["seed"], mine["plateaued"]) if p is False or p is np.False_)
        if best < threshold:
            problems[label] = (f"best validation accuracy {best:.1%} stayed near chance ({chance:.1%}; under "
                               f"{threshold:.1%}): it has not learned, so its ranking means nothing; train longer "
                               "(--epochs) or change the recipe.")
        elif rising:
            problems[label] = (f"did not plateau (its best validation accuracy still rose more than "
                               f"{PLATEAU_GAIN * 100:g} percentage point over the last third of the epochs, seed(s) "
                               f"{', '.join(map(str, rising))}): its ranking is not meaningful yet; train longer "
                               "(--epochs) or raise the learning rate.")
    return problems


def shortfalls(exp: Experiment) -> list[str]:
    """What `bench report --strict` fails on, one sentence each: a variant that did not plateau or stayed near
    chance, and an entry under the test accuracy its suite promises on its own defaults (or with no ok run)."""
    out = [f"{label}: {why}" for label, why in convergence_problems(exp).items()]
    for label in exp.labels:
        promised = exp.rows.loc[exp.rows["label"] == label, "min_test_acc"].dropna()
        if promised.empty:
            continue
        floor = float(promised.max())
        mine = exp.ok[exp.ok["label"] == label]
        if mine.empty:
            out.append(f"{label}: no ok run, but its suite promises at least {floor:.0%} test accuracy")
        for _, run in mine[mine["test_acc"].astype(float) < floor].iterrows():
            out.append(f"{label}: test accuracy {float(run['test_acc']):.1%} (seed {run['seed']}) is under the "
                       f"{floor:.0%} its suite promises on its own data set and recipe")
    return out


def overhead_warning(ok: pd.DataFrame, labels: list[str]) -> str:
    """A warning when the timings compare overhead rather than architectures (see bench.metrics), naming the fix."""
    per = pd.DataFrame({label: {"macs": ok.loc[ok["label"] == label, "macs"].astype(float).mean(),
                                "images_per_s": ok.loc[ok["label"] == label, "images_per_s"].astype(float).mean(),
                                "gpu_util_pct": ok.loc[ok["label"] == label, "gpu_util_pct"].astype(float).mean()}
                        for label in labels}).T.dropna(subset=["macs", "images_per_s"])
    reasons = []
    idle = per[per["gpu_util_pct"] < OVERHEAD_GPU_UTIL_PCT]
    if not idle.empty:
        reasons.append("the GPU was busy only " + ", ".join(f"{u:.0f}% ({label})" for label, u
                                                             in idle["gpu_util_pct"].items())
                       + f" of the training time (under {OVERHEAD_GPU_UTIL_PCT}%)")
    flat = [(a, b) for a in per.index for b in per.index
            if per.loc[b, "macs"] >= OVERHEAD_MACS_RATIO * per.loc[a, "macs"] > 0
            and abs(per.loc[a, "images_per_s"] / per.loc[b, "images_per_s"] - 1) <= OVERHEAD_FLAT_THROUGHPUT]
    if flat:
        a, b = flat[0]
        reasons.append(f"images/s stay within {OVERHEAD_FLAT_THROUGHPUT:.0%} ({per.loc[a, 'images_per_s']:.0f} vs "
                       f"{per.loc[b, 'images_per_s']:.0f}) although {b} costs "
                       f"{per.loc[b, 'macs'] / per.loc[a, 'macs']:.1f}× the MACs of {a}")
    if not reasons:
        return ""
    return (f"{NOISE_MARK} **Overhead-bound:** {'; and '.join(reasons)}. Epoch time and images/s here measure Python "
            "and kernel-launch overhead more than the architectures. Fix: a larger batch (`--batch-size`), or on a "
            "GPU `--compile reduce-overhead` (CUDA graphs).")


def per_image_section(exp: Experiment, predictions: pd.DataFrame) -> str:
    """Per variant against the baseline: test images only one of them gets right, pooled over paired seeds."""
    ok = exp.ok
    preds = predictions.merge(ok[["run_id", "label", "seed"]].rename(columns={"label": "entry"}), on="run_id")
    base = preds[preds["entry"] == exp.baseline]
    rows = []
    for label in exp.labels[1:]:
        mine = preds[preds["entry"] == label]
        result: PerImage | None = per_image(mine, base) if not (mine.empty or base.empty) else None
        if result is None:
            rows.append([label, "–", "–", "–", "–", "–"])
        else:
            rows.append([label, str(result.pairs), str(result.images), str(result.only_variant),
                         str(result.only_baseline), f"{result.p_value:.3g}"])
    explain = (
        "Two kinds of evidence: the Δ column above asks whether the difference exceeds the **seed-to-seed "
        "spread** (it needs several seeds), while this table asks, on the **same test images**, whether one model "
        "gets more of them right than the other (McNemar's exact test on the images only one model gets right, "
        "pooled over the paired seeds; – where a run has no predictions).")
    return markdown_table(["variant", "paired seeds", "test images compared", "only variant right",
                           f"only {exp.baseline} right", "McNemar p"], rows) + "\n\n" + explain


def runs_table(exp: Experiment) -> str:
    """Every run that counts, one row each: what the means above are made of."""
    rows = []
    for label in exp.labels:
        for _, r in exp.ok[exp.ok["label"] == label].sort_values("seed").iterrows():
            rows.append([label, str(r["seed"]), f"{100 * r['test_acc']:.2f}", f"{100 * r['best_val_acc']:.2f}",
                         f"{r['best_epoch']}/{r['epochs_run']}", f"{r['epoch_time_s']:.2f}", f"{r['train_time_s']:.1f}",
                         seconds(r["setup_s"]), seconds(r["compile_s"]), str(r["git_sha"]), r["run_id"]])
    table = markdown_table(["variant", "seed", "test acc (%)", "best val acc (%)", "best epoch", "epoch time (s)",
                            "train time (s)", "setup (s)", "compile (s)", "git sha", "run_id"], rows)
    if exp.set_aside:
        table += (f"\n\n{exp.set_aside} older row(s) of this experiment were set aside (an earlier run of the same "
                  "identity and seed, or of an older definition of a variant): the newest `ok` row counts. "
                  "They are still in the results folder.")
    return table


def seconds(value: object) -> str:
    return "–" if pd.isna(value) else f"{float(value):.1f}"


def when(stamp: pd.Timestamp) -> str:
    """A time as the report writes it; "–" where no row says (runs that SLURM or a signal ended before they began)."""
    return "–" if pd.isna(stamp) else stamp.strftime("%Y-%m-%d %H:%M")


def failures_section(exp: Experiment) -> str:
    """Runs that did not finish (and have no ok re-run), listed with their error; never averaged in."""
    bad = exp.rows[exp.rows["status"].isin(NOT_OK)]
    if bad.empty:
        return f"All {len(exp.rows)} runs finished with status `ok`."
    rows = [[r["label"], str(r["seed"]), r["status"], str(r["error"] or "")] for _, r in bad.iterrows()]
    return ("These runs are excluded from every table and picture above.\n\n"
            + markdown_table(["variant", "seed", "status", "error"], rows))


def header_facts(exp: Experiment) -> list[tuple[str, str]]:
    """What was run, how, on what and when."""
    rows = exp.rows
    first = rows.iloc[0]
    recipe = ", ".join(f"{k}={v}" for k, v in json.loads(first["recipe"]).items()) if first["recipe"] else "–"
    devices = "; ".join(sorted({f"{r['device']}: {r['device_name']}" for _, r in rows.iterrows() if r["device_name"]}))
    speeds = "; ".join(sorted({describe_speed(json.loads(r["recipe"]), str(r["device"]).split(":")[0])
                               for _, r in rows.iterrows() if r["recipe"]}))
    dataset = first["dataset"] + (" (synthetic random data: accuracies mean nothing)" if first["synthetic_data"] else "")
    if pd.notna(first["num_classes"]):
        dataset += f"; {int(first['num_classes'])} classes, {int(first['input_size'])} px"
    if exp.facts.get("data.content"):
        dataset += f"; content fingerprint {exp.facts['data.content']}"
    started, finished = (when(pd.to_datetime(rows[column]).agg(how))
                         for column, how in (("started_at", "min"), ("finished_at", "max")))
    return [
        ("data set", dataset),
        ("recipe", recipe),
        ("speed settings", speeds or "–"),
        ("seeds", ", ".join(str(s) for s in sorted(rows["seed"].unique()))),
        ("device", devices or "–"),
        ("libraries", ", ".join(sorted({f"torch {r['torch_version']}, torchvision {r['torchvision_version']}"
                                        for _, r in rows.iterrows() if r["torch_version"]}))),
        ("git sha", ", ".join(sorted(set(rows["git_sha"].dropna())))),
        ("runs made", f"{started} – {finished} UTC"),
        ("experiment", f"`{exp.key}` (rows equal in everything but variant and seed)"),
    ]


def summarize(ok: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per variant: the mean (and sd) of each plotted metric over its ok runs."""
    rows = []
    for label in labels:
        mine = ok[ok["label"] == label]
        row = {"label": label, "n": len(mine), "gmacs": mine["macs"].astype(float).mean() / 1e9}
        for col, scale in (("test_acc", 100), ("epoch_time_s", 1)):
            mean, sd, _ = mean_sd(mine[col].astype(float) * scale)
            row[col], row[f"{col}_sd"] = mean, sd
        rows.append(row)
    return pd.DataFrame(rows)


def pictures(exp: Experiment, epochs: pd.DataFrame, folder: Path, link: str) -> list[str]:
    """The experiment's plots under `folder` and the markdown that shows them (`link` = folder as the report sees it)."""
    from . import plots

    ok = exp.ok
    labels = [label for label in exp.labels if label in set(ok["label"])]
    ok_epochs = epochs.merge(ok[["run_id", "label"]], on="run_id")
    plots.learning_curves(ok_epochs, labels, folder / "curves.png")
    plots.accuracy_vs_cost(summarize(ok, labels), folder / "accuracy-vs-cost.png")
    confusion_links = []
    for label in labels:
        best = ok[ok["label"] == label].sort_values(["best_val_acc", "seed"], ascending=[False, True]).iloc[0]
        k = len(best["classes"])
        name = f"confusion-{slug(label)}.png"
        plots.confusion_matrix(np.asarray(best["confusion"]).reshape(k, k), list(best["classes"]),
                               f"{label}, seed {best['seed']}: test acc {100 * best['test_acc']:.2f}%", folder / name)
        confusion_links.append(f"![Row-normalised test confusion matrix of {label}]({link}/{name})")
    return [
        "### Learning curves\n\nAccuracy and loss per epoch, mean over seeds: solid validation, dashed train.\n\n"
        f"![Accuracy and loss per epoch]({link}/curves.png)",
        "### Accuracy against cost\n\nTest accuracy (mean ± sd over seeds) against GMACs per image and against "
        "epoch time; the black step line and circles mark the Pareto front (nothing is both cheaper and "
        f"more accurate).\n\n![Test accuracy against GMACs and epoch time]({link}/accuracy-vs-cost.png)",
        "### Confusion matrices\n\nEach variant's best run (highest validation accuracy), on the test split, "
        "rows normalised to 100%.\n\n" + "\n".join(confusion_links),
    ]


def experiment_section(suite: str, title: str, exp: Experiment, epochs: pd.DataFrame, predictions: pd.DataFrame,
                       out: Path) -> str:
    """One experiment: its header, comparison, per-image test, runs, pictures and failures."""
    parts = [f"## {title}", facts_table(header_facts(exp))]
    if exp.ok.empty:
        parts.append("No run finished with status `ok`: nothing to compare.")
    else:
        where = "the suite's first variant" if exp.baseline_from_suite else \
            "the first variant found: these rows carry no suite order"
        parts.append(f"### Comparison\n\nBaseline: **{exp.baseline}** ({where}).\n\n{comparison(exp)}")
        published = published_section(exp)
        parts += [published] if published else []
        parts += [f"### Per-image comparison with {exp.baseline}\n\n{per_image_section(exp, predictions)}",
                  f"### Runs\n\n{runs_table(exp)}"]
        link = f"{suite}/{slug(title.split(' — ', 1)[-1])}-{exp.key[:6]}"
        parts += pictures(exp, epochs, out / link, link)
    parts.append(f"### Runs that did not finish\n\n{failures_section(exp)}")
    return "\n\n".join(parts)


UNITS = """## Units and statistics

- `macs`: multiply-adds of convolutions, linear layers and matrix products per image, at the input size shown
  (torchvision's `_ops` convention); 1 MAC = 2 FLOPs. What fvcore counts beyond that (batch norm, pooling) is
  the run table's `other_ops`.
- Peak memory: `cuda_allocated` is the peak of `torch.cuda.max_memory_allocated` during training; `cpu_rss`
  is the peak resident set of the run's own process (it includes the Python and PyTorch libraries).
- Epoch time is training only (evaluation excluded), the median over epochs, after untimed warm-up steps;
  images/s likewise.
- Latency: median eval-mode forward pass under `torch.inference_mode()`, at batch 1 and the larger batch shown,
  over at least 10 calls and 0.2 s at a fixed thread count, in the run's precision and memory format (eager).
- MFU: achieved training FLOP/s (3 × forward FLOPs per image × images/s: a backward pass costs about twice the
  forward) over the device's dense matmul peak at the run's precision, measured on this device
  (`peak_tflops.json` in the results folder says how). GPU util: NVML's share of time a kernel ran, sampled
  every 50 ms during the training epochs (CUDA only).
- Speed settings: `fp32` computes in full fp32 (TF32 off); `tf32` lets convolutions and matmuls use TF32;
  `bf16`/`fp16` autocast (fp16 with a gradient scaler). compile_s (runs table) is the time the untimed warm-up
  spent compiling, never part of an epoch; setup_s is process start to the first timed training step.
- Accuracies in %. Best val acc: the highest validation accuracy; test acc: the test split read once, with the
  weights of that best-validation epoch.
- n: the number of values averaged. With two or more, a cell is mean ± sample standard deviation over them.
  Δ is the paired difference in test accuracy to the baseline over the seeds both ran, in percentage points,
  with a 95% Student-t confidence interval and the number of pairs: an interval that contains 0 is a
  difference within seed-to-seed noise.
- Each section is one experiment: rows equal in data (content included), recipe, device and library versions,
  differing only in variant and seed. Rows of different experiments are never averaged together."""


@dataclass
class Written:
    """One suite's report file, and what `--strict` fails on in it ("<section title>: <label>: <why>")."""

    path: Path
    shortfalls: list[str]


def build_report(suite: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: Path, out: Path
                 ) -> tuple[str, list[str]]:
    """The markdown of one suite's report and its shortfalls; its pictures are written under `out/<suite>/`."""
    found = experiments(runs)
    description = found[0].description if found else ""
    parts = [f"# {suite}", description] if description else [f"# {suite}"]
    if len(found) > 1:
        parts.append(f"This results folder holds {len(found)} experiments of this suite; each has its own section, "
                     "and no numbers are averaged across them.")
    problems = []
    for title, exp in zip(titles(suite, found), found):
        predictions = load_predictions(results, suite, list(exp.ok["run_id"]))
        parts.append(experiment_section(suite, title, exp, epochs, predictions, out))
        problems += [f"{title}: {why}" for why in shortfalls(exp)]
    parts.append(UNITS)
    return "\n\n".join(parts) + "\n", problems


def read_tables(results: Path, suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A suite's run and epoch tables, or a one-sentence error when they cannot be read."""
    try:
        return load_runs(results, suite), load_epochs(results, suite)
    except Exception as exc:  # pyarrow raises several types for a broken file; all mean the same to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"cannot read the results of suite '{suite}' under {results}/{suite}: {first}; "
                         "delete the broken file or re-run the suite") from None


def remove_pictures(folder: Path) -> None:
    """The PNGs of an earlier report of this suite (and folders they leave empty): no stale picture survives."""
    if not folder.is_dir():
        return
    for png in folder.rglob("*.png"):
        png.unlink()
    for directory in sorted((d for d in folder.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def write_reports(results: Path, out: Path, suite: str | None = None) -> list[Written]:
    """Write `<out>/<suite>.md` and `<out>/<suite>/**.png` for the given suite, or for every suite found."""
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
        remove_pictures(out / name)
        path = out / f"{name}.md"
        markdown, problems = build_report(name, runs, epochs, results, out)
        path.write_text(markdown)
        written.append(Written(path, problems))
    return written
