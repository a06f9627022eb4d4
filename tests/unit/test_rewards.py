"""GRPO reward rules (§7): resolution of free-text answers, rewards, bonus shapes, pooling."""

from __future__ import annotations

import pytest
from polyfact.train.rewards import (
    Outcome,
    RewardSpec,
    completion_reward,
    consistency_bonus,
    judge,
    normalize_answer,
    resolve,
    rollout_rewards,
)

CONTINENTS = ["Asia", "Europe", "Africa", "South America"]
GUINEAS = ["Guinea", "Guinea-Bissau", "Equatorial Guinea", "Ghana"]
BN = ["এশিয়া", "ইউরোপ", "আফ্রিকা", "দক্ষিণ আমেরিকা"]
ZH = ["亚洲", "欧洲", "非洲", "南美洲"]
JA = ["アジア", "ヨーロッパ", "アフリカ", "南アメリカ"]
DE = ["Niger", "Nigeria", "Mali", "Tschad"]

CASES = [
    # (completion, options, gold, expected outcome)
    ("Europe", CONTINENTS, 1, Outcome.CORRECT),
    (" europe", CONTINENTS, 1, Outcome.CORRECT),
    ("EUROPE.", CONTINENTS, 1, Outcome.CORRECT),
    ("  «Europe»!  ", CONTINENTS, 1, Outcome.CORRECT),
    ("south   america", CONTINENTS, 3, Outcome.CORRECT),
    ("The answer is Europe.", CONTINENTS, 1, Outcome.CORRECT),
    ("→ Europe", CONTINENTS, 1, Outcome.CORRECT),
    ("B) Europe", CONTINENTS, 1, Outcome.CORRECT),
    ("Asia", CONTINENTS, 1, Outcome.WRONG),
    ("It is in Africa", CONTINENTS, 1, Outcome.WRONG),
    ("Europe or Asia", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("Eurasia", CONTINENTS, 1, Outcome.UNPARSEABLE),  # no word-boundary match
    ("South", CONTINENTS, 3, Outcome.UNPARSEABLE),  # truncated answer is not containment
    ("B", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("B.", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("(b)", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("b)", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("D:", ["A", "B", "C", "D"], 3, Outcome.UNPARSEABLE),  # a letter is never an answer
    ("", CONTINENTS, 1, Outcome.EMPTY),
    ("   \n\t ", CONTINENTS, 1, Outcome.EMPTY),
    ("...", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("Europe\nAsia\nAfrica", CONTINENTS, 1, Outcome.CORRECT),  # only the first line counts
    ("Asia\nEurope", CONTINENTS, 1, Outcome.WRONG),
    ("\nEurope\nAsia", CONTINENTS, 1, Outcome.CORRECT),  # leading blank lines skipped
    ("I think\nEurope", CONTINENTS, 1, Outcome.UNPARSEABLE),
    ("Guinea-Bissau", GUINEAS, 1, Outcome.CORRECT),
    ("It is Guinea-Bissau.", GUINEAS, 1, Outcome.CORRECT),  # maximal match only
    ("Equatorial Guinea, of course", GUINEAS, 2, Outcome.CORRECT),
    ("Guinea", GUINEAS, 0, Outcome.CORRECT),
    ("Guinea or Guinea-Bissau", GUINEAS, 0, Outcome.UNPARSEABLE),
    ("Nigeria liegt in Afrika", DE, 1, Outcome.CORRECT),  # Niger not at a word boundary
    ("ইউরোপ", BN, 1, Outcome.CORRECT),
    ("উত্তর: ইউরোপ।", BN, 1, Outcome.CORRECT),  # danda stripped, containment
    ("Iurop", BN, 1, Outcome.UNPARSEABLE),  # Latin transliteration of a Bengali option
    ("Europe", BN, 1, Outcome.UNPARSEABLE),  # another language's label
    ("欧洲", ZH, 1, Outcome.CORRECT),
    ("答案是欧洲。", ZH, 1, Outcome.CORRECT),  # CJK containment without spaces
    ("在亚洲或欧洲", ZH, 1, Outcome.UNPARSEABLE),
    ("非洲", ZH, 1, Outcome.WRONG),
    ("答えはヨーロッパです", JA, 1, Outcome.CORRECT),
]


@pytest.mark.parametrize(("completion", "options", "gold", "expected"), CASES)
def test_judge_table(completion: str, options: list[str], gold: int, expected: Outcome) -> None:
    assert judge(completion, options, gold) is expected


def test_normalize_answer() -> None:
    assert normalize_answer("  The  Answer:\tEurope!!  \nsecond") == "the answer: europe"
    assert normalize_answer("Straße") == "strasse"  # casefold, not lower
    assert normalize_answer("e\u0301") == normalize_answer("\u00e9")  # NFC
    assert normalize_answer("\n\n") == ""


def test_resolve_returns_index_and_empty_flag() -> None:
    assert resolve("The answer is Africa", CONTINENTS).index == 2
    assert resolve("Mars", CONTINENTS).index is None and not resolve("Mars", CONTINENTS).empty
    assert resolve(" ", CONTINENTS).empty


def test_completion_reward_defaults_and_custom() -> None:
    assert [completion_reward(o) for o in Outcome] == [1.0, 0.0, -0.5, -1.0]
    spec = RewardSpec(correct=2.0, unparseable=-0.25)
    assert completion_reward(Outcome.CORRECT, spec) == 2.0
    assert completion_reward(Outcome.UNPARSEABLE, spec) == -0.25


def test_bonus_all_or_nothing() -> None:
    spec = RewardSpec(bonus=1.0, bonus_shape="all_or_nothing")
    assert [consistency_bonus(k, 4, spec) for k in range(5)] == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_bonus_ladder_is_monotone_and_quadratic() -> None:
    spec = RewardSpec(bonus=2.0, bonus_shape="ladder")
    values = [consistency_bonus(k, 4, spec) for k in range(5)]
    assert values == pytest.approx([0.0, 0.125, 0.5, 1.125, 2.0])
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


def test_bonus_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        consistency_bonus(3, 2)
    with pytest.raises(ValueError):
        consistency_bonus(0, 0)


def test_spec_validates_choices() -> None:
    with pytest.raises(ValueError):
        RewardSpec(bonus_shape="linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RewardSpec(pooling="batch")  # type: ignore[arg-type]


def test_pooling_fact_shares_the_sum() -> None:
    outcomes = [Outcome.CORRECT, Outcome.WRONG, Outcome.EMPTY]
    assert rollout_rewards(outcomes, RewardSpec(pooling="fact")) == [0.0, 0.0, 0.0]
    all_correct = [Outcome.CORRECT] * 3
    assert rollout_rewards(all_correct, RewardSpec(pooling="fact")) == [4.0, 4.0, 4.0]


def test_pooling_per_lang_adds_bonus_to_own_reward() -> None:
    outcomes = [Outcome.CORRECT, Outcome.UNPARSEABLE]
    assert rollout_rewards(outcomes, RewardSpec(pooling="per_lang")) == [1.0, -0.5]
    assert rollout_rewards([Outcome.CORRECT] * 2, RewardSpec(pooling="per_lang")) == [2.0, 2.0]
    ladder = RewardSpec(pooling="per_lang", bonus_shape="ladder")
    assert rollout_rewards(outcomes, ladder) == pytest.approx([1.25, -0.25])


# Letter answers: (completion, options, gold, outcome under unparseable / credit / prefix).
LETTER_CASES = [
    ("B", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ("B.", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ("(B)", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ("B)", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    (" b\n", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ('"C"', CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.WRONG, Outcome.WRONG)),
    ("Answer text: B", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ("answer: D.", CONTINENTS, 3, (Outcome.UNPARSEABLE, Outcome.CORRECT, Outcome.CORRECT)),
    ("E", CONTINENTS, 1, (Outcome.UNPARSEABLE, Outcome.UNPARSEABLE, Outcome.UNPARSEABLE)),  # no option E
    ("B) Europe", CONTINENTS, 1, (Outcome.CORRECT, Outcome.CORRECT, Outcome.CORRECT)),
    ("A. Europe", CONTINENTS, 1, (Outcome.CORRECT, Outcome.CORRECT, Outcome.WRONG)),  # prefix: the letter decides
    (
        "a city in Europe",
        CONTINENTS,
        1,
        (Outcome.CORRECT, Outcome.CORRECT, Outcome.WRONG),
    ),  # the paper's false positive
    ("Europe", CONTINENTS, 1, (Outcome.CORRECT, Outcome.CORRECT, Outcome.CORRECT)),
    ("D:", ["A", "B", "C", "D"], 0, (Outcome.UNPARSEABLE, Outcome.WRONG, Outcome.WRONG)),  # exact text first
    ("", CONTINENTS, 1, (Outcome.EMPTY, Outcome.EMPTY, Outcome.EMPTY)),
]


@pytest.mark.parametrize(("completion", "options", "gold", "expected"), LETTER_CASES)
def test_bare_letter_rules(
    completion: str, options: list[str], gold: int, expected: tuple[Outcome, Outcome, Outcome]
) -> None:
    got = tuple(judge(completion, options, gold, rule) for rule in ("unparseable", "credit", "prefix"))
    assert got == expected


def test_bare_letter_credit_resolves_to_the_option_index() -> None:
    assert resolve("C.", CONTINENTS, "credit").index == 2
    assert resolve("C.", CONTINENTS).index is None  # default unchanged
    assert resolve("(d)", BN, "credit").index == 3  # letters stay Latin in every language


def test_bare_letter_rejects_unknown_rule() -> None:
    with pytest.raises(ValueError, match="bare_letter"):
        RewardSpec(bare_letter="letters")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bare_letter"):
        resolve("B", CONTINENTS, "letters")  # type: ignore[arg-type]


def test_empty_completion_reward_is_configurable() -> None:
    assert completion_reward(Outcome.EMPTY) == -1.0  # later protocol (default)
    paper = RewardSpec(empty=0.0, bare_letter="credit")
    assert completion_reward(Outcome.EMPTY, paper) == 0.0
    outcomes = [judge(t, CONTINENTS, 1, paper.bare_letter) for t in ("", "B", "Mars")]
    assert outcomes == [Outcome.EMPTY, Outcome.CORRECT, Outcome.UNPARSEABLE]
    assert rollout_rewards(outcomes, paper) == [0.5, 0.5, 0.5]  # 0 + 1 − 0.5, no bonus
    later = [judge(t, CONTINENTS, 1) for t in ("", "B", "Mars")]
    assert rollout_rewards(later, RewardSpec()) == [-2.0, -2.0, -2.0]  # −1 − 0.5 − 0.5
