"""The report's tables: the comparison (mean ± sd over seeds, paired Δ to the baseline, and the notes that qualify
it), the per-image test, the runs that count and the runs that did not finish."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..measure.convergence import PLATEAU_GAIN
from ..store.metrics import BY_COLUMN, LOADED_PER_CORE, METRICS, NOISY_LATENCY_IQR, NOISY_SPREAD, Metric, header
from ..store.status import NOT_OK
from .experiments import Experiment
from .judge import (CONTENDED_MARK, LATENCY_CELLS, NOISE_MARK, REMEASURED_MARK, UNCONVERGED_MARK, against_baseline,
                    contended, convergence_problems, counted, loaded, overhead_warning, remeasured, too_short_note,
                    too_short_to_judge)
from .markdown import markdown_table, plain
from .stats import LabelsDisagree, PerImage, mean_sd, per_image
from .verdicts import (ALPHA, EQUAL_PP, FACTOR, INCONCLUSIVE, SAME, WORSE, Test, family_statement, margin_text, moved,
                       needed_text, verdict)


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


def noisy_spread(cell: str) -> bool:
    return cell.endswith(NOISE_MARK) or f"{NOISE_MARK} (n=" in cell


LATENCY_IQR = {"latency_ms_b1": "latency_ms_b1_iqr", "latency_ms_bN": "latency_ms_bN_iqr"}


def latency_marks(rows: pd.DataFrame, column: str, batch: int) -> str:
    """For a latency cell: ` ⚠ IQR 2.10` (the largest interquartile range of a run whose IQR exceeds
    NOISY_LATENCY_IQR of its median, ms) and ` ⚠ b1 > b32` where a run timed batch 1 slower than the larger batch."""
    if column not in LATENCY_IQR or rows.empty:
        return ""
    marks = []
    median = rows[column].astype(float)
    iqr = rows[LATENCY_IQR[column]].astype(float) if LATENCY_IQR[column] in rows else median * float("nan")
    noisy = iqr[iqr > NOISY_LATENCY_IQR * median]
    if not noisy.empty:
        marks.append(f"IQR {noisy.max():.2f}")
    if (rows["latency_ms_b1"].astype(float) > rows["latency_ms_bN"].astype(float)).any():
        marks.append(f"b1 > b{batch}")
    return f" {NOISE_MARK} {', '.join(marks)}" if marks else ""


def sides(test: Test, one: str, many: str) -> str:
    """`1 seed a side`, `1 and 3 seeds`: how many values each side brought to a test."""
    b, h = test.runs
    return f"{b} {one if b == 1 else many} a side" if b == h else f"{b} and {h} {many}"


def accuracy_cell(test: Test | None) -> str:
    """Test accuracy against the baseline: Δ in points with its 95% interval over seeds and the verdict
    (bench.report.verdicts), or why the runs cannot tell and how many seeds a side would."""
    if test is None:
        return "–"
    word = verdict(test, lower_is_better=False)
    need = f", {needed_text(test.needed)} seeds a side needed" if test.needed else ""
    if test.p is None:
        return f"{test.estimate:+.2f}; inconclusive: {sides(test, 'seed', 'seeds')}{need}"
    text = f"{test.estimate:+.2f} [{test.low:+.2f}, {test.high:+.2f}], {test.method.removeprefix('paired t over ')}"
    if word == SAME:
        return f"{text}; the same (within {margin_text(test.kind)})"
    return f"{text}; inconclusive{need}" if word == INCONCLUSIVE else f"{text}; **{word}**"


def time_cell(test: Test | None) -> str:
    """Epoch time against the baseline: the ratio of medians over runs, its interval and verdict."""
    if test is None or test.estimate != test.estimate:
        return "–"
    word = verdict(test, lower_is_better=True)
    text = f"×{test.estimate:.2f}"
    need = f", {needed_text(test.needed)} runs a side needed" if test.needed else ""
    if test.p is None:
        return text + (f"; inconclusive: {sides(test, 'run', 'runs')}{need}" if moved(test) else f"; within ×{FACTOR:g}")
    text += f" [{test.low:.2f}, {test.high:.2f}]"
    if word == SAME:
        return text + f"; the same (within {margin_text(test.kind)})"
    if word == INCONCLUSIVE:
        return text + (f"; inconclusive{need}" if moved(test) else f"; within ×{FACTOR:g}")
    return text + f"; **{'slower' if word == WORSE else 'faster'}**"


def latency_spread(ok: pd.DataFrame) -> str:
    """What one latency figure's run-to-run spread is on this machine: the coefficient of variation of the medians
    of a run's separate measuring processes, the median over the runs that kept them; empty when none did."""
    found = {}
    for column, name in (("latency_ms_b1", "batch 1"), ("latency_ms_bN", f"batch {int(ok['latency_batch'].iloc[0])}")):
        listed = f"{column}_per_process"
        if listed not in ok:
            continue
        cvs = [float(np.std(v, ddof=1) / np.mean(v)) for v in ok[listed] if v is not None and len(v) >= 2]
        if cvs:
            found[name] = (float(np.median(cvs)), len(cvs))
    if not found:
        return ""
    runs = max(n for _, n in found.values())
    return ("Latency, run to run on this machine: the medians of separate measuring processes of one run differ by a "
            "coefficient of variation of " + " and ".join(f"{cv:.1%} at {name}" for name, (cv, _) in found.items())
            + f" (the median over {runs} runs); differences of that size between variants are noise.")


def seeds_of(rows: pd.DataFrame, label: str) -> list[int]:
    return sorted(int(s) for s in rows.loc[(rows["label"] == label) & rows["test_acc"].notna(), "seed"])


def comparison(exp: Experiment) -> str:
    """The main table (mean ± sd over seeds, paired Δ to the baseline) and the notes that qualify it."""
    ok, base = exp.ok, plain(exp.baseline)  # labels, like every text of the rows, as text (bench.report.markdown)
    first = ok.iloc[0]
    mem_kind = plain("/".join(sorted(ok["mem_kind"].dropna().unique())) or "n/a")
    metrics = [m for m in METRICS if not (m.optional and ok[m.column].isna().all())]
    headers = ["variant", "n", "converged"] + [header(m, int(first["input_size"]), int(first["latency_batch"]), mem_kind)
                                  for m in metrics] + [f"Δ test vs {base} (pp, 95% CI)", f"epoch time vs {base}"]
    base_acc = ok[ok["label"] == exp.baseline].set_index("seed")["test_acc"].astype(float) * BY_COLUMN["test_acc"].scale
    tests, family = against_baseline(exp)
    rows, notes = [], []
    unconverged, short = convergence_problems(exp), too_short_to_judge(exp)
    shared = contended(ok)
    every_run_shared = bool(shared.all())
    busy = loaded(ok)
    latency_batch = int(first["latency_batch"])
    spread_noise, latency_noise, remeasured_at, remeasured_processes = False, "", set(), set()
    for label in exp.labels:
        mine = ok[ok["label"] == label]
        n = int(mine["test_acc"].notna().sum())
        if label == exp.baseline:
            diff = ["baseline" if n else "baseline (no ok run)", "baseline" if n else "–"]
        elif base_acc.empty:
            diff = ["–", "–"]
        else:
            diff = [accuracy_cell(tests[label].get("test_acc")), time_cell(tests[label].get("epoch_time_s"))]
        cells = []
        for m in metrics:
            rows_counted = counted(exp, label, m.timing)
            cell = format_cell(rows_counted[m.column], m, n)
            spread_noise |= m.timing and noisy_spread(cell)
            latency = latency_marks(rows_counted, m.column, latency_batch)
            latency_noise += latency
            cell += latency
            again = m.column in LATENCY_CELLS and not rows_counted.empty and bool(remeasured(rows_counted).all())
            if again:
                cell += f" {REMEASURED_MARK}"
                remeasured_at.update(str(t)[:10] for t in rows_counted["latency_remeasured_at"])
                remeasured_processes.update(int(p) for p in rows_counted["latency_processes"].dropna())
            if m.timing and not again and busy[rows_counted.index].any():
                cell += f" {NOISE_MARK} busy"
            cells.append(cell + (f" {CONTENDED_MARK}" if m.timing and not again and shared[mine.index].any() else ""))
        rows.append([plain(label), str(n), converged_cell(mine, unconverged.get(label), label in short)] + cells + diff)
    if len(exp.labels) > 1 and not base_acc.empty:
        notes.append(f"Verdicts against {base}: test accuracy over seeds (paired t where the seeds match, else Welch; "
                     "one seed a side is inconclusive), epoch time as the ratio of medians over runs (Welch's t on "
                     f"log per-run times, at least 3 runs a side, and past ×{FACTOR:g}); "
                     f"{family_statement(family)}: **better**, **worse**, **slower** or **faster** needs an adjusted "
                     f"p under {ALPHA:g}; **the same** needs two one-sided t-tests to show the difference within "
                     f"±{EQUAL_PP:g} pp or ×{FACTOR:g} (adjusted as a family of their own).")
    if spread_noise:
        notes.append(f"{NOISE_MARK} a time whose spread over seeds exceeds {NOISY_SPREAD:.0%} of its mean: "
                     "differences in it are noise, not architecture.")
    if latency_noise:
        kinds = []
        if "IQR" in latency_noise:
            kinds.append(f"{NOISE_MARK} IQR: a forward latency whose interquartile range over its timed calls exceeds "
                         f"{NOISY_LATENCY_IQR:.0%} of its median (the largest such IQR shown, ms)")
        if f"b1 > b{latency_batch}" in latency_noise:
            kinds.append(f"{NOISE_MARK} b1 > b{latency_batch}: a run that timed one image slower than a batch of "
                         f"{latency_batch}, which only noise explains")
        notes.append("; ".join(kinds) + ". Such medians are not the model's latency: time again on a quiet machine "
                     "(`make latency` repeats rounds for seconds).")
    spread = latency_spread(ok)
    if spread:
        notes.append(spread)
    if remeasured_at:
        processes = sorted(remeasured_processes)
        notes.append(f"{REMEASURED_MARK} forward latency timed again by `bench latency` ({', '.join(sorted(remeasured_at))}"
                     f"), each run's model in {'/'.join(map(str, processes))} fresh process{'' if processes == [1] else 'es'}, in place of the figures "
                     "timed while training; their spread over runs is that of the processes.")
    if busy.any():
        notes.append(f"{NOISE_MARK} busy: {int(busy.sum())} run(s) trained while other processes kept "
                     f"{LOADED_PER_CORE:g} or more runnable thread(s) per core busy on average (`load_per_core`, "
                     "`loaded` in the parquet): their times and throughput are of a busy machine, slower than the "
                     "model alone.")
    if shared.any() and not every_run_shared:
        notes.append(f"{CONTENDED_MARK} {int(shared.sum())} run(s) trained while another run of this harness used the "
                     "same device or cores (`contended`; the runs table names them): their times and throughput are "
                     "left out of these means, so a marked cell averages fewer runs.")
    if base_acc.empty:
        notes.append(f"The baseline **{base}** has no `ok` run in this experiment, so Δ is left empty "
                     "rather than measured against another variant.")
    notes += [f"{UNCONVERGED_MARK} {plain(label)}: {why}" for label, why in unconverged.items()]
    if short:
        notes.append(too_short_note({plain(label): what for label, what in short.items()}))
    if not unconverged and not short and ok["plateaued"].notna().any():
        with_ok = [label for label in exp.labels if label in set(ok["label"])]
        subject = ("every variant's best validation accuracy" if len(with_ok) == len(exp.labels) else
                   f"the best validation accuracy of every variant with an `ok` run ({plain(', '.join(with_ok))})")
        notes.append(f"converged: {subject} rose by at most {PLATEAU_GAIN * 100:g} percentage point (or its standard "
                     "error on the validation images, when larger) over the last third of its epochs, and none stayed "
                     "near chance.")
    base_seeds = seeds_of(ok, exp.baseline)
    for label in exp.labels[1:]:
        mine = seeds_of(ok, label)
        if base_seeds and mine and mine != base_seeds:
            paired = sorted(set(mine) & set(base_seeds))
            notes.append(f"Unequal seeds: {plain(label)} has seeds {', '.join(map(str, mine)) or '–'}, the baseline "
                         f"{', '.join(map(str, base_seeds))}; Δ pairs only {', '.join(map(str, paired)) or 'none'}, "
                         "while each mean covers its own seeds.")
    warning = overhead_warning(ok.assign(label=ok["label"].map(plain)), [plain(label) for label in exp.labels])
    if every_run_shared:
        warning = (f"**{CONTENDED_MARK} Every run of this experiment shared its device or cores with another run "
                   "of this harness while it trained (`contended`, e.g. `--jobs 2` on one CPU): the times and "
                   "throughput below are of shared hardware, not of each variant alone.**"
                   + (f"\n\n{warning}" if warning else ""))
    order = key_first(metrics)
    headers, rows = [headers[i] for i in order], [[row[i] for i in order] for row in rows]
    return (f"{warning}\n\n" if warning else "") + markdown_table(headers, rows) + "".join(f"\n\n{n}" for n in notes)


AGAINST_BASELINE = ("test_acc", "epoch_time_s")  # the columns with a verdict against the baseline, in the diff's order


def key_first(metrics: list[Metric]) -> list[int]:
    """The comparison table's column order: variant and n, then the catalogue's key columns (each followed by its
    verdict against the baseline), then whether it converged and the rest; as positions in the built order
    (variant, n, converged, each metric, then the verdicts)."""
    position = {m.column: 3 + i for i, m in enumerate(metrics)}
    diff = {column: 3 + len(metrics) + i for i, column in enumerate(AGAINST_BASELINE)}
    key = [i for m in metrics if m.first for i in (position[m.column], diff.get(m.column)) if i is not None]
    return [0, 1] + key + [2] + [position[m.column] for m in metrics if not m.first]


def converged_cell(mine: pd.DataFrame, problem: str | None, short: bool = False) -> str:
    """`yes`, `no †` (the note under the table says why), `too short to judge` (a run under 7 epochs), or `–`
    where no run says."""
    if problem:
        return f"no {UNCONVERGED_MARK}"
    if short:
        return "too short to judge"
    return "yes" if mine["plateaued"].notna().any() else "–"


def per_image_section(exp: Experiment, predictions: pd.DataFrame) -> str:
    """Per variant against the baseline: test images only one of them gets right, per paired seed, and a McNemar
    test stratified by seed."""
    ok = exp.ok
    preds = predictions.merge(ok[["run_id", "label", "seed"]].rename(columns={"label": "entry"}), on="run_id")
    base = preds[preds["entry"] == exp.baseline]
    rows, notes = [], []
    for label in exp.labels[1:]:
        mine = preds[preds["entry"] == label]
        try:
            result: PerImage | None = per_image(mine, base) if not (mine.empty or base.empty) else None
        except LabelsDisagree:
            runs = sorted(set(mine["run_id"]) | set(base["run_id"]))
            notes.append(f"{plain(label)}: its test labels differ from {plain(exp.baseline)}'s on the same images "
                         f"(runs {plain(', '.join(runs))}): their test splits are not the same, so no per-image test.")
            result = None
        if result is None:
            rows.append([plain(label), "–", "–", "–", "–", "–"])
            continue
        seeds = len(result.per_seed) > 1
        rows.append([plain(label), str(result.pairs), str(result.images),
                     str(result.only_variant) + (f" ({', '.join(str(v) for _, v, _ in result.per_seed)})" if seeds else ""),
                     str(result.only_baseline) + (f" ({', '.join(str(b) for _, _, b in result.per_seed)})" if seeds else ""),
                     f"{result.p_value:.3g}" if result.p_value > 0 else "< 1e-300"])  # under float's range
    explain = (
        "Two kinds of evidence: the Δ column above asks whether the difference exceeds the **seed-to-seed "
        "spread** (it needs several seeds), while this table asks, on the **same test images**, whether one model "
        "gets more of them right than the other: the images only one model gets right, per paired seed (in "
        "brackets, seed by seed), and McNemar's exact test stratified by seed (each seed a stratum, each test image "
        "counted once per stratum; – where a run has no predictions).")
    return (markdown_table(["variant", "paired seeds", "test images compared", "only variant right",
                            f"only {plain(exp.baseline)} right", "McNemar p (stratified by seed)"], rows)
            + "\n\n" + explain + "".join(f"\n\n{n}" for n in notes))


def runs_table(exp: Experiment) -> str:
    """Every run that counts, one row each: what the means above are made of."""
    rows = []
    for label in exp.labels:
        for _, r in exp.ok[exp.ok["label"] == label].sort_values("seed").iterrows():
            rows.append([plain(label), str(r["seed"]), *(BY_COLUMN[c].display(r[c]) for c in ("test_acc", "best_val_acc")),
                         f"{r['best_epoch']}/{r['epochs_run']}", BY_COLUMN["epoch_time_s"].display(r["epoch_time_s"]), f"{r['train_time_s']:.1f}",
                         seconds(r["setup_s"]), seconds(r["compile_s"]), "–" if pd.isna(r["host"]) else plain(r["host"]),
                         plain(r["git_sha"]), plain(r["run_id"])])
    table = markdown_table(["variant", "seed", "test acc (%)", "best val acc (%)", "best epoch", "epoch time (s)",
                            "train time (s)", "setup (s)", "compile (s)", "host", "git sha", "run_id"], rows)
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
    rows = [[plain(r["label"]), str(r["seed"]), plain(r["status"]), plain(r["error"] or "")] for _, r in bad.iterrows()]
    return ("These runs are excluded from every table and picture above.\n\n"
            + markdown_table(["variant", "seed", "status", "error"], rows))
