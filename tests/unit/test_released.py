"""Loading PolyFact-layout MCQ data (the released layout and ours) and aligning options across
languages, so RankC/agreement compare entities, not letters."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from polyfact.dataset.build import make_record
from polyfact.dataset.items import Item
from polyfact.errors import PolyfactError
from polyfact.evaluate.metrics import ranking
from polyfact.evaluate.released import load_mcq
from polyfact.evaluate.summary import summarise
from polyfact.records import OPTION_KEYS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "released_polyfact"
LANGS = ["en", "de", "ar", "zh", "bn"]

# The English entity behind each option text of the aligned fixture facts, per language.
ENTITY = {
    "windows-developer": {
        "en": {"Microsoft": "Microsoft", "IBM": "IBM", "Oracle": "Oracle", "SAP": "SAP"},
        "de": {"Microsoft": "Microsoft", "IBM": "IBM", "Oracle": "Oracle", "SAP": "SAP"},
        "ar": {"مايكروسوفت": "Microsoft", "IBM": "IBM", "أوراكل": "Oracle", "SAP": "SAP"},
        "zh": {"微软": "Microsoft", "IBM": "IBM", "甲骨文": "Oracle", "SAP": "SAP"},
        "bn": {"মাইক্রোসফট": "Microsoft", "IBM": "IBM", "ওরাকল": "Oracle", "SAP": "SAP"},
    },
    "germany-cctld": {lang: {d: d for d in (".de", ".at", ".ch", ".nl")} for lang in LANGS},
    "japan-cctld": {lang: {d: d for d in (".jp", ".kr", ".tw", ".cn")} for lang in ("en", "de", "zh")},
}


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["fact_id"], r["language"]): r for r in rows}


def options(row: dict[str, Any]) -> list[str]:
    return [row[k] for k in OPTION_KEYS]


def fact_counts(stats: dict[str, Any]) -> dict[str, int]:
    """The per-fact alignment counts that the text alignment can produce."""
    keys = ("given_ids", "aligned_by_text", "partially_aligned", "unaligned")
    return {k: stats["alignment"][k] for k in keys}


# --- the released layout -----------------------------------------------------------------


def test_released_fixture_counts_and_alignment_stats() -> None:
    rows, stats = load_mcq(FIXTURE, LANGS)
    assert stats["rows"] == len(rows) == 23
    assert stats["facts"] == 5
    assert stats["languages"] == {"en": 5, "de": 5, "ar": 4, "zh": 5, "bn": 4}
    assert stats["facts_incomplete"] == 1
    assert stats["missing"] == {"en": 0, "de": 0, "ar": 1, "zh": 0, "bn": 1}
    assert fact_counts(stats) == {"given_ids": 0, "aligned_by_text": 3, "partially_aligned": 1, "unaligned": 1}
    assert stats["alignment"]["method"] == "text" and stats["alignment"]["aligned_by_embedding"] == 0
    # ar/zh/bn align only windows + germany (kenya, iphone stay out of RankC); de also the iPhone
    assert stats["alignment"]["per_language"] == {
        "en": {"rows": 5, "aligned": 4, "by_embedding": 0},
        "de": {"rows": 5, "aligned": 4, "by_embedding": 0},
        "ar": {"rows": 4, "aligned": 2, "by_embedding": 0},
        "zh": {"rows": 5, "aligned": 3, "by_embedding": 0},
        "bn": {"rows": 4, "aligned": 2, "by_embedding": 0},
    }
    assert [r["language"] for r in rows] == sorted((r["language"] for r in rows), key=LANGS.index)
    first = rows[0]
    assert list(first) == [
        "fact_id",
        "language",
        "question",
        *OPTION_KEYS,
        "answer_text",
        "answer_index",
        "option_ids",
        "property_id",
    ]
    assert first["property_id"] == "P178" and isinstance(first["answer_index"], int)


def test_released_fixture_same_entity_same_id_in_every_language() -> None:
    rows = by_key(load_mcq(FIXTURE, LANGS)[0])
    for fact_id, per_lang in ENTITY.items():
        id_of_entity: dict[str, str] = {}
        golds = set()
        for lang, entity_of in per_lang.items():
            row = rows[(fact_id, lang)]
            ids = row["option_ids"]
            assert ids is not None and len(set(ids)) == 4, (fact_id, lang)
            for text, oid in zip(options(row), ids, strict=True):
                assert id_of_entity.setdefault(entity_of[text], oid) == oid, (fact_id, lang, text)
            golds.add(ids[row["answer_index"]])
        assert len(golds) == 1, fact_id
        assert rows[(fact_id, "en")]["option_ids"] == [f"{fact_id}#{k}" for k in range(4)]  # en is the pivot


def test_released_fixture_unaligned_languages_have_no_ids() -> None:
    """Kenya aligns nowhere; the iPhone fact aligns en–de (Latin names) but not ar/zh/bn."""
    rows, _ = load_mcq(FIXTURE, LANGS)
    assert [r["option_ids"] for r in rows if r["fact_id"] == "kenya-continent"] == [None] * 5
    iphone = {r["language"]: r["option_ids"] for r in rows if r["fact_id"] == "iphone-manufacturer"}
    assert iphone["en"] == [f"iphone-manufacturer#{k}" for k in range(4)] and iphone["de"] is not None
    assert iphone["ar"] is iphone["zh"] is iphone["bn"] is None


# The English entity of every option text of the fixture, for a stand-in multilingual encoder.
LEXICON = {
    **{t: e for per_lang in ENTITY["windows-developer"].values() for t, e in per_lang.items()},
    **dict.fromkeys(["Apple", "آبل", "苹果", "অ্যাপল"], "Apple"),
    **dict.fromkeys(["Samsung", "سامسونج", "三星", "স্যামসাং"], "Samsung"),
    **dict.fromkeys(["Nokia", "نوكيا", "诺基亚", "নোকিয়া"], "Nokia"),
    "HTC": "HTC",
    **dict.fromkeys(["Africa", "Afrika", "أفريقيا", "非洲", "আফ্রিকা"], "Africa"),
    **dict.fromkeys(["Asia", "Asien", "آسيا", "亚洲", "এশিয়া"], "Asia"),
    **dict.fromkeys(["Europe", "Europa", "أوروبا", "欧洲", "ইউরোপ"], "Europe"),
    **dict.fromkeys(["Oceania", "Ozeanien", "أوقيانوسيا", "大洋洲", "ওশেনিয়া"], "Oceania"),
}
ENTITIES = sorted(set(LEXICON.values()))


def lexicon_encoder(texts: Sequence[str]) -> np.ndarray:
    """Each text -> its entity's axis plus a shared offset (cosine < 1 across texts), seeded noise."""
    rng = np.random.default_rng(0)
    out = np.full((len(texts), len(ENTITIES)), 0.3) + rng.normal(0, 0.05, (len(texts), len(ENTITIES)))
    for k, text in enumerate(texts):
        out[k, ENTITIES.index(LEXICON[text])] += 1.0
    return out


def test_embedding_alignment_brings_arabic_into_rankc() -> None:
    """With `text`, Arabic (and zh, bn) keep no ids for the iPhone and Kenya facts, so RankC and
    agreement silently judge Arabic on two facts; `embedding` aligns every language of every fact,
    and each entity gets one id everywhere."""
    text_rows, text_stats = load_mcq(FIXTURE, LANGS)
    rows, stats = load_mcq(FIXTURE, LANGS, encode=lexicon_encoder)
    assert text_stats["alignment"]["per_language"]["ar"]["aligned"] == 2
    assert stats["alignment"]["method"] == "embedding"
    assert fact_counts(stats) == {"given_ids": 0, "aligned_by_text": 3, "partially_aligned": 0, "unaligned": 0}
    assert stats["alignment"]["aligned_by_embedding"] == 2  # iPhone and Kenya
    assert stats["alignment"]["per_language"] == {
        "en": {"rows": 5, "aligned": 5, "by_embedding": 0},
        "de": {"rows": 5, "aligned": 5, "by_embedding": 1},  # Kenya: Afrika/Asien/...
        "ar": {"rows": 4, "aligned": 4, "by_embedding": 2},
        "zh": {"rows": 5, "aligned": 5, "by_embedding": 2},
        "bn": {"rows": 4, "aligned": 4, "by_embedding": 2},
    }
    id_of: dict[tuple[str, str], str] = {}
    for r in rows:
        for text, oid in zip(options(r), r["option_ids"], strict=True):
            assert id_of.setdefault((r["fact_id"], LEXICON.get(text, text)), oid) == oid, (r["fact_id"], text)
    # Arabic ranks the iPhone and Kenya entities in reverse: only the embedding alignment sees it.
    flipped = {("iphone-manufacturer", "ar"), ("kenya-continent", "ar")}
    text_summary = summarise(entity_predictions(text_rows, flipped), LANGS)
    summary = summarise(entity_predictions(rows, flipped), LANGS)
    assert text_summary["facts"] == {"complete": 4, "incomplete": 1, "aligned": 2, "partially_aligned": 1}
    assert summary["facts"] == {"complete": 4, "incomplete": 1, "aligned": 4, "partially_aligned": 0}
    assert text_summary["rankc"]["per_pair"]["en-ar"] == pytest.approx(1.0)
    assert text_summary["agreement_per_pair"]["en-ar"] == pytest.approx(1.0)
    assert summary["rankc"]["per_pair"]["en-ar"] < 1.0 and summary["rankc"]["per_pair"]["en-zh"] == pytest.approx(1.0)
    assert summary["agreement_per_pair"]["en-ar"] == pytest.approx(0.5)


def entity_predictions(rows: list[dict[str, Any]], flipped: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Predictions that rank the entities the same way in every language (by name), except the
    (fact, language) rows in `flipped`, which rank them in reverse."""
    out = []
    for r in rows:
        sign = -1 if (r["fact_id"], r["language"]) in flipped else 1
        opts = options(r)
        if all(t in LEXICON for t in opts):
            keys = [ENTITIES.index(LEXICON[t]) for t in opts]
        else:  # ccTLDs: written alike everywhere, rank by the text itself
            keys = [sorted(opts).index(t) for t in opts]
        scores = [float(-sign * k) for k in keys]
        ids = r["option_ids"]
        out.append(
            {
                "fact_id": r["fact_id"],
                "language": r["language"],
                "property_id": r["property_id"],
                "correct": max(range(4), key=scores.__getitem__) == r["answer_index"],
                "ranking": ranking(ids, scores) if ids else None,
            }
        )
    return out


def test_subset_of_languages_changes_alignment_and_pivot() -> None:
    # Without ar/zh/bn the iPhone fact aligns (all Latin); without en the pivot is de.
    rows, stats = load_mcq(FIXTURE, ["de", "zh"])
    assert stats["languages"] == {"de": 5, "zh": 5} and stats["facts_incomplete"] == 0
    assert fact_counts(stats) == {"given_ids": 0, "aligned_by_text": 3, "partially_aligned": 0, "unaligned": 2}
    de = by_key(rows)[("windows-developer", "de")]
    assert de["option_ids"] == [f"windows-developer#{k}" for k in range(4)]
    rows, stats = load_mcq(FIXTURE, ["en", "de"])
    assert fact_counts(stats) == {"given_ids": 0, "aligned_by_text": 4, "partially_aligned": 0, "unaligned": 1}


def test_list_of_files_and_stem_language(tmp_path: Path) -> None:
    rows, stats = load_mcq([FIXTURE / "en.jsonl", FIXTURE / "zh.jsonl"], ["en", "zh"])
    assert stats["languages"] == {"en": 5, "zh": 5}
    # A row without a language field takes the file stem; rows of unrequested languages are skipped.
    plain = tmp_path / "de.jsonl"
    plain.write_text(
        "".join(
            json.dumps({k: v for k, v in json.loads(line).items() if k != "language"}, ensure_ascii=False) + "\n"
            for line in (FIXTURE / "de.jsonl").read_text(encoding="utf-8").splitlines()
        ),
        encoding="utf-8",
    )
    rows, stats = load_mcq([str(FIXTURE / "en.jsonl"), plain, FIXTURE / "bn.jsonl"], ["en", "de"])
    assert stats["languages"] == {"en": 5, "de": 5} and {r["language"] for r in rows} == {"en", "de"}


def test_json_list_and_parquet_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = {
        lang: [json.loads(x) for x in (FIXTURE / f"{lang}.jsonl").read_text("utf-8").splitlines()] for lang in LANGS
    }
    (tmp_path / "en.json").write_text(json.dumps(records["en"], ensure_ascii=False), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(records["zh"]), tmp_path / "zh.parquet")
    expected = by_key(load_mcq(FIXTURE, ["en", "zh"])[0])
    rows, _ = load_mcq(tmp_path, ["en", "zh"])
    assert by_key(rows) == expected


def test_save_to_disk_inputs(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    records = {
        lang: [json.loads(x) for x in (FIXTURE / f"{lang}.jsonl").read_text("utf-8").splitlines()] for lang in LANGS
    }
    expected = by_key(load_mcq(FIXTURE, LANGS)[0])
    # A DatasetDict with one split per language.
    DatasetDict({lang: Dataset.from_list(r) for lang, r in records.items()}).save_to_disk(str(tmp_path / "per_lang"))
    rows, stats = load_mcq(tmp_path / "per_lang", LANGS)
    assert by_key(rows) == expected and stats["alignment"]["aligned_by_text"] == 3
    # One dataset with a language column.
    Dataset.from_list([r for lang in LANGS for r in records[lang]]).save_to_disk(str(tmp_path / "flat"))
    rows, _ = load_mcq(tmp_path / "flat", ["zh", "en"])
    assert by_key(rows) == by_key(load_mcq(FIXTURE, ["zh", "en"])[0])
    # Our export layout: hf/{lang} holds a DatasetDict of train/val/test; the test split is read.
    for lang in ("en", "de"):
        splits = {"train": records[lang][:1], "val": records[lang][1:2], "test": records[lang]}
        DatasetDict({s: Dataset.from_list(r) for s, r in splits.items()}).save_to_disk(str(tmp_path / "hf" / lang))
    rows, stats = load_mcq(tmp_path / "hf", ["en", "de"])
    assert stats["languages"] == {"en": 5, "de": 5}


# --- our own record format -------------------------------------------------------------------

LABELS = {
    "c:AF": {"en": "Africa", "de": "Afrika", "zh": "非洲"},
    "c:AS": {"en": "Asia", "de": "Asien", "zh": "亚洲"},
    "c:EU": {"en": "Europe", "de": "Europa", "zh": "欧洲"},
    "c:OC": {"en": "Oceania", "de": "Ozeanien", "zh": "大洋洲"},
}


def our_records() -> dict[str, list[dict[str, Any]]]:
    """Rows exactly as the dataset build writes them (make_record)."""
    kenya = Item(
        "Q114|P30|c:AF",
        "Q114",
        "P30",
        "c:AF",
        subject={"en": "Kenya", "de": "Kenia", "zh": "肯尼亚"},
        object={"en": "Africa", "de": "Afrika", "zh": "非洲"},
        question={
            "en": "On which continent is Kenya?",
            "de": "Auf welchem Kontinent liegt Kenia?",
            "zh": "肯尼亚位于哪个大洲？",
        },
        option_ids={
            "en": ["c:AS", "c:AF", "c:EU", "c:OC"],
            "de": ["c:OC", "c:EU", "c:AS", "c:AF"],
            "zh": ["c:AF", "c:OC", "c:AS", "c:EU"],
        },
    )
    japan = Item(
        "Q17|P30|c:AS",
        "Q17",
        "P30",
        "c:AS",
        subject={"en": "Japan", "de": "Japan", "zh": "日本"},
        object={"en": "Asia", "de": "Asien", "zh": "亚洲"},
        question={
            "en": "On which continent is Japan?",
            "de": "Auf welchem Kontinent liegt Japan?",
            "zh": "日本位于哪个大洲？",
        },
        option_ids={
            "en": ["c:EU", "c:OC", "c:AF", "c:AS"],
            "de": ["c:AS", "c:AF", "c:OC", "c:EU"],
            "zh": ["c:OC", "c:AS", "c:EU", "c:AF"],
        },
    )
    return {lang: [make_record(item, lang, LABELS) for item in (kenya, japan)] for lang in ("en", "de", "zh")}


def write_ours(root: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for lang, rows in records.items():
        (root / f"{lang}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )


def test_our_records_load_unchanged(tmp_path: Path) -> None:
    records = our_records()
    write_ours(tmp_path / "test", records)
    rows, stats = load_mcq(tmp_path / "test", ["en", "de", "zh"])
    assert rows == [r for lang in ("en", "de", "zh") for r in records[lang]]
    assert [list(r) for r in rows] == [list(r) for lang in records for r in records[lang]]  # field order kept
    assert fact_counts(stats) == {"given_ids": 2, "aligned_by_text": 0, "partially_aligned": 0, "unaligned": 0}
    # The same directory through the `{split}/{lang}.jsonl` layout.
    rows2, _ = load_mcq(tmp_path, ["en", "de", "zh"], split="test")
    assert rows2 == rows


def test_our_records_with_inconsistent_ids_fail(tmp_path: Path) -> None:
    records = our_records()
    records["de"][0]["option_ids"] = ["c:OC", "c:EU", "c:AS", "c:NA"]
    write_ours(tmp_path, records)
    with pytest.raises(PolyfactError, match=r"fact Q114\|P30\|c:AF: option_ids in de .* differ from en"):
        load_mcq(tmp_path, ["en", "de"])
    records = our_records()
    records["zh"][1]["option_ids"] = None
    write_ours(tmp_path, records)
    with pytest.raises(PolyfactError, match=r"given in de, en but missing in zh"):
        load_mcq(tmp_path, ["en", "de", "zh"])


# --- errors: every malformed input names the file and line -------------------------------------

GOOD = {
    "fact_id": "f1",
    "language": "en",
    "question": "Which?",
    "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
    "answer_index": 0,
    "answer_text": "a",
}


def drop(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


BAD_ROWS = {
    "missing question": (drop("question"), r"missing question"),
    "empty question": ({**GOOD, "question": "  "}, r"empty question"),
    "missing options": (drop("options"), r"missing options"),
    "three options": ({**GOOD, "options": {"A": "a", "B": "b", "C": "c"}}, r"3 options .* expected 4"),
    "five options": ({**GOOD, "options": ["a", "b", "c", "d", "e"]}, r"5 options, expected 4"),
    "three flat options": (
        {**drop("options"), "option_a": "a", "option_b": "b", "option_c": "c"},
        r"3 options \(option_a, option_b, option_c\), expected 4",
    ),
    "bad option keys": ({**GOOD, "options": {"A": "a", "B": "b", "C": "c", "E": "d"}}, r"options keys are A, B, C, E"),
    "missing answer": ({k: v for k, v in GOOD.items() if k not in ("answer_index", "answer_text")}, r"missing answer"),
    "index out of range": ({**GOOD, "answer_index": 4}, r"answer_index 4 out of range 0-3"),
    "index not numeric": ({**GOOD, "answer_index": "two"}, r"answer_index must be an integer"),
    "answer_text mismatch": ({**GOOD, "answer_text": "b"}, r"answer_text 'b' is not option A 'a'"),
    "answer_text matches none": (
        {k: v for k, v in GOOD.items() if k != "answer_index"} | {"answer_text": "e"},
        r"answer_text 'e' matches 0 options",
    ),
    "letter disagrees": ({**GOOD, "answer": "B"}, r"answer 'B' disagrees with answer_index 0"),
    "option_ids length": ({**GOOD, "option_ids": ["q1", "q2", "q3"]}, r"option_ids has 3 entries, expected 4"),
    "option_ids repeated": ({**GOOD, "option_ids": ["q1", "q1", "q2", "q3"]}, r"option_ids are not distinct"),
    "wrong language": ({**GOOD, "language": "de"}, r"row says language 'de' but sits in the data for 'en'"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_malformed_row_names_file_line_and_fact(tmp_path: Path, case: str) -> None:
    bad, message = BAD_ROWS[case]
    other = {**GOOD, "fact_id": "f0"}
    (tmp_path / "en.jsonl").write_text(json.dumps(other) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(PolyfactError) as err:
        load_mcq(tmp_path, ["en"])
    assert re.search(re.escape(f"{tmp_path / 'en.jsonl'}:3 (fact f1): ") + message, str(err.value)), str(err.value)


def test_malformed_json_line(tmp_path: Path) -> None:
    (tmp_path / "en.jsonl").write_text(json.dumps(GOOD) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.jsonl:2: malformed JSON line: Expecting property name"):
        load_mcq(tmp_path, ["en"])
    (tmp_path / "en.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.jsonl:1: expected a JSON object, got list"):
        load_mcq(tmp_path, ["en"])


def test_malformed_json_list(tmp_path: Path) -> None:
    (tmp_path / "en.json").write_text("[" + json.dumps(GOOD) + ",", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.json: malformed JSON: "):
        load_mcq(tmp_path, ["en"])
    (tmp_path / "en.json").write_text(json.dumps([GOOD, drop("question")]), encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.json: item 2 \(fact f1\): missing question"):
        load_mcq(tmp_path, ["en"])


def test_missing_fact_id(tmp_path: Path) -> None:
    (tmp_path / "en.jsonl").write_text(json.dumps(drop("fact_id")) + "\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.jsonl:1: missing fact_id"):
        load_mcq(tmp_path, ["en"])


def test_duplicate_fact_and_language(tmp_path: Path) -> None:
    (tmp_path / "en.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n", encoding="utf-8")
    with pytest.raises(
        PolyfactError, match=r"en\.jsonl:2: duplicate fact f1 in language en \(first at .*en\.jsonl:1\)"
    ):
        load_mcq(tmp_path, ["en"])


def test_requested_language_without_data(tmp_path: Path) -> None:
    with pytest.raises(PolyfactError, match=r"no data for language 'sw'"):
        load_mcq(FIXTURE, ["en", "sw"])
    with pytest.raises(PolyfactError, match=r"no rows for requested language\(s\) ar"):
        load_mcq([FIXTURE / "en.jsonl", FIXTURE / "de.jsonl"], ["en", "ar"])
    (tmp_path / "en.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"no rows for requested language\(s\) en"):
        load_mcq(tmp_path, ["en"])


def test_missing_path_and_unreachable_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    with pytest.raises(PolyfactError, match=r"nope: no such file or directory"):
        load_mcq(tmp_path / "nope", ["en"])
    with pytest.raises(PolyfactError, match=r"missing\.jsonl: no such file or directory"):
        load_mcq([FIXTURE / "en.jsonl", tmp_path / "missing.jsonl"], ["en"])

    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(PolyfactError, match=r"someone/polyfact: no such file or directory, and the Hugging Face Hub"):
        load_mcq("someone/polyfact", ["en"])


def test_unsupported_file_type(tmp_path: Path) -> None:
    (tmp_path / "en.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(PolyfactError, match=r"en\.csv: unsupported file type '\.csv'"):
        load_mcq([tmp_path / "en.csv"], ["en"])


# --- option encoders ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_hidden_state_encoder_pools_one_layer_without_specials(tiny: tuple[Any, Any]) -> None:
    import torch
    from polyfact.evaluate.released import hidden_state_encoder

    model, tokenizer = tiny
    texts = ["Europe", "欧洲", "أفريقيا", "Africa and Asia"]
    middle = hidden_state_encoder(model, tokenizer, batch_size=3)(texts)
    assert middle.shape == (4, model.config.hidden_size) and np.isfinite(middle).all()
    # One text at a time gives the same rows (padding never leaks into the mean).
    alone = np.concatenate([hidden_state_encoder(model, tokenizer)([t]) for t in texts])
    assert np.allclose(middle, alone, atol=1e-5)
    # null = the middle layer (2 layers -> the output of layer 1); layer 0 = the token embeddings,
    # averaged over the text's own tokens (a BOS or other special token left out).
    assert np.allclose(middle, hidden_state_encoder(model, tokenizer, layer=1)(texts))
    assert not np.allclose(middle, hidden_state_encoder(model, tokenizer, layer=-1)(texts))
    special = set(tokenizer.all_special_ids)
    with torch.no_grad():
        expected = [
            model.get_input_embeddings()(torch.tensor([i for i in tokenizer(t)["input_ids"] if i not in special])).mean(
                dim=0
            )
            for t in texts
        ]
    assert np.allclose(hidden_state_encoder(model, tokenizer, layer=0)(texts), torch.stack(expected).numpy(), atol=1e-6)
    with pytest.raises(PolyfactError, match=r"align_layer 3 is out of range for a model with 2 layers"):
        hidden_state_encoder(model, tokenizer, layer=3)(texts)


def test_fixture_aligns_everywhere_with_the_models_own_states(tiny: tuple[Any, Any]) -> None:
    """No download: the evaluated model embeds the options. A random tiny model aligns every
    language (the assignment is complete), and gold stays gold."""
    from polyfact.evaluate.released import make_encoder

    model, tokenizer = tiny
    rows, stats = load_mcq(FIXTURE, LANGS, encode=make_encoder("model", model, tokenizer))
    assert all(r["option_ids"] is not None for r in rows)
    assert {lang: c["aligned"] for lang, c in stats["alignment"]["per_language"].items()} == stats["languages"]
    golds: dict[str, set[str]] = {}
    for r in rows:
        assert len(set(r["option_ids"])) == 4
        golds.setdefault(r["fact_id"], set()).add(r["option_ids"][r["answer_index"]])
    assert all(len(g) == 1 for g in golds.values())


def test_make_encoder_errors() -> None:
    import importlib.util

    from polyfact.evaluate.released import make_encoder

    with pytest.raises(PolyfactError, match=r"align_encoder 'model' needs the evaluated model"):
        make_encoder("model")
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(
            PolyfactError, match=r"'sentence-transformers/LaBSE' needs the sentence-transformers package"
        ):
            make_encoder("sentence-transformers/LaBSE")


def test_cli_align_options() -> None:
    from polyfact.cli import build_parser

    base = ["evaluate", "mcq", "--model", "m", "--data", "d", "--languages", "en,ar", "--out", "o"]
    args = build_parser().parse_args(base)
    assert (args.align, args.align_encoder, args.align_layer) == ("text", "model", None)
    args = build_parser().parse_args([*base, "--align", "embedding", "--align-layer", "-2"])
    assert (args.align, args.align_encoder, args.align_layer) == ("embedding", "model", -2)
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--align", "labse"])
