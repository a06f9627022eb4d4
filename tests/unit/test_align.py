"""Aligning one fact's options across languages (gold, then exact text, then elimination) and the
option ids that follow from it: the same entity gets the same id in every language, or none."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from polyfact.errors import PolyfactError
from polyfact.evaluate.align import align_fact, assign_option_ids, choose_pivot
from polyfact.records import OPTION_KEYS

# --- alignment of one fact ---------------------------------------------------------------------


def test_align_fact_gold_text_elimination() -> None:
    opts = {
        "en": ["Paris", "Lyon", "Nice", "Lille"],
        "de": ["lyon", "Nizza", "Lille", "Paris"],
        "zh": ["巴黎", "里昂", "尼斯", "里尔"],
    }
    answers = {"en": 0, "de": 3, "zh": 0}
    assert align_fact({k: opts[k] for k in ("en", "de")}, answers, "en") == {"en": [0, 1, 2, 3], "de": [1, 2, 3, 0]}
    # zh: three transliterations left after the gold; en and de still align
    assert align_fact(opts, answers, "en") == {"en": [0, 1, 2, 3], "de": [1, 2, 3, 0], "zh": None}


def test_align_fact_refuses_ambiguous_text() -> None:
    # Two equal texts on one side must not be matched by text (which one is which?).
    opts = {"en": ["A", "X", "X", "B"], "de": ["A", "B", "X", "Y"]}
    assert align_fact(opts, {"en": 0, "de": 0}, "en")["de"] is None


def test_align_fact_text_match_ignores_form_case_and_spaces() -> None:
    decomposed = unicodedata.normalize("NFD", "ÄGYPTEN ")
    opts = {"en": ["Egypt", "Ägypten", "Straße", "X"], "de": ["Ägypt", "STRASSE", decomposed, "Y"]}
    assert align_fact(opts, {"en": 0, "de": 0}, "en")["de"] == [0, 2, 1, 3]


def test_choose_pivot_prefers_pivot_then_request_order() -> None:
    assert choose_pivot({"zh", "en"}, ["de", "zh", "en"]) == "en"
    assert choose_pivot({"zh", "bn"}, ["de", "bn", "zh"]) == "bn"


def row(fact_id: str, language: str, options: list[str], answer: int, ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "fact_id": fact_id,
        "language": language,
        **dict(zip(OPTION_KEYS, options, strict=True)),
        "answer_index": answer,
        "option_ids": ids,
    }


def test_assign_option_ids_counts_and_synthetic_ids() -> None:
    rows = [
        row("a", "en", ["p", "q", "r", "s"], 0),
        row("a", "de", ["q", "p", "s", "r"], 1),
        row("b", "en", ["p", "q", "r", "s"], 0),
        row("b", "de", ["p", "x", "y", "z"], 0),
        row("c", "en", ["p", "q", "r", "s"], 0, ["e0", "e1", "e2", "e3"]),
        row("c", "de", ["q", "p", "r", "s"], 1, ["e1", "e0", "e2", "e3"]),
    ]
    counts = assign_option_ids(rows, ["en", "de"])
    assert counts == {"given_ids": 1, "aligned_by_text": 1, "partially_aligned": 0, "unaligned": 1}
    assert [r["option_ids"] for r in rows[:4]] == [
        ["a#0", "a#1", "a#2", "a#3"],
        ["a#1", "a#0", "a#3", "a#2"],
        None,
        None,
    ]


def test_assign_option_ids_rejects_a_different_gold_id() -> None:
    rows = [
        row("c", "en", ["p", "q", "r", "s"], 0, ["e0", "e1", "e2", "e3"]),
        row("c", "de", ["p", "q", "r", "s"], 1, ["e0", "e1", "e2", "e3"]),
    ]
    with pytest.raises(PolyfactError, match=r"fact c: gold option id in de \(e1\) differs from en \(e0\)"):
        assign_option_ids(rows, ["en", "de"])
