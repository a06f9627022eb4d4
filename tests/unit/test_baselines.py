"""Model-free baselines on hand-built rows."""

from __future__ import annotations

import pytest
from polyfact.dataset.baselines import baselines, gold_frequencies, length_accuracy, position_balance, prior_accuracy


def row(options: list[str], ids: list[str], gold: int, pid: str = "P30") -> dict:
    return {
        **{f"option_{c}": o for c, o in zip("abcd", options, strict=True)},
        "option_ids": ids,
        "answer_index": gold,
        "property_id": pid,
        "object_id": ids[gold],
    }


def test_prior_picks_most_frequent_train_gold_with_fractional_ties() -> None:
    train = [row(["a", "b", "c", "d"], ["A", "B", "C", "D"], 0)] * 3 + [
        row(["a", "b", "c", "d"], ["A", "B", "C", "D"], 1)
    ]
    freq = gold_frequencies(train)
    assert freq["P30"]["A"] == 3
    test = [row(["a", "b", "c", "d"], ["B", "A", "C", "D"], 1), row(["x", "y", "z", "w"], ["X", "Y", "Z", "W"], 2)]
    # first row: A (freq 3) is at index 1 = gold -> 1; second: all zero -> 1/4 credit
    assert prior_accuracy(test, freq) == pytest.approx((1 + 0.25) / 2)


def test_length_baselines() -> None:
    rows = [row(["aaaa", "b", "cc", "ddd"], ["A", "B", "C", "D"], 0), row(["aa", "bb", "c", "dd"], list("ABCD"), 2)]
    assert length_accuracy(rows, longest=True) == pytest.approx((1 + 0) / 2)
    assert length_accuracy(rows, longest=False) == pytest.approx((0 + 1) / 2)


def test_position_balance_and_summary() -> None:
    rows = [row(list("abcd"), list("ABCD"), k % 4) for k in range(8)]
    assert position_balance(rows) == {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    out = baselines({"en": rows}, {"en": rows})
    assert out["per_language"]["en"]["chance"] == 0.25
    assert out["mean"]["most_common_position"] == 0.25
