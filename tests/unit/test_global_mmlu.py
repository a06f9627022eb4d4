"""Global-MMLU(-Lite) evaluation (`polyfact evaluate mcq --format global-mmlu`): the release's
layout and the acquired one, the authors' lettered prompt, hand-checked accuracy, TotCons,
agreement and RankC with a fake scorer, a tiny real model, the question sample, malformed
input, and the configs that switch it on."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from polyfact.cli import main
from polyfact.config import ConfigError, check_config
from polyfact.errors import PolyfactError
from polyfact.evaluate import mcq
from polyfact.evaluate.global_mmlu import load_global_mmlu
from polyfact.evaluate.scoring import Scored
from polyfact.io import read_json
from snakemake.utils import validate

from tests.conftest import REPO

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
# The release's columns (CohereLabs/Global-MMLU and -Lite), in its order.
COLUMNS = [
    "sample_id",
    "subject",
    "subject_category",
    "question",
    "option_a",
    "option_b",
    "option_c",
    "option_d",
    "answer",
    "required_knowledge",
    "time_sensitive",
    "reference",
    "culture",
    "region",
    "country",
    "cultural_sensitivity_label",
    "is_annotated",
]
GOLD = {"q0": "A", "q1": "C", "q2": "B", "q3": "D"}
# The letter the fake model picks per language and question (en 3/4, de 2/4, sw 2/4 right).
PICKS = {
    "en": {"q0": "A", "q1": "C", "q2": "B", "q3": "A"},
    "de": {"q0": "A", "q1": "C", "q2": "D", "q3": "A"},
    "sw": {"q0": "A", "q1": "B", "q2": "B", "q3": "A"},
}


def release_row(lang: str, sid: str, answer: str, **over: Any) -> dict[str, Any]:
    row = {
        "sample_id": f"astronomy/test/{sid}",
        "subject": "astronomy",
        "subject_category": "STEM" if sid in ("q0", "q1") else "Other",
        "question": f" [{lang}] question {sid}? ",
        **{f"option_{k}": f"[{lang}] {sid} option {k.upper()}" for k in "abcd"},
        "answer": answer,
        "required_knowledge": "['factual']",
        "time_sensitive": "['No']",
        "reference": "['-']",
        "culture": "['-']",
        "region": "['-']",
        "country": "['-']",
        "cultural_sensitivity_label": "CS" if sid in ("q0", "q2") else "CA",
        "is_annotated": False,
    }
    return row | over


def write_release(root: Path, rows: dict[str, list[dict[str, Any]]], split: str = "test") -> Path:
    """The release's layout: `{lang}/{split}-00000-of-00001.parquet` with every column, and the
    README's `configs` that `datasets` (and so the acquisition) reads."""
    configs = []
    for lang, lang_rows in rows.items():
        table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in lang_rows])
        path = root / lang / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        configs.append({"config_name": lang, "data_files": [{"split": split, "path": f"{lang}/{split}-*"}]})
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': configs})}---\n", encoding="utf-8")
    return root


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """en, de, sw with q0-q3 shared; de also has q4 (not in the others) and sw an extra row with an
    empty option (left out, as the authors' evaluator does)."""
    rows = {lang: [release_row(lang, sid, gold) for sid, gold in GOLD.items()] for lang in PICKS}
    rows["de"].append(release_row("de", "q4", "B"))
    rows["sw"].append(release_row("sw", "q5", "A", option_c=" "))
    return write_release(tmp_path / "Global-MMLU-Lite", rows)


def fake_scorer(calls: list[tuple[str, list[str]]]) -> Any:
    """score_continuations stand-in: the picked letter (or the option ending in it) scores -0.1,
    the others -1, -1.1, ... in letter order (so the ranking is the pick, then the rest A-D)."""

    def score(model: Any, tokenizer: Any, items: Any, batch_size: int = 64) -> list[list[Scored]]:
        out = []
        for context, continuations in items:
            calls.append((context, list(continuations)))
            lang, sid = context.split("[", 1)[1].split("] question ")
            pick = PICKS[lang][sid.split("?")[0]]
            rest = iter(-1.0 - 0.1 * k for k in range(3))
            out.append([Scored(-0.1 if c.strip()[-1] == pick else next(rest), 1) for c in continuations])
        return out

    return score


def run_cli(data: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = ["evaluate", "mcq", "--model", "m", "--data", str(data), "--format", "global-mmlu", "--scoring", "letter"]
    main([*args, "--languages", "en,de,sw", "--low-resource", "sw", "--out", str(out), *extra])
    return read_json(out)


@pytest.fixture
def faked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(mcq, "score_continuations", fake_scorer(calls))
    monkeypatch.setattr("polyfact.models.load.load_model", lambda path: (_Eval(), None))
    return calls


class _Eval:
    def eval(self) -> _Eval:
        return self


# --- the release's rows as our records ---------------------------------------------------------


def test_release_layout_keeps_the_questions_every_language_has(release: Path) -> None:
    rows, stats = load_global_mmlu(release, ["en", "de", "sw"])
    assert [r["language"] for r in rows] == ["en"] * 4 + ["de"] * 4 + ["sw"] * 4
    assert {r["fact_id"] for r in rows} == {f"astronomy/test/{q}" for q in GOLD}
    q1 = next(r for r in rows if r["language"] == "de" and r["fact_id"].endswith("q1"))
    assert q1["question"] == "[de] question q1?"  # stripped only
    assert q1["answer_index"] == 2 and q1["answer_text"] == "[de] q1 option C" == q1["option_c"]
    assert q1["option_ids"] == ["A", "B", "C", "D"] and q1["property_id"] is None
    assert q1["cultural_sensitivity_label"] == "CA" and q1["subject_category"] == "STEM"
    assert stats["languages"] == {"en": 4, "de": 4, "sw": 4} and stats["shared_questions"] == 4
    assert stats["per_language"]["de"] == {"rows": 5, "skipped": 0, "not_shared": 1}
    assert stats["per_language"]["sw"] == {"rows": 5, "skipped": 1, "not_shared": 0}
    assert stats["missing_languages"] == [] and stats["sample_seed"] is None


def test_acquired_layout_equals_release_layout(release: Path, tmp_path: Path, monkeypatch) -> None:
    """`polyfact acquire hub-mcq` on the release (a local copy in the Hub's layout) writes
    `{split}/{lang}.jsonl`, rows as published: the evaluator reads both the same."""
    import datasets

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    out, manifest = tmp_path / "data/mcq/global-mmlu-lite", tmp_path / "manifest.json"
    spec = {"hub": "CohereLabs/Global-MMLU-Lite", "local": str(release), "splits": ["test"], "languages": None}
    args = ["acquire", "hub-mcq", "--spec", json.dumps(spec), "--languages", "en,de,ru,sw"]
    main([*args, "--manifest", str(manifest), "--out", str(out)])
    assert json.loads(manifest.read_text())["missing"] == ["ru"]
    assert sorted(p.name for p in (out / "test").iterdir()) == ["de.jsonl", "en.jsonl", "sw.jsonl"]
    acquired = load_global_mmlu(out, ["en", "de", "ru", "sw"], skip_missing=True)
    released = load_global_mmlu(release, ["en", "de", "ru", "sw"], skip_missing=True)
    assert acquired[0] == released[0]
    assert acquired[1]["missing_languages"] == ["ru"] and acquired[1]["languages"] == {"en": 4, "de": 4, "sw": 4}


def test_the_rehearsal_fixture_is_in_the_release_columns() -> None:
    hub = REPO / "tests/fixtures/rehearsal/hub"
    rows, stats = load_global_mmlu(hub / "Global-MMLU-Lite", ["en", "de", "fr", "ru", "zh", "sw"], skip_missing=True)
    assert stats["missing_languages"] == ["de", "ru"] and stats["questions"] == 2
    full = [json.loads(line) for line in (hub / "Global-MMLU/ru/test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(list(r) == COLUMNS for r in full)


# --- scoring and metrics -----------------------------------------------------------------------


def _rankc(a: str, b: str) -> float:
    """RankC of two letter rankings by hand: Σ_j w_j |top_j(a) ∩ top_j(b)| / j, w_j ∝ e^(4-j)."""
    w = [math.exp(4 - j) for j in range(1, 5)]
    return sum(w[j - 1] * len(set(a[:j]) & set(b[:j])) / j for j in range(1, 5)) / sum(w)


def test_letter_scoring_and_hand_checked_metrics(release: Path, tmp_path: Path, faked: list) -> None:
    data = run_cli(release, tmp_path / "global-mmlu-lite.json")
    s, predictions = data["summary"], data["predictions"]
    # the authors' prompt: question, the options lettered A-D, `Answer:`; the letters scored
    context, continuations = next(c for c in faked if "[de] question q1?" in c[0])
    options = "".join(f"{k}. [de] q1 option {k}\n" for k in "ABCD")
    assert context == f"Question: [de] question q1?\n{options}Answer:"
    assert continuations == [" A", " B", " C", " D"] and len(faked) == 12
    assert s["accuracy"] == {"en": 0.75, "de": 0.5, "sw": 0.5}
    assert s["accuracy_high"] == 0.625 and s["accuracy_low"] == 0.5
    assert s["totcons"] == 0.25 and s["totcons_histogram"] == [0.25, 0.0, 0.5, 0.25]  # q0 / q1,q2 / q3
    assert s["agreement"] == pytest.approx((0.75 + 0.75 + 0.5) / 3)
    # rankings: the pick, then the rest A-D; pairs with the same pick rank alike (1)
    q1 = (1 + _rankc("CABD", "BACD") + _rankc("CABD", "BACD")) / 3  # en-de, en-sw, de-sw
    q2 = (_rankc("BACD", "DABC") + 1 + _rankc("DABC", "BACD")) / 3
    assert s["rankc"]["all_pairs"] == pytest.approx((1 + q1 + q2 + 1) / 4)
    assert s["scoring"] == "letter" and s["data"]["format"] == "global-mmlu"
    by = s["accuracy_by_annotation"]
    assert by["cultural_sensitivity_label"]["CS"]["en"] == 1.0 and by["cultural_sensitivity_label"]["CA"]["en"] == 0.5
    assert by["subject_category"]["Other"] == {"en": 0.5, "de": 0.0, "sw": 0.5, "mean": pytest.approx(1 / 3)}
    assert len(predictions) == 12 and {p["language"] for p in predictions} == {"en", "de", "sw"}


def test_option_scoring_scores_the_option_texts(release: Path, tmp_path: Path, faked: list) -> None:
    main(
        ["evaluate", "mcq", "--model", "m", "--data", str(release), "--format", "global-mmlu", "--scoring", "option"]
        + ["--languages", "en", "--out", str(tmp_path / "o.json")]
    )
    context, continuations = faked[0]
    assert context.startswith("Question: [en] question q") and context.endswith("?\nAnswer:")
    assert continuations[0].startswith(" [en] q") and continuations[0].endswith("option A")


def test_a_tiny_model_scores_the_letters_as_the_reference_scorer(release: Path, tmp_path: Path, tiny_model_dir) -> None:
    from polyfact.evaluate.scoring import score_one
    from polyfact.prompts import sft_prompt
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "e.json"
    base = ["evaluate", "mcq", "--model", str(tiny_model_dir), "--data", str(release), "--format", "global-mmlu"]
    main([*base, "--scoring", "letter", "--languages", "en,sw", "--normalisation", "sum", "--out", str(out)])
    data = read_json(out)
    assert data["summary"]["languages"] == ["en", "sw"] and len(data["predictions"]) == 8
    rows, _ = load_global_mmlu(release, ["en", "sw"])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    first = data["predictions"][0]
    row = next(r for r in rows if (r["fact_id"], r["language"]) == (first["fact_id"], first["language"]))
    expected = [score_one(model, tokenizer, sft_prompt(row), f" {k}").logprob for k in "ABCD"]
    assert first["logprobs"] == pytest.approx(expected, abs=1e-4)
    assert 0 <= data["summary"]["totcons"] <= 1 and data["summary"]["rankc"]["all_pairs"] is not None


# --- the question sample -------------------------------------------------------------------------


def test_max_questions_is_a_seeded_sample_of_the_shared_ids(tmp_path: Path) -> None:
    rows = {lang: [release_row(lang, f"n{i:02d}", "ABCD"[i % 4]) for i in range(20)] for lang in ("en", "de")}
    rows["de"] = rows["de"][1:]  # n00 only in English: never sampled
    root = write_release(tmp_path / "gm", rows)
    a, stats = load_global_mmlu(root, ["en", "de"], max_questions=5, seed=7)
    ids = [r["fact_id"] for r in a if r["language"] == "en"]
    assert len(ids) == 5 and ids == [r["fact_id"] for r in a if r["language"] == "de"]
    assert "astronomy/test/n00" not in ids and ids == sorted(ids)
    assert stats["questions"] == 5 and stats["shared_questions"] == 19 and stats["sample_seed"] == 7
    assert load_global_mmlu(root, ["en", "de"], max_questions=5, seed=7)[0] == a
    assert [r["fact_id"] for r in load_global_mmlu(root, ["en"], max_questions=5, seed=8)[0]] != ids
    assert len(load_global_mmlu(root, ["en", "de"], max_questions=50, seed=7)[0]) == 38  # all 19, twice


# --- malformed input ---------------------------------------------------------------------------


def _acquired(tmp_path: Path, rows: list[dict[str, Any]], lang: str = "en") -> Path:
    path = tmp_path / "gm" / "test" / f"{lang}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path.parent.parent


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"answer": None}, r"en\.jsonl:2 \(sample astronomy/test/q1\): answer must be a letter A-D, got None"),
        ({"answer": "E"}, r"answer must be a letter A-D, got 'E'"),
        ({"answer": 2}, r"answer must be a letter A-D, got 2"),
        ({"sample_id": ""}, r"en\.jsonl:2: empty sample_id"),
        ({"question": ["x"]}, r"question must be text, got list"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, row: dict, needle: str) -> None:
    root = _acquired(tmp_path, [release_row("en", "q0", "A"), release_row("en", "q1", "C") | row])
    with pytest.raises(PolyfactError, match=needle):
        load_global_mmlu(root, ["en"])


def test_missing_columns_are_named(tmp_path: Path) -> None:
    row = {k: v for k, v in release_row("en", "q0", "A").items() if k not in ("answer", "option_d")}
    with pytest.raises(PolyfactError, match=r"en\.jsonl:1: missing column\(s\) option_d, answer"):
        load_global_mmlu(_acquired(tmp_path, [row]), ["en"])
    table = pa.Table.from_pylist([{k: v for k, v in release_row("en", "q0", "A").items() if k != "answer"}])
    path = tmp_path / "rel" / "en" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with pytest.raises(PolyfactError, match=r"test-00000-of-00001\.parquet: row 1: missing column\(s\) answer"):
        load_global_mmlu(tmp_path / "rel", ["en"])


def test_duplicate_ids_and_unusable_languages(tmp_path: Path) -> None:
    root = _acquired(tmp_path, [release_row("en", "q0", "A"), release_row("en", "q0", "B")])
    with pytest.raises(PolyfactError, match=r"en\.jsonl:2: duplicate sample_id 'astronomy/test/q0' in en"):
        load_global_mmlu(root, ["en"])
    root = _acquired(tmp_path / "b", [release_row("en", "q0", "A", option_a="")])
    with pytest.raises(PolyfactError, match=r"no usable test rows for en \(1 read, 1 with an empty cell\)"):
        load_global_mmlu(root, ["en"])


def test_languages_the_set_lacks(release: Path, tmp_path: Path) -> None:
    with pytest.raises(PolyfactError, match=r"no test data for language\(s\) ru .*leave them out"):
        load_global_mmlu(release, ["en", "ru"])
    rows, stats = load_global_mmlu(release, ["en", "ru"], skip_missing=True)
    assert stats["missing_languages"] == ["ru"] and {r["language"] for r in rows} == {"en"}
    with pytest.raises(PolyfactError, match=r"no test data for language\(s\) ru, ja"):
        load_global_mmlu(release, ["ru", "ja"], skip_missing=True)
    with pytest.raises(PolyfactError, match="not a directory"):
        load_global_mmlu(tmp_path / "nowhere", ["en"])
    with pytest.raises(PolyfactError, match=r"no dev data for language\(s\) en"):
        load_global_mmlu(release, ["en"], split="dev")


def test_no_shared_question_and_two_layouts(tmp_path: Path) -> None:
    root = write_release(tmp_path / "gm", {"en": [release_row("en", "q0", "A")], "de": [release_row("de", "q1", "A")]})
    with pytest.raises(PolyfactError, match=r"no question \(sample_id\) is in every language of en, de"):
        load_global_mmlu(root, ["en", "de"])
    _acquired(tmp_path, [release_row("en", "q0", "A")])
    with pytest.raises(PolyfactError, match="language 'en' is there twice"):
        load_global_mmlu(root, ["en"])


def test_cli_refuses_several_data_paths(release: Path, tmp_path: Path) -> None:
    args = ["evaluate", "mcq", "--model", "m", "--data", str(release), str(release), "--format", "global-mmlu"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--languages", "en", "--out", str(tmp_path / "o.json")])
    assert exited.value.code == 1


# --- configs -----------------------------------------------------------------------------------


def config(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "config" / name).read_text())
    validate(loaded, SCHEMA)
    return loaded


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("config.yaml", []),
        ("paper.yaml", ["global-mmlu-lite", "global-mmlu"]),
        ("paper-clean.yaml", ["global-mmlu-lite"]),
        ("rehearsal.yaml", ["global-mmlu-lite", "global-mmlu"]),
    ],
)
def test_configs_evaluate_the_authors_sets_with_their_protocol(name: str, sets: list[str], monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    c = config(name)
    check_config(c)
    gmmlu = c["evaluation"]["global_mmlu"]
    assert gmmlu["sets"] == sets
    assert [gmmlu[k] for k in ("split", "scoring", "languages", "max_questions")] == ["test", "letter", None, None]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["acquire"].update(global_mmlu_lite=None), r"'global-mmlu-lite' needs acquire\.global_mmlu_lite"),
        (lambda c: c["evaluation"]["global_mmlu"].update(split="validation"), r"'validation' is not among"),
        (
            lambda c: c["acquire"]["global_mmlu"].update(languages=["en", "de"]),
            r"global_mmlu\.languages: \['sw'\] are not acquired for 'global-mmlu'",
        ),
    ],
)
def test_config_errors_name_the_key(mutate, needle: str, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    c = copy.deepcopy(config("rehearsal.yaml"))
    c["evaluation"]["global_mmlu"]["languages"] = ["en", "de", "sw"]
    mutate(c)
    with pytest.raises(ConfigError, match=needle):
        check_config(c)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"sets": ["mmlu"]}, r"'mmlu' is not one of \['global-mmlu', 'global-mmlu-lite'\]"),
        ({"shots": 5}, r"'shots' was unexpected"),
        ({"max_questions": 0}, r"0 is less than the minimum of 1"),
        ({"scoring": "cloze"}, r"'cloze' is not one of \['letter', 'option'\]"),
    ],
)
def test_schema_refuses_unknown_sets_and_keys(patch: dict, needle: str) -> None:
    with pytest.raises(Exception, match=needle):
        validate({"evaluation": {"global_mmlu": patch}}, SCHEMA)
