"""KLAR-format benchmark: strict loading (every error names file and item), fact selection across
languages, candidate alignment, prompts, lenient matching, and the model-touching evaluation on the
tiny random model (scores must equal the shared scorer's on the same context)."""

from __future__ import annotations

import json
import math
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from polyfact.errors import PolyfactError
from polyfact.evaluate.klar import (
    align_candidates,
    build_prompt,
    choose_demonstrations,
    cloze_prefix,
    continuation,
    evaluate_klar,
    fact_prompt,
    first_line,
    generate_answers,
    lenient_match,
    load_klar,
    parse_candidates,
    select_facts,
    space_before_mask,
    trained_pairs,
)
from polyfact.evaluate.scoring import normalise, score_continuations
from transformers import AutoModelForCausalLM, AutoTokenizer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "klar"
ALL = ["en", "de", "ar", "zh", "ja", "bn", "ko"]


# --- pure functions ----------------------------------------------------------------------------


def test_parse_candidates_accepts_every_comma_and_normalises() -> None:
    assert parse_candidates("Paris, Berlin ,Tokyo,, ") == ("Paris", "Berlin", "Tokyo")
    assert parse_candidates("巴黎，柏林，东京") == ("巴黎", "柏林", "东京")
    assert parse_candidates("باريس، برلين،طوكيو") == ("باريس", "برلين", "طوكيو")
    nfd = unicodedata.normalize("NFD", "Ägypten, Köln")
    assert parse_candidates(nfd) == ("Ägypten", "Köln")
    assert all(unicodedata.is_normalized("NFC", c) for c in parse_candidates(nfd))


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("Paris", "Paris", True),
        ("  paris  ", "PARIS", True),
        ("Paris, the city of light", "Paris", True),  # prefix
        ("It is Paris.", "Paris", True),  # whole token, punctuation stripped
        ("«Paris» est belle", "Paris", True),
        ("is located in South America.", "South America", True),  # multi-word gold as a token run
        ("Parisian", "Paris", True),  # a prefix counts (§8)
        ("Comparison", "Paris", False),  # a substring that is neither token nor prefix does not
        ("Berlin", "Paris", False),
        ("", "Paris", False),
        ("东京。", "东京", True),  # no spaces: the prefix rule
        ("「东京」", "东京", True),
        ("東京です", "東京", True),
        ("位于东京", "东京", False),
        ("القاهرة.", "القاهرة", True),
        ("هي القاهرة", "القاهرة", True),
        ("برلين", "القاهرة", False),
        ("ঢাকা।", "ঢাকা", True),  # the danda is punctuation
        ("রাজধানী ঢাকা", "ঢাকা", True),
        ("\u098f\u09b6\u09bf\u09df\u09be", "\u098f\u09b6\u09bf\u09af\u09bc\u09be", True),  # য় composed vs not
    ],
)
def test_lenient_match(prediction: str, gold: str, expected: bool) -> None:
    assert lenient_match(prediction, gold) is expected


def test_first_line_skips_blank_lines() -> None:
    assert first_line("\n  \n Paris\nThe capital of Spain is Madrid.") == "Paris"
    assert first_line("   ") == ""


def test_prompt_building_latin_and_cjk() -> None:
    en = "The capital of <subject> is <mask>."
    zh = "<subject>的首都是<mask>。"
    assert cloze_prefix(en, "Japan") == "The capital of Japan is"
    assert cloze_prefix(zh, "日本") == "日本的首都是"
    assert space_before_mask(en) and not space_before_mask(zh)
    assert continuation(en, "Tokyo") == " Tokyo" and continuation(zh, "东京") == "东京"
    assert build_prompt(en, [("France", "Paris"), ("Egypt", "Cairo")], "Japan") == (
        "The capital of France is Paris.\nThe capital of Egypt is Cairo.\nThe capital of Japan is"
    )
    assert build_prompt(zh, [], "日本") == "日本的首都是"


def test_demonstrations_are_seeded_by_fact_and_exclude_the_query() -> None:
    pool = [str(i) for i in range(10)]
    first = choose_demonstrations(pool, "3", "P36", 3, seed=7)
    assert first == choose_demonstrations(list(reversed(pool)), "3", "P36", 3, seed=7)  # pool order is irrelevant
    assert len(first) == 3 and "3" not in first and len(set(first)) == 3
    assert choose_demonstrations(["1", "2"], "1", "P36", 3, seed=7) == ("2",)  # fewer facts than shots
    draws = {choose_demonstrations(pool, "3", "P36", 3, seed=s) for s in range(20)}
    assert len(draws) > 1  # the seed matters


def test_trained_pairs_normalise() -> None:
    rows = [{"subject": " France ", "object": "PARIS"}, {"subject": "Ägypten", "object": "Kairo"}, {"subject": "x"}]
    pairs = trained_pairs(rows)
    assert ("france", "paris") in pairs and ("ägypten", "kairo") in pairs and len(pairs) == 2


# --- loading and selection ---------------------------------------------------------------------


def test_load_fixture_with_arbitrary_language_codes() -> None:
    klar = load_klar(FIXTURE, ALL)
    assert set(klar.relations) == {"P30", "P36"}
    assert set(klar.relations["P36"]) == set(ALL)
    ko = klar.relations["P36"]["ko"]
    assert ko.name == "capital" and len(ko.samples) == 4 and len(ko.templates) == 5
    zh = klar.relations["P30"]["zh"].by_index()["1"]
    assert zh.subject == "日本" and zh.object == "亚洲" and zh.gold_position == 1 and len(zh.candidates) == 5
    ar = klar.relations["P30"]["ar"].by_index()["3"]
    assert ar.object == "أمريكا الجنوبية" and ar.candidates[3] == ar.object  # Arabic comma split


def test_select_facts_counts_incomplete_and_unaligned() -> None:
    klar = load_klar(FIXTURE, ALL)
    facts, stats = select_facts(klar, ALL)
    ids = [f.fact_id for f in facts]
    assert "P36:4" not in ids  # Bangladesh is missing in ko
    assert stats["facts_per_relation"] == {"P30": 5, "P36": 4}
    assert stats["dropped_incomplete"] == 1 and stats["relations"]["P36"]["dropped_incomplete"] == 1
    by_id = {f.fact_id: f for f in facts}
    assert by_id["P30:4"].entity_ids is None  # ja lists Australia's candidates in another order
    assert by_id["P30:0"].entity_ids == ("c0", "c1", "c2", "c3", "c4")
    assert (stats["candidates_aligned"], stats["candidates_unaligned"]) == (8, 1)
    assert stats["facts"] == 9 and stats["facts_total"] == 10 and stats["decontaminated"] == 0

    facts, stats = select_facts(klar, ["en", "de", "zh"])  # without ko and ja: everything complete and aligned
    assert stats["facts_per_relation"] == {"P30": 5, "P36": 5}
    assert stats["dropped_incomplete"] == 0 and stats["candidates_unaligned"] == 0


def test_relation_missing_in_one_language_is_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root)
    (root / "ko" / "continent.json").unlink()
    klar = load_klar(root, ALL)
    facts, stats = select_facts(klar, ALL)
    assert stats["relations"]["P30"]["languages_missing"] == ["ko"]
    assert stats["relations"]["P30"]["dropped_incomplete"] == 5 and stats["facts_per_relation"]["P30"] == 0
    assert {f.relation_id for f in facts} == {"P36"}


def test_decontamination_excludes_trained_pairs_in_every_language() -> None:
    klar = load_klar(FIXTURE, ALL)
    exclude = trained_pairs([{"subject": "France", "object": "Paris"}, {"subject": "japan", "object": "ASIA"}])
    facts, stats = select_facts(klar, ALL, exclude=exclude)
    ids = {f.fact_id for f in facts}
    assert "P36:0" not in ids and "P30:1" not in ids and "P30:0" in ids  # France–Europe was not trained
    assert stats["decontaminated"] == 2 and stats["facts"] == 7
    # Prompts do not depend on decontamination: the demonstration pool is unchanged.
    plain = {f.fact_id: f.demonstrations for f in select_facts(klar, ALL)[0]}
    assert all(f.demonstrations == plain[f.fact_id] for f in facts)


def test_prompts_use_each_languages_labels_for_the_same_demonstrations() -> None:
    klar = load_klar(FIXTURE, ALL)
    facts, _ = select_facts(klar, ALL, seed=5)
    fact = next(f for f in facts if f.fact_id == "P36:2")
    assert len(fact.demonstrations) == 3 and "2" not in fact.demonstrations
    en, zh = fact_prompt(klar, fact, "en"), fact_prompt(klar, fact, "zh")
    en_rel, zh_rel = klar.relations["P36"]["en"].by_index(), klar.relations["P36"]["zh"].by_index()
    assert en.splitlines() == [
        *(f"The capital of {en_rel[i].subject} is {en_rel[i].object}." for i in fact.demonstrations),
        "The capital of Japan is",
    ]
    assert zh.splitlines() == [
        *(f"{zh_rel[i].subject}的首都是{zh_rel[i].object}。" for i in fact.demonstrations),
        "日本的首都是",
    ]
    again = next(f for f in select_facts(klar, ALL, seed=5)[0] if f.fact_id == "P36:2")
    assert again.demonstrations == fact.demonstrations


def test_align_candidates_needs_same_length_and_gold_position() -> None:
    klar = load_klar(FIXTURE, ["en", "de", "ja"])
    en, de, ja = (klar.relations["P30"][lang].by_index() for lang in ("en", "de", "ja"))
    assert align_candidates({"en": en["0"], "de": de["0"]}) == ("c0", "c1", "c2", "c3", "c4")
    assert align_candidates({"en": en["4"], "ja": ja["4"]}) is None


def test_nfc_is_applied_on_load(tmp_path: Path) -> None:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root)
    path = root / "de" / "capital.json"
    path.write_text(unicodedata.normalize("NFD", path.read_text(encoding="utf-8")), encoding="utf-8")
    sample = load_klar(root, ["de"]).relations["P36"]["de"].by_index()["3"]
    assert sample.subject == "Ägypten" and unicodedata.is_normalized("NFC", sample.subject)


# --- errors: each names the file and the item --------------------------------------------------


def _edit(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data[key] = value

    return apply


def _sample_edit(
    position: int, field: str, value: Any = None, delete: bool = False
) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        if delete:
            del data["samples"][position][field]
        else:
            data["samples"][position][field] = value

    return apply


def _template(number: int, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data["prompt_templates"][number - 1] = value

    return apply


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("samples"), ["missing key(s) samples"]),
        (lambda d: d.pop("relation_id"), ["missing key(s) relation_id"]),
        (_edit("prompt_templates", "The capital of <subject> is <mask>."), ["'prompt_templates' must be a non-empty"]),
        (_template(2, 7), ["prompt template 2 is not a string"]),
        (_template(3, "The capital of <subject> is"), ["prompt template 3 lacks <mask>"]),
        (_template(4, "Capital: <mask>"), ["prompt template 4 lacks <subject>"]),
        (_template(1, "<mask> is the capital of <subject>."), ["prompt template 1 has <mask> before <subject>"]),
        (_sample_edit(2, "object_en", delete=True), ["samples[2] (index 2)", "missing field(s) object_en"]),
        (_sample_edit(0, "index", delete=True), ["samples[0] (index None)", "missing field(s) index"]),
        (_sample_edit(3, "index", 1), ["samples[3]", "duplicate index '1'", "also samples[1]"]),
        (_sample_edit(1, "object", "Munich"), ["samples[1] (index 1)", "'Munich' is not among the candidates"]),
        (_sample_edit(1, "subject", ""), ["samples[1] (index 1)", "'subject' must be a non-empty string"]),
        (_sample_edit(2, "object_candidates", 5), ["samples[2] (index 2)", "'object_candidates'"]),
    ],
)
def test_errors_name_file_and_item(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], Any], expected: list[str]
) -> None:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root)
    path = root / "en" / "capital.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PolyfactError) as err:
        load_klar(root, ["en", "de"])
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_invalid_json_names_file_and_error(tmp_path: Path) -> None:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root)
    path = root / "zh" / "continent.json"
    path.write_text('{"name": "continent", ', encoding="utf-8")
    with pytest.raises(PolyfactError, match="invalid JSON") as err:
        load_klar(root, ["en", "zh"])
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_missing_language_directory() -> None:
    with pytest.raises(PolyfactError, match=r"xx: no such language directory") as err:
        load_klar(FIXTURE, ["en", "xx"])
    assert "'ko'" in str(err.value)  # lists what is there


def test_relation_id_used_twice_in_one_language(tmp_path: Path) -> None:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root)
    shutil.copy(root / "de" / "capital.json", root / "de" / "capital_copy.json")
    with pytest.raises(PolyfactError, match="relation_id 'P36' also used by"):
        load_klar(root, ["de"])


# --- model-touching ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return model, tokenizer


def test_generation_batched_equals_one_by_one(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompts = ["The capital of France is Paris.\nThe capital of Japan is", "日本的首都是", "ঢাকা", "Frage: Auf"]
    padding_side = tokenizer.padding_side
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=5, batch_size=4)
    single = [generate_answers(model, tokenizer, [p], max_new_tokens=5, batch_size=1)[0] for p in prompts]
    assert batched == single and all(isinstance(g, str) for g in batched)
    assert tokenizer.padding_side == padding_side  # the caller's tokenizer is left as it was


def test_evaluate_klar_end_to_end(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    languages = ["en", "zh", "ja", "bn", "ko"]
    klar = load_klar(FIXTURE, languages)
    rows, stats = evaluate_klar(model, tokenizer, klar, languages, max_new_tokens=4, batch_size=16, seed=3)
    assert stats["facts_per_relation"] == {"P30": 5, "P36": 4}
    assert stats["candidates_unaligned"] == 1 and stats["normalisation"] == "byte"
    assert len(rows) == 9 * len(languages)
    assert {(r["fact_id"], r["language"]) for r in rows} == {
        (f"{p}:{i}", lang) for p, n in (("P30", 5), ("P36", 4)) for i in range(n) for lang in languages
    }
    for r in rows:
        assert isinstance(r["generation"], str) and "\n" not in r["generation"]
        assert r["correct"] is lenient_match(r["generation"], r["gold"])
        scores = r["candidate_scores"]
        assert len(scores) == len(r["candidates"]) == len(r["candidate_logprobs"]) == len(r["candidate_tokens"])
        assert all(math.isfinite(s) for s in scores)
        assert r["candidate_prediction"] == max(range(len(scores)), key=lambda k: scores[k])
        assert r["candidate_correct"] is (r["candidate_prediction"] == r["candidates"].index(r["gold"]))
        assert r["property_id"] == r["fact_id"].split(":")[0]
        if r["fact_id"] == "P30:4":
            assert r["ranking"] is None and r["option_ids"] is None
        else:
            assert r["ranking"][0] == f"c{r['candidate_prediction']}" and sorted(r["ranking"]) == r["option_ids"]

    # The candidate scores are the shared scorer's on the same context, with the template's spacing.
    for fact_id, lang, lead in (("P36:1", "en", " "), ("P36:1", "zh", ""), ("P30:3", "bn", " ")):
        row = next(r for r in rows if r["fact_id"] == fact_id and r["language"] == lang)
        conts = [lead + c for c in row["candidates"]]
        (direct,) = score_continuations(model, tokenizer, [(row["prompt"], conts)])
        assert row["candidate_logprobs"] == pytest.approx([s.logprob for s in direct], abs=1e-4)
        assert row["candidate_tokens"] == [s.tokens for s in direct]
        expected = [normalise(s, c, "byte") for s, c in zip(direct, row["candidates"], strict=True)]
        assert row["candidate_scores"] == pytest.approx(expected, abs=1e-4)

    again, _ = evaluate_klar(model, tokenizer, klar, languages, max_new_tokens=4, batch_size=16, seed=3)
    assert [(r["prompt"], r["generation"], r["ranking"]) for r in again] == [
        (r["prompt"], r["generation"], r["ranking"]) for r in rows
    ]


def test_evaluate_klar_decontaminated_and_bad_arguments(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    klar = load_klar(FIXTURE, ["en", "de"])
    exclude = trained_pairs([{"subject": "Germany", "object": "Berlin"}])
    rows, stats = evaluate_klar(
        model, tokenizer, klar, ["en", "de"], shots=1, max_new_tokens=2, normalisation="token", exclude=exclude
    )
    assert stats["decontaminated"] == 1 and "P36:1" not in {r["fact_id"] for r in rows} and len(rows) == 18
    assert all(len(r["prompt"].splitlines()) == 2 for r in rows)  # one demonstration, then the cloze
    with pytest.raises(PolyfactError, match="unknown normalisation"):
        evaluate_klar(model, tokenizer, klar, ["en"], normalisation="nats")
    with pytest.raises(PolyfactError, match="were not loaded"):
        evaluate_klar(model, tokenizer, klar, ["en", "zh"])
