"""Evaluation figures per model (PNG + PDF): per-language accuracy by method and the TotCons
k-of-n histogram by method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display (cluster nodes, CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from polyfact.evaluate.tables import eval_key  # noqa: E402
from polyfact.io import atomic_path, read_json  # noqa: E402

# No timestamps or version strings: the same results give the same figure bytes.
_METADATA = {".pdf": {"CreationDate": None, "Producer": None, "Creator": None}, ".png": {"Software": None}}


def save_figure(fig: Figure, paths: Sequence[str | Path]) -> None:
    """Save one figure to each path (format from the suffix), atomically."""
    for path in paths:
        suffix = Path(path).suffix
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], metadata=_METADATA.get(suffix), dpi=150, bbox_inches="tight")
    plt.close(fig)


def by_method(files: Sequence[str | Path]) -> tuple[str, dict[str, Any]]:
    """The model(s) that results/{kind}/{model}/{method}/{name}.json files belong to, and each
    method's JSON."""
    model = ", ".join(sorted({eval_key(f)[0] for f in files}))
    return model, {eval_key(f)[1]: read_json(f) for f in files}


def grouped_bars(ax: Any, values: Mapping[str, Sequence[float]]) -> np.ndarray:
    """One group of bars per x position, one bar per method within each group; returns the
    group positions for the caller's tick labels (set after its own scales)."""
    width = 0.8 / len(values)
    x = np.arange(len(next(iter(values.values()))))
    for k, (method, heights) in enumerate(values.items()):
        ax.bar(x + (k - (len(values) - 1) / 2) * width, heights, width, label=method)
    return x


def legend_below(ax: Any, ncol: int) -> None:
    ax.legend(ncol=ncol, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)


def method_lines(ax: Any, curves: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, title: str) -> None:
    """One line per method over x = 0..n-1, the legend to the right."""
    for method, values in curves.items():
        ax.plot(range(len(values)), values, marker="o", label=method)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def accuracy_by_language_figure(eval_files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Grouped bars: languages on x, one bar per method; the chance line at 0.25."""
    model, results = by_method(eval_files)
    summaries = {method: r["summary"] for method, r in results.items()}
    languages = next(iter(summaries.values()))["languages"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(languages)), 3.6))
    x = grouped_bars(ax, {m: [s["accuracy"][lang] for lang in languages] for m, s in summaries.items()})
    ax.axhline(0.25, color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xticks=x, xticklabels=languages, ylim=(0, 1), ylabel="accuracy", title=f"{model}: accuracy by language")
    legend_below(ax, len(summaries) + 1)
    save_figure(fig, out)


def totcons_histogram_figure(eval_files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Share of facts answered correctly in k of n languages, one line per method."""
    model, results = by_method(eval_files)
    curves = {
        f"{method} (TotCons {r['summary']['totcons']:.2f})": r["summary"]["totcons_histogram"]
        for method, r in results.items()
    }
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    method_lines(
        ax, curves, "languages answered correctly (of n)", "share of facts", f"{model}: cross-lingual consistency"
    )
    ax.set(xticks=range(len(next(iter(curves.values())))))
    save_figure(fig, out)
