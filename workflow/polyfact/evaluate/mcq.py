"""PolyFact MCQ evaluation: per fact and language the four option scores, token counts, the
prediction and the ranking of option entities (for the cross-lingual metrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.evaluate.metrics import ranking
from polyfact.evaluate.scoring import normalise, score_continuations
from polyfact.prompts import mcq_prompt
from polyfact.records import OPTION_KEYS


def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[Mapping[str, Any]],
    normalisation: str = "byte",
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """One prediction per row (fact × language), options scored as continuations of the prompt."""
    items = [(mcq_prompt(r["question"]), [" " + r[k] for k in OPTION_KEYS]) for r in rows]
    out = []
    for row, scored in zip(rows, score_continuations(model, tokenizer, items, batch_size), strict=True):
        scores = [normalise(s, row[k], normalisation) for s, k in zip(scored, OPTION_KEYS, strict=True)]
        prediction = max(range(4), key=lambda k: scores[k])
        ids = row.get("option_ids")
        out.append(
            {
                "fact_id": row["fact_id"],
                "language": row["language"],
                "property_id": row.get("property_id"),
                "option_ids": ids,
                "answer_index": row["answer_index"],
                "scores": scores,
                "logprobs": [s.logprob for s in scored],
                "tokens": [s.tokens for s in scored],
                "prediction": prediction,
                "correct": prediction == row["answer_index"],
                "ranking": ranking(ids, scores) if ids else None,
            }
        )
    return out
