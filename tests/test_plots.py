"""The learning curves read cleanly, checked on the drawn figure's own artists: whole epochs on the x axes, plain
numbers on the loss axis, axis labels clear of the tick labels, and the legend clear of every axes (so of the data)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.report.plots import draw_learning_curves

LABELS = ["resnet18", "resnet18-stem3", "resnet18-stem3-nolayer4", "resnet18-stem1-nolayer4", "mobilenet_v2"]


def epochs_table(n_epochs: int, loss_high: float, loss_low: float) -> pd.DataFrame:
    rows = []
    for k, label in enumerate(LABELS):
        for seed in (0, 1):
            for e in range(1, n_epochs + 1):
                t = e / n_epochs
                rows.append({"label": label, "seed": seed, "epoch": e, "train_acc": 0.1 + 0.8 * t,
                             "val_acc": min(0.99, 0.15 + 0.8 * t - 0.02 * k),
                             "train_loss": loss_high * (loss_low / loss_high) ** t * (1 + 0.1 * k),
                             "val_loss": loss_high * 1.1 * (loss_low / loss_high) ** t})
    return pd.DataFrame(rows)


def visible(labels) -> list:
    return [t for t in labels if t.get_visible() and t.get_text()]


@pytest.mark.parametrize("n_epochs, loss_high, loss_low", [(2, 2.3, 1.2), (5, 2.4, 0.9), (16, 40.0, 0.05)])
def test_curves_have_whole_epochs_plain_loss_ticks_and_nothing_overlapping(n_epochs, loss_high, loss_low):
    fig = draw_learning_curves(epochs_table(n_epochs, loss_high, loss_low), LABELS)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    acc_ax, loss_ax = fig.axes
    for ax in (acc_ax, loss_ax):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # the 1.2, 1.4, ... are gone
        for tick in visible(ax.get_xticklabels()):
            int(tick.get_text())
    loss_ticks = visible(loss_ax.get_yticklabels()) + visible(loss_ax.get_yticklabels(minor=True))
    assert len(loss_ticks) >= 2
    for tick in loss_ticks:  # plain numbers: no 2.3×10⁰, no mathtext
        assert "$" not in tick.get_text() and "×" not in tick.get_text()
        float(tick.get_text())
    for ax in (acc_ax, loss_ax):
        label = ax.yaxis.label.get_window_extent(renderer)
        for tick in visible(ax.get_yticklabels()) + visible(ax.get_yticklabels(minor=True)):
            assert not label.overlaps(tick.get_window_extent(renderer)), (ax.get_title(), tick.get_text())
        xlabel = ax.xaxis.label.get_window_extent(renderer)
        for tick in visible(ax.get_xticklabels()):
            assert not xlabel.overlaps(tick.get_window_extent(renderer))
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == LABELS + ["validation", "train"]  # one entry per variant, plus what the line styles mean
    for ax in (acc_ax, loss_ax):
        assert not box.overlaps(ax.get_window_extent(renderer))  # below the axes: it covers no data
        assert not box.overlaps(ax.xaxis.label.get_window_extent(renderer))
        for tick in visible(ax.get_xticklabels()):
            assert not box.overlaps(tick.get_window_extent(renderer))
    figure = fig.bbox
    assert figure.contains(box.x0, box.y0) and figure.contains(box.x1, box.y1)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_the_curves_are_the_means_over_seeds():
    table = epochs_table(4, 2.0, 1.0)
    table.loc[table["seed"] == 1, "val_acc"] += 0.02  # seed 1 two points higher: the mean is one point higher
    fig = draw_learning_curves(table, LABELS)
    acc_ax = fig.axes[0]
    line = acc_ax.get_lines()[0]  # resnet18's validation accuracy
    mine = table[table["label"] == "resnet18"]
    expected = 100 * mine.groupby("epoch")["val_acc"].mean().to_numpy()
    assert np.allclose(line.get_ydata(), expected) and list(line.get_xdata()) == [1, 2, 3, 4]
