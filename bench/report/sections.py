"""One experiment's section of a report: its header, tables, published figures, pictures, failures; and the
units-and-statistics note every report ends with."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.hashing import digest, slug
from ..store.metrics import BY_COLUMN, significant
from ..store.shards import PARSED
from ..store.speed import BY_MEASUREMENT, MEMORY_FORMATS, STEP_COLUMNS
from ..store.speed import describe as describe_speed
from .experiments import Experiment
from .markdown import facts_table, plain
from .published import published_section
from .stats import mean_sd
from .verdicts import ALPHA, EQUAL_PP, FACTOR, FAMILY, MIN_RUNS
from .tables import comparison, failures_section, per_image_section, runs_table, when


def header_facts(exp: Experiment) -> list[tuple[str, str]]:
    """What was run, how, on what and when."""
    rows = exp.rows
    first = rows.iloc[0]
    recipe = ", ".join(f"{k}={v}" for k, v in first[PARSED["recipe"]].items()) if first[PARSED["recipe"]] else "–"
    devices = "; ".join(sorted({f"{r['device']}: {r['device_name']}" for _, r in rows.iterrows() if r["device_name"]}))
    speeds = "; ".join(sorted({describe_speed(r["precision"], None if measured(r) or pd.isna(r["channels_last"])
                                              else bool(r["channels_last"]),
                                              r["compile"], str(r["device"]).split(":")[0])
                               for _, r in rows.iterrows() if isinstance(r["precision"], str)}))
    dataset = first["dataset"] + (" (synthetic random data: accuracies mean nothing)" if first["synthetic_data"] else "")
    if pd.notna(first["num_classes"]):
        dataset += f"; {int(first['num_classes'])} classes, {int(first['input_size'])} px"
    split_sizes = {tuple(int(r[c]) for c in ("train_images", "val_images", "test_images")) for _, r in rows.iterrows()
                   if all(pd.notna(r.get(c)) for c in ("train_images", "val_images", "test_images"))}
    if split_sizes:
        dataset += "; " + " or ".join(f"{t:,} train / {v:,} val / {s:,} test images" for t, v, s in sorted(split_sizes))
    limits = first[PARSED["recipe"]] or {}
    for split, key in (("training", "train_limit"), ("test", "test_limit")):
        if limits.get(key) is not None:
            dataset += (f"; its {split} images a stratified slice ({key}={int(limits[key]):,}"
                        + (", the validation images in proportion; each seed its own)" if split == "training" else ")"))
    if exp.facts.get("data.content"):
        dataset += f"; content fingerprint {exp.facts['data.content']}"
    started, finished = (when(pd.to_datetime(rows[column]).agg(how))
                         for column, how in (("started_at", "min"), ("finished_at", "max")))
    facts = [  # made of the rows' cells (a data set's path, a device's name), each shown as text
        ("data set", dataset),
        ("recipe", recipe),
        ("speed settings", speeds or "–"),
        *([("memory format", formats)] if (formats := memory_formats(rows)) else []),
        ("seeds", ", ".join(str(s) for s in sorted(rows["seed"].unique()))),
        ("device", devices or "–"),
        ("libraries", ", ".join(sorted({f"torch {r['torch_version']}, torchvision {r['torchvision_version']}"
                                        for _, r in rows.iterrows() if r["torch_version"]}))),
        ("git sha", ", ".join(sorted(set(rows["git_sha"].dropna())))),
        ("runs made", f"{started} – {finished} UTC"),
    ]
    return [(name, plain(value)) for name, value in facts] + [
        ("experiment", f"`{slug(exp.key)}` (rows equal in everything but variant and seed)")]  # a hash: a slug


def measured(row: pd.Series) -> bool:
    """The run's memory format was chosen by measurement (bench.train.probe), not given by the user."""
    return row.get("speed_chosen_by") == BY_MEASUREMENT


def memory_formats(rows: pd.DataFrame) -> str:
    """Per variant, the memory format measurement chose and the probe's step times it chose on:
    `mobilenet_v2: channels_last (77.2 ms per step; contiguous (NCHW) 158 ms)`; empty when the user chose."""
    parts = []
    probed = rows[rows.apply(measured, axis=1) & rows["channels_last"].notna()]  # not a run stopped before it chose
    for label, mine in probed.groupby("label", sort=False):
        choices = []
        for _, r in mine.drop_duplicates(["channels_last", *STEP_COLUMNS.values()]).iterrows():
            chosen = bool(r["channels_last"])
            other = STEP_COLUMNS[not chosen]
            choices.append(f"{MEMORY_FORMATS[chosen]} ({significant(r[STEP_COLUMNS[chosen]])} ms per training step; "
                           f"{MEMORY_FORMATS[not chosen]} {significant(r[other])} ms)")
        parts.append(f"{label}: {' or '.join(choices)}")
    return "; ".join(parts)


def summarize(ok: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per variant: the mean (and sd) of each plotted metric over its ok runs."""
    rows = []
    for label in labels:
        mine = ok[ok["label"] == label]
        seeds = sorted(int(s) for s in mine["seed"])
        row = {"label": label, "n": len(mine), "gmacs": mine["macs"].astype(float).mean() / 1e9,
               "runs": ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))}
        for col, scale in (("test_acc", 100), ("epoch_time_s", 1)):
            mean, sd, _ = mean_sd(mine[col].astype(float) * scale)
            row[col], row[f"{col}_sd"] = mean, sd
        rows.append(row)
    return pd.DataFrame(rows)


NAME_CHARS = 40  # a picture folder or file name takes at most this much of a title or label (then a hash)


def short_name(text: str) -> str:
    """`text` as a short file name: its slug, cut at NAME_CHARS with a hash of the whole when longer, so that the
    name stays far under the file system's 255 bytes whatever the data spec or the label."""
    name = slug(text)
    return name if len(name) <= NAME_CHARS else f"{name[:NAME_CHARS].rstrip('-._')}-{digest(text, 8)}"


def pictures(exp: Experiment, epochs: pd.DataFrame, folder: Path, link: str, vectors: dict | None = None
             ) -> list[str]:
    """The experiment's plots under `folder` and the markdown that shows them (`link` = folder as the report sees it);
    with `vectors`, the SVG of each plot that has hover texts, by its PNG's path."""
    from . import plots

    ok = exp.ok
    labels = [label for label in exp.labels if label in set(ok["label"])]
    ok_epochs = epochs.merge(ok[["run_id", "label"]], on="run_id")
    plots.learning_curves(ok_epochs, labels, folder / "curves.png", vectors)
    plots.accuracy_vs_cost(summarize(ok, labels), folder / "accuracy-vs-cost.png", vectors)
    confusion_links = []
    for label in labels:
        best = ok[ok["label"] == label].sort_values(["best_val_acc", "seed"], ascending=[False, True]).iloc[0]
        k = len(best["classes"])
        name = f"confusion-{short_name(label)}.png"
        plots.confusion_matrix(np.asarray(best["confusion"]).reshape(k, k), list(best["classes"]),
                               f"{label}, seed {best['seed']}: test acc {BY_COLUMN['test_acc'].display(best['test_acc'])}%", folder / name)
        confusion_links.append(f"![Row-normalised test confusion matrix of {plain(label)}]({link}/{name})")
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
                       out: Path, vectors: dict | None = None) -> str:
    """One experiment: its header, comparison, per-image test, runs, pictures and failures."""
    default = " (default)" if exp.shown_as_default and exp.on_suite_defaults else ""
    parts = [f"## {plain(title)}{default}", facts_table(header_facts(exp))]
    if exp.shown_as_default:
        parts.append("This is the suite's own data set and recipe (its defaults), shown first; the experiments after "
                     "it changed something." if exp.on_suite_defaults else
                     "These rows predate the mark of a suite's own defaults: the oldest experiment is shown first.")
    if exp.ok.empty:
        parts.append("No run finished with status `ok`: nothing to compare.")
    else:
        where = "the suite's first variant" if exp.baseline_from_suite else \
            "the first variant found: these rows carry no suite order"
        parts.append(f"### Comparison\n\nBaseline: **{plain(exp.baseline)}** ({where}).\n\n{comparison(exp)}")
        published = published_section(exp)
        parts += [published] if published else []
        parts += [f"### Per-image comparison with {exp.baseline}\n\n{per_image_section(exp, predictions)}",
                  f"### Runs\n\n{runs_table(exp)}"]
        link = f"{suite}/{short_name(title.split(' — ', 1)[-1])}-{slug(exp.key)[:6]}"
        parts += pictures(exp, epochs, out / link, link, vectors)
    parts.append(f"### Runs that did not finish\n\n{failures_section(exp)}")
    return "\n\n".join(parts)


UNITS = f"""## Units and statistics

- `macs`: multiply-adds of convolutions, linear layers and matrix products per image, at the input size shown
  (torchvision's `_ops` convention); 1 MAC = 2 FLOPs. What fvcore counts beyond that (batch norm, pooling) is
  the run table's `other_ops`.
- Peak memory: `cuda_allocated` is the peak of `torch.cuda.max_memory_allocated` during training;
  `cpu_training_rss` is the peak resident set during training above the resident set as training began (the data,
  the model and the libraries already held; the data's own size is the parquet's `data_mb`); `cpu_rss`, in rows
  made before that or where Linux cannot reset the peak, is the run's whole process's peak resident set.
- Epoch time is training only (evaluation excluded), the median over epochs, after untimed warm-up steps;
  images/s likewise.
- Latency: eval-mode forward pass under `torch.inference_mode()`, at batch 1 and the larger batch shown, in the
  run's precision and memory format (eager), at a fixed thread count: each of several fresh processes times at
  least 10 calls and 0.2 s and keeps their median; a run's figure is the median of its processes' (`↻`: timed
  again later by `bench latency`). How far one figure moves from run to run on the machine is the spread of the
  processes' medians (the parquet's `latency_ms_*_per_process`), not the calls' IQR.
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
  Verdicts take one value per independent run (seed), never epochs or calls pooled. Δ test is the difference in
  test accuracy to the baseline in percentage points, paired over the seeds both ran (paired t; Welch's t when
  fewer match), with its 95% interval; epoch time vs the baseline is the ratio of medians over runs (Welch's t on
  the log per-run times, at least {MIN_RUNS} runs a side, marked only past ×{FACTOR:g}). The tests of a section are
  one {FAMILY} family; a mark needs an adjusted p under {ALPHA:g}. Where none is made, the cell says "the same"
  when two one-sided t-tests show the difference within ±{EQUAL_PP:g} pp (a time: within ×{FACTOR:g} either way;
  these tests are a family of their own), otherwise inconclusive and how many seeds or runs a side would tell (80%
  power, from the runs' own spread; with one seed, from the test set's sampling spread). One seed a side is never
  marked.
- Each section is one experiment: rows equal in data (content included), recipe, device and library versions,
  differing only in variant and seed. Rows of different experiments are never averaged together."""
