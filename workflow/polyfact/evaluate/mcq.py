"""PolyFact MCQ evaluation: per fact and language the four option scores, token counts, the
prediction and the ranking of option entities (for the cross-lingual metrics).

Two ways to score the options (`scoring`): `option` (§8) scores each option's text as the
continuation of `Question: {q}\nAnswer:`; `letter` shows the options lettered A-D (the SFT
prompt) and scores the letters ` A`..` D`, as lm-eval-harness and the authors do for
Global-MMLU (jvonrad/Lost-in-Mistranslation evaluate/evaluate_crosslingual_consistency.py@20dda20)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from polyfact.evaluate.metrics import ranking
from polyfact.evaluate.scoring import normalise, score_continuations
from polyfact.prompts import LETTERS, mcq_prompt, sft_prompt
from polyfact.records import OPTION_KEYS

SCORINGS = ("option", "letter")


def mcq_item(row: Mapping[str, Any], scoring: str = "option") -> tuple[str, list[str], list[str]]:
    """The prompt, the four scored continuations and the texts whose length normalises them."""
    if scoring == "option":
        options = [row[k] for k in OPTION_KEYS]
        return mcq_prompt(row["question"]), [" " + o for o in options], options
    if scoring == "letter":
        return sft_prompt(row), [" " + letter for letter in LETTERS], list(LETTERS)
    raise ValueError(f"unknown scoring {scoring!r}; choose from {SCORINGS}")


def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[Mapping[str, Any]],
    normalisation: str = "byte",
    batch_size: int = 64,
    scoring: str = "option",
) -> list[dict[str, Any]]:
    """One prediction per row (fact × language), options (or their letters) scored as
    continuations of the prompt."""
    items = [mcq_item(r, scoring) for r in rows]
    contexts = [(context, continuations) for context, continuations, _ in items]
    out = []
    for row, (_, _, texts), scored in zip(
        rows, items, score_continuations(model, tokenizer, contexts, batch_size), strict=True
    ):
        scores = [normalise(s, text, normalisation) for s, text in zip(scored, texts, strict=True)]
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
