"""Evaluation figures per model (PNG + PDF): per-language accuracy by method and the TotCons
k-of-n histogram by method."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def _summaries(eval_files: Sequence[str | Path]) -> tuple[str, dict[str, dict]]:
    models = {eval_key(f)[0] for f in eval_files}
    return ", ".join(sorted(models)), {eval_key(f)[1]: read_json(f)["summary"] for f in eval_files}


def accuracy_by_language_figure(eval_files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Grouped bars: languages on x, one bar per method; the chance line at 0.25."""
    model, summaries = _summaries(eval_files)
    languages = next(iter(summaries.values()))["languages"]
    width = 0.8 / len(summaries)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(languages)), 3.6))
    x = np.arange(len(languages))
    for k, (method, s) in enumerate(summaries.items()):
        ax.bar(
            x + (k - (len(summaries) - 1) / 2) * width, [s["accuracy"][lang] for lang in languages], width, label=method
        )
    ax.axhline(0.25, color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xticks=x, xticklabels=languages, ylim=(0, 1), ylabel="accuracy", title=f"{model}: accuracy by language")
    ax.legend(ncol=len(summaries) + 1, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    save_figure(fig, out)


def totcons_histogram_figure(eval_files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Share of facts answered correctly in k of n languages, one line per method."""
    model, summaries = _summaries(eval_files)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for method, s in summaries.items():
        hist = s["totcons_histogram"]
        ax.plot(range(len(hist)), hist, marker="o", label=f"{method} (TotCons {s['totcons']:.2f})")
    n = len(next(iter(summaries.values()))["totcons_histogram"]) - 1
    ax.set(xticks=range(n + 1), xlabel="languages answered correctly (of n)", ylabel="share of facts")
    ax.set_title(f"{model}: cross-lingual consistency")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save_figure(fig, out)
