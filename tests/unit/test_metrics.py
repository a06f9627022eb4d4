"""Cross-lingual metrics on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from polyfact.evaluate.metrics import (
    agreement,
    correctness_matrix,
    paired_bootstrap,
    rankc,
    rankc_floor,
    rankc_pair,
    rankc_weights,
    ranking,
    rescale_rankc,
    totcons,
)


def test_rankc_identical_is_one_and_reverse_is_the_n4_floor() -> None:
    assert rankc_pair(list("ABCD"), list("ABCD")) == pytest.approx(1.0)
    assert rankc_floor(4) == pytest.approx(0.0902, abs=5e-5)
    assert rescale_rankc(rankc_floor(4), 4) == pytest.approx(0.0)
    assert rescale_rankc(1.0, 4) == pytest.approx(1.0)


def test_rankc_mixed_case_by_hand() -> None:
    # a = A B C D, b = B A D C: top1 {A}∩{B}=0; top2 2/2; top3 {A,B,C}∩{B,A,D}=2 -> 2/3; top4 1
    w = rankc_weights(4)
    expected = w[1] * 1 + w[2] * 2 / 3 + w[3] * 1
    assert rankc_pair(list("ABCD"), list("BADC")) == pytest.approx(expected)
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(np.e**3 / (np.e**3 + np.e**2 + np.e + 1))
    with pytest.raises(ValueError, match="different entities"):
        rankc_pair(list("ABCD"), list("ABCE"))


def test_ranking_aligns_by_entity_not_letter() -> None:
    assert ranking(["Q1", "Q2", "Q3", "Q4"], [0.1, 0.9, 0.5, 0.2]) == ["Q2", "Q3", "Q4", "Q1"]


def test_rankc_and_agreement_over_facts() -> None:
    rankings = {
        "f1": {"en": list("ABCD"), "de": list("ABCD"), "bn": list("DCBA")},
        "f2": {"en": list("ABCD"), "de": list("BADC"), "bn": list("ABCD")},
    }
    out = rankc(rankings, ["en", "de", "bn"])
    pair = {("en", "de"): (1 + rankc_pair(list("ABCD"), list("BADC"))) / 2, ("en", "bn"): (rankc_floor(4) + 1) / 2}
    pair[("de", "bn")] = (rankc_floor(4) + rankc_pair(list("BADC"), list("ABCD"))) / 2
    assert out["all_pairs"] == pytest.approx(np.mean(list(pair.values())))
    assert out["en_x"] == pytest.approx((pair[("en", "de")] + pair[("en", "bn")]) / 2)
    # top-1 agreement: en-de 1/2, en-bn 1/2, de-bn 0/2
    assert agreement(rankings, ["en", "de", "bn"]) == pytest.approx((0.5 + 0.5 + 0.0) / 3)


def test_totcons_histogram() -> None:
    correct = {"f1": {"en": True, "de": True}, "f2": {"en": True, "de": False}, "f3": {"en": False, "de": False}}
    out = totcons(correctness_matrix(correct, ["en", "de"]))
    assert out["totcons"] == pytest.approx(1 / 3)
    assert out["histogram"] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert out["mean_correct"] == pytest.approx(1.0)


def test_paired_bootstrap_is_seeded_and_detects_a_difference() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((200, 3)) < 0.4
    b = a | (rng.random((200, 3)) < 0.5)
    acc = lambda m: float(m.mean())  # noqa: E731
    first = paired_bootstrap(acc, a, b, resamples=2000, seed=5)
    assert first == paired_bootstrap(acc, a, b, resamples=2000, seed=5)
    assert first["ci_low"] > 0 and first["p_value"] < 0.01
    same = paired_bootstrap(acc, a, a.copy(), resamples=500, seed=5)
    assert same["difference"] == 0 and same["p_value"] == 1.0
