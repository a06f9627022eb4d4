"""PolyFact MCQ evaluation: per fact and language the four option scores, token counts and
the prediction; accuracy per language."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.dataset.build import OPTION_KEYS
from polyfact.evaluate.scoring import mcq_prompt, normalise, score_sequences


def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[Mapping[str, Any]],
    normalisation: str = "byte",
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """One prediction per row (fact × language), options scored as continuations."""
    pairs = [(mcq_prompt(r["question"]), r[k]) for r in rows for k in OPTION_KEYS]
    scored = score_sequences(model, tokenizer, pairs, batch_size)
    out = []
    for n, row in enumerate(rows):
        mine = scored[4 * n : 4 * n + 4]
        scores = [normalise(s, row[k], normalisation) for s, k in zip(mine, OPTION_KEYS, strict=True)]
        prediction = max(range(4), key=lambda k: scores[k])
        out.append(
            {
                "fact_id": row["fact_id"],
                "language": row["language"],
                "property_id": row.get("property_id"),
                "option_ids": row.get("option_ids"),
                "answer_index": row["answer_index"],
                "scores": scores,
                "logprobs": [s.logprob for s in mine],
                "tokens": [s.tokens for s in mine],
                "prediction": prediction,
                "correct": prediction == row["answer_index"],
            }
        )
    return out


def accuracy_by_language(predictions: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    hits: dict[str, list[bool]] = defaultdict(list)
    for p in predictions:
        hits[p["language"]].append(bool(p["correct"]))
    return {lang: sum(v) / len(v) for lang, v in hits.items()}
