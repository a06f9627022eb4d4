"""Cross-lingual metrics on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from polyfact.evaluate.metrics import (
    agreement_matrix,
    fact_table,
    language_pairs,
    paired_bootstrap,
    rankc_floor,
    rankc_matrix,
    rankc_pair,
    rankc_weights,
    ranking,
    rescale_rankc,
    totcons,
)
from polyfact.evaluate.summary import language_groups, per_fact_metrics, summarise


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


def predictions(rankings: dict[str, dict[str, list[str]]], gold: str = "A") -> list[dict]:
    """Prediction rows as `evaluate.mcq.predict` writes them (correct = top entity is gold)."""
    return [
        {"fact_id": f, "language": lang, "ranking": r, "correct": r[0] == gold, "property_id": "P30"}
        for f, per_lang in rankings.items()
        for lang, r in per_lang.items()
    ]


RANKINGS = {
    "f1": {"en": list("ABCD"), "de": list("ABCD"), "bn": list("DCBA")},
    "f2": {"en": list("ABCD"), "de": list("BADC"), "bn": list("ABCD")},
}


def test_rankc_and_agreement_over_facts() -> None:
    langs = ["en", "de", "bn"]
    table = fact_table(predictions(RANKINGS), langs)
    pairs = language_pairs(langs)
    pair = {("en", "de"): (1 + rankc_pair(list("ABCD"), list("BADC"))) / 2, ("en", "bn"): (rankc_floor(4) + 1) / 2}
    pair[("de", "bn")] = (rankc_floor(4) + rankc_pair(list("BADC"), list("ABCD"))) / 2
    assert rankc_matrix(table, pairs).mean(axis=0) == pytest.approx([pair[p] for p in pairs])
    summary = summarise(predictions(RANKINGS), langs, low_resource=["bn"], seen=["en", "de"])
    assert summary["rankc"]["all_pairs"] == pytest.approx(np.mean(list(pair.values())))
    assert summary["rankc"]["en_x"] == pytest.approx((pair[("en", "de")] + pair[("en", "bn")]) / 2)
    assert summary["rankc"]["all_pairs_rescaled"] == pytest.approx(rescale_rankc(summary["rankc"]["all_pairs"], 4))
    # top-1 agreement: en-de 1/2, en-bn 1/2, de-bn 0/2
    assert agreement_matrix(table, pairs).mean(axis=0) == pytest.approx([0.5, 0.5, 0.0])
    assert summary["agreement"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    # accuracy (gold A): en 2/2, de 1/2, bn 1/2; TotCons: only f2 is right everywhere... f2 de is B -> none
    assert summary["accuracy"] == {"en": 1.0, "de": 0.5, "bn": 0.5}
    assert summary["accuracy_high"] == pytest.approx(0.75) and summary["accuracy_low"] == pytest.approx(0.5)
    assert summary["groups"]["unseen"]["languages"] == ["bn"]
    assert summary["groups"]["unseen"]["agreement_en_x"] == pytest.approx(0.5)
    assert summary["totcons"] == 0.0 and summary["totcons_histogram"] == pytest.approx([0, 0, 1, 0])
    assert summary["accuracy_by_relation"]["P30"]["de"] == 0.5
    assert summary["facts"] == {"complete": 2, "incomplete": 0, "aligned": 2, "partially_aligned": 0}


def test_pairs_with_an_unaligned_language_and_incomplete_facts_are_left_out() -> None:
    """f1's English options are not aligned: its en–de and en–bn pairs are undefined, de–bn
    still counts; f3 lacks two languages and only counts for accuracy."""
    rows = predictions(RANKINGS)
    rows[0]["ranking"] = None  # f1/en
    rows.append({"fact_id": "f3", "language": "en", "ranking": list("ABCD"), "correct": True})  # en only
    summary = summarise(rows, ["en", "de", "bn"])
    assert summary["facts"] == {"complete": 2, "incomplete": 1, "aligned": 1, "partially_aligned": 1}
    f1 = rankc_floor(4)  # de ABCD vs bn DCBA
    f2 = np.mean([rankc_pair(list("ABCD"), list("BADC")), 1.0, rankc_pair(list("BADC"), list("ABCD"))])
    assert summary["rankc"]["all_pairs"] == pytest.approx((f1 + f2) / 2)
    assert summary["rankc"]["per_pair"]["en-de"] == pytest.approx(rankc_pair(list("ABCD"), list("BADC")))  # f2 only
    assert summary["rankc"]["en_x"] == pytest.approx(np.mean([rankc_pair(list("ABCD"), list("BADC")), 1.0]))
    assert summary["accuracy"]["en"] == 1.0  # accuracy counts every row, f3 included
    rows = [dict(r, ranking=None) for r in predictions(RANKINGS)]
    assert summarise(rows, ["en", "de", "bn"])["rankc"]["all_pairs"] is None  # nothing aligned: undefined


def test_rankc_rescaled_per_fact_for_varying_candidate_counts() -> None:
    rows = predictions({"f1": {"en": list("ABC"), "de": list("CBA")}, "f2": {"en": list("ABCDE"), "de": list("ABCDE")}})
    table = fact_table(rows, ["en", "de"])
    assert rankc_matrix(table, [("en", "de")], rescaled=True)[:, 0] == pytest.approx([0.0, 1.0])


def test_totcons_histogram() -> None:
    correct = np.array([[True, True], [True, False], [False, False]])
    out = totcons(correct)
    assert out["totcons"] == pytest.approx(1 / 3)
    assert out["histogram"] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert out["mean_correct"] == pytest.approx(1.0)


def test_per_fact_metrics_average_to_the_summary() -> None:
    rng = np.random.default_rng(0)
    langs = ["en", "de", "bn", "sw"]
    rows = [
        {"fact_id": f"f{k}", "language": lang, "ranking": list(rng.permutation(list("ABCD"))), "correct": None}
        for k in range(30)
        for lang in langs
    ]
    for r in rows:
        r["correct"] = r["ranking"][0] == "A"
    summary = summarise(rows, langs, low_resource=["bn", "sw"], seen=["en", "de"])
    values = per_fact_metrics(fact_table(rows, langs), language_groups(langs, ["bn", "sw"], ["en", "de"]))
    assert values["accuracy"].mean() == pytest.approx(summary["accuracy_mean"])
    assert values["accuracy_low"].mean() == pytest.approx(summary["accuracy_low"])
    assert values["accuracy_non_en"].mean() == pytest.approx(summary["accuracy_non_en_mean"])
    assert values["accuracy_unseen"].mean() == pytest.approx(summary["groups"]["unseen"]["accuracy"])
    assert values["totcons"].mean() == pytest.approx(summary["totcons"])
    assert values["rankc"].mean() == pytest.approx(summary["rankc"]["all_pairs"])
    assert values["rankc_en_x"].mean() == pytest.approx(summary["rankc"]["en_x"])
    assert values["agreement"].mean() == pytest.approx(summary["agreement"])


def test_paired_bootstrap_is_seeded_and_detects_a_difference() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random(200) < 0.4).astype(float)
    b = np.maximum(a, (rng.random(200) < 0.5).astype(float))
    first = paired_bootstrap(a, b, resamples=2000, seed=5)
    assert first == paired_bootstrap(a, b, resamples=2000, seed=5)
    assert first["ci_low"] > 0 and first["p_value"] < 0.01 and first["facts"] == 200
    assert first["difference"] == pytest.approx(b.mean() - a.mean())
    same = paired_bootstrap(a, a.copy(), resamples=500, seed=5)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_paired_bootstrap_ignores_undefined_facts_and_checks_pairing() -> None:
    a = np.array([0.0, 1.0, np.nan, 0.0])
    b = np.array([1.0, 1.0, np.nan, 1.0])
    out = paired_bootstrap(a, b, resamples=300, seed=0)
    assert out["facts"] == 3 and out["difference"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same facts"):
        paired_bootstrap(a, b[:3])
    with pytest.raises(ValueError, match="no fact"):
        paired_bootstrap(np.array([np.nan]), np.array([1.0]))


def test_paired_bootstrap_matches_a_direct_resampling_loop() -> None:
    """The chunked, vectorised resampling draws exactly what a plain loop over the same
    generator draws: chunking changes memory, not results."""
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    out = paired_bootstrap(a, b, resamples=1200, seed=9)
    gen = np.random.default_rng(9)
    diff = b - a
    means = []
    for size in (500, 500, 200):
        idx = gen.integers(0, 50, size=(size, 50))
        means += [diff[row].mean() for row in idx]
    assert out["ci_low"] == pytest.approx(np.percentile(means, 2.5))
    assert out["ci_high"] == pytest.approx(np.percentile(means, 97.5))
    assert out["ci_low"] != paired_bootstrap(a, b, resamples=1200, seed=10)["ci_low"]
