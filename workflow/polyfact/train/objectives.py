"""What each method optimises, read from its trainer's log history (§7), so a run shows whether
training did its own job before anyone reads the evaluation: the curves go to train_stats.json
(and, through the trainer's MLflow callback, to the job's run), the figure and the models report.

Held-out curves (CPT's LM loss on parallel text it does not train on, SFT's accuracy, letter or
answer by `sft.target`, on training facts it does not train on) start with an evaluation before
the first step; the others are the trainer's own per-step logs (GRPO's reward, the preference
accuracy of DCO / CM-Align).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Curve:
    """One logged value: its key in the trainer's log history, its label, its direction."""

    key: str
    label: str
    higher_is_better: bool


OBJECTIVES: dict[str, tuple[Curve, ...]] = {
    "base": (Curve("loss", "LM loss, pretraining lines", False),),
    "cpt": (Curve("eval_loss", "LM loss, held-out parallel text", False), Curve("loss", "LM loss, training", False)),
    "sft": (
        Curve("eval_accuracy", "accuracy, held-out training facts", True),
        Curve("loss", "SFT loss, training", False),
    ),
    "grpo": (
        Curve("reward", "mean reward", True),
        Curve("rollouts/all_correct", "all languages correct", True),
    ),
    "dco": (Curve("rewards/accuracies", "preference accuracy", True), Curve("dco/agreement", "agreement", True)),
    "cmalign": (Curve("rewards/accuracies", "preference accuracy", True), Curve("loss", "DPO loss", False)),
}
"""Per method, its curves; the first is the objective whose improvement the report checks."""


def curve_points(log_history: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, float]]:
    """(step, value) of every log entry that has `key`, in step order."""
    points = [{"step": int(e["step"]), "value": float(e[key])} for e in log_history if key in e and "step" in e]
    return sorted(points, key=lambda p: p["step"])


def improved(values: Sequence[float], higher_is_better: bool) -> bool | None:
    """Whether the mean of the last quarter of the points beats the mean of the first quarter
    (first vs last point when there are fewer than eight). Quarters, not single points, because
    per-step training values (GRPO's reward) are noisy. None without two points."""
    if len(values) < 2:
        return None
    k = max(1, len(values) // 4)
    start, end = sum(values[:k]) / k, sum(values[-k:]) / k
    return end > start if higher_is_better else end < start


def objective_summary(method: str, log_history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The method's curves and whether its objective improved (`method` is the last link of a
    chain, e.g. `grpo` for cpt+grpo)."""
    curves = OBJECTIVES[method]
    points = {c.key: curve_points(log_history, c.key) for c in curves}
    main = curves[0]
    values = [p["value"] for p in points[main.key]]
    return {
        "name": main.label,
        "key": main.key,
        "higher_is_better": main.higher_is_better,
        "start": values[0] if values else None,
        "end": values[-1] if values else None,
        "improved": improved(values, main.higher_is_better),
        "curves": [{"key": c.key, "label": c.label, "higher_is_better": c.higher_is_better} for c in curves],
        "history": points,
    }
