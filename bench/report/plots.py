"""The report's pictures: learning curves, accuracy against cost with the Pareto front, confusion matrices."""
from __future__ import annotations

import io
import weakref
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


# The plots the page shows as SVG: 10 in wide, their smallest text 10 pt (matplotlib's default for the rest), so that
# at the page's narrowest plot (44rem, report.css) every label reads at 9 px or more, and on a wide screen larger.
WIDE = (10, 4)
SMALL_TEXT = 10

def colors(labels: list[str]) -> dict[str, tuple]:
    """One stable colour per variant label, in suite order."""
    cmap = plt.get_cmap("tab10")
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


# Hover texts of a figure's artists, by SVG id: the HTML report shows each as the browser's tooltip.
TIPS: "weakref.WeakKeyDictionary[plt.Figure, dict[str, str]]" = weakref.WeakKeyDictionary()


def tip(artist, text: str) -> None:
    """Give `artist` the hover text `text` in the figure's SVG (an id on its group, a <title> inside it)."""
    tips = TIPS.setdefault(artist.figure, {})
    gid = f"tip-{len(tips)}"
    artist.set_gid(gid)
    tips[gid] = text


def svg_text(fig: plt.Figure) -> str:
    """The figure as SVG, the same bytes for the same figure (no date, fixed ids, text kept as text), each tipped
    artist's group holding its <title>."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "bench", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    for gid, text in TIPS.get(fig, {}).items():
        svg = svg.replace(f'<g id="{gid}">', f'<g class="tip"><title>{escape(text)}</title>', 1)  # ids would clash
    return svg[svg.index("<svg"):]  # the XML prologue and doctype are not wanted inside a page


def save(fig: plt.Figure, path: Path, vectors: dict[Path, str] | None = None) -> Path:
    """The figure as PNG at `path`; with `vectors`, its SVG (bench.report.html inlines it) under the same path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    if vectors is not None:
        vectors[path] = svg_text(fig)
    plt.close(fig)
    return path


def draw_learning_curves(epochs: pd.DataFrame, labels: list[str]) -> plt.Figure:
    """Accuracy and loss per epoch, train dashed and validation solid, each variant's mean over its seeds. Whole
    epochs on the x axes, plain numbers on the (logarithmic) loss axis, one legend below both axes."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=WIDE)
    palette = colors(labels)
    for label in labels:
        mean = epochs[epochs["label"] == label].groupby("epoch")[["train_acc", "val_acc", "train_loss", "val_loss"]].mean()
        c = palette[label]
        seeds = epochs.loc[epochs["label"] == label, "run_id"].nunique() if "run_id" in epochs else 1
        over = f"mean of {seeds} runs" if seeds > 1 else "1 run"
        best = mean["val_acc"].idxmax()
        for ax, column, scale, style in ((acc_ax, "val_acc", 100, "-o"), (acc_ax, "train_acc", 100, "--"),
                                         (loss_ax, "val_loss", 1, "-o"), (loss_ax, "train_loss", 1, "--")):
            line, = ax.plot(mean.index, scale * mean[column], style, color=c, ms=3, alpha=1 if "o" in style else 0.7)
            split = "validation" if column.startswith("val") else "train"
            last = scale * mean[column].iloc[-1]
            tip(line, f"{label}, {split} {'accuracy' if column.endswith('acc') else 'loss'} ({over}): "
                      + (f"{last:.1f}% at epoch {mean.index[-1]}" if scale == 100 else f"{last:.3g} at epoch "
                         f"{mean.index[-1]}") + (f"; best validation {100 * mean['val_acc'].max():.1f}% at epoch {best}"
                                                 if column == "val_acc" else ""))
    acc_ax.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    loss_ax.set(title="Loss per epoch", xlabel="epoch", ylabel="cross-entropy\n(train: with label smoothing)")
    loss_ax.set_yscale("log")  # early validation losses of a net with unsettled BatchNorm statistics can be huge
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    loss_ax.yaxis.set_major_formatter(plain)
    low, high = loss_ax.get_ylim()
    loss_ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
    loss_ax.yaxis.set_minor_formatter(plain if high / low < 100 else NullFormatter())  # few decades: label 2 and 5
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [Line2D([], [], color=palette[label], lw=2, label=label) for label in labels]
    handles += [Line2D([], [], color="gray", ls="-", marker="o", ms=3, label="validation"),
                Line2D([], [], color="gray", ls="--", label="train")]
    legend_below(fig, handles, [h.get_label() for h in handles])
    return fig


def learning_curves(epochs: pd.DataFrame, labels: list[str], path: Path, vectors: dict | None = None) -> Path:
    return save(draw_learning_curves(epochs, labels), path, vectors)


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both axes (lower cost, higher quality), by increasing cost."""
    order = np.lexsort((-quality, cost))
    front, best = [], -np.inf
    for i in order:
        if quality[i] > best:
            front.append(i)
            best = quality[i]
    return np.array(front, dtype=int)


# Where a point's label may go, in points from the point, nearest first: right, left, above, below, diagonals.
LABEL_OFFSETS = [(dx * r, dy * r) for r in (1, 2, 3.5, 5.5) for dx, dy in
                 [(8, 0), (-8, 0), (0, 9), (0, -9), (8, 9), (-8, 9), (8, -9), (-8, -9)]]


def place_labels(ax: plt.Axes, xs: np.ndarray, ys: np.ndarray, labels: list[str], avoid: list = ()) -> list:
    """Annotate each point at the nearest offset where its label overlaps no other label, no marker, nothing
    in `avoid` (display-space boxes) and stays inside the axes; widen the axes' margins until every label fits."""
    fig = ax.figure
    for margin in (0.15, 0.3, 0.5, 0.8, 1.2):
        ax.margins(x=margin, y=margin)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        inside = ax.get_window_extent(renderer).padded(-2)
        markers = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
        taken = list(avoid) + [matplotlib.transforms.Bbox.from_bounds(mx - 5, my - 5, 10, 10) for mx, my in markers]
        texts, fitted = [], True
        for x, y, label in zip(xs, ys, labels):
            for dx, dy in LABEL_OFFSETS:
                text = ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=SMALL_TEXT,
                                   ha="left" if dx > 0 else "right" if dx < 0 else "center",
                                   va="bottom" if dy > 0 else "top" if dy < 0 else "center")
                box = text.get_window_extent(renderer).padded(1)
                if inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1) and \
                        not any(box.overlaps(other) for other in taken):
                    taken.append(box)
                    texts.append(text)
                    break
                text.remove()
            else:
                fitted = False
                break
        if fitted:
            return texts
        for text in texts:
            text.remove()
    # Too crowded for any margin: fall back to a numbered key beside the axes.
    for i, (x, y) in enumerate(zip(xs, ys), 1):
        texts.append(ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=SMALL_TEXT))
    ax.text(1.02, 1.0, "\n".join(f"{i}: {label}" for i, label in enumerate(labels, 1)), transform=ax.transAxes,
            va="top", fontsize=SMALL_TEXT)
    return texts


def point_text(row: pd.Series) -> str:
    """A point's hover text: the variant, the runs behind it and its three numbers with their spread."""
    def spread(column: str, digits: int) -> str:
        sd = row.get(f"{column}_sd")
        return f"{row[column]:.{digits}f}" + (f" ± {sd:.{digits}f}" if pd.notna(sd) else "")

    runs = row.get("runs") or (f"{int(row['n'])} run(s)" if pd.notna(row.get("n")) else "its runs")
    return (f"{row['label']} ({runs}): test accuracy {spread('test_acc', 2)}%, {row['gmacs']:.3f} GMACs per image, "
            f"epoch time {spread('epoch_time_s', 2)} s")


def draw_accuracy_vs_cost(summary: pd.DataFrame) -> plt.Figure:
    """Test accuracy against GMACs and against epoch time, error bars over seeds, the Pareto front drawn,
    each point labelled where the label overlaps nothing (the legend sits below the axes)."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDE[0], WIDE[1] + 0.5))
    palette = colors(list(summary["label"]))
    summary = summary.reset_index(drop=True)
    for ax, (col, sd_col, name) in zip(axes, [("gmacs", None, "GMACs per image"),
                                              ("epoch_time_s", "epoch_time_s_sd", "median epoch time (s)")]):
        x, y = summary[col].to_numpy(float), summary["test_acc"].to_numpy(float)
        for i, row in summary.iterrows():
            bars = ax.errorbar(x[i], y[i], yerr=row["test_acc_sd"] if pd.notna(row["test_acc_sd"]) else None,
                               xerr=row[sd_col] if sd_col and pd.notna(row[sd_col]) else None,
                               fmt="o", color=palette[row["label"]], capsize=3, ms=7)
            tip(bars.lines[0], point_text(row))
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color="black", lw=1, alpha=0.6, label="Pareto front")
        ax.scatter(x[front], y[front], s=160, facecolors="none", edgecolors="black", lw=1.2)
        ax.set(xlabel=name, ylabel="test accuracy (%)", title=f"Test accuracy vs {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=SMALL_TEXT, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
        place_labels(ax, x, y, list(summary["label"]))
    fig.tight_layout()
    return fig


def accuracy_vs_cost(summary: pd.DataFrame, path: Path, vectors: dict | None = None) -> Path:
    return save(draw_accuracy_vs_cost(summary), path, vectors)


def confusion_matrix(counts: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix (each true class sums to 100%), values printed when it is small."""
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * k + 2), max(3.5, 0.5 * k + 1.5)))
    image = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of the true class")
    if k <= 20:
        ax.set_xticks(range(k), classes, rotation=90 if k > 10 else 0, fontsize=8)
        ax.set_yticks(range(k), classes, fontsize=8)
        for t in range(k):
            for p in range(k):
                if counts[t, p]:
                    ax.text(p, t, f"{100 * share[t, p]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if share[t, p] > 0.5 else "black")
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    return save(fig, path)


def draw_history(found: dict) -> plt.Figure:
    """Each variant's test accuracy and epoch time per identity it ran under (bench.report.history.Version), in time
    order: one line per variant and series (never across a recipe change), each point's hover text its sha and what
    changed since the point before."""
    from matplotlib.dates import DateFormatter

    fig, (acc_ax, time_ax) = plt.subplots(1, 2, figsize=WIDE)
    palette = colors(list(found))
    markers = "osD^vP*X"
    for label, versions in found.items():
        for series in dict.fromkeys(v.series for v in versions):  # a line only within one data set, recipe, device
            mine = [(i, v) for i, v in enumerate(versions, 1) if v.series == series]
            when = pd.to_datetime([v.made for _, v in mine])
            marker = markers[(series - 1) % len(markers)]
            name = f"{label} ({mine[0][1].series_name})" if len({v.series for v in versions}) > 1 else label
            for ax, values in ((acc_ax, [v.test_acc_mean for _, v in mine]),
                               (time_ax, [v.epoch_time_median_s for _, v in mine])):
                ax.plot(when, values, "-", color=palette[label], alpha=0.5)
                for k, (x, y, (i, v)) in enumerate(zip(when, values, mine)):
                    point, = ax.plot([x], [y], marker, color=palette[label], ms=7, label=name if k == 0 else None)
                    tip(point, f"{label} #{i}, series {v.series} ({v.series_name}), git {v.git_sha}, made {v.made} "
                               f"UTC ({v.runs} run(s)): test accuracy {v.test_acc}%, epoch time {v.epoch_time_s} s; "
                               f"changed: {'; '.join(v.changed)}")
    acc_ax.set(title="Test accuracy per identity", xlabel="made (UTC)", ylabel="test accuracy (%)")
    time_ax.set(title="Epoch time per identity", xlabel="made (UTC)", ylabel="median epoch time (s)")
    for ax in (acc_ax, time_ax):
        ax.grid(alpha=0.3)
        ax.margins(x=0.1, y=0.15)
        ax.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))
        plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    legend_below(fig, *acc_ax.get_legend_handles_labels())
    return fig


def legend_below(fig: plt.Figure, handles: list, names: list[str]) -> None:
    """The figure's legend under its axes and their labels, inside the figure, in as many columns as fit its
    width: the axes are laid out tight, then raised by the legend's height."""
    fig.tight_layout()
    legend = fig.legend(handles, names, loc="lower center", ncol=legend_columns(names, fig), fontsize=SMALL_TEXT,
                        frameon=False)
    fig.canvas.draw()
    height = legend.get_window_extent(fig.canvas.get_renderer()).height / fig.bbox.height
    fig.subplots_adjust(bottom=fig.subplotpars.bottom + height + 0.02)


def legend_columns(names: list[str], fig: plt.Figure) -> int:
    """How many legend entries of these names fit side by side in the figure's width (an entry: its marker, about
    0.6 em a character, and a gap)."""
    width_pt = fig.get_figwidth() * 72
    entry_pt = max((len(n) for n in names), default=1) * 0.6 * SMALL_TEXT + 4 * SMALL_TEXT
    return max(1, min(len(names), int(width_pt // entry_pt)))


def history(found: dict, path: Path, vectors: dict | None = None) -> Path:
    return save(draw_history(found), path, vectors)


def log_scaled(values: list) -> bool:
    """Whether a tuned field's values are best read on a log axis: positive numbers spanning a factor of 4 or more
    (learning rates, weight decays); a linear axis otherwise."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 4


def draw_sensitivity(table: pd.DataFrame, keys: list[str], chosen: dict[str, tuple], labels: list[str]) -> plt.Figure:
    """Validation accuracy (mean over trial seeds) against each tuned field's value, one line per variant, its chosen
    point a star; with several fields, one panel each, the other fields held at the variant's chosen values."""
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(keys), figsize=WIDE, squeeze=False)
    palette = colors(labels)
    for k, (key, ax) in enumerate(zip(keys, axes[0])):
        values = sorted({p[k] for p in table["point"]}, key=lambda v: (v is None, v))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        where = (lambda v: v) if numeric else (lambda v: values.index(v))
        for label in labels:
            mine = table[table["label"] == label]
            if label not in chosen or mine.empty:
                continue
            best = chosen[label]
            held = mine[[all(p[j] == best[j] for j in range(len(keys)) if j != k) for p in mine["point"]]]
            held = held.assign(x=[p[k] for p in held["point"]]).sort_values("x", key=lambda s: s.map(values.index))
            line, = ax.plot([where(v) for v in held["x"]], 100 * held["val_acc"].astype(float), "-o", ms=4,
                            color=palette[label])
            tip(line, f"{label}: " + "; ".join(f"{key}={x:g}: {100 * a:.1f}%" if isinstance(x, float) else
                                               f"{key}={x}: {100 * a:.1f}%" for x, a in zip(held["x"], held["val_acc"])))
            top = held[held["x"] == best[k]]
            star = ax.plot([where(best[k])], 100 * top["val_acc"].astype(float), "*", ms=16, color=palette[label],
                           markeredgecolor="black", zorder=3)[0]
            tip(star, f"{label}: chosen {key}={best[k]} (validation {100 * float(top['val_acc'].iloc[0]):.1f}%)")
        if numeric and log_scaled(values):
            ax.set_xscale("log")
            ax.minorticks_off()  # the tried values are the ticks
        ax.set_xticks([where(v) for v in values], [f"{v:g}" if numeric else str(v) for v in values])
        ax.set(title=f"Validation accuracy against {key}", xlabel=key + (" (log scale)" if log_scaled(values) else ""),
               ylabel="best validation accuracy (%)")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=palette[label], lw=2, marker="o", ms=4, label=label) for label in labels
               if label in chosen]
    handles.append(Line2D([], [], ls="", marker="*", ms=12, color="gray", markeredgecolor="black", label="chosen"))
    legend_below(fig, handles, [h.get_label() for h in handles])
    return fig


def sensitivity(table: pd.DataFrame, keys: list[str], chosen: dict[str, tuple], labels: list[str], path: Path,
                vectors: dict | None = None) -> Path:
    return save(draw_sensitivity(table, keys, chosen, labels), path, vectors)
