"""The training-curves figure of one model (PNG + PDF): per method, the curves of what it
optimises (polyfact.train.objectives), one panel per curve, a method whose objective did not
improve marked in its panel title."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyfact.evaluate.figures import plt, save_figure
from polyfact.io import read_json


def method_objectives(stats_files: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """Method (the directory name, e.g. cpt+grpo) → its train_stats.json `objective`; methods
    without one (a Hub model's untrained base) are left out."""
    out = {}
    for path in stats_files:
        path = Path(path)
        if path.is_file() and (objective := read_json(path).get("objective")):
            out[path.parent.name] = objective
    return out


def panel_title(method: str, objective: dict[str, Any], label: str, main: bool) -> str:
    """`method: curve`, with the verdict on the objective in the method's first panel."""
    title = f"{method}: {label}"
    if main and objective["improved"] is False:
        title += "\n(objective did not improve)"
    return title


def training_curves_figure(stats_files: Sequence[str | Path], out: Sequence[str | Path]) -> None:
    """One row per method, one panel per curve (value against optimizer step)."""
    objectives = method_objectives(stats_files)
    if not objectives:  # e.g. a Hub model evaluated without training
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no trained method: no training curves", ha="center", va="center")
        save_figure(fig, out)
        return
    ncols = max(len(o["curves"]) for o in objectives.values())
    fig, axes = plt.subplots(
        len(objectives), ncols, figsize=(4.2 * ncols, 2.6 * len(objectives)), squeeze=False, constrained_layout=True
    )
    for row, (method, objective) in enumerate(objectives.items()):
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(objective["curves"]):
                ax.set_axis_off()
                continue
            curve = objective["curves"][col]
            points = objective["history"].get(curve["key"], [])
            ax.plot([p["step"] for p in points], [p["value"] for p in points], marker=".", linewidth=1)
            arrow = "↑" if curve["higher_is_better"] else "↓"
            flagged = col == 0 and objective["improved"] is False
            title = panel_title(method, objective, f"{curve['label']} {arrow}", col == 0)
            ax.set_title(title, fontsize="small", color="tab:red" if flagged else "black")
            ax.set_xlabel("step", fontsize="small")
            ax.tick_params(labelsize="x-small")
    save_figure(fig, out)
