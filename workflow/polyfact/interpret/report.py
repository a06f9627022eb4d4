"""The interpretability summary table: per model × method, language-specific neuron counts
(LAPE), mean top-head overlap between languages (LAHIS) and middle-layer retrieval (MEXA)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.evaluate.tables import eval_key, render_csv
from polyfact.io import read_json, write_text
from polyfact.markdown import table

COLUMNS = {
    "model": "model",
    "method": "method",
    "lape_neurons": "LAPE neurons",
    "lape_high": "LAPE high",
    "lape_low": "LAPE low",
    "lahis_overlap": "head overlap",
    "mexa_middle": "retrieval (middle layer)",
    "mexa_middle_delta": "Δ vs base",
}


def interpretability_rows(
    lape_files: Sequence[str | Path],
    lahis_files: Sequence[str | Path],
    mexa_files: Sequence[str | Path],
    low_resource: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per model × method (in the order of the LAPE files)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for path in lape_files:
        model, method, _ = eval_key(path)
        counts = read_json(path)["counts_total"]
        rows[(model, method)] = {
            "model": model,
            "method": method,
            "lape_neurons": sum(counts.values()),
            "lape_high": sum(v for lang, v in counts.items() if lang not in low_resource),
            "lape_low": sum(v for lang, v in counts.items() if lang in low_resource),
        }
    for path in lahis_files:
        model, method, _ = eval_key(path)
        rows[(model, method)]["lahis_overlap"] = read_json(path)["mean_overlap_off_diagonal"]
    middle = {eval_key(path)[:2]: read_json(path)["middle_layer_all_pairs"] for path in mexa_files}
    for (model, method), value in middle.items():
        base = middle.get((model, "base"))
        rows[(model, method)]["mexa_middle"] = value
        rows[(model, method)]["mexa_middle_delta"] = None if base is None else value - base
    return list(rows.values())


def render_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "# Interpretability",
        "",
        "LAPE: language-specific MLP neurons (lowest-entropy 1%), in total and assigned to high- or",
        "low-resource languages. Head overlap: mean share of top-2% LAHIS heads two languages have in",
        "common (lower = more language-specific heads). Retrieval: MEXA top-1 retrieval of the",
        "translation at the middle layer, mean over language pairs, and its change from the base model.",
        "",
        *table(list(COLUMNS.values()), [[r.get(c) for c in COLUMNS] for r in rows]),
    ]
    return "\n".join(lines) + "\n"


def write_interpretability_table(rows: Sequence[Mapping[str, Any]], md: str | Path, csv_path: str | Path) -> None:
    write_text(md, render_markdown(rows))
    write_text(csv_path, render_csv(rows, list(COLUMNS)))
