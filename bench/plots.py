"""The report's pictures: learning curves, accuracy against cost with the Pareto front, confusion matrices."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def colors(labels: list[str]) -> dict[str, tuple]:
    """One stable colour per variant label, in suite order."""
    cmap = plt.get_cmap("tab10")
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def learning_curves(epochs: pd.DataFrame, labels: list[str], path: Path) -> Path:
    """Accuracy and loss per epoch, train dashed and validation solid, each variant's mean over its seeds."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    palette = colors(labels)
    for label in labels:
        mean = epochs[epochs["label"] == label].groupby("epoch")[["train_acc", "val_acc", "train_loss", "val_loss"]].mean()
        c = palette[label]
        acc_ax.plot(mean.index, 100 * mean["val_acc"], "-o", color=c, ms=3, label=f"{label} (val)")
        acc_ax.plot(mean.index, 100 * mean["train_acc"], "--", color=c, alpha=0.7, label=f"{label} (train)")
        loss_ax.plot(mean.index, mean["val_loss"], "-o", color=c, ms=3, label=f"{label} (val)")
        loss_ax.plot(mean.index, mean["train_loss"], "--", color=c, alpha=0.7, label=f"{label} (train)")
    acc_ax.set(title="Accuracy per epoch (solid: validation, dashed: train)", xlabel="epoch", ylabel="accuracy (%)")
    loss_ax.set(title="Loss per epoch (solid: validation, dashed: train)", xlabel="epoch",
                ylabel="cross-entropy (train: with label smoothing)")
    loss_ax.set_yscale("log")  # early validation losses of a net with unsettled BatchNorm statistics can be huge
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=7, loc="lower right")
    return save(fig, path)


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both axes (lower cost, higher quality), by increasing cost."""
    order = np.lexsort((-quality, cost))
    front, best = [], -np.inf
    for i in order:
        if quality[i] > best:
            front.append(i)
            best = quality[i]
    return np.array(front, dtype=int)


def accuracy_vs_cost(summary: pd.DataFrame, path: Path) -> Path:
    """Test accuracy against GMACs and against epoch time, error bars over seeds, the Pareto front drawn."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    palette = colors(list(summary["label"]))
    for ax, (col, sd_col, name) in zip(axes, [("gmacs", None, "GMACs per image"),
                                              ("epoch_time_s", "epoch_time_s_sd", "median epoch time (s)")]):
        x, y = summary[col].to_numpy(float), summary["test_acc"].to_numpy(float)
        for i, row in summary.reset_index(drop=True).iterrows():
            ax.errorbar(x[i], y[i], yerr=row["test_acc_sd"] if pd.notna(row["test_acc_sd"]) else None,
                        xerr=row[sd_col] if sd_col and pd.notna(row[sd_col]) else None,
                        fmt="o", color=palette[row["label"]], capsize=3, ms=7)
            # Alternate above and below so that neighbouring labels do not print over each other.
            ax.annotate(row["label"], (x[i], y[i]), textcoords="offset points", xytext=(6, 8 if i % 2 == 0 else -14),
                        fontsize=8)
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color="black", lw=1, alpha=0.6, label="Pareto front")
        ax.scatter(x[front], y[front], s=160, facecolors="none", edgecolors="black", lw=1.2)
        ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
        ax.set(xlabel=name, ylabel="test accuracy (%)", title=f"Test accuracy vs {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


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
