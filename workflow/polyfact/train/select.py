"""Checkpoint selection: the paper reports intermediate GRPO checkpoints, so a run that keeps
some (`keep_checkpoints`) offers them with its final model as candidates; each is scored on
the val split and the best by a configured metric becomes the method's model.

The choice is a pure function of the candidates' scores; the chosen weights are hard-linked,
not copied (a 7B model is 15 GB), into the method's model directory with a train_stats.json
that records what was chosen and why.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyfact.errors import PolyfactError
from polyfact.io import atomic_dir, read_json, write_json
from polyfact.train.settings import CANDIDATES_DIR

log = logging.getLogger(__name__)

FINAL = "final"
METRICS = ("accuracy_mean", "accuracy_high", "accuracy_low", "totcons", "rankc", "agreement")
"""Summary metrics a checkpoint can be selected by (higher is better for all)."""


def metric_value(summary: Mapping[str, Any], metric: str) -> float:
    """`metric` of an evaluation summary (RankC: the all-pairs mean)."""
    if metric not in METRICS:
        raise PolyfactError(f"unknown selection metric {metric!r}; expected one of {', '.join(METRICS)}")
    value = summary["rankc"]["all_pairs"] if metric == "rankc" else summary[metric]
    if value is None:
        raise PolyfactError(f"the summary has no value for {metric!r}")
    return float(value)


def candidate_step(name: str) -> int | None:
    """`step-500` -> 500; `final` -> None."""
    if name == FINAL:
        return None
    prefix, _, number = name.partition("-")
    if prefix != "step" or not number.isdigit():
        raise PolyfactError(f"not a candidate name: {name!r} (expected 'final' or 'step-N')")
    return int(number)


def choose(scores: Mapping[str, float]) -> str:
    """The best-scoring candidate; on a tie the final model, then the later step, so a kept step
    replaces the final model only when it is strictly better."""
    if not scores:
        raise PolyfactError("no candidates to choose from")

    def rank(name: str) -> tuple[float, int, int]:
        step = candidate_step(name)
        return (scores[name], step is None, step or 0)

    return max(scores, key=rank)


def candidate_dir(run_dir: str | Path, name: str) -> Path:
    """Where a candidate's model lies in a training run's output."""
    step = candidate_step(name)
    return Path(run_dir) if step is None else Path(run_dir, CANDIDATES_DIR, name)


def _link_files(src: Path, dst: Path) -> None:
    """Hard-link the model files of `src` (not the candidates under it) into `dst`; copy where
    the filesystem refuses links."""
    for path in sorted(src.iterdir()):
        if path.is_dir() or path.name == "train_stats.json":
            continue
        try:
            os.link(path, dst / path.name)
        except OSError:
            shutil.copy2(path, dst / path.name)


def select_checkpoint(run_dir: str | Path, evals: Sequence[str | Path], metric: str, out_dir: str | Path) -> str:
    """Score each candidate's val evaluation (files named `{candidate}.json`), link the chosen
    model into `out_dir`; returns the chosen candidate's name. Without evaluations (a run that
    keeps no step) the final model is the method's, unscored."""
    scores = {Path(p).stem: metric_value(read_json(p)["summary"], metric) for p in evals}
    chosen = choose(scores) if scores else FINAL
    src = candidate_dir(run_dir, chosen)
    if not (src / "config.json").is_file():
        raise PolyfactError(f"{src}: candidate {chosen!r} has no model (no config.json)")
    stats = read_json(src / "train_stats.json")
    if scores:
        stats["checkpoint"] = dict(stats.get("checkpoint") or {}) | {
            "candidate": chosen,
            "selected_by": metric,
            "split": "val",
            "scores": dict(sorted(scores.items())),
        }
        log.info("selected %s by val %s: %s", chosen, metric, {k: round(v, 4) for k, v in scores.items()})
    with atomic_dir(out_dir) as tmp:
        _link_files(src, tmp)
        write_json(tmp / "train_stats.json", stats)
    return chosen
