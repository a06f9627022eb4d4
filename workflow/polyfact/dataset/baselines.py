"""Model-free baselines: if a prior that never reads the question beats chance by far, the
options leak the answer (§6)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from polyfact.records import OPTION_KEYS


def _argmax_credit(scores: Sequence[float], gold: int, best: Callable[[Sequence[float]], float] = max) -> float:
    """Expected accuracy of picking the best-scoring option, ties broken uniformly at random."""
    top = best(scores)
    winners = [k for k, s in enumerate(scores) if s == top]
    return (gold in winners) / len(winners)


def gold_frequencies(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Counter[str]]:
    """How often each entity is the gold answer per relation in the train split."""
    freq: dict[str, Counter[str]] = defaultdict(Counter)
    for row in train_rows:
        freq[row["property_id"]][row["object_id"]] += 1
    return freq


def prior_accuracy(rows: Sequence[Mapping[str, Any]], freq: Mapping[str, Counter[str]]) -> float:
    """Pick the option whose entity is most often gold in train for the relation."""
    if not rows:
        return float("nan")
    credit = [
        _argmax_credit([freq.get(r["property_id"], Counter())[oid] for oid in r["option_ids"]], r["answer_index"])
        for r in rows
    ]
    return sum(credit) / len(credit)


def length_accuracy(rows: Sequence[Mapping[str, Any]], longest: bool) -> float:
    """Pick the longest (or shortest) option by characters."""
    if not rows:
        return float("nan")
    best = max if longest else min
    credit = [_argmax_credit([len(r[k]) for k in OPTION_KEYS], r["answer_index"], best) for r in rows]
    return sum(credit) / len(credit)


def position_balance(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Share of golds at each position A–D (a balanced dataset has 0.25 each)."""
    counts = Counter(r["answer_index"] for r in rows)
    n = max(len(rows), 1)
    return {"ABCD"[k]: counts[k] / n for k in range(4)}


def baselines(
    train: Mapping[str, Sequence[Mapping[str, Any]]], test: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Any]:
    """Per-language baselines on the test split, the train prior fitted on that language's train rows."""
    per_lang: dict[str, dict[str, Any]] = {}
    for lang, rows in test.items():
        balance = position_balance(rows)
        per_lang[lang] = {
            "chance": 0.25,
            "train_gold_prior": prior_accuracy(rows, gold_frequencies(train.get(lang, []))),
            "longest_option": length_accuracy(rows, longest=True),
            "shortest_option": length_accuracy(rows, longest=False),
            "most_common_position": max(balance.values()) if rows else float("nan"),
            "position_balance": balance,
        }
    keys = ("chance", "train_gold_prior", "longest_option", "shortest_option", "most_common_position")
    mean = {k: sum(v[k] for v in per_lang.values()) / max(len(per_lang), 1) for k in keys}
    return {"per_language": per_lang, "mean": mean}
