"""The models report: per model × method, what training cost and what it bought
(test accuracy in English vs the mean over the other languages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.io import read_json, write_json, write_text
from polyfact.markdown import table

# Each method counts what it trains on: pretraining/CPT/SFT tokens, GRPO generated tokens.
TOKEN_KEYS = ("tokens", "tokens_trained", "tokens_generated_this_attempt")


def _key(path: str) -> tuple[str, str]:
    """(model, method) from …/{model}/{method}/{file}."""
    p = Path(path)
    return p.parent.parent.name, p.parent.name


def models_report(stats_files: Sequence[str], eval_files: Sequence[str]) -> dict[str, Any]:
    evals = {_key(f): read_json(f)["summary"] for f in eval_files}
    rows = []
    for f in stats_files:
        key = _key(f)
        stats = read_json(f)
        summary = evals.get(key, {})
        rows.append(
            {
                "model": key[0],
                "method": key[1],
                "steps": stats.get("steps", 0),
                "tokens": next((stats[k] for k in TOKEN_KEYS if k in stats), None),
                "wall_seconds": stats.get("wall_seconds"),
                "device": stats.get("device"),
                "gpu_hours": stats.get("gpu_hours"),
                "accuracy_en": summary.get("accuracy_en"),
                "accuracy_non_en_mean": summary.get("accuracy_non_en_mean"),
                "accuracy": summary.get("accuracy", {}),
                "objective": stats.get("objective"),
            }
        )
    return {"runs": rows}


COLUMNS = {
    "model": "model",
    "method": "method",
    "steps": "steps",
    "tokens": "tokens",
    "wall_seconds": "wall s",
    "device": "device",
    "gpu_hours": "GPU-h",
    "accuracy_en": "acc en",
    "accuracy_non_en_mean": "acc non-en mean",
}


def objective_cells(objective: Mapping[str, Any]) -> list[Any]:
    """What the run optimised, its first and last value, and the verdict (flagged when the
    objective did not improve; see polyfact.train.objectives.improved)."""
    verdict = {True: "yes", False: "**NO**", None: "n/a"}[objective["improved"]]
    return [objective["name"], objective["start"], objective["end"], verdict]


def render_markdown(report: Mapping[str, Any]) -> str:
    runs = report["runs"]
    lines = [
        "# Models: training cost and PolyFact test accuracy",
        "",
        "English accuracy vs the mean over the other evaluated languages; the base model's gap",
        "is the cross-lingual inconsistency the methods try to close.",
        "",
        *table(list(COLUMNS.values()), [[r[k] for k in COLUMNS] for r in runs], missing=""),
    ]
    optimised = [r for r in runs if r["objective"]]
    if optimised:
        lines += [
            "",
            "What each run optimised (held-out where the trainer has held-out data), its first and",
            "last logged value, and whether it improved (mean of the last quarter of the points",
            "against the first quarter):",
            "",
            *table(
                ["model", "method", "objective", "first", "last", "improved"],
                [[r["model"], r["method"], *objective_cells(r["objective"])] for r in optimised],
                missing="",
            ),
        ]
    flagged = [r for r in runs if r["objective"] and r["objective"]["improved"] is False]
    if flagged:
        names = ", ".join(f"{r['model']}/{r['method']} ({r['objective']['name']})" for r in flagged)
        lines += ["", f"**Objective did not improve:** {names}. Check these runs before reading their results."]
    langs = sorted({lang for r in runs for lang in r["accuracy"]})
    if langs:
        body = [[r["model"], r["method"], *(r["accuracy"].get(lang) for lang in langs)] for r in runs]
        lines += ["", "Accuracy per language:", "", *table(["model", "method", *langs], body, missing="")]
    return "\n".join(lines) + "\n"


def write_models_report(report: Mapping[str, Any], md_path: str | Path, json_path: str | Path) -> None:
    write_json(json_path, report)
    write_text(md_path, render_markdown(report))
