"""Dataset construction: each quality filter on a fixture item of its defect class, options,
splits and determinism."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from polyfact.cli import build_parser
from polyfact.dataset import filters
from polyfact.dataset.build import build_dataset, write_dataset
from polyfact.dataset.items import Item, items_from_facts
from polyfact.dataset.matching import mentions
from polyfact.dataset.options import (
    DISTRACTOR_MODES,
    build_pools,
    candidate_tiers,
    choose_distractors,
    choose_uniform_same_type,
    shuffle_options,
)
from polyfact.dataset.report import data_report, render_markdown
from polyfact.dataset.splits import SPLITS, assign_splits, stratified_sizes
from polyfact.errors import PolyfactError
from polyfact.facts import Fact, facts_frame, filter_min_label_langs, read_facts, write_facts
from polyfact.relations import ORIGINAL_RELATIONS, PAPER_RELATIONS, RELATIONS

LANGS = ["en", "de", "ru", "zh", "bn"]
TEMPLATES = {
    "en": {"P30": ["On which continent is {subject}?"], "P17": ["In which country is {subject}?"]},
    "de": {"P30": ["Auf welchem Kontinent liegt {subject}?"], "P17": ["In welchem Land liegt {subject}?"]},
    "ru": {"P30": ["На каком континенте находится {subject}?"], "P17": ["В какой стране находится {subject}?"]},
    "zh": {"P30": ["{subject}位于哪个大洲？"], "P17": ["{subject}位于哪个国家？"]},
    "bn": {"P30": ["{subject} কোন মহাদেশে অবস্থিত?"], "P17": ["{subject} কোন দেশে অবস্থিত?"]},
}
CONTINENTS = {
    "EU": {"en": "Europe", "de": "Europa", "ru": "Европа", "zh": "欧洲", "bn": "ইউরোপ"},
    "AS": {"en": "Asia", "de": "Asien", "ru": "Азия", "zh": "亚洲", "bn": "এশিয়া"},
    "AF": {"en": "Africa", "de": "Afrika", "ru": "Африка", "zh": "非洲", "bn": "আফ্রিকা"},
    "OC": {"en": "Oceania", "de": "Ozeanien", "ru": "Океания", "zh": "大洋洲", "bn": "ওশেনিয়া"},
    "NA": {"en": "North America", "de": "Nordamerika", "ru": "Северная Америка", "zh": "北美洲", "bn": "উত্তর আমেরিকা"},
}


def synthetic_countries(n: int) -> list[Fact]:
    """n distinct 'countries' spread over the five continents, labels native in each script."""
    bn_digits = "০১২৩৪৫৬৭৮৯"
    facts = []
    for k in range(n):
        cont = list(CONTINENTS)[k % len(CONTINENTS)]
        names = {
            "en": f"Landia {k}",
            "de": f"Landien {k}",
            "ru": f"Страна {k}",
            "zh": f"国家{k}",
            "bn": "দেশ " + "".join(bn_digits[int(d)] for d in str(k)),
        }
        facts.append(Fact(f"t:{k:03d}", "P30", f"c:{cont}", names, CONTINENTS[cont]))
    return facts


def build(facts: list[Fact], **kw):
    df = facts_frame(facts, LANGS)
    args = dict(fractions={"train": 0.8, "val": 0.1, "test": 0.1}, max_answer_share=0.4, seed=7)
    args.update(kw)
    return build_dataset(df, TEMPLATES, LANGS, ["P30", "P17"], **args)


def removed(result) -> dict[str, int]:
    return {r["filter"]: r["facts"] for r in result.stats["removed"]}


def item(subject: dict[str, str], obj: dict[str, str], question: dict[str, str] | None = None) -> Item:
    return Item("s|P30|o", "s", "P30", "o", subject, obj, question or {})


# --- matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "lang", "expected"),
    [
        ("In which country is Luxembourg?", "Luxembourg", "en", True),
        ("In which country is Luxembourgish spoken?", "Luxembourg", "en", False),  # word boundary
        ("Was ist die Amtssprache von Deutschland?", "Deutsch", "de", False),
        ("卢森堡位于哪个国家？", "卢森堡", "zh", True),  # CJK: substring
        ("日本の公用語は何ですか？", "日", "ja", True),  # CJK: no length floor
        ("ঢাকা কোন দেশে অবস্থিত?", "ঢাকা", "bn", True),
        ("Where is MEXICO City?", "mexico", "en", True),  # casefold
    ],
)
def test_mentions(text: str, label: str, lang: str, expected: bool) -> None:
    assert mentions(text, label, lang) is expected


# --- one fixture item per defect class -------------------------------------------------


def test_filter_missing_labels() -> None:
    ok = item({"en": "France", "de": "Frankreich"}, {"en": "Europe", "de": "Europa"})
    bad = item({"en": "France", "de": None}, {"en": "Europe", "de": "Europa"})  # type: ignore[dict-item]
    assert not filters.missing_labels(ok, ["en", "de"])
    assert filters.missing_labels(bad, ["en", "de"])


def test_filter_foreign_script() -> None:
    latin_in_bengali = item({"bn": "ঢাকা"}, {"bn": "Bangladesh"})
    native = item({"bn": "ঢাকা"}, {"bn": "বাংলাদেশ"})
    kana = item({"ja": "東京"}, {"ja": "コートジボワール"})  # ー is kana, not foreign
    assert filters.foreign_script(latin_in_bengali, ["bn"])
    assert not filters.foreign_script(native, ["bn"])
    assert not filters.foreign_script(kana, ["ja"])
    assert filters.foreign_script(item({"ru": "Paris"}, {"ru": "Франция"}), ["ru"])


def test_filter_subject_not_mentioned() -> None:
    lost = item({"en": "Paris"}, {"en": "France"}, {"en": "In which country is it?"})
    kept = item({"en": "Paris"}, {"en": "France"}, {"en": "In which country is Paris?"})
    assert filters.subject_not_mentioned(lost, ["en"])
    assert not filters.subject_not_mentioned(kept, ["en"])


def test_filter_answer_leakage() -> None:
    leak = item({"en": "Luxembourg"}, {"en": "Luxembourg"}, {"en": "In which country is Luxembourg?"})
    leak_zh = item({"zh": "墨西哥城"}, {"zh": "墨西哥"}, {"zh": "墨西哥城位于哪个国家？"})
    fine = item({"en": "Paris"}, {"en": "France"}, {"en": "In which country is Paris?"})
    assert filters.answer_leakage(leak, ["en"])
    assert filters.answer_leakage(leak_zh, ["zh"])
    assert not filters.answer_leakage(fine, ["en"])


def test_filter_ambiguous_and_duplicate_questions() -> None:
    a = Item("a|P17|X", "a", "P17", "X", {"en": "Springfield"}, {"en": "X"})
    b = Item("b|P17|Y", "b", "P17", "Y", {"en": "springfield"}, {"en": "Y"})  # same question, other gold
    c = Item("c|P17|Z", "c", "P17", "Z", {"en": "Halle"}, {"en": "Z"})
    d = Item("d|P17|Z", "d", "P17", "Z", {"en": "Halle"}, {"en": "Z"})  # same question, same gold
    e = Item("e|P30|Z", "e", "P30", "W", {"en": "Springfield"}, {"en": "W"})  # other relation: fine
    ambiguous, duplicate = filters.ambiguous([a, b, c, d, e], ["en"])
    assert ambiguous == {"a|P17|X", "b|P17|Y"}
    assert duplicate == {"d|P17|Z"}


def test_answer_caps_reach_fixed_point() -> None:
    caps = filters.answer_caps(Counter({"latn": 60, "cyrl": 10, "arab": 10, "deva": 10}), 0.4)
    total = sum(caps.values())
    assert all(n <= 0.4 * total for n in caps.values())
    assert caps["cyrl"] == caps["arab"] == caps["deva"] == 10
    assert caps["latn"] == 20  # 20 / 50 = 0.4
    assert filters.answer_caps(Counter({"a": 5, "b": 5}), 0.4) == {"a": 0, "b": 0}


def test_filter_over_represented() -> None:
    items = [Item(f"s{k}|P30|EU", f"s{k}", "P30", "EU", {}, {}) for k in range(8)]
    items += [Item(f"t{k}|P30|{o}", f"t{k}", "P30", o, {}, {}) for k, o in enumerate(["AS", "AF", "OC"])]
    gone = filters.over_represented(items, 0.4, seed=1)
    assert len(gone) == 6  # EU keeps 2 of 8: 2/5 = 0.4
    assert gone == filters.over_represented(items, 0.4, seed=1)


def test_build_counts_each_filter() -> None:
    facts = synthetic_countries(30)
    facts.append(Fact("t:missing", "P30", "c:EU", {"en": "Nolabel"}, CONTINENTS["EU"]))
    facts.append(
        Fact(
            "t:latin",
            "P30",
            "c:AS",
            {"en": "Latinia", "de": "Latinia", "ru": "Latinia", "zh": "拉丁", "bn": "লাতিন"},
            CONTINENTS["AS"],
        )
    )
    leak = {"en": "Europe", "de": "Europa", "ru": "Европа", "zh": "欧洲", "bn": "ইউরোপ"}
    facts.append(Fact("t:leak", "P30", "c:EU", leak, CONTINENTS["EU"]))
    twin = {"en": "Landia 1", "de": "Landien 1", "ru": "Страна 1", "zh": "国家1", "bn": "দেশ ১"}
    facts.append(Fact("t:twin", "P30", "c:OC", twin, CONTINENTS["OC"]))  # same name as t:001, other continent
    result = build(facts)
    counts = removed(result)
    assert counts["missing_labels"] == 1
    assert counts["foreign_script"] == 1
    assert counts["answer_leakage"] == 1
    assert counts["ambiguous"] == 2
    assert counts["subject_not_mentioned"] == 0
    assert result.stats["facts_out"] == 29
    assert list(counts) == [
        "missing_labels",
        "foreign_script",
        "subject_not_mentioned",
        "answer_leakage",
        "ambiguous",
        "duplicate_question",
        "over_represented",
        "duplicate_options",
    ]


def test_duplicate_options_when_pool_lacks_distinct_labels() -> None:
    same = {"en": "Same", "de": "Same", "ru": "Тот", "zh": "同", "bn": "এক"}
    facts = [Fact(f"t:{k}", "P30", f"c:{k}", {**synthetic_countries(5)[k].subject_labels}, same) for k in range(5)]
    result = build(facts, max_answer_share=1.0)
    assert removed(result)["duplicate_options"] == 5


# --- options ----------------------------------------------------------------------------


def test_options_distinct_in_every_language_and_parallel() -> None:
    result = build(synthetic_countries(40))
    for split in SPLITS:
        by_fact: dict[str, list[dict]] = {}
        for lang in LANGS:
            for row in result.records[split][lang]:
                by_fact.setdefault(row["fact_id"], []).append(row)
                options = [row[f"option_{c}"] for c in "abcd"]
                assert len(set(options)) == 4
                assert row["option_ids"][row["answer_index"]] == row["object_id"]
                assert options[row["answer_index"]] == row["answer_text"]
                assert isinstance(row["answer_index"], int)
                assert row["subject_id"] not in row["option_ids"]
                assert not any(mentions(row["question"], o, lang) for o in options)
        for rows in by_fact.values():
            assert len(rows) == len(LANGS)
            assert len({frozenset(r["option_ids"]) for r in rows}) == 1  # same four entities


def test_shuffle_is_independent_per_language() -> None:
    it = Item("f", "s", "P30", "A", {}, {})
    orders = shuffle_options(it, ["B", "C", "D"], [f"l{k}" for k in range(12)], seed=3)
    assert len({tuple(v) for v in orders.values()}) > 1


def test_distractors_weighted_and_never_subject() -> None:
    items = [Item(f"f{k}", "s", "P30", o, {"en": "x"}, {"en": o}, {"en": "q?"}) for k, o in enumerate("AABBBCDE")]
    items.append(Item("fs", "E", "P30", "A", {"en": "e"}, {"en": "A"}, {"en": "q?"}))
    pools = build_pools(items)
    picked = choose_distractors(items[-1], pools["P30"], ["en"], seed=1)
    assert picked is not None and "E" not in picked and "A" not in picked and len(set(picked)) == 3


# --- splits ----------------------------------------------------------------------------


def test_split_sizes_sum_and_round() -> None:
    for n in range(0, 50):
        sizes = stratified_sizes({"P1": n}, {"train": 0.8, "val": 0.1, "test": 0.1})["P1"]
        assert sum(sizes.values()) == n
    assert stratified_sizes({"P1": 10}, {"train": 0.8, "val": 0.1, "test": 0.1}) == {
        "P1": {"train": 8, "val": 1, "test": 1}
    }


def test_splits_stratified_parallel_and_disjoint() -> None:
    result = build(synthetic_countries(100))
    fact_sets = {}
    for split in SPLITS:
        sets = [frozenset(r["fact_id"] for r in result.records[split][lang]) for lang in LANGS]
        assert len(set(sets)) == 1, "identical fact sets in every language"
        assert len(sets[0]) == len(result.records[split]["en"]), "no duplicates"
        fact_sets[split] = sets[0]
    assert not (fact_sets["train"] & fact_sets["val"]) and not (fact_sets["train"] & fact_sets["test"])
    assert not (fact_sets["val"] & fact_sets["test"])
    assert assign_splits([("a", "P1"), ("b", "P1")], {"train": 0.5, "val": 0.0, "test": 0.5}, 1) == assign_splits(
        [("b", "P1"), ("a", "P1")], {"train": 0.5, "val": 0.0, "test": 0.5}, 1
    )


def test_record_schema() -> None:
    row = build(synthetic_countries(30)).records["train"]["de"][0]
    assert list(row) == [
        "fact_id",
        "language",
        "subject",
        "relation",
        "object",
        "question",
        "option_a",
        "option_b",
        "option_c",
        "option_d",
        "answer_text",
        "answer_index",
        "option_ids",
        "subject_id",
        "property_id",
        "object_id",
    ]
    assert row["language"] == "de" and row["relation"] == "continent"
    assert row["subject"].startswith("Landia")  # English labels in subject/object


def test_same_seed_same_bytes_other_seed_other_split(tmp_path) -> None:
    facts = synthetic_countries(60)
    for name in ("a", "b"):
        write_dataset(build(facts), tmp_path / name)
    write_dataset(build(facts, seed=8), tmp_path / "c")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert len(files) == len(SPLITS) * (len(LANGS) + 1)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "test" / "en.jsonl").read_bytes() != (tmp_path / "c" / "test" / "en.jsonl").read_bytes()
    stats = json.loads((tmp_path / "a" / "stats.json").read_text())
    assert sum(stats["per_split"].values()) == stats["facts_out"]


def test_relations_outside_config_are_ignored() -> None:
    df = facts_frame(synthetic_countries(20), LANGS)
    result = build_dataset(df, TEMPLATES, LANGS, ["P17"], {"train": 1.0, "val": 0.0, "test": 0.0}, 0.4, 1)
    assert result.stats["facts_in"] == 0
    assert isinstance(df, pd.DataFrame)


# --- the original PolyFact's options (DESIGN §11) ----------------------------------------


def typed_item(k: int, obj: str, types: frozenset[str], label: str | None = None) -> Item:
    return Item(
        f"s{k}|P136|{obj}",
        f"s{k}",
        "P136",
        obj,
        {"en": f"Work {k}"},
        {"en": label or obj},
        {"en": f"What is the genre of Work {k}?"},
        object_types=types,
    )


def test_uniform_same_type_draws_only_same_type_and_similar_length() -> None:
    music, film = frozenset({"Q188451"}), frozenset({"Q201658"})
    items = [typed_item(k, f"m{k}", music, f"Music genre {k}") for k in range(6)]
    items += [typed_item(10 + k, f"f{k}", film, f"Film genre {k}") for k in range(6)]
    items.append(typed_item(20, "long", music, "A music genre with a name far longer than the others"))
    pools = build_pools(items)
    tiers = dict(candidate_tiers("m0", pools["P136"], ["en"]))
    assert tiers["same_type"] == ["m1", "m2", "m3", "m4", "m5"]  # not the films, not the long label
    assert "long" not in tiers["length_similar"] and "f0" in tiers["length_similar"]
    assert "long" in tiers["relation"] and "m0" not in tiers["relation"]
    for seed in range(20):
        picked, tier = choose_uniform_same_type(items[0], pools["P136"], ["en"], seed)
        assert tier == "same_type" and picked is not None
        assert set(picked) <= {"m1", "m2", "m3", "m4", "m5"} and len(set(picked)) == 3
    assert choose_uniform_same_type(items[0], pools["P136"], ["en"], 3) == choose_uniform_same_type(
        items[0], pools["P136"], ["en"], 3
    )


def test_uniform_same_type_falls_back_without_types() -> None:
    items = [typed_item(k, f"o{k}", frozenset()) for k in range(6)]
    pools = build_pools(items)
    picked, tier = choose_uniform_same_type(items[0], pools["P136"], ["en"], 1)
    assert tier == "length_similar" and picked is not None and "o0" not in picked
    # a gold whose label length matches nothing: the whole relation pool
    items.append(typed_item(9, "odd", frozenset(), "An extraordinarily long genre label, forty-plus chars"))
    pools = build_pools(items)
    picked, tier = choose_uniform_same_type(items[-1], pools["P136"], ["en"], 1)
    assert tier == "relation" and picked is not None


def test_uniform_ignores_gold_frequency_unlike_frequency_mode() -> None:
    """One object is the gold of 40 facts: frequency mode offers it far more often."""
    t = frozenset({"Q1"})
    items = [typed_item(k, "hub", t) for k in range(40)]
    items += [typed_item(100 + k, f"o{k}", t) for k in range(9)]
    pools = build_pools(items)
    probes = [typed_item(200 + k, f"o{k % 9}", t) for k in range(300)]
    weighted = sum("hub" in (choose_distractors(p, pools["P136"], ["en"], 5) or []) for p in probes)
    uniform = sum("hub" in (choose_uniform_same_type(p, pools["P136"], ["en"], 5)[0] or []) for p in probes)
    assert weighted > 250  # hub holds 40 of 48 weight units
    assert 60 < uniform < 140  # 3 of 9 candidates: about a third


def test_build_with_uniform_same_type_counts_pools_and_no_cap() -> None:
    result = build(synthetic_countries(40), distractors="uniform_same_type", max_answer_share=None)
    tiers = result.stats["distractor_tiers"]
    assert sum(tiers.values()) == result.stats["facts_out"] == 40
    assert tiers["same_type"] == 0  # synthetic facts carry no types: every fact falls back
    assert result.stats["distractors"] == "uniform_same_type" and result.stats["max_answer_share"] is None
    assert removed(result)["over_represented"] == 0
    with pytest.raises(PolyfactError, match="distractors"):
        build(synthetic_countries(10), distractors="weighted")


def test_object_types_survive_the_parquet_round_trip(tmp_path) -> None:
    facts = synthetic_countries(3)
    facts[0].object_types = ("Q5107", "Q82794")
    write_facts(facts_frame(facts, LANGS), tmp_path / "facts.parquet")
    items = items_from_facts(read_facts(tmp_path / "facts.parquet"), LANGS)
    assert items[0].object_types == frozenset({"Q5107", "Q82794"}) and items[1].object_types == frozenset()


def test_no_cap_keeps_over_represented_answers() -> None:
    extra = synthetic_countries(70)[40:]  # 30 more countries with distinct names, all in Europe
    facts = synthetic_countries(40) + [
        Fact(f.subject_id, "P30", "c:EU", f.subject_labels, CONTINENTS["EU"]) for f in extra
    ]
    capped, uncapped = build(facts, max_answer_share=0.4), build(facts, max_answer_share=None)
    assert removed(capped)["over_represented"] > 0  # Europe: 38 of 70
    assert removed(uncapped)["over_represented"] == 0
    assert uncapped.stats["facts_out"] == 70 > capped.stats["facts_out"]


def test_share_or_none_parses_config_null() -> None:
    parser = build_parser()
    base = ["dataset", "build", "--facts", "f", "--templates", "t", "--languages", "en", "--relations", "P30"]
    args = parser.parse_args([*base, "--out-dir", "o", "--max-answer-share", "None"])
    assert args.max_answer_share is None and args.distractors == "frequency"
    args = parser.parse_args(
        [*base, "--out-dir", "o", "--max-answer-share", "0.4", "--distractors", "uniform_same_type"]
    )
    assert args.max_answer_share == 0.4 and args.distractors == "uniform_same_type"
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--out-dir", "o", "--max-answer-share", "1.5"])


# --- labels in fewer languages than evaluated (facts.min_label_langs) ---------------------


def test_min_label_langs_below_eval_languages_end_to_end(tmp_path) -> None:
    """Extraction keeps a fact labelled in 3 of 5 languages; the build drops it in all languages,
    counts it as missing_labels (and per language) and the data report says so."""
    facts = synthetic_countries(30)
    partial = {"en": "Partlandia", "de": "Teilland", "ru": "Частьландия"}
    facts.append(Fact("t:partial", "P30", "c:EU", partial, CONTINENTS["EU"]))
    df = filter_min_label_langs(facts_frame(facts, LANGS), LANGS, 3)
    assert "t:partial|P30|c:EU" in set(df["fact_id"])
    assert "t:partial|P30|c:EU" not in set(filter_min_label_langs(facts_frame(facts, LANGS), LANGS, 5)["fact_id"])
    result = build_dataset(df, TEMPLATES, LANGS, ["P30"], {"train": 0.8, "val": 0.1, "test": 0.1}, 0.4, 7)
    assert removed(result)["missing_labels"] == 1
    assert result.stats["missing_labels_per_language"] == {"en": 0, "de": 0, "ru": 0, "zh": 1, "bn": 1}
    for split in SPLITS:
        for lang in LANGS:
            assert all(r["subject_id"] != "t:partial" for r in result.records[split][lang])
    write_dataset(result, tmp_path / "polyfact")
    md = render_markdown(data_report(tmp_path / "polyfact", LANGS, None))
    assert "lacking a subject or object label" in md
    assert "Distractors: frequency; answer share cap: 0.4." in md


# --- 95 / 2.5 / 2.5 with small relations ---------------------------------------------------

PAPER_SPLITS = {"train": 0.95, "val": 0.025, "test": 0.025}


def test_small_relations_still_fill_val_and_test() -> None:
    counts = {f"P{k}": 10 for k in range(19)}  # per-relation rounding alone would give 0 val/test
    sizes = stratified_sizes(counts, PAPER_SPLITS)
    assert sum(s["val"] for s in sizes.values()) == 5 and sum(s["test"] for s in sizes.values()) == 5  # 4.75
    for s in sizes.values():
        assert sum(s.values()) == 10 and s["train"] in (9, 10) and s["val"] <= 1 and s["test"] <= 1
    assert stratified_sizes(counts, PAPER_SPLITS) == sizes


@pytest.mark.parametrize("seed", range(30))
def test_stratified_sizes_floor_or_ceil_and_totals_within_one(seed: int) -> None:
    rng = random.Random(seed)
    counts = {f"P{k}": rng.choice([rng.randint(1, 12), rng.randint(1, 400)]) for k in range(rng.randint(1, 19))}
    sizes = stratified_sizes(counts, PAPER_SPLITS)
    total = sum(counts.values())
    for split in SPLITS:
        assert abs(sum(s[split] for s in sizes.values()) - total * PAPER_SPLITS[split]) < 1
        for pid, n in counts.items():
            assert math.floor(n * PAPER_SPLITS[split] - 1e-9) <= sizes[pid][split] <= math.ceil(n * PAPER_SPLITS[split])
    for pid, n in counts.items():
        assert sum(sizes[pid].values()) == n


def test_large_relations_keep_their_exact_shares() -> None:
    sizes = stratified_sizes({"P17": 4000, "P30": 1200}, PAPER_SPLITS)
    assert sizes == {"P17": {"train": 3800, "val": 100, "test": 100}, "P30": {"train": 1140, "val": 30, "test": 30}}


def test_assign_splits_paper_fractions_deterministic() -> None:
    facts = [(f"f{r}_{k}", f"P{r}") for r in range(19) for k in range(12)]
    first = assign_splits(facts, PAPER_SPLITS, 3)
    assert first == assign_splits(list(reversed(facts)), PAPER_SPLITS, 3)
    counts = Counter(first.values())
    assert counts["val"] == 6 and counts["test"] == 6  # 228 * 0.025 = 5.7
    with pytest.raises(PolyfactError, match="sum to 1"):
        assign_splits(facts, {"train": 0.9, "val": 0.025, "test": 0.025}, 3)


# --- the original relations ----------------------------------------------------------------


def test_original_relations_registered_and_in_schema() -> None:
    assert len(ORIGINAL_RELATIONS) == len(set(ORIGINAL_RELATIONS)) == 19
    assert set(PAPER_RELATIONS) < set(ORIGINAL_RELATIONS) <= set(RELATIONS)
    assert set(ORIGINAL_RELATIONS) - set(PAPER_RELATIONS) == {"P38", "P19", "P136", "P495", "P108"}
    schema = yaml.safe_load((Path(__file__).parents[2] / "workflow/schemas/config.schema.yaml").read_text())
    pattern = schema["$defs"]["relation"]["pattern"]
    assert all(re.fullmatch(pattern, pid) for pid in [*RELATIONS, "P1001"])
    assert not any(re.fullmatch(pattern, pid) for pid in ("p17", "P017", "Q5", "P", "P17 "))
    dataset = schema["properties"]["dataset"]["properties"]
    assert dataset["distractors"]["default"] == "frequency"
    assert dataset["distractors"]["enum"] == list(DISTRACTOR_MODES)


# --- any property: templates, not the registry, decide what a dataset can hold -------------


def test_build_rejects_a_relation_without_templates_and_names_it() -> None:
    facts = synthetic_countries(20)
    # P1001 (applies to jurisdiction) is not in the registry; five objects leave room for distractors.
    facts += [
        Fact(f"t:j{k}", "P1001", f"c:{c}", facts[k].subject_labels, CONTINENTS[c]) for k, c in enumerate(CONTINENTS)
    ]
    df = facts_frame(facts, LANGS)
    split = {"train": 0.8, "val": 0.1, "test": 0.1}
    with pytest.raises(PolyfactError, match=r"relation P1001 \(P1001\) in en, de, ru, zh, bn"):
        build_dataset(df, TEMPLATES, LANGS, ["P30", "P1001"], split, 0.4, 7)
    partial = {**TEMPLATES, "en": {**TEMPLATES["en"], "P1001": ["Under which jurisdiction is {subject}?"]}}
    with pytest.raises(PolyfactError, match=r"P1001 \(P1001\) in de, ru, zh, bn"):
        build_dataset(df, partial, LANGS, ["P30", "P1001"], split, 0.4, 7)
    every = {lang: {**t, "P1001": ["{subject}?"]} for lang, t in TEMPLATES.items()}
    result = build_dataset(df, every, LANGS, ["P30", "P1001"], split, None, 7)
    assert sum(result.stats["per_relation"]["P1001"].values()) == 5 and result.stats["facts_out"] == 25
