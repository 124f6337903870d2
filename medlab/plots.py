"""Figures the notebooks share: metric bars with intervals, confusion matrices, triage safety,
training curves. Each function draws and returns a matplotlib figure; notebooks save it with
`run.save_figure`.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def bars_with_ci(rows: list[dict], metric: str, title: str = ""):
    """One bar per row (`label`, and `metrics[metric]` = [value, low, high]) with its 95% interval."""
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(rows) + 2), 3.2))
    values = np.array([row["metrics"][metric] for row in rows])
    x = np.arange(len(rows))
    ax.bar(x, values[:, 0], color="#4c72b0")
    ax.errorbar(x, values[:, 0], yerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]],
                fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(x, [row["label"] for row in rows], rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel=metric.replace("_", " "), title=title or metric)
    fig.tight_layout()
    return fig


def confusion_grid(results: list[dict]):
    """Confusion matrices side by side; rows are gold labels, the last column is no-parse."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 3.2), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        matrix = np.array(result["extras"]["confusion"])
        labels = result["extras"]["labels"]
        ax.imshow(matrix, cmap="Blues")
        for (i, j), n in np.ndenumerate(matrix):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(labels) + 1), [*(label[:12] for label in labels), "none"], rotation=45,
                      ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), [label[:12] for label in labels], fontsize=7)
        ax.set_title(f"{result['model']}: {result['task']}", fontsize=8)
    fig.tight_layout()
    return fig


def triage_safety(rows: list[dict]):
    """Per model, stacked shares of exact, over-, under-triage and no-parse, and critical
    under-triage with its interval."""
    parts = [("exact", "#55a868"), ("over_triage", "#dd8452"), ("under_triage", "#c44e52"),
             ("no_parse", "#8c8c8c")]
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(rows) + 2), 3.2))
    bottom = np.zeros(len(rows))
    for key, colour in parts:
        values = np.array([row["metrics"][key][0] for row in rows])
        ax.bar([row["label"] for row in rows], values, bottom=bottom, color=colour, label=key.replace("_", " "))
        bottom += values
    # critical under-triage with its 95% interval: a zero on 36 cases still allows a true rate
    # near 3/36 (the rule of three), and the bar says so where the point alone would not
    critical = np.array([row["metrics"]["critical_under_triage"] for row in rows])
    ax.errorbar([row["label"] for row in rows], critical[:, 0],
                yerr=[critical[:, 0] - critical[:, 1], critical[:, 2] - critical[:, 0]], fmt="x", color="black",
                capsize=3, zorder=3, label="critical under-triage (95% interval)")
    ax.set(ylim=(0, 1.05), ylabel="share of cases", title="Triage safety profile")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    return fig


def training_curves(logs: dict[str, dict], keys: tuple[str, ...] = ("loss", "reward"), x: str = "step"):
    """One panel per key; one line per run log (`{x: [...], key: [...]}`) that has it. `x` may be
    any series the logs share, e.g. sampled replies, to compare runs of different batch sizes."""
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, log in logs.items():
            if log.get(key):
                ax.plot(log[x][: len(log[key])], log[key], label=name)
        ax.set(xlabel=x.replace("_", " "), ylabel=key, title=key)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no {key} logged yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
