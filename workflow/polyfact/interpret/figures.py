"""Figures comparing methods per model (PNG + PDF): LAPE neuron counts per language (log
scale) and per layer, LAHIS head distribution by layer and the overlap heatmap per method,
MEXA retrieval by layer and its change from the base model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from polyfact.evaluate.figures import by_method, grouped_bars, legend_below, method_lines, plt, save_figure


def lape_by_language(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Language-specific neurons per language, one bar per method, log scale."""
    model, results = by_method(files)
    languages = next(iter(results.values()))["languages"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(languages)), 3.6))
    x = grouped_bars(ax, {m: [r["counts_total"][lang] for lang in languages] for m, r in results.items()})
    ax.set_yscale("symlog", linthresh=1)  # log scale that still shows a language with none
    ax.set(xticks=x, xticklabels=languages, ylabel="language-specific neurons")
    ax.set_title(f"{model}: LAPE neurons per language")
    legend_below(ax, len(results))
    save_figure(fig, out)


def lape_by_layer(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    model, results = by_method(files)
    curves = {m: np.sum([v for v in r["counts"].values()], axis=0).tolist() for m, r in results.items()}
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    method_lines(ax, curves, "layer", "language-specific neurons", f"{model}: LAPE neurons by layer")
    save_figure(fig, out)


def lahis_by_layer(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    model, results = by_method(files)
    curves = {m: r["heads_by_layer"] for m, r in results.items()}
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    method_lines(ax, curves, "layer", "top heads (all languages)", f"{model}: language-specific heads by layer")
    save_figure(fig, out)


def lahis_overlap(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """The languages × languages top-head overlap, one heatmap per method."""
    model, results = by_method(files)
    cols = min(3, len(results))
    rows = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax, (method, r) in zip(axes.flat, results.items(), strict=False):
        image = ax.imshow(np.asarray(r["overlap"]), vmin=0, vmax=1, cmap="viridis")
        langs = r["languages"]
        ax.set(xticks=range(len(langs)), yticks=range(len(langs)), xticklabels=langs, yticklabels=langs)
        ax.tick_params(labelsize="x-small")
        ax.set_title(f"{method} (mean {r['mean_overlap_off_diagonal']:.2f})", fontsize="small")
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="top-head overlap")
    fig.suptitle(f"{model}: top-head overlap between languages")
    save_figure(fig, out)


def mexa_by_layer(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    model, results = by_method(files)
    curves = {m: r["en_x_mean"] or r["all_pairs_mean"] for m, r in results.items()}
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    method_lines(ax, curves, "layer", "top-1 retrieval (en–x)", f"{model}: cross-lingual alignment by layer")
    ax.set_ylim(0, 1)
    save_figure(fig, out)


def mexa_delta(files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """Each method's en–x retrieval minus the base model's, per layer."""
    model, results = by_method(files)
    key = "en_x_mean" if next(iter(results.values()))["en_x_mean"] else "all_pairs_mean"
    base = np.asarray(results["base"][key]) if "base" in results else None
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    if base is None:
        ax.text(0.5, 0.5, "no base model among the methods", ha="center", transform=ax.transAxes)
    else:
        curves = {m: (np.asarray(r[key]) - base).tolist() for m, r in results.items() if m != "base"}
        method_lines(ax, curves, "layer", "Δ retrieval vs base", f"{model}: alignment change from base")
        ax.axhline(0, color="grey", linewidth=0.8)
    save_figure(fig, out)
