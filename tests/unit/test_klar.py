"""KLAR-format benchmark on a miniature of the KLAR-CLC release (tests/fixtures/klar-release, its
exact file shape and quirks): strict loading (every error names file and item), the release's
candidate separator, English labels taken from en/, language discovery, the prompt protocol
(template index, per-language demonstrations, trailing space), contamination labels and scores,
and the model-touching evaluation on the tiny random model, end to end through the CLI to the
main table."""

from __future__ import annotations

import json
import math
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from polyfact.cli import main
from polyfact.errors import PolyfactError
from polyfact.evaluate.klar import (
    align_candidates,
    build_prompt,
    choose_demonstrations,
    cloze_prefix,
    contamination_key,
    contamination_label,
    contamination_summary,
    continuation,
    discover_languages,
    evaluate_klar,
    fact_prompt,
    first_line,
    generate_answers,
    label_norm,
    lenient_match,
    load_klar,
    parse_candidates,
    relation_id_of,
    select_facts,
    space_before_mask,
    split_headline,
    training_facts,
)
from polyfact.evaluate.scoring import normalise, score_continuations
from polyfact.evaluate.tables import main_rows, render_main_markdown
from transformers import AutoModelForCausalLM, AutoTokenizer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "klar-release"
ALL = ["ar", "en", "fa", "ja", "ko", "zh"]  # sorted: what discovery finds
SEEN = ["en", "ar", "ja", "zh"]  # ko and fa are OOD
# Training records as the PolyFact train split has them (English labels, Wikidata property).
TRAINED_ROWS = [
    {"subject": "Germany", "object": "Berlin", "property_id": "P36"},  # capital 6155: contaminated
    {"subject": "turkey", "object": "ASIA", "property_id": "P30"},  # continent 3462: contaminated
    {"subject": "Texas", "object": "Austin", "property_id": "P159"},  # same pair, another relation
]


def copy_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "klar"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("*.py"))
    return root


# --- pure functions ----------------------------------------------------------------------------


def test_parse_candidates_splits_only_on_the_release_separator() -> None:
    assert parse_candidates("Paris, Berlin, Tokyo, , ") == ("Paris", "Berlin", "Tokyo")
    # Arabic and Persian commas are part of names; so are full-width ones.
    assert parse_candidates("باكو, رالي، كارولاينا الشمالية, أوستن، تكساس") == (
        "باكو",
        "رالي، كارولاينا الشمالية",
        "أوستن، تكساس",
    )
    assert parse_candidates("فكتوريا ، كولومبيا البريطانية, باكو") == ("فكتوريا ، كولومبيا البريطانية", "باكو")
    assert parse_candidates("巴黎，柏林, 东京") == ("巴黎，柏林", "东京")
    assert parse_candidates(["Paris", " Berlin "]) == ("Paris", "Berlin")
    nfd = unicodedata.normalize("NFD", "Ägypten, Köln")
    assert parse_candidates(nfd) == ("Ägypten", "Köln")
    assert all(unicodedata.is_normalized("NFC", c) for c in parse_candidates(nfd))


def test_relation_id_from_the_release_names() -> None:
    assert relation_id_of("capital", "capital") == "P36"
    assert relation_id_of("capital_copy", "capital") == "P36"  # by `name` when the file name is unknown
    assert relation_id_of("my_relation", "mine") == "my_relation"


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


def test_trailing_space_is_the_authors_format_in_every_script() -> None:
    en = "What is the capital of <subject>? The answer is: <mask>"
    zh = "<subject> 的首都是什么？答案：<mask>"
    assert build_prompt(en, [("France", "Paris")], "Japan", trailing_space=True) == (
        "What is the capital of France? The answer is: Paris\nWhat is the capital of Japan? The answer is: "
    )
    # The answer follows a space even where the template has none, and text after <mask> goes.
    assert build_prompt(zh, [("法国", "巴黎")], "日本", trailing_space=True) == (
        "法国 的首都是什么？答案： 巴黎\n日本 的首都是什么？答案： "
    )
    assert build_prompt("<subject> liegt in <mask>.", [("Paris", "Europa")], "Kairo", trailing_space=True) == (
        "Paris liegt in Europa\nKairo liegt in "
    )
    # The space is in the prompt, so candidates are scored without a leading one.
    assert continuation(en, "Tokyo", trailing_space=True) == "Tokyo"
    assert continuation(zh, "东京", trailing_space=True) == "东京"
    assert build_prompt(zh, [("法国", "巴黎")], "日本") == "法国 的首都是什么？答案：巴黎\n日本 的首都是什么？答案："


def test_demonstrations_are_seeded_by_fact_and_exclude_the_query() -> None:
    pool = [str(i) for i in range(10)]
    first = choose_demonstrations(pool, "3", "P36", 3, seed=7)
    assert first == choose_demonstrations(list(reversed(pool)), "3", "P36", 3, seed=7)  # pool order is irrelevant
    assert len(first) == 3 and "3" not in first and len(set(first)) == 3
    assert choose_demonstrations(["1", "2"], "1", "P36", 3, seed=7) == ("2",)  # fewer facts than shots
    draws = {choose_demonstrations(pool, "3", "P36", 3, seed=s) for s in range(20)}
    assert len(draws) > 1  # the seed matters
    per_language = {lang: choose_demonstrations(pool, "3", "P36", 3, 7, lang) for lang in ALL}
    assert len(set(per_language.values())) > 1  # each language draws its own
    assert per_language["fa"] == choose_demonstrations(pool, "3", "P36", 3, 7, "fa")


def test_contamination_keys() -> None:
    assert label_norm("  São Tomé–Príncipe (island) ") == "são tomé príncipe island"
    assert label_norm("Ｔｏｋｙｏ") == "tokyo"  # NFKC
    assert contamination_key("P36", "Germany", " BERLIN", "pair") == ("germany", "berlin")
    assert contamination_key("P36", "St. Helena", "Jamestown", "triple") == ("P36", "st helena", "jamestown")
    with pytest.raises(PolyfactError, match="unknown contamination match"):
        contamination_key("P36", "a", "b", "fuzzy")
    pair = training_facts(TRAINED_ROWS, "pair")
    assert ("texas", "austin") in pair.keys and pair.relations == {"P36", "P30", "P159"}
    triple = training_facts(TRAINED_ROWS, "triple")
    assert ("P159", "texas", "austin") in triple.keys and ("P36", "texas", "austin") not in triple.keys
    with pytest.raises(PolyfactError, match="training record 1: no 'property_id'"):
        training_facts([{"subject": "a", "object": "b"}], "triple")
    rows = [{"subject": " France ", "object": "PARIS"}, {"subject": "Ägypten", "object": "Kairo"}, {"subject": "x"}]
    assert training_facts(rows).keys == {("france", "paris"), ("ägypten", "kairo")}


def test_split_headline_and_contamination_summary() -> None:
    def row(fact: str, lang: str, label: str, correct: bool) -> dict[str, Any]:
        return {"fact_id": fact, "language": lang, "contamination": label, "correct": correct}

    rows = [
        *(row("P36:1", lang, "contaminated", True) for lang in ("en", "ko")),
        row("P36:2", "en", "clean_shared", True),
        row("P36:2", "ko", "clean_shared", False),
        *(row("P30:1", lang, "non_shared", False) for lang in ("en", "ko")),
        *(row("P30:2", lang, "unknown", True) for lang in ("en", "ko")),
    ]
    kept, out = split_headline(rows, decontaminate=True)
    assert {r["fact_id"] for r in out} == {"P36:1"} and len(kept) == 6  # unknown stays
    assert split_headline(rows, decontaminate=False) == (rows, [])
    s = contamination_summary(rows, ["en", "ko"], ["en"], "triple")
    assert s["match"] == "triple"
    assert s["undecontaminated"] == {"all": 5 / 8, "seen": 3 / 4, "unseen": 2 / 4}
    assert s["decontaminated"] == {"all": 3 / 6, "seen": 2 / 3, "unseen": 1 / 3}
    assert s["subsets"]["contaminated"] == {"facts": 1, "accuracy": 1.0}
    assert s["subsets"]["clean_shared"] == {"facts": 1, "accuracy": 0.5}
    assert s["subsets"]["non_shared"] == {"facts": 1, "accuracy": 0.0}
    assert s["subsets"]["unknown"] == {"facts": 1, "accuracy": 1.0}


# --- loading the release's shape ----------------------------------------------------------------


def test_languages_default_to_the_directories_present(tmp_path: Path) -> None:
    assert discover_languages(FIXTURE) == tuple(ALL)
    klar = load_klar(FIXTURE)  # languages=None
    assert klar.languages == tuple(ALL)
    root = copy_fixture(tmp_path)
    (root / "notes").mkdir()  # no relation files: not a language
    (root / ".DS_Store").write_text("")
    assert discover_languages(root) == tuple(ALL)
    with pytest.raises(PolyfactError, match="no language directories"):
        discover_languages(tmp_path / "klar" / "notes")
    with pytest.raises(PolyfactError, match="no such KLAR directory"):
        discover_languages(tmp_path / "nowhere")


def test_load_release_files() -> None:
    klar = load_klar(FIXTURE, ALL)
    # No relation_id in the files: the Wikidata property from the relation's name.
    assert set(klar.relations) == {"P36", "P30", "P140"}
    assert "relation_id" not in json.loads((FIXTURE / "en" / "capital.json").read_text(encoding="utf-8"))
    capital = klar.relations["P36"]
    assert capital["ko"].name == "capital" and len(capital["ko"].templates) == 5
    ar = capital["ar"].by_index()
    assert ar["6152"].candidates[2] == "رالي، كارولاينا الشمالية" and len(ar["6152"].candidates) == 5
    assert ar["6154"].object == "أوستن، تكساس" and ar["6154"].gold_position == 4  # a gold with an Arabic comma
    assert len(ar["6153"].candidates) == 6 and ar["6153"].candidates[1] == "هاميلتون، جزر برمودا"
    assert capital["fa"].by_index()["6152"].candidates[0] == "گوادالاخارا، خالیسکو"
    assert "ブリュッセル＝ヴィル" in capital["ja"].by_index()["6155"].candidates
    # English samples carry no *_en: they are English already.
    assert capital["en"].by_index()["6152"].english == ("Azerbaijan", "Baku")
    assert ar["6152"].english == ("Azerbaijan", "Baku")


def test_missing_english_labels_come_from_the_english_file(tmp_path: Path) -> None:
    raw = json.loads((FIXTURE / "fa" / "religion.json").read_text(encoding="utf-8"))
    assert not any("subject_en" in s for s in raw["samples"])  # the quirk
    fa = load_klar(FIXTURE, ["fa"]).relations["P140"]["fa"].by_index()  # en/ read although not evaluated
    assert fa["7001"].english == ("Saudi Arabia", "Islam") and fa["7003"].english == ("Vatican City", "Catholic Church")
    assert fa["7005"].english is None  # no English sample either: no English labels
    root = copy_fixture(tmp_path)
    shutil.rmtree(root / "en")
    klar = load_klar(root, ["ar", "fa"])
    assert all(s.english is None for s in klar.relations["P140"]["fa"].samples)
    assert klar.relations["P140"]["ar"].by_index()["7001"].english == ("Saudi Arabia", "Islam")  # its own


def test_select_facts_counts_incomplete_and_unaligned() -> None:
    klar = load_klar(FIXTURE, ALL)
    facts, stats = select_facts(klar, ALL)
    ids = {f.fact_id for f in facts}
    assert "P36:6156" not in ids and "P140:7005" not in ids  # missing in ko; Persian only
    assert stats["facts_per_relation"] == {"P140": 4, "P30": 4, "P36": 4}
    assert stats["dropped_incomplete"] == 2 and stats["relations"]["P36"]["dropped_incomplete"] == 1
    by_id = {f.fact_id: f for f in facts}
    assert by_id["P36:6153"].entity_ids is None  # Arabic lists six candidates, the others five
    assert by_id["P30:3462"].entity_ids == ("c0", "c1", "c2", "c3", "c4", "c5")
    assert (stats["candidates_aligned"], stats["candidates_unaligned"]) == (11, 1)
    assert stats["facts"] == 12 and stats["facts_total"] == 14
    facts, stats = select_facts(klar, ["en", "zh"])
    assert stats["facts_per_relation"] == {"P140": 4, "P30": 4, "P36": 5} and stats["candidates_unaligned"] == 0


def test_relation_missing_in_one_language_is_not_an_error(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    (root / "ko" / "continent.json").unlink()
    facts, stats = select_facts(load_klar(root, ALL), ALL)
    assert stats["relations"]["P30"]["languages_missing"] == ["ko"]
    assert stats["relations"]["P30"]["dropped_incomplete"] == 4 and stats["facts_per_relation"]["P30"] == 0
    assert {f.relation_id for f in facts} == {"P36", "P140"}


def test_template_index_chooses_the_prompt(tmp_path: Path) -> None:
    first, second = load_klar(FIXTURE, ALL), load_klar(FIXTURE, ALL, template_index=1)
    fact = next(f for f in select_facts(first, ALL, shots=1)[0] if f.fact_id == "P36:6152")
    assert fact_prompt(first, fact, "en").endswith("Where is the capital of Azerbaijan? The answer is:")
    assert fact_prompt(second, fact, "en").endswith("What is the capital city of Azerbaijan? The answer is:")
    assert fact_prompt(second, fact, "ja").endswith("アゼルバイジャンの首都は何ですか？答え：")
    with pytest.raises(PolyfactError, match=r"capital.json: template index 5 is out of range \(the file has 5"):
        load_klar(FIXTURE, ["en"], template_index=5)
    root = copy_fixture(tmp_path)
    path = root / "en" / "capital.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["prompt_templates"][2] = "<mask> is the capital of <subject>."
    path.write_text(json.dumps(data), encoding="utf-8")
    load_klar(root, ["en"], template_index=1)  # the bad template is not used
    with pytest.raises(PolyfactError, match=r"prompt template 3 \(index 2\) has <mask> before <subject>") as err:
        load_klar(root, ["en"], template_index=2)
    assert str(path) in str(err.value)


def test_demonstrations_shared_or_per_language() -> None:
    klar = load_klar(FIXTURE, ALL)
    shared, stats = select_facts(klar, ALL, seed=5)
    assert stats["demonstrations"] == "shared"
    for fact in shared:
        assert len(set(fact.demonstrations.values())) == 1  # the same facts in every language
        assert fact.index not in fact.demonstrations["en"] and len(fact.demonstrations["en"]) == 3
    own, stats = select_facts(klar, ALL, seed=5, demonstrations="per_language")
    assert stats["demonstrations"] == "per_language"
    assert any(len(set(f.demonstrations.values())) > 1 for f in own)
    for fact in own:
        for lang, demos in fact.demonstrations.items():
            file_indices = set(klar.relations[fact.relation_id][lang].by_index())
            assert fact.index not in demos and set(demos) <= file_indices and len(demos) == 3
    again, _ = select_facts(klar, ALL, seed=5, demonstrations="per_language")
    assert [f.demonstrations for f in again] == [f.demonstrations for f in own]
    with pytest.raises(PolyfactError, match="unknown demonstrations mode"):
        select_facts(klar, ALL, demonstrations="mixed")


def test_prompts_use_each_languages_labels_for_its_demonstrations() -> None:
    klar = load_klar(FIXTURE, ALL, template_index=1)
    fact = next(f for f in select_facts(klar, ALL, seed=5, demonstrations="per_language")[0] if f.fact_id == "P30:3463")
    for lang in ("en", "zh"):
        rel = klar.relations["P30"][lang]
        by_index, template = rel.by_index(), rel.templates[1]
        prompt = fact_prompt(klar, fact, lang, trailing_space=True)
        assert prompt.split("\n") == [
            *(f"{cloze_prefix(template, by_index[i].subject)} {by_index[i].object}" for i in fact.demonstrations[lang]),
            cloze_prefix(template, by_index["3463"].subject) + " ",
        ]
        assert prompt.endswith(" ")


def test_contamination_labels_on_the_release() -> None:
    klar = load_klar(FIXTURE, ALL)
    facts = {f.fact_id: f for f in select_facts(klar, ALL)[0]}
    pair, triple = training_facts(TRAINED_ROWS, "pair"), training_facts(TRAINED_ROWS, "triple")
    labels = {fid: contamination_label(f, triple) for fid, f in facts.items()}
    assert labels["P36:6155"] == labels["P30:3462"] == "contaminated"
    assert labels["P36:6154"] == "clean_shared"  # Texas–Austin was trained as another relation
    assert labels["P30:3463"] == "clean_shared" and labels["P140:7001"] == "non_shared"
    assert contamination_label(facts["P36:6154"], pair) == "contaminated"  # `pair` ignores the relation
    root_facts = select_facts(load_klar(FIXTURE, ["fa"]), ["fa"])[0]
    unknown = next(f for f in root_facts if f.fact_id == "P140:7005")
    assert contamination_label(unknown, triple) == "unknown"


def test_nfc_is_applied_on_load(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    path = root / "fa" / "capital.json"
    path.write_text(unicodedata.normalize("NFD", path.read_text(encoding="utf-8")), encoding="utf-8")
    sample = load_klar(root, ["fa"]).relations["P36"]["fa"].by_index()["6155"]
    assert sample.subject == "آلمان" and unicodedata.is_normalized("NFC", sample.subject)


def test_align_candidates_needs_same_length_and_gold_position() -> None:
    klar = load_klar(FIXTURE, ["en", "ar"])
    en, ar = (klar.relations["P36"][lang].by_index() for lang in ("en", "ar"))
    assert align_candidates({"en": en["6152"], "ar": ar["6152"]}) == ("c0", "c1", "c2", "c3", "c4")
    assert align_candidates({"en": en["6153"], "ar": ar["6153"]}) is None


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
        (lambda d: d.pop("prompt_templates"), ["missing key(s) prompt_templates"]),
        (_edit("relation_id", ""), ["'relation_id' must be a non-empty string"]),
        (_edit("prompt_templates", "The capital of <subject> is <mask>."), ["'prompt_templates' must be a non-empty"]),
        (_template(2, 7), ["prompt template 2 is not a string"]),
        (_template(3, "The capital of <subject> is"), ["prompt template 3 lacks <mask>"]),
        (_template(4, "Capital: <mask>"), ["prompt template 4 lacks <subject>"]),
        (_template(1, "<mask> is the capital of <subject>."), ["prompt template 1 (index 0) has <mask> before"]),
        (_sample_edit(2, "object", delete=True), ["samples[2] (index 6154)", "missing field(s) object"]),
        (_sample_edit(0, "index", delete=True), ["samples[0] (index None)", "missing field(s) index"]),
        (_sample_edit(3, "index", 6153), ["samples[3]", "duplicate index '6153'", "also samples[1]"]),
        (_sample_edit(1, "object", "Munich"), ["samples[1] (index 6153)", "'Munich' is not among the candidates"]),
        (_sample_edit(1, "subject", ""), ["samples[1] (index 6153)", "'subject' must be a non-empty string"]),
        (_sample_edit(2, "object_candidates", 5), ["samples[2] (index 6154)", "'object_candidates'"]),
        (_sample_edit(2, "subject_en", "Texas"), ["samples[2] (index 6154)", "has 'subject_en' but not its pair"]),
        (_sample_edit(2, "object_candidates", "Belgrade,Miami,Austin"), ["'Austin' is not among the candidates"]),
    ],
)
def test_errors_name_file_and_item(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], Any], expected: list[str]
) -> None:
    root = copy_fixture(tmp_path)
    path = root / "en" / "capital.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PolyfactError) as err:
        load_klar(root, ["en", "ar"])
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_invalid_json_names_file_and_error(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    path = root / "zh" / "continent.json"
    path.write_text('{"name": "continent", ', encoding="utf-8")
    with pytest.raises(PolyfactError, match="invalid JSON") as err:
        load_klar(root, ["en", "zh"])
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_missing_language_directory() -> None:
    with pytest.raises(PolyfactError, match=r"de: no such language directory") as err:
        load_klar(FIXTURE, ["en", "de"])
    assert "'ko'" in str(err.value)  # lists what is there


def test_relation_id_used_twice_in_one_language(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    shutil.copy(root / "ar" / "capital.json", root / "ar" / "capital_copy.json")
    with pytest.raises(PolyfactError, match="relation_id 'P36' also used by"):
        load_klar(root, ["ar"])


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


@pytest.mark.parametrize("trailing_space", [False, True])
def test_evaluate_klar_end_to_end(tiny: tuple[Any, Any], trailing_space: bool) -> None:
    model, tokenizer = tiny
    klar = load_klar(FIXTURE, template_index=1)
    trained = training_facts(TRAINED_ROWS, "triple")
    rows, stats = evaluate_klar(
        model,
        tokenizer,
        klar,
        ALL,
        shots=2,
        max_new_tokens=3,
        batch_size=16,
        seed=3,
        demonstrations="per_language",
        trailing_space=trailing_space,
        trained=trained,
    )
    assert stats["facts_per_relation"] == {"P140": 4, "P30": 4, "P36": 4} and len(rows) == 12 * len(ALL)
    assert stats["contamination"] == {"contaminated": 2, "clean_shared": 6, "non_shared": 4, "unknown": 0}
    assert stats["template_index"] == 1 and stats["demonstrations"] == "per_language"
    assert {r["language"] for r in rows} == set(ALL)
    for r in rows:
        assert isinstance(r["generation"], str) and "\n" not in r["generation"]
        assert r["correct"] is lenient_match(r["generation"], r["gold"])
        assert r["prompt"].endswith(" ") is trailing_space
        assert len(r["prompt"].split("\n")) == 3 and r["index"] not in r["demonstrations"]
        scores = r["candidate_scores"]
        assert len(scores) == len(r["candidates"]) == len(r["candidate_logprobs"]) == len(r["candidate_tokens"])
        assert all(math.isfinite(s) for s in scores)
        assert r["candidate_prediction"] == max(range(len(scores)), key=lambda k: scores[k])
        assert r["candidate_correct"] is (r["candidate_prediction"] == r["candidates"].index(r["gold"]))
        assert r["property_id"] == r["fact_id"].split(":")[0]
        if r["fact_id"] == "P36:6153":
            assert r["ranking"] is None and r["option_ids"] is None
        else:
            assert r["ranking"][0] == f"c{r['candidate_prediction']}" and sorted(r["ranking"]) == r["option_ids"]
    labels = {r["fact_id"]: r["contamination"] for r in rows}
    assert labels["P36:6155"] == "contaminated" and labels["P140:7002"] == "non_shared"

    # The candidate scores are the shared scorer's on the same context, with the prompt's spacing.
    for fact_id, lang, lead in (("P36:6152", "en", " "), ("P36:6152", "zh", ""), ("P30:3463", "fa", " ")):
        row = next(r for r in rows if r["fact_id"] == fact_id and r["language"] == lang)
        conts = [("" if trailing_space else lead) + c for c in row["candidates"]]
        (direct,) = score_continuations(model, tokenizer, [(row["prompt"], conts)])
        assert row["candidate_logprobs"] == pytest.approx([s.logprob for s in direct], abs=1e-4)
        assert row["candidate_tokens"] == [s.tokens for s in direct]
        expected = [normalise(s, c, "byte") for s, c in zip(direct, row["candidates"], strict=True)]
        assert row["candidate_scores"] == pytest.approx(expected, abs=1e-4)


def test_evaluate_klar_bad_arguments(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    klar = load_klar(FIXTURE, ["en", "ar"])
    with pytest.raises(PolyfactError, match="unknown normalisation"):
        evaluate_klar(model, tokenizer, klar, ["en"], normalisation="nats")
    with pytest.raises(PolyfactError, match="were not loaded"):
        evaluate_klar(model, tokenizer, klar, ["en", "zh"])


def test_cli_scores_every_language_and_reports_contamination(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`polyfact evaluate klar` as the workflow runs it with `languages: null` and the paper's
    protocol: every language directory is scored, seen/OOD from the trained languages, and
    klar.json and the main table carry both scores and the contamination breakdown."""
    trained = tmp_path / "train.jsonl"
    trained.write_text("".join(json.dumps(r) + "\n" for r in TRAINED_ROWS), encoding="utf-8")
    outs = {}
    for decontaminate in (False, True):
        out = tmp_path / ("grpo" if decontaminate else "base") / "klar.json"
        args = ["evaluate", "klar", "--model", str(tiny_model_dir), "--klar-dir", str(FIXTURE)]
        args += ["--seen", "en,ar,ja,zh,es,fr,ru", "--low-resource", "bn,id,sw", "--trained", str(trained)]
        args += ["--contamination-match", "triple", "--template-index", "1", "--demonstrations", "per_language"]
        args += ["--trailing-space", "--shots", "1", "--max-new-tokens", "2", "--out", str(out)]
        main(args + (["--decontaminate"] if decontaminate else []))
        outs[decontaminate] = json.loads(out.read_text(encoding="utf-8"))
    plain, decont = outs[False], outs[True]
    s = plain["summary"]
    assert s["languages"] == ALL and set(s["accuracy"]) == set(ALL) and set(s["candidate_accuracy"]) == set(ALL)
    assert s["groups"]["seen"]["languages"] == ["ar", "en", "ja", "zh"]
    assert s["groups"]["unseen"]["languages"] == ["fa", "ko"]
    assert s["headline"] == "undecontaminated" and s["rows"] == 12 * 6 and plain["excluded_predictions"] == []
    c = s["contamination"]
    assert c["match"] == "triple" and {k: v["facts"] for k, v in c["subsets"].items()} == {
        "contaminated": 2,
        "clean_shared": 6,
        "non_shared": 4,
        "unknown": 0,
    }
    assert c["undecontaminated"]["all"] == pytest.approx(s["accuracy_mean"])
    d = decont["summary"]
    assert d["headline"] == "decontaminated" and d["rows"] == 10 * 6 and d["data"]["decontaminated"] == 2
    assert {r["fact_id"] for r in decont["excluded_predictions"]} == {"P36:6155", "P30:3462"}
    assert d["contamination"] == c  # the same run either way: only the headline differs
    assert d["accuracy_mean"] == pytest.approx(c["decontaminated"]["all"])

    rows = main_rows([tmp_path / "base" / "klar.json", tmp_path / "grpo" / "klar.json"])
    assert rows[0]["klar_all"] == c["undecontaminated"]["all"]
    assert rows[1]["klar_decontaminated"] == c["decontaminated"]["all"]
    assert rows[1]["klar_contaminated"] == c["subsets"]["contaminated"]["accuracy"]
    assert rows[1]["klar_non_shared"] == c["subsets"]["non_shared"]["accuracy"]
    md = render_main_markdown(rows)
    assert (
        "| KLAR seen | KLAR OOD | KLAR all | KLAR decont. | KLAR contam. | KLAR clean-shared | KLAR non-shared |" in md
    )


def test_cli_decontaminate_needs_training_records(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = ["evaluate", "klar", "--model", str(tiny_model_dir), "--klar-dir", str(FIXTURE), "--decontaminate"]
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "klar.json")])
    assert "--decontaminate needs --trained" in caplog.text
