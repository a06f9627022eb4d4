"""Parallel text: toy CPT rows hold translations only, seeded rendering, packing keeps row
boundaries, and the JSONL / local HF dataset corpus readers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from polyfact.corpus import load_parallel_corpus
from polyfact.errors import PolyfactError
from polyfact.facts import Fact, facts_frame
from polyfact.train.parallel import pack, render_parallel, toy_parallel_rows

LANGS = ["en", "de", "ru"]
FRANCE = {"en": "France", "de": "Frankreich", "ru": "Франция"}
SPAIN = {"en": "Spain", "de": "Spanien", "ru": None}
EUROPE = {"en": "Europe", "de": "Europa", "ru": "Европа"}
ONLY_EN = {"en": "Atlantis", "de": None, "ru": None}


def small_world() -> tuple[list[dict[str, str]], list[str], list[str]]:
    facts = facts_frame(
        [
            Fact("t:FR", "P30", "c:EU", FRANCE, EUROPE),
            Fact("t:ES", "P30", "c:EU", SPAIN, EUROPE),
            Fact("t:AT", "P30", "c:EU", ONLY_EN, EUROPE),
        ],
        LANGS,
    )
    parallel = [
        {
            "fact_id": "t:ES|P30|c:EU",
            "question_en": "On which continent is Spain?",
            "question_de": "Auf welchem Kontinent liegt Spanien?",
            "question_ru": "На каком континенте находится Испания?",
            "options_en": ["Europe", "Asia", "Africa", "Oceania"],
            "answer_index_en": 0,
        },
        {
            "fact_id": "t:FR|P30|c:EU",
            "question_en": "On which continent is France?",
            "question_de": "Auf welchem Kontinent liegt Frankreich?",
            "question_ru": "На каком континенте находится Франция?",
            "options_en": ["Asia", "Europe", "Africa", "Oceania"],
            "answer_index_en": 1,
        },
    ]
    rows = toy_parallel_rows(facts, parallel, LANGS)
    answers = [o for p in parallel for o in p["options_en"]]
    return rows, answers, [p["question_en"] for p in parallel]


def test_toy_rows_are_entities_then_questions_translations_only() -> None:
    rows, answers, questions = small_world()
    assert rows == [  # entities sorted by id
        {"en": "Europe", "de": "Europa", "ru": "Европа"},  # c:EU once, though the object of three facts
        {"en": "Spain", "de": "Spanien"},  # t:ES; ru missing -> kept with two languages
        {"en": "France", "de": "Frankreich", "ru": "Франция"},  # t:FR; t:AT has one language -> dropped
        {
            "en": "On which continent is Spain?",
            "de": "Auf welchem Kontinent liegt Spanien?",
            "ru": "На каком континенте находится Испания?",
        },
        {
            "en": "On which continent is France?",
            "de": "Auf welchem Kontinent liegt Frankreich?",
            "ru": "На каком континенте находится Франция?",
        },
    ]
    question_rows = [r for r in rows if r["en"] in questions]
    assert len(question_rows) == 2
    for row in question_rows:
        assert not any(answer in text for answer in answers for text in row.values())


def test_toy_rows_deterministic() -> None:
    assert small_world()[0] == small_world()[0]


def test_render_shuffles_per_seed() -> None:
    row = {"en": "Paris", "de": "Paris", "ru": "Париж", "zh": "巴黎", "bn": "প্যারিস"}
    a = [render_parallel(row, random.Random(1)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    orders = {
        tuple(line.split(":")[0] for line in render_parallel(row, random.Random(s)).splitlines()) for s in range(20)
    }
    assert len(orders) > 1
    for order in orders:
        assert sorted(order) == sorted(row)
    assert "ru: Париж" in render_parallel(row, random.Random(3)).splitlines()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_pack_keeps_row_boundaries(tokenizer) -> None:
    rng = random.Random(0)
    texts = [
        render_parallel({"en": f"Question {k}?", "de": f"Frage {k}?", "ru": f"Вопрос {k}?"}, rng) for k in range(30)
    ]
    block = 96
    blocks = pack(texts, tokenizer, block)
    eos = tokenizer.eos_token_id
    assert blocks and all(len(b) == block for b in blocks)
    stream = [t for b in blocks for t in b]
    pos = 0
    for text in texts:  # each row contiguous then EOS, in order, until the dropped tail
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]
        if pos + len(ids) > len(stream):
            break
        assert stream[pos : pos + len(ids)] == ids
        pos += len(ids)
    assert len(stream) - pos < block  # only the last partial block was dropped
    whole = 0
    for b in blocks:
        pieces = tokenizer.decode(b).split(tokenizer.eos_token)
        for piece in pieces[1:-1]:  # whole rows between two separators
            assert piece in texts
            assert sorted(line.split(": ", 1)[0] for line in piece.splitlines()) == ["de", "en", "ru"]
            whole += 1
    assert whole > 0


def test_pack_empty_and_short(tokenizer) -> None:
    assert pack([], tokenizer, 8) == []
    assert pack(["en: a"], tokenizer, 1000) == []


def test_jsonl_flat_and_translation_layouts(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        {"en": "house", "de": "Haus", "ru": "дом", "fr": "maison"},
        {"translation": {"en": "cat", "de": "Katze"}},
        {"en": "dog"},  # one language: dropped
        {"en": "two\nlines", "ru": "  две строки "},
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")
    assert load_parallel_corpus(path, LANGS) == [
        {"en": "house", "de": "Haus", "ru": "дом"},
        {"en": "cat", "de": "Katze"},
        {"en": "two lines", "ru": "две строки"},
    ]


def test_jsonl_column_template_and_codes(tmp_path: Path) -> None:
    path = tmp_path / "flores.jsonl"
    path.write_text(json.dumps({"sentence_eng_Latn": "Hi", "sentence_rus_Cyrl": "Привет"}) + "\n", encoding="utf-8")
    rows = load_parallel_corpus(
        path, LANGS, text_field="sentence_{lang}", lang_codes={"en": "eng_Latn", "ru": "rus_Cyrl"}
    )
    assert rows == [{"en": "Hi", "ru": "Привет"}]


@pytest.mark.parametrize("bad", ['{"en": "a", "de": ', '["en", "de"]'])
def test_jsonl_malformed_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"en": "a", "de": "b"}\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"bad\.jsonl:2:"):
        load_parallel_corpus(path, LANGS)


def test_local_hf_dataset(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    data = {"translation": [{"en": "house", "de": "Haus"}, {"en": "cat", "de": "Katze"}]}
    Dataset.from_dict(data).save_to_disk(tmp_path / "single")
    validation = Dataset.from_dict({"translation": [{"en": "x", "de": "y"}]})
    DatasetDict({"train": Dataset.from_dict(data), "validation": validation}).save_to_disk(tmp_path / "dict")
    expected = [{"en": "house", "de": "Haus"}, {"en": "cat", "de": "Katze"}]
    assert load_parallel_corpus(tmp_path / "single", LANGS, fmt="hf") == expected
    assert load_parallel_corpus(tmp_path / "dict", LANGS, fmt="hf") == expected
    assert load_parallel_corpus(tmp_path / "dict", LANGS, fmt="hf", split="validation") == [{"en": "x", "de": "y"}]


def test_hf_dataset_from_local_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.jsonl").write_text(json.dumps({"en": "sun", "ru": "солнце"}) + "\n", encoding="utf-8")
    assert load_parallel_corpus(tmp_path / "src", LANGS, fmt="hf") == [{"en": "sun", "ru": "солнце"}]
