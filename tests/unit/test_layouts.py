"""Reading PolyFact-layout rows: the container decides the language where it can, and every row
form (flat options, an options dict or list, answer index/letter/text) normalises to one record."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from polyfact.evaluate.layouts import RawRow, gather, normalise_row

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "released_polyfact"


def test_gather_directory_fixes_language_and_list_takes_stem(tmp_path: Path) -> None:
    raws = gather(FIXTURE, ["zh", "en"], "test")
    assert [r.language for r in raws] == ["zh"] * 5 + ["en"] * 5 and all(r.fixed for r in raws)
    assert raws[0].where == f"{FIXTURE / 'zh.jsonl'}:1"
    row = {"fact_id": "f", "question": "Q?", "options": ["a", "b", "c", "d"], "answer_index": 0}
    (tmp_path / "de.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "language": "fr"}) + "\n")
    assert gather([tmp_path / "de.jsonl"], ["de"], "test") == [RawRow(f"{tmp_path / 'de.jsonl'}:1", row, "de", False)]


# --- row normalisation ---------------------------------------------------------------------


def test_row_forms_are_equivalent() -> None:
    base = {"fact_id": 7, "question": " Q? ", "options": {"a": "x", "B": "y", "C": "z", "D": "w"}}
    forms = [
        {**base, "answer_index": 2},
        {**base, "answer_index": " 2 "},
        {**base, "answer": "c"},
        {**base, "answer_text": "z"},
        {**base, "answer_index": 2.0, "answer_text": " z", "answer": "C"},
        {"fact_id": "7", "question": "Q?", "options": ["x", "y", "z", "w"], "answer_index": 2},
        {
            "fact_id": "7",
            "question": "Q?",
            "option_a": "x",
            "option_b": "y",
            "option_c": "z",
            "option_d": "w",
            "answer_index": 2,
        },
    ]
    out = [normalise_row(f, where="f", language="en") for f in forms]
    assert all(o == out[0] for o in out)
    assert out[0]["fact_id"] == "7" and out[0]["question"] == "Q?" and out[0]["answer_text"] == "z"
    assert out[0]["option_ids"] is None and out[0]["property_id"] is None


def test_text_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Ägypten")
    row = normalise_row(
        {"fact_id": "f", "question": "Wo?", "options": [decomposed, "b", "c", "d"], "answer_text": "Ägypten"},
        where="f",
        language="de",
    )
    assert row["option_a"] == row["answer_text"] == "Ägypten" and row["answer_index"] == 0
