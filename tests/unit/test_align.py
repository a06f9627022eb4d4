"""Aligning one fact's options across languages (gold, then exact text, then elimination, then
optionally the optimal assignment on embeddings) and the option ids that follow from it: the same
entity gets the same id in every language, or none."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from polyfact.errors import PolyfactError
from polyfact.evaluate.align import align_fact, assign_option_ids, best_assignment, choose_pivot
from polyfact.models.pooling import cosine_matrix
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
    assert counts == {
        "method": "text",
        "given_ids": 1,
        "aligned_by_text": 1,
        "aligned_by_embedding": 0,
        "partially_aligned": 0,
        "unaligned": 1,
        "per_language": {
            "en": {"rows": 3, "aligned": 2, "by_embedding": 0},
            "de": {"rows": 3, "aligned": 2, "by_embedding": 0},
        },
    }
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


# --- the optimal assignment on similarity ------------------------------------------------------


def test_best_assignment_is_optimal_not_greedy() -> None:
    # Greedy takes the single best pair (0, 0) = 0.9 and is left with (1, 1) = 0.1: total 1.0.
    # The optimum pairs 0 -> 1 and 1 -> 0: 0.8 + 0.85 = 1.65.
    assert best_assignment(np.array([[0.9, 0.8], [0.85, 0.1]])) == [1, 0]
    sim = np.array([[0.2, 0.9, 0.1], [0.8, 0.7, 0.0], [0.3, 0.6, 0.5]])
    assert best_assignment(sim) == [1, 0, 2]  # 0.9 + 0.8 + 0.5
    assert best_assignment(np.eye(3)[[2, 0, 1]]) == [2, 0, 1]
    assert best_assignment(np.zeros((0, 0))) == []


def test_best_assignment_ties_are_deterministic_and_bad_input_fails() -> None:
    assert best_assignment(np.ones((3, 3))) == [0, 1, 2]  # the first matching in lexicographic order
    with pytest.raises(ValueError, match="square"):
        best_assignment(np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        best_assignment(np.array([[np.nan, 0.0], [0.0, 1.0]]))


def test_cosine_matrix() -> None:
    sim = cosine_matrix(np.array([[3.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 2.0]]))
    assert np.allclose(sim, [[1 / np.sqrt(2), 0.0], [0.0, 0.0]])


# The same four companies (gold Microsoft) in English, Arabic and Chinese: nothing but the gold
# matches by text across scripts.
COMPANIES = {
    "en": ["Microsoft", "Oracle", "Samsung", "Nokia"],
    "ar": ["نوكيا", "مايكروسوفت", "سامسونج", "أوراكل"],
    "zh": ["三星", "甲骨文", "诺基亚", "微软"],
}
ANSWERS = {"en": 0, "ar": 1, "zh": 3}
ENTITY = {
    "Microsoft": "Microsoft",
    "Oracle": "Oracle",
    "Samsung": "Samsung",
    "Nokia": "Nokia",
    "مايكروسوفت": "Microsoft",
    "أوراكل": "Oracle",
    "سامسونج": "Samsung",
    "نوكيا": "Nokia",
    "微软": "Microsoft",
    "甲骨文": "Oracle",
    "三星": "Samsung",
    "诺基亚": "Nokia",
}
AXES = ["Microsoft", "Oracle", "Samsung", "Nokia", "Arabic script", "Han script"]


def vector(text: str) -> np.ndarray:
    """A stand-in multilingual embedding: the entity's axis, plus a script component that every
    Arabic (or Han) text shares, as real encoders carry the language along with the meaning."""
    v = np.zeros(len(AXES))
    v[AXES.index(ENTITY[text])] = 1.0
    if any("\u0600" <= ch <= "\u06ff" for ch in text):
        v[AXES.index("Arabic script")] = 0.8
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        v[AXES.index("Han script")] = 0.8
    return v


def test_align_fact_across_scripts_text_vs_embedding() -> None:
    assert align_fact(COMPANIES, ANSWERS, "en") == {"en": [0, 1, 2, 3], "ar": None, "zh": None}
    embed = {t: vector(t) for t in ENTITY}
    assert align_fact(COMPANIES, ANSWERS, "en", embed) == {
        "en": [0, 1, 2, 3],
        "ar": [3, 0, 2, 1],  # نوكيا -> Nokia, مايكروسوفت -> Microsoft, سامسونج -> Samsung, أوراكل -> Oracle
        "zh": [2, 1, 3, 0],
    }


def test_align_fact_pins_gold_and_text_matches_over_embeddings() -> None:
    # A misleading encoder: the Arabic gold looks like Oracle, and the Latin "Samsung" written in
    # the Arabic row looks like Nokia. Gold (by answer_index) and the exact text match still win;
    # only the two options left open are assigned by similarity.
    opts = {"en": COMPANIES["en"], "ar": ["نوكيا", "مايكروسوفت", "Samsung", "أوراكل"]}
    embed = {t: vector(t) for t in ENTITY}
    embed["مايكروسوفت"] = vector("Oracle")
    embed["Samsung"] = vector("Nokia")
    assert align_fact(opts, {"en": 0, "ar": 1}, "en", embed)["ar"] == [3, 0, 2, 1]


def company_rows() -> list[dict[str, Any]]:
    return [row("co", lang, COMPANIES[lang], ANSWERS[lang]) for lang in ("en", "ar", "zh")] + [
        row("cc", lang, [".de", ".at", ".ch", ".nl"], 0) for lang in ("en", "ar", "zh")
    ]


def test_assign_option_ids_with_an_encoder() -> None:
    calls: list[list[str]] = []

    def encode(texts: Sequence[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.stack([vector(t) for t in texts])

    rows = company_rows()
    counts = assign_option_ids(rows, ["en", "ar", "zh"], encode=encode)
    # Only the open options, once, deduplicated and sorted; the gold and .de/.at/... need none.
    assert calls == [sorted(["Oracle", "Samsung", "Nokia", "أوراكل", "سامسونج", "نوكيا", "甲骨文", "三星", "诺基亚"])]
    assert counts["method"] == "embedding"
    assert (counts["aligned_by_text"], counts["aligned_by_embedding"], counts["unaligned"]) == (1, 1, 0)
    assert counts["per_language"] == {
        "en": {"rows": 2, "aligned": 2, "by_embedding": 0},
        "ar": {"rows": 2, "aligned": 2, "by_embedding": 1},
        "zh": {"rows": 2, "aligned": 2, "by_embedding": 1},
    }
    ids = {(r["fact_id"], r["language"]): r["option_ids"] for r in rows}
    for lang in ("ar", "zh"):
        entity_id = {ENTITY[t]: i for t, i in zip(COMPANIES[lang], ids[("co", lang)], strict=True)}
        assert entity_id == {ENTITY[t]: f"co#{k}" for k, t in enumerate(COMPANIES["en"])}
    # Without an encoder the same rows leave ar and zh out of the company fact.
    rows = company_rows()
    counts = assign_option_ids(rows, ["en", "ar", "zh"])
    assert counts["per_language"]["ar"] == {"rows": 2, "aligned": 1, "by_embedding": 0}
    assert counts["unaligned"] == 1


def test_encoder_not_called_when_text_suffices_and_bad_output_fails() -> None:
    def never(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("encoder called")

    rows = [row("cc", lang, [".de", ".at", ".ch", ".nl"], 0) for lang in ("en", "de")]
    assert assign_option_ids(rows, ["en", "de"], encode=never)["aligned_by_text"] == 1
    with pytest.raises(PolyfactError, match=r"option encoder returned shape \(2, 6\) for 9 texts"):
        assign_option_ids(company_rows(), ["en", "ar", "zh"], encode=lambda texts: np.zeros((2, 6)))
    with pytest.raises(PolyfactError, match=r"non-finite embedding for option"):
        assign_option_ids(company_rows(), ["en", "ar", "zh"], encode=lambda texts: np.full((len(texts), 6), np.nan))
